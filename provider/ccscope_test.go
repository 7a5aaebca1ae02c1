package provider_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
)

// TestClientCredentialsIdentityScopes checks that a client's token for
// itself never carries the identity scopes, however the client was
// registered: they describe a signed-in user or ask for a refresh token,
// and the client_credentials grant has neither. Asked for, they are
// invalid_scope; without a scope parameter, the default leaves them out.
func TestClientCredentialsIdentityScopes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		svc := ts.registerService(t, "client_secret_basic", "openid profile email offline_access results:read")
		tokenURL := ts.URL + "/oauth2/token"
		for _, tc := range []struct {
			name  string
			scope []string // the scope parameter's values; none: not sent
			want  string   // the granted scope; "" for a refusal
		}{
			{"openid", []string{"openid"}, ""},
			{"offline_access", []string{"offline_access"}, ""},
			{"profile with an API scope", []string{"results:read profile"}, ""},
			{"email", []string{"email"}, ""},
			{"API scope", []string{"results:read"}, "results:read"},
			{"omitted", nil, "results:read"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				form := url.Values{"grant_type": {"client_credentials"}}
				if tc.scope != nil {
					form["scope"] = tc.scope
				}
				res := ts.Post(t, tokenURL, credOf(svc), form)
				if tc.want == "" {
					assertError(t, res, http.StatusBadRequest, "invalid_scope")
					return
				}
				tok := oauthtest.DecodeToken(t, res)
				if got, want := sortedFields(tok.Scope), sortedFields(tc.want); !slices.Equal(got, want) {
					t.Errorf("granted scope = %q, want %q", got, want)
				}
				if tok.RefreshToken != "" || tok.IDToken != "" {
					t.Errorf("client credentials answered a refresh or ID token: %s", res.Body)
				}
			})
		}
	})
}
