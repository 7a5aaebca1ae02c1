package provider_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/browsertest"
	"github.com/hallpass/hallpass/provider"
)

// The sign-in flow in a real browser: headless Chromium driven by chromedp
// through hallpass's login and consent pages to a relying party.

// relyingParty is a tiny client web app: its callback shows what it
// received as plain text.
func relyingParty(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cb":
		case "/favicon.ico":
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Relying party</title><pre id=\"result\">code=%s\nstate=%s\niss=%s\nerror=%s\n</pre>",
			url.QueryEscape(q.Get("code")), url.QueryEscape(q.Get("state")), url.QueryEscape(q.Get("iss")), url.QueryEscape(q.Get("error")))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBrowserSignIn(t *testing.T) {
	browsertest.Chromium(t) // skip before setting up any backend
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		rp := relyingParty(t)
		res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
			ClientID: "browser-rp", ClientName: "Results Viewer", RedirectURIs: []string{rp.URL + "/cb"},
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
			TokenEndpointAuthMethod: "client_secret_basic", Scope: "openid profile results:read results:write",
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("create client: %d %s", res.Status, res.Body)
		}
		meta := decodeClient(t, res)
		client := &ssoClient{Meta: meta, Config: oauth2.Config{
			ClientID: meta.ClientID, ClientSecret: meta.ClientSecret, RedirectURL: rp.URL + "/cb",
			Endpoint: oauth2.Endpoint{
				AuthURL:   endpoint(t, e.Discovery, "authorization_endpoint"),
				TokenURL:  endpoint(t, e.Discovery, "token_endpoint"),
				AuthStyle: oauth2.AuthStyleInHeader,
			},
		}}
		ar := client.request("openid profile results:read")

		b := browsertest.New(t, 20*time.Second, browsertest.WithWarnings())

		// The authorization request lands on the login page.
		b.Do("open the authorization URL",
			chromedp.Navigate(ar.URL),
			chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		)
		if loc := b.Location(); loc.Path != provider.PathLogin || !strings.HasPrefix(loc.String(), e.URL) {
			t.Fatalf("the browser is at %s, want hallpass's login page", loc)
		}
		labels, err := chromedp.Run(b.Context(), chromedp.Nodes(chromedp.CSSAll(`label[for=username], label[for=password]`)))
		if err != nil || len(labels) != 2 {
			t.Errorf("the login page has %d labels for username and password (%v), want 2", len(labels), err)
		}
		// Let the stylesheet and icon load before judging the page.
		browsertest.Run(b, "wait for the page to load", chromedp.Poll[bool](`document.readyState === "complete"`))
		if p := b.Problems(); len(p) > 0 {
			t.Errorf("the login page reported problems (CSP violations, console errors): %q", p)
		}

		// A wrong password shows the error on the login page again.
		b.Do("submit a wrong password",
			chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "not-the-password"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`[role=alert]`)),
		)
		alert := b.Text("read the error", chromedp.Text(chromedp.CSS(`[role=alert]`)))
		username := b.Text("read the username", chromedp.Value(chromedp.CSS(`input[name=username]`)))
		password := b.Text("read the password", chromedp.Value(chromedp.CSS(`input[name=password]`)))
		if !strings.Contains(strings.ToLower(alert), "incorrect") {
			t.Errorf("error shown = %q", alert)
		}
		if loc := b.Location(); loc.Path != provider.PathLogin {
			t.Errorf("after a wrong password the browser is at %s, want the login page", loc)
		}
		if username != "alice" || password != "" {
			t.Errorf("after a wrong password: username %q, password %q; want alice kept and the password cleared", username, password)
		}

		// The right password leads to the consent page.
		b.Do("submit the right password",
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), alicePassword),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)),
		)
		scopes := b.Text("read the consent page", chromedp.Text(chromedp.CSS(`main`)))
		if !strings.Contains(scopes, "Read exam results") {
			t.Errorf("the consent page does not describe results:read: %q", scopes)
		}
		if strings.Contains(scopes, "Publish exam results") {
			t.Errorf("the consent page lists results:write, which was not requested: %q", scopes)
		}
		if p := b.Problems(); len(p) > 0 {
			t.Errorf("the login and consent pages reported problems: %q", p)
		}

		// Allow: the relying party receives code, state and iss.
		b.Do("allow",
			chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)),
			chromedp.WaitVisible(chromedp.ID(`result`)),
		)
		if loc := b.Location(); !strings.HasPrefix(loc.String(), rp.URL+"/cb?") {
			t.Fatalf("the browser is at %s, want the relying party's callback", loc)
		}
		result := b.Text("read the callback", chromedp.Text(chromedp.ID(`result`)))
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(result), "\n") {
			k, v, _ := strings.Cut(line, "=")
			got[k], _ = url.QueryUnescape(v)
		}
		if got["error"] != "" || got["code"] == "" {
			t.Fatalf("the relying party received no code: %q", result)
		}
		if got["state"] != ar.State {
			t.Errorf("state = %q, want %q", got["state"], ar.State)
		}
		if got["iss"] != e.URL {
			t.Errorf("iss = %q, want %q", got["iss"], e.URL)
		}
		if p := b.Problems(); len(p) > 0 {
			t.Errorf("the browser reported problems on the way to the client: %q", p)
		}

		// The code is real: the relying party redeems it.
		tok := e.exchange(t, ar, callback{Code: got["code"]})
		if scope := grantedScope(t, tok); strings.Join(scope, " ") != "openid profile results:read" {
			t.Errorf("granted %q", scope)
		}
		if id := e.idToken(t, client, tok, ar.Nonce); id.Sub != e.AliceID {
			t.Errorf("sub = %q, want alice %q", id.Sub, e.AliceID)
		}
	})
}
