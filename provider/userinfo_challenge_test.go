package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestUserinfoChallenge: userinfo asked without any authentication (no
// Authorization header, or one of another scheme, and no access_token in
// a POST form) answers 401 with the bare challenge RFC 6750 §3.1 wants,
// Bearer and the realm, and no error code or other error information
// anywhere; it answered invalid_request, telling a client that merely did
// not know a token was needed that its request was malformed. A malformed
// request or a bad token still gets its error code.
func TestUserinfoChallenge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		t.Run("without authentication", func(t *testing.T) {
			for _, tc := range []struct {
				name string
				rq   req
			}{
				{"GET", req{Path: provider.PathUserinfo}},
				{"HEAD", req{Method: http.MethodHead, Path: provider.PathUserinfo}},
				{"POST, empty form", req{Method: http.MethodPost, Path: provider.PathUserinfo, ContentType: formType}},
				{"POST, form without access_token", req{Method: http.MethodPost, Path: provider.PathUserinfo, ContentType: formType, Body: "scope=openid"}},
				{"GET, Basic credentials", req{Path: provider.PathUserinfo, Auth: basic("someone", "something")}},
				{"GET, another scheme", req{Path: provider.PathUserinfo, Auth: "DPoP abc.def.ghi"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					res := ts.do(t, tc.rq)
					if res.Status != http.StatusUnauthorized {
						t.Errorf("status %d, want 401: %s", res.Status, res.Body)
					}
					if got := res.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != `Bearer realm="hallpass"` {
						t.Errorf("WWW-Authenticate = %q, want exactly Bearer realm=\"hallpass\"", got)
					}
					if len(res.Body) != 0 {
						t.Errorf("body %q, want none: no error code or other error information", res.Body)
					}
				})
			}
		})
		t.Run("with a malformed request or a bad token", func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				rq     req
				status int
				code   string
			}{
				{"Bearer without a token", req{Path: provider.PathUserinfo, Auth: "Bearer"}, http.StatusBadRequest, "invalid_request"},
				{"token in the URL", req{Path: provider.PathUserinfo + "?access_token=x"}, http.StatusBadRequest, "invalid_request"},
				{"token twice in the form", req{Method: http.MethodPost, Path: provider.PathUserinfo, ContentType: formType,
					Body: url.Values{"access_token": {"a", "b"}}.Encode()}, http.StatusBadRequest, "invalid_request"},
				{"not a token", req{Path: provider.PathUserinfo, Auth: "Bearer not-a-token"}, http.StatusUnauthorized, "invalid_token"},
				{"not a token, in the form", req{Method: http.MethodPost, Path: provider.PathUserinfo, ContentType: formType,
					Body: "access_token=not-a-token"}, http.StatusUnauthorized, "invalid_token"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					res := ts.do(t, tc.rq)
					assertError(t, res, tc.status, tc.code)
					if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="hallpass", error="`+tc.code+`"`) {
						t.Errorf("WWW-Authenticate = %q, want a %s challenge", got, tc.code)
					}
				})
			}
		})
	})
}
