package provider_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/provider"
)

// The sign-in flow in a real browser: headless Chromium driven by chromedp
// through hallpass's login and consent pages to a relying party.

// chromiumPath finds Chromium, skipping the test when it is missing (failing
// it under CI, where a skip would hide a broken setup).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	const msg = "install Debian's chromium (apt-get install -y chromium) to run browser tests"
	if os.Getenv("HALLPASS_CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newChromium starts a headless Chromium with a fresh profile for the whole
// test and returns the allocator context tabs are opened in.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	return alloc
}

// pageProblems collects what the browser reports as errors on a page:
// console errors, uncaught exceptions and log entries such as CSP
// violations.
type pageProblems struct {
	mu   sync.Mutex
	list []string
}

func (p *pageProblems) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, s)
}

func (p *pageProblems) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.list
	p.list = nil
	return l
}

// listener records problems; give it to chromedp.WithListener so that it
// sees every event of the tab. It runs in the tab's loop: it only records.
func (p *pageProblems) listener(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			p.add(fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		p.add("exception: " + ev.ExceptionDetails.Text)
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning || ev.Entry.Source == log.EntrySourceSecurity {
			p.add(fmt.Sprintf("log %s/%s: %s (%s)", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
		}
	}
}

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
	alloc := newChromium(t)
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		rp := relyingParty(t)
		res := e.admin(t, http.MethodPost, "/admin/clients", provider.ClientMetadata{
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

		problems := &pageProblems{}
		ctx, cancel := chromedp.NewContext(alloc, chromedp.WithListener(problems.listener))
		defer cancel()
		ctx, cancelTimeout := context.WithTimeout(ctx, 20*time.Second)
		defer cancelTimeout()
		if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
			t.Fatalf("start browser tab: %v", err)
		}
		location := func() *url.URL {
			t.Helper()
			loc, err := chromedp.Run(ctx, chromedp.Location())
			if err != nil {
				t.Fatalf("location: %v", err)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		// failed reports a failed step with where the browser is.
		failed := func(what string, err error) {
			t.Helper()
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("%s: %v (at %s; page text %q)", what, err, location(), body)
		}
		do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
			t.Helper()
			if err := chromedp.Do(ctx, steps...); err != nil {
				failed(what, err)
			}
		}
		text := func(what string, a chromedp.Action[string]) string {
			t.Helper()
			v, err := chromedp.Run(ctx, a)
			if err != nil {
				failed(what, err)
			}
			return v
		}

		// The authorization request lands on the login page.
		do("open the authorization URL",
			chromedp.Navigate(ar.URL),
			chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		)
		if loc := location(); loc.Path != provider.PathLogin || !strings.HasPrefix(loc.String(), e.URL) {
			t.Fatalf("the browser is at %s, want hallpass's login page", loc)
		}
		labels, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`label[for=username], label[for=password]`)))
		if err != nil || len(labels) != 2 {
			t.Errorf("the login page has %d labels for username and password (%v), want 2", len(labels), err)
		}
		// Let the stylesheet and icon load before judging the page.
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete"`)); err != nil {
			failed("wait for the page to load", err)
		}
		if p := problems.take(); len(p) > 0 {
			t.Errorf("the login page reported problems (CSP violations, console errors): %q", p)
		}

		// A wrong password shows the error on the login page again.
		do("submit a wrong password",
			chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "not-the-password"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`[role=alert]`)),
		)
		alert := text("read the error", chromedp.Text(chromedp.CSS(`[role=alert]`)))
		username := text("read the username", chromedp.Value(chromedp.CSS(`input[name=username]`)))
		password := text("read the password", chromedp.Value(chromedp.CSS(`input[name=password]`)))
		if !strings.Contains(strings.ToLower(alert), "incorrect") {
			t.Errorf("error shown = %q", alert)
		}
		if loc := location(); loc.Path != provider.PathLogin {
			t.Errorf("after a wrong password the browser is at %s, want the login page", loc)
		}
		if username != "alice" || password != "" {
			t.Errorf("after a wrong password: username %q, password %q; want alice kept and the password cleared", username, password)
		}

		// The right password leads to the consent page.
		do("submit the right password",
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), alicePassword),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)),
		)
		scopes := text("read the consent page", chromedp.Text(chromedp.CSS(`main`)))
		if !strings.Contains(scopes, "Read exam results") {
			t.Errorf("the consent page does not describe results:read: %q", scopes)
		}
		if strings.Contains(scopes, "Publish exam results") {
			t.Errorf("the consent page lists results:write, which was not requested: %q", scopes)
		}
		if p := problems.take(); len(p) > 0 {
			t.Errorf("the login and consent pages reported problems: %q", p)
		}

		// Allow: the relying party receives code, state and iss.
		do("allow",
			chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)),
			chromedp.WaitVisible(chromedp.ID(`result`)),
		)
		if loc := location(); !strings.HasPrefix(loc.String(), rp.URL+"/cb?") {
			t.Fatalf("the browser is at %s, want the relying party's callback", loc)
		}
		result := text("read the callback", chromedp.Text(chromedp.ID(`result`)))
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
		if p := problems.take(); len(p) > 0 {
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
