package provider_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/browsertest"
	"github.com/hallpass/hallpass/provider"
)

// refreshWorks reports whether golang.org/x/oauth2 can renew a token with
// the refresh token rt of client c, and the error if not.
func (e *ssoEnv) refreshWorks(c *ssoClient, rt string) (*oauth2.Token, error) {
	return c.Config.TokenSource(e.ctx(), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// The account page in a real browser: alice withdraws her consent to an
// app and the app's refresh token stops working; she changes her password
// and her other session ends while this one stays.
func TestAccountBrowser(t *testing.T) {
	browsertest.Chromium(t)
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		// Elsewhere (another browser), alice signs in to the school portal
		// and allows it to keep her signed in.
		other := e.newBrowser(t)
		tok := e.signInTokens(t, other, e.Confidential.request("openid profile offline_access results:read"), "alice", alicePassword)
		renewed, err := e.refreshWorks(e.Confidential, tok.RefreshToken)
		if err != nil || renewed.RefreshToken == "" {
			t.Fatalf("the portal's refresh token does not work to begin with: %v", err)
		}
		rt := renewed.RefreshToken
		if !e.Active(t, e.adminCred(), renewed.AccessToken) {
			t.Fatal("the portal's renewed access token is not active to begin with")
		}

		b := browsertest.New(t, 60*time.Second, browsertest.WithWarnings())
		chromeSignIn(t, b, e.URL+provider.PathAccount, "alice", alicePassword)
		roles := b.Text("read the roles", chromedp.Text(chromedp.ID(`roles`)))
		if roles != "teacher" {
			t.Errorf("the account page shows roles %q, want teacher", roles)
		}
		apps := b.Text("read the apps", chromedp.Text(chromedp.CSS(`section[aria-labelledby=apps-heading]`)))
		if !strings.Contains(apps, "School "+e.Confidential.Meta.ClientID) || !strings.Contains(apps, "Read exam results") {
			t.Errorf("the apps section does not list the portal and what it may do: %q", apps)
		}
		sessions := browsertest.Run(b, "count sessions", chromedp.Evaluate[int](`document.querySelectorAll("section[aria-labelledby=sessions-heading] li").length`))
		if sessions != 2 {
			t.Errorf("the account page lists %d sessions, want 2 (this browser and the other)", sessions)
		}
		checkPage(t, b, "account")

		// Withdraw: the portal's refresh token stops working.
		b.Do("withdraw the portal's access",
			chromedp.Click(chromedp.CSS(`li[data-client="`+e.Confidential.Meta.ClientID+`"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`[role=status]`)),
		)
		if n := b.Text("read the notice", chromedp.Text(chromedp.CSS(`[role=status]`))); !strings.Contains(n, "withdrawn") {
			t.Errorf("notice after withdrawing = %q", n)
		}
		// Its access token (self-contained, no row) ends with its grant at
		// once, before any use of the refresh token could end the grant.
		if e.Active(t, e.adminCred(), renewed.AccessToken) {
			t.Error("the portal's access token still introspects active after withdrawing")
		}
		if _, err := e.refreshWorks(e.Confidential, rt); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("the portal's refresh token after withdrawing: %v, want invalid_grant", err)
		}
		if _, err := e.Store.GetConsent(context.Background(), e.AliceID, e.Confidential.Meta.ClientID); err == nil {
			t.Error("the consent is still stored")
		}
		// The audit log records who withdrew which consent.
		e.wantAudit(t, "consent.withdrawn", func(x audit.EntryView) bool {
			return x.Actor == "user:"+e.AliceID && x.ClientID == e.Confidential.Meta.ClientID
		})

		// A wrong current password is refused, beside the form.
		b.Do("change the password with a wrong current one",
			chromedp.SendKeys(chromedp.ID(`current`), "not-my-password"),
			chromedp.SendKeys(chromedp.ID(`new`), "quiet-harbor-lantern-95"),
			chromedp.SendKeys(chromedp.ID(`confirm`), "quiet-harbor-lantern-95"),
			chromedp.Click(chromedp.CSS(`#password-form button`)),
			chromedp.WaitVisible(chromedp.ID(`password-error`)),
		)
		if msg := b.Text("read the error", chromedp.Text(chromedp.ID(`password-error`))); !strings.Contains(msg, "incorrect") {
			t.Errorf("error for a wrong current password = %q", msg)
		}
		if p := other.get(t, e.URL+provider.PathAccount); p.kind() != "login" {
			// The other browser is still signed in to hallpass, so the
			// account page signs it in without asking.
			if p.Status != http.StatusOK {
				t.Fatalf("the other session after a refused change: %s", p)
			}
		} else {
			t.Fatal("a refused password change ended the other session")
		}
		b.Problems() // the refused form's 400, expected

		// The right one: the other session ends, this one stays.
		b.Do("change the password",
			chromedp.SendKeys(chromedp.ID(`current`), alicePassword),
			chromedp.SendKeys(chromedp.ID(`new`), "quiet-harbor-lantern-95"),
			chromedp.SendKeys(chromedp.ID(`confirm`), "quiet-harbor-lantern-95"),
			chromedp.Click(chromedp.CSS(`#password-form button`)),
			chromedp.WaitVisible(chromedp.CSS(`[role=status]`)),
		)
		if n := b.Text("read the notice", chromedp.Text(chromedp.CSS(`[role=status]`))); !strings.Contains(n, "password was changed") {
			t.Fatalf("notice after the change = %q", n)
		}
		if p := other.get(t, e.URL+provider.PathAccount); p.kind() != "login" {
			t.Errorf("the other browser after the password change: %s, want the login page", p)
		}
		sessions = browsertest.Run(b, "count sessions", chromedp.Evaluate[int](`document.querySelectorAll("section[aria-labelledby=sessions-heading] li").length`))
		if sessions != 1 {
			t.Errorf("after the change the account page lists %d sessions, want 1 (this browser)", sessions)
		}
		b.Do("reload: still signed in",
			chromedp.Navigate(e.URL+provider.PathAccount),
			chromedp.WaitVisible(chromedp.ID(`roles`)),
		)
		if p := b.Problems(); len(p) > 0 {
			t.Errorf("the account page reported problems: %q", p)
		}
		// The new password signs in; the old one does not.
		fresh := e.newBrowser(t)
		if p := e.consoleSignIn(t, fresh, provider.PathAccount, "alice", alicePassword); p.kind() != "login" {
			t.Errorf("the old password still signs in: %s", p)
		}
		if p := e.consoleSignIn(t, e.newBrowser(t), provider.PathAccount, "alice", "quiet-harbor-lantern-95"); p.Status != http.StatusOK || p.URL.Path != provider.PathAccount {
			t.Errorf("the new password does not sign in: %s", p)
		}
	})
}

// The account page's forms over HTTP: what each refuses, and that a
// refused form changes nothing; signing out another session.
func TestAccountForms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		p := e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword)
		if p.Status != http.StatusOK {
			t.Fatalf("bob's account page: %s", p)
		}
		csrf := b.formCSRF(t, e)
		before, err := e.Store.GetUser(context.Background(), e.BobID)
		if err != nil {
			t.Fatal(err)
		}
		for name, tc := range map[string]struct {
			form   url.Values
			status int
			says   string
		}{
			"no current":        {url.Values{"new": {"quiet-harbor-lantern-95"}, "confirm": {"quiet-harbor-lantern-95"}}, http.StatusBadRequest, "current password"},
			"wrong current":     {url.Values{"current": {"nope"}, "new": {"quiet-harbor-lantern-95"}, "confirm": {"quiet-harbor-lantern-95"}}, http.StatusBadRequest, "incorrect"},
			"mismatch":          {url.Values{"current": {bobPassword}, "new": {"quiet-harbor-lantern-95"}, "confirm": {"quiet-harbor-lantern-96"}}, http.StatusBadRequest, "differ"},
			"too weak":          {url.Values{"current": {bobPassword}, "new": {"password"}, "confirm": {"password"}}, http.StatusBadRequest, "12"},
			"contains name":     {url.Values{"current": {bobPassword}, "new": {"bob-quiet-harbor-95"}, "confirm": {"bob-quiet-harbor-95"}}, http.StatusBadRequest, "username"},
			"oversized current": {url.Values{"current": {strings.Repeat("x", directory.MaxPasswordInputLen+1)}, "new": {"quiet-harbor-lantern-95"}, "confirm": {"quiet-harbor-lantern-95"}}, http.StatusBadRequest, "incorrect"},
		} {
			tc.form.Set("csrf", csrf)
			p := b.post(t, e.URL+"/account/password", tc.form)
			if p.Status != tc.status || !strings.Contains(p.Body, `role="alert"`) || !strings.Contains(p.Body, tc.says) {
				t.Errorf("%s: %s, want %d with an alert saying %q", name, p, tc.status, tc.says)
			}
			after, err := e.Store.GetUser(context.Background(), e.BobID)
			if err != nil || after.PasswordHash != before.PasswordHash {
				t.Errorf("%s: the password changed", name)
			}
		}

		// Another of bob's sessions is listed with its device and
		// address, and can be signed out from here.
		phone := e.newBrowser(t)
		phone.http.Transport = userAgent{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1", phone.http.Transport}
		p = phone.login(t, phone.get(t, e.URL+provider.PathAccount), "bob", bobPassword)
		if p.Status != http.StatusOK {
			t.Fatalf("the phone's sign-in: %s", p)
		}
		page := b.get(t, e.URL+provider.PathAccount)
		if !strings.Contains(page.Body, "Safari on iPhone") || !strings.Contains(page.Body, "127.0.0.1") {
			t.Errorf("the sessions list does not show the phone's device and address: %s", page.Body)
		}
		var end string
		for _, f := range page.forms(t) {
			if strings.HasSuffix(f.Action, "/end") {
				end = f.Action
			}
		}
		if end == "" {
			t.Fatal("no form to sign the other session out")
		}
		if p := b.post(t, e.URL+end, url.Values{}); p.Status != http.StatusForbidden {
			t.Errorf("ending a session without the csrf token: %d, want 403", p.Status)
		}
		if p := phone.get(t, e.URL+provider.PathAccount); p.Status != http.StatusOK {
			t.Fatalf("a refused post ended the phone's session: %s", p)
		}
		if p := b.post(t, e.URL+end, url.Values{"csrf": {csrf}}); p.Status != http.StatusOK || !strings.Contains(p.Body, "session was signed out") {
			t.Errorf("ending the phone's session: %s", p)
		}
		if p := phone.get(t, e.URL+provider.PathAccount); p.kind() != "login" {
			t.Errorf("the phone after its session was ended: %s, want the login page", p)
		}
		if p := b.post(t, e.URL+end, url.Values{"csrf": {csrf}}); p.Status != http.StatusNotFound {
			t.Errorf("ending it again: %d, want 404", p.Status)
		}
		if p := b.post(t, e.URL+"/account/apps/no-such-app/withdraw", url.Values{"csrf": {csrf}}); p.Status != http.StatusNotFound {
			t.Errorf("withdrawing a consent never given: %d, want 404", p.Status)
		}
		// This browser stayed signed in throughout.
		if p := b.get(t, e.URL+provider.PathAccount); p.Status != http.StatusOK || p.URL.Path != provider.PathAccount {
			t.Errorf("bob's own session: %s", p)
		}
	})
}

