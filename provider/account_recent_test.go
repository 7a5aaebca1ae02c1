package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/provider"
)

// wantFreshSignIn fails the test unless p is the login page reached
// through the own client's authorization request with prompt=login.
func wantFreshSignIn(t *testing.T, what string, p page) {
	t.Helper()
	if p.kind() != "login" {
		t.Fatalf("%s: want the login page (a fresh sign-in), got %s", what, p)
	}
	for _, h := range p.Hops {
		if strings.Contains(h.Location, provider.PathAuthorize+"?") && strings.Contains(h.Location, "client_id="+provider.SelfClientID) {
			if !strings.Contains(h.Location, "prompt=login") {
				t.Fatalf("%s: the sign-in does not ask for the password again: %s", what, h.Location)
			}
			return
		}
	}
	t.Fatalf("%s: the login page was not reached through the own client: %v", what, p.Hops)
}

// bobOnAccountEarlier starts a server whose clock runs eleven minutes
// behind, and signs bob in to the account page there with his password
// and his passkey (key): moving the clock on to now makes the sign-in
// eleven minutes old without ever being ahead of the real time, which
// fosite checks a sign-in's auth_time against.
func bobOnAccountEarlier(t *testing.T, dsn string) (e *ssoEnv, clock *testClock, key *softKey, b *browser, home page) {
	t.Helper()
	clock = &testClock{offset: -11 * time.Minute}
	e = ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}, func(c *provider.Config) { c.Now = clock.Now }))
	key = newSoftKey(t, e.BobID)
	key.store(t, e.Store, "Bob's key")
	b = e.newBrowser(t)
	home = e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword)
	home = b.submitTo(t, home, provider.PathSecondFactorPasskey, url.Values{"credential": {key.assertion(t, challengeOf(t, home), e.URL, "localhost", flagsUP)}})
	if home.URL.Path != provider.PathAccount || home.Status != http.StatusOK {
		t.Fatalf("after bob's passkey: want the account page, got %s", home)
	}
	return e, clock, key, b, home
}

// TestAccountFactorChangesNeedRecentSignIn: setting up an authenticator
// or removing a passkey on the account page needs a sign-in of the last
// few minutes. A session left open (or stolen) long after its sign-in
// could otherwise put in an authenticator of its holder's choosing, or
// take the user's own passkey away, without knowing anything: the
// browser is sent to sign in again and nothing is changed.
func TestAccountFactorChangesNeedRecentSignIn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, clock, key, b, home := bobOnAccountEarlier(t, dsn)
		enrol := b.get(t, e.URL+provider.PathAccountSecurity)
		secret := secretRE.FindStringSubmatch(enrol.Body)
		if secret == nil {
			t.Fatalf("no secret on the enrolment page right after signing in: %s", enrol)
		}
		csrf := b.formCSRF(t, e)

		// Eleven minutes on, the session still lives (idle for an hour
		// at most), but its sign-in is no longer recent.
		clock.Advance(11 * time.Minute)
		if p := b.get(t, e.URL+provider.PathAccount); p.Status != http.StatusOK || p.URL.Path != provider.PathAccount {
			t.Fatalf("the account page eleven minutes on: %s", p)
		}
		wantFreshSignIn(t, "the enrolment page", b.get(t, e.URL+provider.PathAccountSecurity))
		// The enrolment form from before, with a code its secret shows now.
		wantFreshSignIn(t, "the enrolment post", b.submitTo(t, enrol, "/security/totp", url.Values{"code": {totpAt(t, secret[1], clock.Now())}}))
		if _, err := e.Store.GetTOTP(t.Context(), e.BobID); err == nil {
			t.Error("an authenticator was set up by a sign-in eleven minutes old")
		}
		remove := e.URL + provider.PathAccountPasskeys + "/" + b64u.EncodeToString(key.id) + "/remove"
		wantFreshSignIn(t, "the passkey removal", b.post(t, remove, url.Values{"csrf": {csrf}}))
		if _, err := e.Store.GetUserPasskey(t.Context(), e.BobID, b64u.EncodeToString(key.id)); err != nil {
			t.Errorf("bob's passkey was removed by a sign-in eleven minutes old: %v", err)
		}
		// The password change asks for the current password itself: a
		// sign-in of any age may do it.
		if p := b.get(t, e.URL+provider.PathAccount); !strings.Contains(p.Body, `name="current"`) {
			t.Errorf("the account page no longer offers the password change: %s", p)
		}

		// Signing in again, with both factors, makes the changes possible.
		login := b.get(t, e.URL+provider.PathAccountSecurity)
		wantFreshSignIn(t, "the enrolment page", login)
		code := b.login(t, login, "bob", bobPassword)
		wantPath(t, code, provider.PathSecondFactor)
		home = b.submitTo(t, code, provider.PathSecondFactorPasskey, url.Values{"credential": {key.assertion(t, challengeOf(t, code), e.URL, "localhost", flagsUP)}})
		if home.URL.Path != provider.PathAccount || home.Status != http.StatusOK {
			t.Fatalf("after signing in again: want the account page, got %s", home)
		}
		enrol = b.get(t, e.URL+provider.PathAccountSecurity)
		if secret = secretRE.FindStringSubmatch(enrol.Body); secret == nil {
			t.Fatalf("after signing in again: want the enrolment page, got %s", enrol)
		}
		done := b.submitTo(t, enrol, "/security/totp", url.Values{"code": {totpAt(t, secret[1], clock.Now())}})
		if done.Status != http.StatusOK {
			t.Fatalf("the enrolment after signing in again: %s", done)
		}
		if _, err := e.Store.GetTOTP(t.Context(), e.BobID); err != nil {
			t.Errorf("no authenticator after the enrolment of a fresh sign-in: %v", err)
		}
		if p := b.post(t, remove, url.Values{"csrf": {b.formCSRF(t, e)}}); p.Status != http.StatusOK || !strings.Contains(p.Body, "The passkey was removed") {
			t.Errorf("removing the passkey after signing in again: %s", p)
		}
	})
}

