package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
)

// TestAuthenticatorReplacementEndsOtherSessions: replacing the
// authenticator app on the account page ends the user's other sessions
// and grants, as removing a passkey does, and keeps the browser that
// replaced it signed in. Whoever the old authenticator signed in (an
// intruder who set up their own, or who holds the lost phone) stayed
// signed in, their refresh token working, after the user replaced it.
func TestAuthenticatorReplacementEndsOtherSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		// Each code is of another time step: a step spent once is
		// refused the second time. hallpass's clock stands still at now,
		// so that the steps before and at now stay within its skew however
		// long the sign-ins take (with the real clock, a step boundary
		// crossed between now and the first enrolment refused its code).
		now := time.Now()
		e := newSSOEnv(t, dsn, func(c *provider.Config) { c.Now = func() time.Time { return now } })

		// An intruder sets bob's first authenticator up, on the account
		// page, with the code of the step before this one.
		intruder := e.newBrowser(t)
		e.consoleSignIn(t, intruder, provider.PathAccount, "bob", bobPassword)
		form := intruder.get(t, e.URL+provider.PathAccountSecurity)
		old := secretRE.FindStringSubmatch(form.Body)
		if old == nil {
			t.Fatalf("no secret on the enrolment page: %s", form)
		}
		if p := intruder.submitTo(t, form, "/security/totp", url.Values{"code": {totpAt(t, old[1], now.Add(-30*time.Second))}}); !recoveryRE.MatchString(p.Body) {
			t.Fatalf("the first enrolment: %s", p)
		}
		// The intruder's portal keeps them signed in.
		ar := e.Confidential.request("openid offline_access")
		p := intruder.get(t, ar.URL)
		if p.kind() == "consent" {
			p = intruder.decide(t, p, "allow")
		}
		tok := e.exchange(t, ar, e.callback(t, p, ar))
		if tok.RefreshToken == "" {
			t.Fatal("the intruder's sign-in got no refresh token")
		}

		// Bob signs in with the password and that authenticator's code
		// of this step, and replaces it.
		b := e.newBrowser(t)
		code := e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword)
		wantPath(t, code, provider.PathSecondFactor)
		if home := b.submitTo(t, code, provider.PathSecondFactor, url.Values{"code": {totpAt(t, old[1], now)}}); home.URL.Path != provider.PathAccount {
			t.Fatalf("bob's sign-in: want the account page, got %s", home)
		}
		form = b.get(t, e.URL+provider.PathAccountSecurity)
		mine := secretRE.FindStringSubmatch(form.Body)
		if mine == nil {
			t.Fatalf("no secret on the enrolment page: %s", form)
		}
		if p := b.submitTo(t, form, "/security/totp", url.Values{"code": {totpAt(t, mine[1], now)}}); p.Status != http.StatusOK || !strings.Contains(p.Body, "Your other sessions were signed out.") {
			t.Fatalf("replacing the authenticator: %s", p)
		}

		if p := intruder.get(t, e.Confidential.request("openid").URL); p.kind() != "login" {
			t.Errorf("the intruder's browser after the replacement: %s, want the login page", p)
		}
		if p := intruder.get(t, e.URL+provider.PathAccount); p.kind() != "login" {
			t.Errorf("the intruder's account page after the replacement: %s, want the login page", p)
		}
		if _, err := e.refreshWorks(e.Confidential, tok.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("the intruder's refresh token after the replacement: %v, want invalid_grant", err)
		}
		if p := b.get(t, e.URL+provider.PathAccount); p.Status != http.StatusOK || p.URL.Path != provider.PathAccount {
			t.Errorf("bob's browser after the replacement: %s, want the account page", p)
		}
		if p := b.get(t, e.Confidential.request("openid").URL); p.kind() != "redirect" {
			t.Errorf("bob's session does not sign in to the portal after the replacement: %s", p)
		}
	})
}
