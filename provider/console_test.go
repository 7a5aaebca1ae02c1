package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/browsertest"
	"github.com/hallpass/hallpass/provider"
)

// The admin console in a real browser: an admin signs in through
// hallpass's own client, registers a client through the form, and that
// client then completes a code flow with golang.org/x/oauth2; a student
// is refused.
func TestConsoleBrowser(t *testing.T) {
	browsertest.Chromium(t)
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		rp := relyingParty(t)
		b := browsertest.New(t, 60*time.Second, browsertest.WithWarnings())

		chromeSignIn(t, b, e.URL+provider.PathConsole, adminUsername, adminPassword)
		if loc := b.Location(); loc.Path != provider.PathConsole {
			t.Fatalf("after signing in the browser is at %s, want the console", loc)
		}
		if h := b.Text("read the heading", chromedp.Text(chromedp.CSS(`main h1`))); h != "Dashboard" {
			t.Errorf("console heading = %q, want Dashboard", h)
		}
		who := b.Text("read who is signed in", chromedp.Text(chromedp.CSS(`header .who`)))
		if !strings.Contains(who, adminUsername) {
			t.Errorf("header says %q, want it to name %s", who, adminUsername)
		}
		checkPage(t, b, "dashboard")

		// Keyboard only: the first Tab reaches the skip link, with a
		// visible focus ring, and Enter on a focused navigation link
		// opens its page.
		b.Do("press Tab", chromedp.KeyEvent("\t"))
		focus := browsertest.Run(b, "read the focus", chromedp.Evaluate[[]string](`(() => { const el = document.activeElement; const s = getComputedStyle(el); return [el.className, s.outlineStyle, s.outlineWidth, String(el.getBoundingClientRect().left >= 0)]; })()`))
		if len(focus) != 4 || focus[0] != "skip" || focus[1] == "none" || focus[2] == "0px" || focus[3] != "true" {
			t.Errorf("after one Tab the focus is %v, want the skip link, on screen, with an outline", focus)
		}
		b.Do("Tab to the Users link and press Enter",
			chromedp.Focus(chromedp.CSS(`nav a[href="/console/users"]`)),
			chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.CSS(`input[type=search]`)),
		)
		if loc := b.Location(); loc.Path != "/console/users" {
			t.Errorf("Enter on the Users link led to %s", loc)
		}
		checkPage(t, b, "users")
		for _, page := range []string{"roles", "scopes", "keys", "audit"} {
			if !pageChecks(t) {
				break
			}
			b.Do("open "+page,
				chromedp.Navigate(e.URL+"/console/"+page),
				chromedp.WaitVisible(chromedp.CSS(`nav a[aria-current=page][href="/console/`+page+`"]`)),
			)
			checkPage(t, b, page)
		}

		// Register a client through the form.
		b.Do("open the clients page",
			chromedp.Click(chromedp.CSS(`nav a[href="/console/clients"]`)),
			chromedp.WaitVisible(chromedp.CSS(`nav a[aria-current=page][href="/console/clients"]`)),
		)
		checkPage(t, b, "clients")
		b.Do("open the registration form",
			chromedp.Click(chromedp.CSS(`a[href="/console/clients/new"]`)),
			chromedp.WaitVisible(chromedp.CSS(`textarea[name=redirect_uris]`)),
		)
		checkPage(t, b, "client-form")
		// A redirect URI the rules refuse is shown beside the form.
		b.Do("submit a bad redirect URI",
			chromedp.SendKeys(chromedp.CSS(`input[name=client_id]`), "gradebook"),
			chromedp.SendKeys(chromedp.CSS(`input[name=client_name]`), "Gradebook"),
			chromedp.SendKeys(chromedp.CSS(`textarea[name=redirect_uris]`), "http://gradebook.example/cb"),
			chromedp.Click(chromedp.CSS(`main form.stack button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`[role=alert]`)),
		)
		alert := b.Text("read the error", chromedp.Text(chromedp.CSS(`[role=alert]`)))
		if !strings.Contains(alert, "https") {
			t.Errorf("the error for an http redirect URI says %q, want the rule (https)", alert)
		}
		invalid := browsertest.Run(b, "read aria-invalid", chromedp.AttributeValue(chromedp.CSS(`textarea[name=redirect_uris]`), "aria-invalid"))
		if invalid.Value != "true" {
			t.Errorf("the redirect URI field is not marked aria-invalid")
		}
		if _, err := e.Store.GetClient(context.Background(), "gradebook"); err == nil {
			t.Fatal("a refused form registered the client")
		}
		b.Problems() // the refused form's 400, expected
		b.Do("fix the redirect URI and submit",
			chromedp.SetValue(chromedp.CSS(`textarea[name=redirect_uris]`), rp.URL+"/cb"),
			chromedp.SetValue(chromedp.CSS(`input[name=scope]`), "openid profile offline_access results:read"),
			chromedp.Click(chromedp.CSS(`#grant-refresh_token`)),
			chromedp.Click(chromedp.CSS(`main form.stack button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`#client_secret`)),
		)
		secret := b.Text("read the secret", chromedp.Value(chromedp.CSS(`#client_secret`)))
		screenshot(t, b, "client-secret")
		if len(secret) < 43 {
			t.Fatalf("the secret shown is %q", secret)
		}

		// The new client completes a code flow, alice signing in, with
		// golang.org/x/oauth2 redeeming the code with the shown secret.
		meta := directory.ClientMetadata{ClientID: "gradebook", ClientSecret: secret, TokenEndpointAuthMethod: "client_secret_basic"}
		client := &ssoClient{Meta: meta, Config: oauth2.Config{
			ClientID: "gradebook", ClientSecret: secret, RedirectURL: rp.URL + "/cb",
			Endpoint: oauth2.Endpoint{
				AuthURL:   endpoint(t, e.Discovery, "authorization_endpoint"),
				TokenURL:  endpoint(t, e.Discovery, "token_endpoint"),
				AuthStyle: oauth2.AuthStyleInHeader,
			},
		}}
		tok := e.signInTokens(t, e.newBrowser(t), client.request("openid profile offline_access results:read"), "alice", alicePassword)
		if got := grantedScope(t, tok); !slices.Equal(got, []string{"offline_access", "openid", "profile", "results:read"}) {
			t.Errorf("granted scope = %v", got)
		}
		if tok.RefreshToken == "" {
			t.Error("no refresh token, though the form allowed the refresh_token grant")
		}

		// The secret page leads to the client's page, which shows what
		// was registered.
		b.Do("go on to the client",
			chromedp.Click(chromedp.CSS(`main a.button`)),
			chromedp.WaitVisible(chromedp.CSS(`[role=status]`)),
		)
		if got := b.Text("read the redirect URIs", chromedp.Value(chromedp.CSS(`textarea[name=redirect_uris]`))); got != rp.URL+"/cb" {
			t.Errorf("the edit form shows redirect URIs %q", got)
		}
		if p := b.Problems(); len(p) > 0 {
			t.Errorf("the console reported problems (CSP violations, console errors): %q", p)
		}

		// Signing out ends the console and the hallpass session.
		b.Do("sign out",
			chromedp.Click(chromedp.CSS(`form.signout button`)),
			chromedp.WaitNotPresent(chromedp.CSS(`header .who`)),
			chromedp.WaitVisible(chromedp.CSS(`main p[role=status]`)),
		)
		// A student signs in and is refused.
		chromeSignIn(t, b, e.URL+provider.PathConsole, "bob", bobPassword)
		h := b.Text("read the refusal", chromedp.Text(chromedp.CSS(`main h1`)))
		if !strings.Contains(h, "cannot use the console") {
			t.Errorf("a student sees %q, want the refusal", h)
		}
		screenshot(t, b, "forbidden")
		for _, p := range b.Problems() {
			// The refusal's own 403 is expected; nothing else.
			if !strings.Contains(p, "status of 403") {
				t.Errorf("the console reported a problem: %q", p)
			}
		}
	})
}

// consoleSignIn signs b in to the console or the account page (path)
// through the own client, as username.
func (e *ssoEnv) consoleSignIn(t *testing.T, b *browser, path, username, password string) page {
	t.Helper()
	p := b.get(t, e.URL+path)
	if p.kind() != "login" {
		t.Fatalf("GET %s without a sign-in: want the login page, got %s", path, p)
	}
	if !strings.Contains(p.Hops[0].Location, "client_id="+provider.SelfClientID) || !strings.Contains(p.Hops[0].Location, "code_challenge=") {
		t.Errorf("the sign-in does not go through the own client with PKCE: %s", p.Hops[0].Location)
	}
	return b.login(t, p, username, password)
}

// The console's gate, over HTTP: who gets in, what a post needs.
func TestConsoleGate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)

		// A student signs in and gets the 403 page, and nothing of the
		// console; their account page works.
		bob := e.newBrowser(t)
		p := e.consoleSignIn(t, bob, provider.PathConsole, "bob", bobPassword)
		if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "admin</strong> role") {
			t.Fatalf("a student on the console: %s", p)
		}
		if p := bob.get(t, e.URL+"/console/clients"); p.Status != http.StatusForbidden || strings.Contains(p.Body, provider.SelfClientID) {
			t.Errorf("a student on the clients page: %d", p.Status)
		}
		if p := bob.get(t, e.URL+provider.PathAccount); p.Status != http.StatusOK || !strings.Contains(p.Body, "student") {
			t.Errorf("a student's account page: %s", p)
		}

		// The admin gets in.
		ada := e.newBrowser(t)
		p = e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword)
		if p.Status != http.StatusOK || p.URL.Path != provider.PathConsole {
			t.Fatalf("the admin on the console: %s", p)
		}
		form := ada.get(t, e.URL+"/console/clients/new")
		csrf := form.forms(t)[1].hidden().Get("csrf")
		if csrf == "" {
			t.Fatal("the client form carries no csrf token")
		}
		create := url.Values{"client_id": {"forged"}, "redirect_uris": {"https://forged.example/cb"}, "grant_types": {"authorization_code"},
			"token_endpoint_auth_method": {"none"}, "require_pkce": {"yes"}}

		// A post without the token, with another browser's token, or
		// from another site changes nothing.
		for name, send := range map[string]func() page{
			"no token": func() page { return ada.post(t, e.URL+"/console/clients/new", create) },
			"bob's token": func() page {
				f := url.Values{"csrf": {bob.formCSRF(t, e)}}
				for k, v := range create {
					f[k] = v
				}
				return ada.post(t, e.URL+"/console/clients/new", f)
			},
			"cross-site": func() page {
				f := url.Values{"csrf": {csrf}}
				for k, v := range create {
					f[k] = v
				}
				hr, _ := http.NewRequest(http.MethodPost, e.URL+"/console/clients/new", strings.NewReader(f.Encode()))
				hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				hr.Header.Set("Sec-Fetch-Site", "cross-site")
				return ada.send(t, hr)
			},
			"signed out": func() page {
				f := url.Values{"csrf": {csrf}}
				for k, v := range create {
					f[k] = v
				}
				return e.newBrowser(t).post(t, e.URL+"/console/clients/new", f)
			},
		} {
			if p := send(); p.Status != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", name, p.Status)
			}
			if _, err := e.Store.GetClient(context.Background(), "forged"); err == nil {
				t.Fatalf("%s: the client was registered", name)
			}
		}
		// With the token it works.
		f := url.Values{"csrf": {csrf}}
		for k, v := range create {
			f[k] = v
		}
		if p := ada.post(t, e.URL+"/console/clients/new", f); p.Status != http.StatusOK || p.URL.Path != "/console/clients/forged" {
			t.Fatalf("create a public client: %s", p)
		}
		if c, err := e.Store.GetClient(context.Background(), "forged"); err != nil || c.TokenEndpointAuthMethod != "none" {
			t.Fatalf("the client the form registered: %+v, %v", c, err)
		}

		// Search finds it by part of its id, and not the others.
		if p := ada.get(t, e.URL+"/console/clients?q=ORGE"); !strings.Contains(p.Body, `href="/console/clients/forged"`) || strings.Contains(p.Body, confidentialID) {
			t.Errorf("searching the clients for ORGE: %s", p)
		}
		// hallpass's own client cannot be changed here.
		if p := ada.get(t, e.URL+"/console/clients/"+provider.SelfClientID); p.Status != http.StatusForbidden {
			t.Errorf("editing the own client: status %d, want 403", p.Status)
		}

		// A state that is not this browser's is refused.
		if p := ada.get(t, e.URL+"/console/callback?code=x&state=forged"); p.Status != http.StatusBadRequest {
			t.Errorf("a forged callback: status %d, want 400", p.Status)
		}

		// Losing the admin role shuts the console at once.
		e.setUser(t, adminUsername, map[string]any{"roles": []string{}})
		if p := ada.get(t, e.URL+provider.PathConsole); p.Status != http.StatusForbidden {
			t.Errorf("after losing the admin role: status %d, want 403", p.Status)
		}
		// Ending the SSO session (RP-initiated logout) ends the console's
		// sign-in: the next visit asks to sign in again.
		e.setUser(t, adminUsername, map[string]any{"roles": []string{"admin"}})
		lo := ada.get(t, e.URL+provider.PathEndSession)
		if lf := lo.forms(t); len(lf) > 0 {
			ada.submit(t, lo, url.Values{"confirm": {"yes"}})
		}
		if p := ada.get(t, e.URL+provider.PathConsole); p.kind() != "login" {
			t.Errorf("after signing out of hallpass the console shows %s, want the login page", p)
		}
	})
}

// formCSRF returns the csrf token of the browser's account page form.
func (b *browser) formCSRF(t *testing.T, e *ssoEnv) string {
	t.Helper()
	p := b.get(t, e.URL+provider.PathAccount)
	for _, f := range p.forms(t) {
		if v := f.hidden().Get("csrf"); v != "" {
			return v
		}
	}
	t.Fatalf("no csrf token on %s", p)
	return ""
}