// TestAccountPasswordChangeKeepsSecondFactor: the browser that changes
// its user's password on the account page stays signed in with what its
// sign-in proved, the second factor included: the account page and the
// apps go on without asking for a code again. The new session recorded a
// password alone, so a user whose role requires a second factor was sent
// back to the code prompt at once, as at every app's next sign-in.
func TestAccountPasswordChangeKeepsSecondFactor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		if res := e.admin(t, http.MethodPut, "/admin/roles/student", map[string]any{"name": "student", "scopes": []string{"results:read"}, "require_mfa": true}); res.Status != http.StatusOK {
			t.Fatalf("make students require a second factor: %d %s", res.Status, res.Body)
		}
		b := e.newBrowser(t)
		enrol := e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword)
		wantPath(t, enrol, provider.PathEnrol)
		secret := secretRE.FindStringSubmatch(enrol.Body)
		if secret == nil {
			t.Fatalf("no secret on the enrolment step: %s", enrol)
		}
		codes := b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, secret[1], time.Now())}})
		home := b.submitTo(t, codes, provider.PathFactorContinue, nil)
		if home.Status != http.StatusOK || home.URL.Path != provider.PathAccount {
			t.Fatalf("after the enrolment: want the account page, got %s", home)
		}

		const newPassword = "quiet-harbor-lantern-95"
		p := b.submitTo(t, home, "/password", url.Values{"current": {bobPassword}, "new": {newPassword}, "confirm": {newPassword}})
		if p.Status != http.StatusOK || p.URL.Path != provider.PathAccount || !strings.Contains(p.Body, "Your password was changed") {
			t.Fatalf("after the password change: want the account page with its notice, got %s", p)
		}
		if p := b.get(t, e.URL+provider.PathAccount); p.Status != http.StatusOK || p.URL.Path != provider.PathAccount {
			t.Errorf("the account page after the password change: %s", p)
		}
		ar := e.Confidential.request("openid")
		p = b.get(t, ar.URL)
		if p.kind() == "consent" {
			p = b.decide(t, p, "allow")
		}
		if p.kind() != "redirect" {
			t.Fatalf("an app after the password change: want a code without a prompt, got %s", p)
		}
		tok := e.exchange(t, ar, e.callback(t, p, ar))
		e.wantMFAClaims(t, ar, tok, provider.ACRMFA, "pwd", "otp", "mfa")
	})
}

// TestAccountPasswordChangeOfOldSignInIsNotRecent: changing the password
// on the account page proves the password alone. The session it starts
// must not turn an old sign-in's second factor into a recent one: a
// holder of a session left open long ago who knows (or has stolen) the
// password but not the second factor could otherwise change the password
// and then set up an authenticator or a passkey of their own, which the
// recent sign-in is there to prevent (a fresh sign-in asks for both
// factors). The browser is asked for the second factor again instead.
func TestAccountPasswordChangeOfOldSignInIsNotRecent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, clock, key, b, home := bobOnAccountEarlier(t, dsn)

		clock.Advance(11 * time.Minute)
		home = b.get(t, e.URL+provider.PathAccount)
		const newPassword = "quiet-harbor-lantern-95"
		p := b.submitTo(t, home, "/password", url.Values{"current": {bobPassword}, "new": {newPassword}, "confirm": {newPassword}})
		if p.URL.Path != provider.PathSecondFactor {
			t.Errorf("after changing the password of a sign-in eleven minutes old: want the second factor asked for, got %s", p)
		}
		enrol := b.get(t, e.URL+provider.PathAccountSecurity)
		if secretRE.MatchString(enrol.Body) {
			t.Fatalf("the enrolment page, without the second factor, after a password change of an old sign-in: %s", enrol)
		}
		if enrol.URL.Path != provider.PathSecondFactor {
			t.Errorf("the enrolment page after the password change: want the second factor asked for, got %s", enrol)
		}

		// The passkey proves it: the sign-in is recent, with both factors.
		home = b.submitTo(t, enrol, provider.PathSecondFactorPasskey, url.Values{"credential": {key.assertion(t, challengeOf(t, enrol), e.URL, "localhost", flagsUP)}})
		if home.URL.Path != provider.PathAccount || home.Status != http.StatusOK {
			t.Fatalf("after bob's passkey: want the account page, got %s", home)
		}
		if enrol = b.get(t, e.URL+provider.PathAccountSecurity); !secretRE.MatchString(enrol.Body) {
			t.Errorf("after the second factor: want the enrolment page, got %s", enrol)
		}
	})
}
