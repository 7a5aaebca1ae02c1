package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// scopeCounter counts how often the scope registry is read.
type scopeCounter struct {
	storage.Store
	reads atomic.Int64
}

func (s *scopeCounter) ListScopes(ctx context.Context) ([]storage.Scope, error) {
	s.reads.Add(1)
	return s.Store.ListScopes(ctx)
}

// TestScopesReadOncePerRequest checks that the scope → audience policy
// costs one read of the scopes per HTTP request at most, shared by fosite's
// view of the client and hallpass's audience rules: the token endpoint
// (every grant), introspection and revocation once read them again for
// every token row fosite loaded (5 reads for a code exchange, 4 for a
// revocation), and a refresh or client_credentials grant would read them
// twice if the rules did not share the request's read.
func TestScopesReadOncePerRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		sc := &scopeCounter{}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			sc.Store = c.Store
			c.Store = sc
		})
		staff := e.addPayroll(t)
		svc := e.registerService(t, "client_secret_basic", "results:read payroll:read")
		// reads runs f and fails the test if it read the scopes more than
		// max times.
		reads := func(t *testing.T, what string, max int64, f func()) {
			t.Helper()
			before := sc.reads.Load()
			f()
			got := sc.reads.Load() - before
			t.Logf("%s: %d ListScopes", what, got)
			if got > max {
				t.Errorf("%s read the scopes %d times, want at most %d", what, got, max)
			}
		}

		b := e.newBrowser(t)
		ar := staff.request("openid offline_access results:read payroll:read")
		var p page
		reads(t, "authorize → login page", 2, func() { p = b.get(t, ar.URL) })
		reads(t, "login → consent page", 2, func() { p = b.login(t, p, "alice", alicePassword) })
		reads(t, "consent", 1, func() { p = b.decide(t, p, "allow") })
		cb := e.callback(t, p, ar)
		cb.wantCode(t)

		var tok oauthtest.TokenResponse
		reads(t, "token: authorization_code", 1, func() {
			tok = oauthtest.DecodeToken(t, e.tokenRequest(t, staff, url.Values{
				"grant_type": {"authorization_code"}, "code": {cb.Code}, "redirect_uri": {ar.RedirectURI}, "code_verifier": {ar.Verifier},
			}))
		})
		if got := e.accessAud(t, tok.AccessToken); len(got) != 2 {
			t.Errorf("aud = %q, want the school and payroll APIs", got)
		}
		reads(t, "token: refresh_token", 1, func() { tok = oauthtest.DecodeToken(t, e.refresh(t, staff, tok.RefreshToken, "")) })
		if got := e.accessAud(t, tok.AccessToken); len(got) != 2 {
			t.Errorf("aud after refresh = %q, want the school and payroll APIs", got)
		}
		reads(t, "token: client_credentials", 1, func() {
			oauthtest.DecodeToken(t, e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
				Body: url.Values{"grant_type": {"client_credentials"}}.Encode(), Auth: basic(svc.ClientID, svc.ClientSecret)}))
		})
		staffCred := credOf(staff.Meta)
		reads(t, "introspect access token as its client", 1, func() { e.WantActive(t, "access token", staffCred, tok.AccessToken) })
		reads(t, "introspect refresh token as its client", 1, func() {
			if m := e.Introspection(t, staffCred, tok.RefreshToken, "refresh_token"); m["active"] != true {
				t.Errorf("refresh token introspects %v", m)
			}
		})
		// No client is loaded, so nothing needs the scopes.
		reads(t, "introspect as admin", 0, func() { e.WantActive(t, "access token", e.adminCred(), tok.AccessToken) })
		reads(t, "revoke refresh token", 1, func() { e.MustRevoke(t, staffCred, tok.RefreshToken, "refresh_token") })
	})
}
