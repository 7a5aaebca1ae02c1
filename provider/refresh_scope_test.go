package provider_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
)

// TestRefreshScopeKeepsGrantRefreshable checks that no refresh request
// leaves the client a refresh token its next refresh refuses: a scope
// parameter that narrows the grant but leaves out offline_access keeps
// it (the response's scope says so), and a scope parameter of blanks is
// no scope parameter, not a narrowing to nothing.
func TestRefreshScopeKeepsGrantRefreshable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		const full = "openid profile offline_access results:read results:write"
		for _, tc := range []struct {
			name  string
			scope []string // the scope parameter's values; none: not sent
			want  string
		}{
			{"narrowed without offline_access", []string{"openid results:read"}, "offline_access openid results:read"},
			{"narrowed to one API scope", []string{"results:write"}, "offline_access results:write"},
			{"only offline_access", []string{"offline_access"}, "offline_access"},
			{"blank", []string{" "}, full},
			{"empty", []string{""}, full},
			{"omitted", nil, full},
		} {
			t.Run(tc.name, func(t *testing.T) {
				g := e.grant(t, b, e.Confidential, "alice", alicePassword, full)
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.Refresh}}
				if tc.scope != nil {
					form["scope"] = tc.scope
				}
				r1 := oauthtest.DecodeToken(t, e.tokenRequest(t, e.Confidential, form))
				want := sortedFields(tc.want)
				if got := sortedFields(r1.Scope); !slices.Equal(got, want) {
					t.Errorf("refreshed scope = %q, want %q", got, want)
				}
				if got := sortedFields(e.access(t, r1.AccessToken).Scope); !slices.Equal(got, want) {
					t.Errorf("refreshed access token's scope = %q, want %q", got, want)
				}
				if r1.RefreshToken == "" {
					t.Fatal("the refresh answered no refresh token")
				}
				// The rotated refresh token carries the grant on.
				r2 := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, r1.RefreshToken, ""))
				if got := sortedFields(r2.Scope); !slices.Equal(got, want) {
					t.Errorf("next refresh's scope = %q, want %q", got, want)
				}
			})
		}
	})
}

// TestRefreshAfterClientLostScope checks a refresh of a grant holding a
// scope its client is no longer registered for: the grant is no longer
// valid (invalid_grant, RFC 6749 §5.2), whatever the request asks for;
// invalid_scope would blame a scope the request did not ask for.
func TestRefreshAfterClientLostScope(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, "openid offline_access results:read results:write")
		m := e.Confidential.Meta
		m.ClientSecret = ""
		m.Scope = "openid profile email offline_access results:read"
		if res := e.admin(t, http.MethodPut, "/admin/clients/"+m.ClientID, m); res.Status != http.StatusOK {
			t.Fatalf("PUT client: %d %s", res.Status, res.Body)
		}
		for _, tc := range []struct{ name, scope string }{
			{"scope omitted", ""},
			{"narrowed to what the client keeps", "openid offline_access results:read"},
			{"the lost scope", "results:write"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				assertError(t, e.refresh(t, e.Confidential, g.Refresh, tc.scope), http.StatusBadRequest, "invalid_grant")
			})
		}
	})
}

// TestRefreshScopeOnlyAsGranted checks that a refresh's scope parameter
// names scopes as they were granted, letter for letter (scope tokens are
// case-sensitive and space-delimited, RFC 6749 §3.3): another spelling was not granted
// originally (§6), invalid_scope, and the refused request spends nothing.
// fosite compares scopes ignoring case, and "OPENID" was taken as openid:
// the refresh succeeded with a grant narrowed to what the user's roles
// allow of that spelling (nothing), and rotated the refresh token.
func TestRefreshScopeOnlyAsGranted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		const full = "openid offline_access results:read"
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, full)
		// A tab is no delimiter (RFC 6749 §3.3: scope tokens are
		// separated by spaces), as fosite reads scope at the other grants.
		for _, scope := range []string{"OPENID", "Results:Read", "openid OFFLINE_ACCESS", "openid\tresults:read"} {
			t.Run(scope, func(t *testing.T) {
				assertError(t, e.refresh(t, e.Confidential, g.Refresh, scope), http.StatusBadRequest, "invalid_scope")
			})
		}
		// The refused requests left the refresh token and its grant as
		// they were.
		r := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))
		if got, want := sortedFields(r.Scope), sortedFields(full); !slices.Equal(got, want) {
			t.Errorf("refreshed scope = %q, want %q", got, want)
		}
	})
}
