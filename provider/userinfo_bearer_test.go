package provider_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/provider"
)

// TestUserinfoMalformedBearer: userinfo reads the access token in the
// Authorization header as RFC 6750 §2.1 has it sent, a single b64token,
// with the parser of the resource package's middlewares; credentials that
// are not one, or two Authorization headers, are a malformed request, 400
// invalid_request with a Bearer challenge (§3.1), and no claims are
// answered, even when the first word is a valid access token. They were
// looked up as a token (everything after the scheme) and answered 401
// invalid_token.
func TestUserinfoMalformedBearer(t *testing.T) {
	withSSOEnv(t, "userinfo", func(t *testing.T, e *ssoEnv) {
		tok := e.signInTokens(t, e.newBrowser(t), e.Confidential.request("openid"), "alice", alicePassword).AccessToken
		t.Run("a single token", func(t *testing.T) {
			if res := e.do(t, req{Path: provider.PathUserinfo, Auth: "Bearer " + tok}); res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
		})
		for _, tc := range []struct {
			name string
			rq   req
		}{
			{"the token twice", req{Auth: "Bearer " + tok + " " + tok}},
			{"the token and a word", req{Auth: "Bearer " + tok + " extra"}},
			{"a comma after the token", req{Auth: "Bearer " + tok + ","}},
			{"a quoted token", req{Auth: `Bearer "` + tok + `"`}},
			{"an auth-param", req{Auth: "Bearer token=" + tok + ", realm=x"}},
			{"two Authorization headers", req{Header: http.Header{"Authorization": {"Bearer " + tok, "Bearer " + tok}}}},
			{"POST, the token twice", req{Method: http.MethodPost, ContentType: formType, Auth: "Bearer " + tok + " " + tok}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.rq.Path = provider.PathUserinfo
				res := e.do(t, tc.rq)
				assertError(t, res, http.StatusBadRequest, "invalid_request")
				if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="hallpass", error="invalid_request"`) {
					t.Errorf("WWW-Authenticate = %q, want an invalid_request Bearer challenge", got)
				}
				if strings.Contains(string(res.Body), e.AliceID) {
					t.Errorf("claims were answered: %s", res.Body)
				}
			})
		}
	})
}

// TestAdminTokenOutsideB64Token: an admin token set by the operator may
// hold characters outside RFC 6750's b64token (spaces, quotes, commas):
// CheckAdminToken asks only for its length, and such a token keeps
// opening the admin API and introspection; access tokens are read
// strictly (TestUserinfoMalformedBearer), the admin token is not.
func TestAdminTokenOutsideB64Token(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		const admin = `an "admin" token, with spaces = and more than 32 bytes`
		ts := &testServer{hallpasstest.Start(t, dsn, hallpasstest.Options{AdminToken: admin})}
		if res := ts.do(t, req{Path: "/admin/clients", Auth: "Bearer " + admin}); res.Status != http.StatusOK {
			t.Errorf("admin API with the admin token: status %d: %s", res.Status, res.Body)
		}
		res := ts.do(t, req{Method: http.MethodPost, Path: provider.PathIntrospect, ContentType: formType, Body: "token=x", Auth: "Bearer " + admin})
		if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"active":false`) {
			t.Errorf("introspection with the admin token: status %d: %s", res.Status, res.Body)
		}
		assertError(t, ts.do(t, req{Path: "/admin/clients", Auth: "Bearer an"}), http.StatusUnauthorized, "invalid_token")
	})
}
