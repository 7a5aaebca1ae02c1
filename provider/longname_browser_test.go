package provider_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/browsertest"
)

// A client's name of the longest length allowed, without a break, wraps on
// a phone's screen on the login and consent pages: it must not push what
// follows it ("wants to access your account") off the screen, where the
// user reads only the name the client chose.
func TestBrowserLongClientNameWraps(t *testing.T) {
	browsertest.Chromium(t) // skip before setting up any backend
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		rp := relyingParty(t)
		res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
			ClientID: "long-name", ClientName: strings.Repeat("Gradebook", 22), RedirectURIs: []string{rp.URL + "/cb"},
			GrantTypes: []string{"authorization_code"}, TokenEndpointAuthMethod: "client_secret_basic", Scope: "openid results:read",
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("create client: %d %s", res.Status, res.Body)
		}
		meta := decodeClient(t, res)
		client := &ssoClient{Meta: meta, Config: oauth2.Config{ClientID: meta.ClientID, ClientSecret: meta.ClientSecret, RedirectURL: rp.URL + "/cb",
			Endpoint: oauth2.Endpoint{AuthURL: endpoint(t, e.Discovery, "authorization_endpoint"), TokenURL: endpoint(t, e.Discovery, "token_endpoint")}}}

		b := browsertest.New(t, 20*time.Second)
		overflow := func(page string) {
			t.Helper()
			browsertest.Run(b, "wait for the "+page+" to load", chromedp.Poll[bool](`document.readyState === "complete"`))
			if browsertest.Run(b, "measure the "+page, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`)) {
				t.Errorf("the %s is wider than the screen: the client's name pushes the rest of the page off it", page)
			}
		}
		b.Do("open the authorization URL on a phone's screen",
			chromedp.EmulateViewport(360, 740),
			chromedp.Navigate(client.request("openid results:read").URL),
			chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		)
		overflow("login page")
		b.Do("sign in",
			chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), alicePassword),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)),
		)
		overflow("consent page")
	})
}
