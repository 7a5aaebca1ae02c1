package provider_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestBearerChallenge: every endpoint that takes a bearer token (userinfo,
// the admin API, dynamic client registration) answers a request without
// any authentication information (no Authorization header, or one of
// another scheme) with the bare challenge of RFC 6750 §3.1, Bearer and
// the realm and no error code or other error information; the admin API
// and registration answered it invalid_token, as if a token had been
// sent and refused. The Bearer scheme with nothing after it is a
// malformed request (400 invalid_request), another token is refused with
// 401 invalid_token and a description, and so is a client's own token at
// userinfo; each with its challenge.
func TestBearerChallenge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		svc := ts.registerService(t, "client_secret_basic", "results:read")
		noOpenID := ts.token(t, svc.ClientID, svc.ClientSecret, "results:read").AccessToken
		endpoints := []struct {
			name string
			rq   req
		}{
			{"userinfo", req{Path: provider.PathUserinfo}},
			{"admin API list", req{Path: "/admin/clients"}},
			{"admin API create", req{Method: http.MethodPost, Path: "/admin/users", ContentType: jsonType, Body: `{"username":"x"}`}},
			{"admin API keys", req{Path: "/admin/keys"}},
			{"admin API unknown path", req{Path: "/admin/nope"}},
			{"registration", req{Method: http.MethodPost, Path: provider.PathRegistration, ContentType: jsonType,
				Body: `{"grant_types":["client_credentials"]}`}},
		}
		bare := []struct{ name, auth string }{
			{"no Authorization header", ""},
			{"Basic credentials", basic("admin", ts.AdminToken)},
			{"Basic scheme with the admin token", "Basic " + ts.AdminToken},
			{"another scheme", "DPoP " + ts.AdminToken},
			{"the admin token without a scheme", ts.AdminToken},
		}
		refused := []struct {
			name, auth string
			status     int
			code       string
		}{
			{"Bearer without a token", "Bearer", http.StatusBadRequest, "invalid_request"},
			{"Bearer and a space", "Bearer ", http.StatusBadRequest, "invalid_request"},
			{"a wrong token", "Bearer " + ts.AdminToken + "x", http.StatusUnauthorized, "invalid_token"},
		}
		for _, e := range endpoints {
			t.Run(e.name, func(t *testing.T) {
				for _, a := range bare {
					t.Run(a.name, func(t *testing.T) {
						rq := e.rq
						rq.Auth = a.auth
						assertBareChallenge(t, ts.do(t, rq))
					})
				}
				for _, a := range refused {
					t.Run(a.name, func(t *testing.T) {
						rq := e.rq
						rq.Auth = a.auth
						res := ts.do(t, rq)
						assertError(t, res, a.status, a.code)
						assertChallenge(t, res, a.code)
					})
				}
			})
		}
		// A user's token without openid is 403 insufficient_scope
		// (TestCORSUserinfo); a client's own token, whatever its scopes,
		// is not one userinfo answers.
		t.Run("userinfo with a client's token without openid", func(t *testing.T) {
			res := ts.do(t, req{Path: provider.PathUserinfo, Auth: "Bearer " + noOpenID})
			assertError(t, res, http.StatusUnauthorized, "invalid_token")
			assertChallenge(t, res, "invalid_token")
		})
	})
}

// assertChallenge checks that res carries the one Bearer challenge of the
// realm hallpass, naming code and describing it.
func assertChallenge(t *testing.T, res result, code string) {
	t.Helper()
	got := res.Header.Values("WWW-Authenticate")
	if len(got) != 1 || !strings.HasPrefix(got[0], `Bearer realm="hallpass", error="`+code+`", error_description="`) ||
		strings.HasSuffix(got[0], `error_description=""`) {
		t.Errorf("WWW-Authenticate = %q, want one Bearer challenge of realm hallpass with error %s and its description", got, code)
	}
}

// assertBareChallenge checks that res is the answer to a request without
// any authentication information (RFC 6750 §3.1): 401, the one challenge
// Bearer realm="hallpass", and no error code or other error information.
func assertBareChallenge(t *testing.T, res result) {
	t.Helper()
	if res.Status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401: %s", res.Status, res.Body)
	}
	if got := res.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != `Bearer realm="hallpass"` {
		t.Errorf("WWW-Authenticate = %q, want exactly Bearer realm=\"hallpass\"", got)
	}
	if len(res.Body) != 0 {
		t.Errorf("body %q, want none: no error code or other error information", res.Body)
	}
}
