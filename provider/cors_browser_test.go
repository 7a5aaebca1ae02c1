package provider_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/browsertest"
)

// spaPage is a single-page app whose page runs script (with the values
// of vars defined as constants before it) and shows what it returns in
// #result, marked done. It is not started: its URL (spaURL) is known
// before, and vars may be completed until it is.
func spaPage(t *testing.T, vars map[string]string, script string) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var consts strings.Builder
		for k, v := range vars {
			enc, _ := json.Marshal(v)
			fmt.Fprintf(&consts, "const %s = %s;\n", k, enc)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>SPA</title><pre id="result"></pre><script>
%s
(async () => {
  let result;
  try { result = await (async () => { %s })(); } catch (e) { result = "fetch failed: " + e; }
  const el = document.getElementById("result");
  el.textContent = result;
  el.dataset.done = "1";
})();
</script>`, consts.String(), script)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// spaURL is the URL an unstarted test server will have.
func spaURL(srv *httptest.Server) string { return "http://" + srv.Listener.Addr().String() }

// TestBrowserCORS: in a real browser, a single-page app on an origin of
// its own redeems its code at the token endpoint with fetch() and reads
// userinfo with the access token (an Authorization header, so a
// preflight first); a page on another origin cannot read the token
// endpoint's answer.
func TestBrowserCORS(t *testing.T) {
	browsertest.Chromium(t) // skip before setting up any backend
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		tokenURL := endpoint(t, e.Discovery, "token_endpoint")
		userinfoURL := endpoint(t, e.Discovery, "userinfo_endpoint")
		// The SPA's callback page: it redeems the code it was sent and
		// asks userinfo who signed in.
		vars := map[string]string{"tokenURL": tokenURL, "userinfoURL": userinfoURL, "clientID": "browser-spa"}
		spa := spaPage(t, vars, `
    const code = new URLSearchParams(location.search).get("code");
    const tr = await fetch(tokenURL, {method: "POST", body: new URLSearchParams({
      grant_type: "authorization_code", code, client_id: clientID,
      redirect_uri: location.origin + "/cb", code_verifier: verifier})});
    const tok = await tr.json();
    const ur = await fetch(userinfoURL, {headers: {Authorization: "Bearer " + tok.access_token}});
    const claims = await ur.json();
    return "token " + tr.status + ", userinfo " + ur.status + ", sub " + claims.sub;`)
		res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
			ClientID: "browser-spa", ClientName: "Results SPA", RedirectURIs: []string{spaURL(spa) + "/cb"},
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
			TokenEndpointAuthMethod: "none", Scope: "openid profile",
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("create client: %d %s", res.Status, res.Body)
		}
		client := &ssoClient{Meta: decodeClient(t, res), Config: oauth2.Config{
			ClientID: "browser-spa", RedirectURL: spaURL(spa) + "/cb",
			Endpoint: oauth2.Endpoint{AuthURL: endpoint(t, e.Discovery, "authorization_endpoint"), TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
		}}
		ar := client.request("openid profile")
		// The page learns its verifier as the SPA would have kept it.
		vars["verifier"] = ar.Verifier
		spa.Start()

		b := browsertest.New(t, 30*time.Second)
		b.Do("sign in and consent",
			chromedp.Navigate(ar.URL),
			chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), alicePassword),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)),
			chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)),
			chromedp.WaitReady(chromedp.ID(`result`)),
		)
		done := func(step string) string {
			t.Helper()
			browsertest.Run(b, step, chromedp.Poll[bool](`document.getElementById("result")?.dataset.done === "1"`))
			return b.Text(step, chromedp.Text(chromedp.ID(`result`)))
		}
		if loc := b.Location(); !strings.HasPrefix(loc.String(), spa.URL+"/cb?") {
			t.Fatalf("the browser is at %s, want the SPA's callback", loc)
		}
		if got, want := done("the SPA redeems its code"), "token 200, userinfo 200, sub "+e.AliceID; got != want {
			t.Errorf("the SPA got %q, want %q", got, want)
		}

		// Another origin's page posts to the token endpoint as the SPA
		// (a form post needs no preflight, so it is sent); the browser
		// does not let it read the answer.
		other := spaPage(t, vars, `
    const tr = await fetch(tokenURL, {method: "POST", body: new URLSearchParams({
      grant_type: "authorization_code", code: "stolen", client_id: clientID, redirect_uri: "x", code_verifier: verifier})});
    return "read " + tr.status;`)
		other.Start()
		b.Do("open another origin's page", chromedp.Navigate(other.URL+"/"))
		if got := done("the other page posts"); !strings.HasPrefix(got, "fetch failed: TypeError") {
			t.Errorf("a page on another origin read the token endpoint's answer: %q", got)
		}
	})
}
