package provider_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/provider"
)

// TestFlowEnrolmentNeedsRecentSignIn: the flow's enrolment step, like the
// account page, sets up a second factor only for a sign-in of the last
// few minutes. A browser signed in long ago (a session left open, or
// stolen) reached it without the password: by an app's step-up
// (acr_values) for a user without a factor, and, for a user with one, by
// the enrolment page of any request it started (a consent page's
// handle), where it replaced the user's authenticator with its holder's.
// Both now send the browser to sign in again, and nothing is set up.
func TestFlowEnrolmentNeedsRecentSignIn(t *testing.T) {
	// start signs bob in eleven minutes before now (see
	// bobOnAccountEarlier) and moves the clock on to now.
	start := func(t *testing.T, dsn string, signIn func(e *ssoEnv, b *browser, clock *testClock)) (*ssoEnv, *browser) {
		clock := &testClock{offset: -11 * time.Minute}
		e := newSSOEnv(t, dsn, func(c *provider.Config) { c.Now = clock.Now })
		b := e.newBrowser(t)
		signIn(e, b, clock)
		clock.Advance(11 * time.Minute)
		return e, b
	}
	noAuthenticator := func(t *testing.T, e *ssoEnv, what string) {
		t.Helper()
		if _, err := e.Store.GetTOTP(t.Context(), e.BobID); err == nil {
			t.Errorf("%s: an authenticator was set up by a sign-in eleven minutes old", what)
		}
	}

	t.Run("step-up", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, dsn string) {
			e, b := start(t, dsn, func(e *ssoEnv, b *browser, _ *testClock) {
				cb, _ := b.signIn(t, e.Confidential.request("openid"), "bob", bobPassword)
				cb.wantCode(t)
			})
			ar := e.Confidential.request("openid", oauth2.SetAuthURLParam("acr_values", provider.ACRMFA))
			p := b.get(t, ar.URL)
			if m := secretRE.FindStringSubmatch(p.Body); m != nil {
				b.submitTo(t, p, provider.PathEnrol, url.Values{"code": {totpAt(t, m[1], time.Now())}})
			}
			noAuthenticator(t, e, "step-up")
			p.want(t, "login")

			// Signing in again leads to the enrolment, which works.
			enrol := b.login(t, p, "bob", bobPassword)
			m := secretRE.FindStringSubmatch(enrol.Body)
			if m == nil {
				t.Fatalf("after signing in again: want the enrolment step, got %s", enrol)
			}
			codes := b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, m[1], time.Now())}})
			if codes.Status != http.StatusOK || len(recoveryRE.FindAllString(codes.Body, -1)) != 10 {
				t.Fatalf("the enrolment of a fresh sign-in: %s", codes)
			}
			e.callback(t, b.submitTo(t, codes, provider.PathFactorContinue, nil), ar).wantCode(t)
		})
	})

	t.Run("enrolment page of a consent request", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, dsn string) {
			// While bob's sign-in is recent, the enrolment page of a
			// consent request replaces his authenticator (as the account
			// page would); the page is kept for later.
			var enrol page
			var handle string
			e, b := start(t, dsn, func(e *ssoEnv, b *browser, clock *testClock) {
				e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword)
				form := b.get(t, e.URL+provider.PathAccountSecurity)
				m := secretRE.FindStringSubmatch(form.Body)
				if m == nil {
					t.Fatalf("no secret on the enrolment page: %s", form)
				}
				if done := b.submitTo(t, form, "/security/totp", url.Values{"code": {totpAt(t, m[1], clock.Now())}}); !recoveryRE.MatchString(done.Body) {
					t.Fatalf("bob's enrolment: %s", done)
				}
				consent := b.get(t, e.Confidential.request("openid", oauth2.SetAuthURLParam("prompt", "consent")).URL).want(t, "consent")
				handle = consent.form(t).hidden().Get("request")
				enrol = b.get(t, e.URL+provider.PathEnrol+"?"+url.Values{"request": {handle}}.Encode())
				if !secretRE.MatchString(enrol.Body) {
					t.Fatalf("the enrolment page of a recent sign-in: %s", enrol)
				}
			})
			before, err := e.Store.GetTOTP(t.Context(), e.BobID)
			if err != nil {
				t.Fatal(err)
			}
			// Eleven minutes on, neither the page nor its post does.
			p := b.get(t, e.URL+provider.PathEnrol+"?"+url.Values{"request": {handle}}.Encode())
			if secretRE.MatchString(p.Body) {
				t.Errorf("the enrolment page of a sign-in eleven minutes old: %s", p)
			}
			p.want(t, "login")
			m := secretRE.FindStringSubmatch(enrol.Body)
			b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, m[1], time.Now())}}).want(t, "login")
			after, err := e.Store.GetTOTP(t.Context(), e.BobID)
			if err != nil || string(after.Secret) != string(before.Secret) {
				t.Errorf("bob's authenticator was replaced by a sign-in eleven minutes old (%v)", err)
			}
		})
	})

	t.Run("recovery code of an old sign-in", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, dsn string) {
			// Bob signs in to the portal without a factor, then sets an
			// authenticator up in another browser (a first one ends no
			// session): the portal's browser, eleven minutes on, has an
			// old sign-in without the factor.
			var codes []string
			e, b := start(t, dsn, func(e *ssoEnv, b *browser, clock *testClock) {
				cb, _ := b.signIn(t, e.Confidential.request("openid"), "bob", bobPassword)
				cb.wantCode(t)
				other := e.newBrowser(t)
				e.consoleSignIn(t, other, provider.PathAccount, "bob", bobPassword)
				form := other.get(t, e.URL+provider.PathAccountSecurity)
				m := secretRE.FindStringSubmatch(form.Body)
				if m == nil {
					t.Fatalf("no secret on the enrolment page: %s", form)
				}
				done := other.submitTo(t, form, "/security/totp", url.Values{"code": {totpAt(t, m[1], clock.Now())}})
				for _, c := range recoveryRE.FindAllStringSubmatch(done.Body, -1) {
					codes = append(codes, c[1])
				}
				if len(codes) == 0 {
					t.Fatalf("bob's enrolment showed no recovery codes: %s", done)
				}
			})
			ar := e.Confidential.request("openid")
			prompt := b.get(t, ar.URL)
			wantPath(t, prompt, provider.PathSecondFactor)
			p := b.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {codes[0]}})
			// The recovery code signed in; an enrolment offered now
			// could only send the browser to sign in again, and spend
			// another recovery code there, once its code was posted.
			if secretRE.MatchString(p.Body) {
				t.Fatalf("an enrolment offered to a sign-in eleven minutes old after its recovery code: %s", p)
			}
			if p.kind() == "consent" {
				p = b.decide(t, p, "allow")
			}
			e.callback(t, p, ar).wantCode(t)
		})
	})
}
