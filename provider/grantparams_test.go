package provider_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestGrantParameterMissing: a token request without the code or
// refresh token its grant type requires (RFC 6749 §4.1.3, §6; one sent
// empty counts as omitted, §3.2) is missing a required parameter,
// invalid_request (§5.2), not invalid_grant: there is no grant to be
// invalid. The client is authenticated first, so wrong credentials are
// still invalid_client.
func TestGrantParameterMissing(t *testing.T) {
	withSSOEnv(t, "missing", func(t *testing.T, e *ssoEnv) {
		c := e.Confidential
		good := basic(c.Meta.ClientID, c.Meta.ClientSecret)
		wrong := basic(c.Meta.ClientID, "not-the-secret")
		for _, tc := range []struct {
			name   string
			form   url.Values
			auth   string
			status int
			code   string
		}{
			{"no code", url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {confidentialRedirect}, "code_verifier": {verifier43}},
				good, http.StatusBadRequest, "invalid_request"},
			{"empty code", url.Values{"grant_type": {"authorization_code"}, "code": {""}, "redirect_uri": {confidentialRedirect}, "code_verifier": {verifier43}},
				good, http.StatusBadRequest, "invalid_request"},
			{"no refresh_token", url.Values{"grant_type": {"refresh_token"}},
				good, http.StatusBadRequest, "invalid_request"},
			{"empty refresh_token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {""}},
				good, http.StatusBadRequest, "invalid_request"},
			{"no code, wrong secret", url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {confidentialRedirect}},
				wrong, http.StatusUnauthorized, "invalid_client"},
			{"no refresh_token, wrong secret", url.Values{"grant_type": {"refresh_token"}},
				wrong, http.StatusUnauthorized, "invalid_client"},
			// A code or refresh token that is sent but unknown is the
			// grant's fault.
			{"unknown code", url.Values{"grant_type": {"authorization_code"}, "code": {"ory_ac_x.y"}, "redirect_uri": {confidentialRedirect}, "code_verifier": {verifier43}},
				good, http.StatusBadRequest, "invalid_grant"},
			{"unknown refresh_token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ory_rt_x.y"}},
				good, http.StatusBadRequest, "invalid_grant"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType, Auth: tc.auth, Body: tc.form.Encode()})
				assertError(t, res, tc.status, tc.code)
			})
		}
	})
}

// verifier43 is a well-formed PKCE code verifier of no code.
const verifier43 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