// userAgent sends every request with a User-Agent, as a browser does.
type userAgent struct {
	ua   string
	next http.RoundTripper
}

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.next.RoundTrip(r)
}

// TestAccountPasswordChangedSignInFailed: a password change on the
// account page that committed (the password changed, every session
// ended) but whose new session for this browser failed on our side is a
// logged 5xx that says the password was changed, for the user to sign in
// with it; it said "Nothing was changed unless the page says so", and a
// user who believed it would try the old password.
func TestAccountPasswordChangedSignInFailed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		logs := &syncBuffer{}
		st := &nthStore{failOn: []string{"CreateBrowserSession"}}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			st.Store = c.Store
			c.Store = st
		})
		b := e.newBrowser(t)
		home := e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword)
		const newPassword = "quiet-harbor-lantern-95"
		st.fail.Store(1)
		p := b.submitTo(t, home, "/password", url.Values{"current": {bobPassword}, "new": {newPassword}, "confirm": {newPassword}})
		if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
			t.Errorf("status %d (Retry-After %q), want 503 with Retry-After: %s", p.Status, p.Header.Get("Retry-After"), p)
		}
		if !strings.Contains(p.Body, "password was changed") || strings.Contains(p.Body, "Nothing was changed") {
			t.Errorf("the page does not say that the password was changed: %s", p)
		}
		if id := p.Header.Get("X-Request-Id"); !logs.logged(t, "ERROR", id) {
			t.Errorf("nothing logged at error level for request %s", id)
		}
		// It was: the old password no longer signs in, the new one does.
		e.wantLoginRefused(t, e.Confidential, "bob", bobPassword)
		e.signInTokens(t, e.newBrowser(t), e.Confidential.request("openid"), "bob", newPassword)
	})
}
