package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestUserinfoOneMethod: a POST to userinfo with an access_token form
// parameter and any Authorization header at all is refused 400
// invalid_request with a Bearer challenge (RFC 6750 §2: one method of
// sending the token per request; §3.1). The Bearer scheme with nothing
// after it, and other schemes, went unnoticed: the header held no bearer
// token, so the form's token was taken and the user's claims answered.
// The form's token alone is still answered.
func TestUserinfoOneMethod(t *testing.T) {
	withSSOEnv(t, "userinfo", func(t *testing.T, e *ssoEnv) {
		tok := e.signInTokens(t, e.newBrowser(t), e.Confidential.request("openid profile"), "alice", alicePassword)
		form := url.Values{"access_token": {tok.AccessToken}}.Encode()
		for _, tc := range []struct {
			name string
			auth []string // the Authorization header's value, sent as is
		}{
			{"Bearer alone", []string{"Bearer"}},
			{"Bearer and a space", []string{"Bearer "}},
			{"Bearer and spaces", []string{"Bearer    "}},
			{"bearer in lower case, alone", []string{"bearer"}},
			{"an empty header", []string{""}},
			{"the same token in the header", []string{"Bearer " + tok.AccessToken}},
			{"another token in the header", []string{"Bearer not-a-token"}},
			{"Basic credentials", []string{basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret)}},
			{"another scheme", []string{"DPoP " + tok.AccessToken}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.do(t, req{Method: http.MethodPost, Path: provider.PathUserinfo, ContentType: formType, Body: form,
					Header: http.Header{"Authorization": tc.auth}})
				assertError(t, res, http.StatusBadRequest, "invalid_request")
				assertChallenge(t, res, "invalid_request")
				if strings.Contains(string(res.Body), "alice") || strings.Contains(string(res.Body), "Alice") {
					t.Errorf("refusal carries the user's claims: %s", res.Body)
				}
			})
		}
		t.Run("the form alone", func(t *testing.T) {
			res := e.do(t, req{Method: http.MethodPost, Path: provider.PathUserinfo, ContentType: formType, Body: form})
			if res.Status != http.StatusOK || res.JSON(t)["sub"] != e.AliceID {
				t.Errorf("status %d, want 200 with alice's claims: %s", res.Status, res.Body)
			}
		})
	})
}
