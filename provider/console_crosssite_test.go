package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/web"
)

// TestSelfPostWithoutCookieKeepsSignIn: a post to the console or the
// account page that comes without the sign-in cookie (a hostile site's
// top-level cross-site post, which SameSite=Lax sends without it) is
// refused and does not delete the browser's sign-in cookie; one that
// carries a cookie that no longer signs in has it deleted.
func TestSelfPostWithoutCookieKeepsSignIn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		ada := e.newBrowser(t)
		if p := e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK {
			t.Fatalf("sign in: %s", p)
		}
		plain := &http.Client{Transport: e.HTTP.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, tc := range []struct {
			name, path, cookie string
			clears             bool
		}{
			{"cross-site post to the console", "/console/clients/new", "", false},
			{"cross-site sign-out of the console", "/console/signout", "", false},
			{"cross-site post to the account page", "/account/password", "", false},
			{"post with a cookie that does not sign in", "/console/clients/new", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hr, err := http.NewRequest(http.MethodPost, e.URL+tc.path, strings.NewReader(url.Values{"csrf": {"x"}}.Encode()))
				if err != nil {
					t.Fatal(err)
				}
				hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				hr.Header.Set("Origin", "https://hostile.example")
				hr.Header.Set("Sec-Fetch-Site", "cross-site")
				if tc.cookie != "" {
					hr.AddCookie(&http.Cookie{Name: web.SelfCookieName, Value: tc.cookie})
				}
				res, err := plain.Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusForbidden {
					t.Errorf("status %d, want 403", res.StatusCode)
				}
				cleared := false
				for _, c := range res.Cookies() {
					cleared = cleared || c.Name == web.SelfCookieName
				}
				if cleared != tc.clears {
					t.Errorf("sign-in cookie cleared: %v, want %v (Set-Cookie %q)", cleared, tc.clears, res.Header.Values("Set-Cookie"))
				}
			})
		}
		// The admin's browser is still signed in to the console.
		if p := ada.get(t, e.URL+provider.PathConsole); p.Status != http.StatusOK || p.URL.Path != provider.PathConsole || len(p.Hops) > 0 {
			t.Errorf("the admin's console after the cross-site posts: %s", p)
		}
	})
}
