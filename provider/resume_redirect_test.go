package provider_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestResumeRechecksExactRedirect: a sign-in resumed from the login or
// consent page checks its redirect URI against the client as registered
// now (RFC 9700 §4.1.3): a public client made confidential, or a client
// whose registered loopback port was edited, while its user was signing
// in, gets no code at the loopback port only a public client may vary;
// the user sees an error page. The check ran only when the request came.
func TestResumeRechecksExactRedirect(t *testing.T) {
	withSSOEnv(t, "loopback", func(t *testing.T, e *ssoEnv) {
		for _, tc := range []struct {
			name, registered, redirect, auth string
			update                           map[string]any
			atConsent                        bool
		}{
			{name: "made confidential, at login", registered: "http://127.0.0.1/cb", redirect: "http://127.0.0.1:5555/cb", auth: "none",
				update: map[string]any{"token_endpoint_auth_method": "client_secret_basic"}},
			{name: "made confidential, at consent", registered: "http://127.0.0.1/cb", redirect: "http://127.0.0.1:5555/cb", auth: "none",
				update: map[string]any{"token_endpoint_auth_method": "client_secret_basic"}, atConsent: true},
			{name: "port edited, at login", registered: "http://127.0.0.1:5555/cb", redirect: "http://127.0.0.1:5555/cb", auth: "client_secret_basic",
				update: map[string]any{"token_endpoint_auth_method": "client_secret_basic", "redirect_uris": []string{"http://127.0.0.1:6666/cb"}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := "desktop-" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
				c := *loopbackClient(t, e, id, tc.registered, tc.auth)
				c.Config.RedirectURL = tc.redirect
				b := e.newBrowser(t)
				p := b.get(t, c.request("openid").URL).want(t, "login")
				if tc.atConsent {
					p = b.login(t, p, "alice", alicePassword).want(t, "consent")
				}
				update := map[string]any{"grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
					"redirect_uris": []string{tc.registered}, "scope": "openid"}
				for k, v := range tc.update {
					update[k] = v
				}
				if res := e.admin(t, http.MethodPut, "/admin/clients/"+id, update); res.Status != http.StatusOK {
					t.Fatalf("update client: %d %s", res.Status, res.Body)
				}
				if tc.atConsent {
					p = b.decide(t, p, "allow")
				} else {
					p = b.login(t, p, "alice", alicePassword)
				}
				p.wantErrorPage(t, http.StatusBadRequest)
				if !strings.Contains(p.Body, "redirect_uri") {
					t.Errorf("the page does not name redirect_uri: %s", p)
				}
			})
		}
	})
}
