package provider_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
)

// TestCodeExchangeGrantTypeSpaces checks that a code exchange whose
// grant_type has blanks around authorization_code, which fosite reads as
// the grant type (it splits the parameter on spaces), is served as one:
// the exchange read the code once (ReadCodeOnce) only for a grant_type of
// exactly "authorization_code", so codeUser found no code read and
// answered 500.
func TestCodeExchangeGrantTypeSpaces(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		for _, gt := range []string{"authorization_code", "authorization_code ", " authorization_code", "  authorization_code  "} {
			t.Run(url.QueryEscape(gt), func(t *testing.T) {
				ar := e.Confidential.request("openid results:write")
				cb, _ := e.newBrowser(t).signIn(t, ar, "alice", alicePassword)
				code := cb.wantCode(t)
				c := e.Confidential.Config
				res := postNoT(e.HTTP, e.URL+provider.PathToken, oauthtest.BasicAuth(c.ClientID, c.ClientSecret), url.Values{
					"grant_type": {gt}, "code": {code}, "redirect_uri": {ar.RedirectURI}, "code_verifier": {ar.Verifier},
				})
				if res.Err != nil || res.Status != http.StatusOK {
					t.Fatalf("exchange with grant_type %q: %d %v: %.300s", gt, res.Status, res.Err, res.Body)
				}
			})
		}
	})
}
