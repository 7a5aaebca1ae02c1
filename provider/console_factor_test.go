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
