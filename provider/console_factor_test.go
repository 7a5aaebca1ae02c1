package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
)

// TestConsoleAsksForFactorRolesRequireNow: a second factor that the
// user's roles come to require while they are signed in to the console
// (the admin role made to require one, or such a role granted) is asked
// for at the console's next page, as the authorization endpoint asks for
// it at the next sign-in to any app; until then the console shows and
// changes nothing. The console checked the roles only when the browser
// signed in, so an admin signed in with a password alone kept the
// console for the rest of the session.
func TestConsoleAsksForFactorRolesRequireNow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		admin := e.newBrowser(t)
		if p := e.consoleSignIn(t, admin, provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK || !strings.Contains(p.Body, "Dashboard") {
			t.Fatalf("ada's console: %s", p)
		}
		csrf := admin.formCSRF(t, e)

		if res := e.admin(t, http.MethodPut, "/admin/roles/admin", map[string]any{"name": "admin", "require_mfa": true}); res.Status != http.StatusOK {
			t.Fatalf("make the admin role require a second factor: %d %s", res.Status, res.Body)
		}
		// A change posted with the sign-in's token is refused, and
		// changes nothing.
		p := admin.post(t, e.URL+"/console/roles/student", url.Values{"csrf": {csrf}, "scopes": {"results:read"}, "require_mfa": {"yes"}})
		if p.Status != http.StatusForbidden {
			t.Errorf("a console change without the second factor the admin role requires: %s", p)
		}
		if r, err := e.Store.GetRole(t.Context(), "student"); err != nil || r.RequireMFA {
			t.Errorf("student after the refused change = %+v, %v", r, err)
		}
		// Nor does the account page, which the same sign-in opens.
		if p := admin.get(t, e.URL+provider.PathAccount); p.URL.Path != provider.PathEnrol {
			t.Errorf("the account page without the second factor: want the enrolment step, got %s", p)
		}
		// The console's pages lead to the enrolment step of the same
		// SSO session (no password asked again), and on to the console.
		enrol := admin.get(t, e.URL+provider.PathConsole+"/users")
		wantPath(t, enrol, provider.PathEnrol)
		secret := secretRE.FindStringSubmatch(enrol.Body)
		if secret == nil {
			t.Fatalf("no secret on the enrolment step: %s", enrol)
		}
		codes := admin.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, secret[1], time.Now())}})
		if n := len(recoveryRE.FindAllString(codes.Body, -1)); n != 10 {
			t.Fatalf("want 10 recovery codes, got %d: %s", n, codes)
		}
		if p := admin.submitTo(t, codes, provider.PathFactorContinue, nil); p.Status != http.StatusOK || p.URL.Path != provider.PathConsole {
			t.Fatalf("after the enrolment: want the console, got %s", p)
		}
		if p := admin.get(t, e.URL+provider.PathConsole+"/users"); p.Status != http.StatusOK || !strings.Contains(p.Body, "bob") {
			t.Errorf("the console after the enrolment: %s", p)
		}
	})
}

// TestAccountAsksForFactorSetUpElsewhere: a browser signed in to the
// account page with a password alone, before its user set up an
// authenticator in another browser, is asked for the code at its next
// page, as any app's sign-in in it would be; until then it changes
// nothing. The browser that set the authenticator up has proved it, and
// goes on without a prompt.
func TestAccountAsksForFactorSetUpElsewhere(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		old := e.newBrowser(t)
		e.consoleSignIn(t, old, provider.PathAccount, "bob", bobPassword)
		csrf := old.formCSRF(t, e)
		// bob allows an app, which the old browser will try to withdraw.
		ar := e.Confidential.request("openid")
		if p := old.get(t, ar.URL); p.kind() != "consent" {
			t.Fatalf("bob's first sign-in to the portal: %s", p)
		} else if p = old.decide(t, p, "allow"); p.kind() != "redirect" {
			t.Fatalf("after allowing the portal: %s", p)
		}

		leaving := e.newBrowser(t)
		e.consoleSignIn(t, leaving, provider.PathAccount, "bob", bobPassword)
		leavingCSRF := leaving.formCSRF(t, e)

		b := e.newBrowser(t)
		secret, done := e.enrolOnAccountPage(t, b, "bob", bobPassword)
		if done.Status != http.StatusOK || len(recoveryRE.FindAllString(done.Body, -1)) != 10 {
			t.Fatalf("the enrolment: %s", done)
		}
		if p := b.get(t, e.URL+provider.PathAccount); p.Status != http.StatusOK || p.URL.Path != provider.PathAccount {
			t.Errorf("the enrolling browser's account page: want it without a prompt, got %s", p)
		}

		// Signing out needs no second factor.
		if p := leaving.post(t, e.URL+provider.PathAccount+"/signout", url.Values{"csrf": {leavingCSRF}}); p.Status != http.StatusOK || !strings.Contains(p.Body, "Signed out") {
			t.Errorf("signing out of the password-only browser: %s", p)
		}
		if sessions, err := e.Store.ListUserBrowserSessions(t.Context(), e.BobID); err != nil || len(sessions) != 2 {
			t.Errorf("bob's sessions after one signed out: %d, %v; want 2 (the old browser's and the enrolling one's)", len(sessions), err)
		}

		withdraw := e.URL + provider.PathAccount + "/apps/" + url.PathEscape(e.Confidential.Meta.ClientID) + "/withdraw"
		if p := old.post(t, withdraw, url.Values{"csrf": {csrf}}); p.Status != http.StatusForbidden {
			t.Errorf("a change from the password-only browser: %s", p)
		}
		if _, err := e.Store.GetConsent(t.Context(), e.BobID, e.Confidential.Meta.ClientID); err != nil {
			t.Errorf("the consent after the refused withdrawal: %v", err)
		}
		code := old.get(t, e.URL+provider.PathAccount)
		wantPath(t, code, provider.PathSecondFactor)
		home := old.submitTo(t, code, provider.PathSecondFactor, url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}})
		if home.Status != http.StatusOK || home.URL.Path != provider.PathAccount {
			t.Fatalf("after the code: want the account page, got %s", home)
		}
		if p := old.post(t, withdraw, url.Values{"csrf": {old.formCSRF(t, e)}}); p.Status != http.StatusOK || !strings.Contains(p.Body, "Access was withdrawn") {
			t.Errorf("the withdrawal after the code: %s", p)
		}
	})
}
