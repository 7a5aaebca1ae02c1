package provider_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/resource"
)

// The second factor in the browser flow: a role that requires it sends
// its holders through enrolment before any code is issued; an enrolled
// user is asked for a code (replays and expired codes refused, recovery
// codes used once); acr_values steps a password session up; tokens carry
// amr and acr.

var (
	secretRE   = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	recoveryRE = regexp.MustCompile(`<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>`)
)

// totpAt is the code of secret for the time step at t.
func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// formWith returns the page's form whose action ends in suffix.
func (p page) formWith(t *testing.T, suffix string) htmlForm {
	t.Helper()
	for _, f := range p.forms(t) {
		if strings.HasSuffix(f.Action, suffix) {
			return f
		}
	}
	t.Fatalf("no form posting to %s: %s", suffix, p)
	return htmlForm{}
}

// submitTo posts the page's form whose action ends in suffix.
func (b *browser) submitTo(t *testing.T, p page, suffix string, fields url.Values) page {
	t.Helper()
	f := p.formWith(t, suffix)
	action, err := p.URL.Parse(f.Action)
	if err != nil {
		t.Fatal(err)
	}
	v := f.hidden()
	for k, vs := range fields {
		v[k] = vs
	}
	return b.post(t, action.String(), v)
}

// enrolOnAccountPage signs username in to the account page in b and
// enrols an authenticator app there with a current code: it returns the
// app's secret and the page the enrolment answered (ten recovery codes
// when it succeeded), whose status the caller checks.
func (e *ssoEnv) enrolOnAccountPage(t *testing.T, b *browser, username, password string) (secret string, done page) {
	t.Helper()
	e.consoleSignIn(t, b, provider.PathAccount, username, password)
	form := b.get(t, e.URL+provider.PathAccountSecurity)
	m := secretRE.FindStringSubmatch(form.Body)
	if m == nil {
		t.Fatalf("no secret on the enrolment page: %s", form)
	}
	return m[1], b.submitTo(t, form, "/security/totp", url.Values{"code": {totpAt(t, m[1], time.Now())}})
}

func wantPath(t *testing.T, p page, path string) {
	t.Helper()
	if p.Redirect != nil || p.URL.Path != path {
		t.Fatalf("want the page %s, got %s", path, p)
	}
}

func wantAlert(t *testing.T, p page, status int, text string) {
	t.Helper()
	if p.Status != status || !strings.Contains(p.Body, text) {
		t.Fatalf("want %d with %q, got %s", status, text, p)
	}
}

// wantMFAClaims checks the ID token's and the access token's acr and amr,
// and that introspecting the access token answers them too (RFC 9470: a
// resource server that introspects learns how the user signed in).
func (e *ssoEnv) wantMFAClaims(t *testing.T, ar authRequest, tok *oauth2.Token, acr string, amr ...string) {
	t.Helper()
	id := e.idToken(t, ar.Client, tok, ar.Nonce)
	at := e.access(t, tok.AccessToken)
	res := e.do(t, req{Method: http.MethodPost, Path: provider.PathIntrospect,
		ContentType: "application/x-www-form-urlencoded",
		Body:        url.Values{"token": {tok.AccessToken}}.Encode(), Auth: "Bearer " + e.AdminToken})
	var in struct {
		Active bool     `json:"active"`
		ACR    string   `json:"acr"`
		AMR    []string `json:"amr"`
	}
	if err := json.Unmarshal(res.Body, &in); res.Status != http.StatusOK || err != nil || !in.Active {
		t.Errorf("introspect the access token: %d %s (%v)", res.Status, res.Body, err)
	} else if in.ACR != acr || !slices.Equal(in.AMR, amr) {
		t.Errorf("introspection acr = %q, amr = %v, want %q, %v", in.ACR, in.AMR, acr, amr)
	}
	for name, raw := range map[string]map[string]any{"ID token": id.Raw, "access token": at.Raw} {
		if raw["acr"] != acr {
			t.Errorf("%s acr = %v, want %s", name, raw["acr"], acr)
		}
		var got []string
		list, _ := raw["amr"].([]any)
		for _, m := range list {
			got = append(got, m.(string))
		}
		if !slices.Equal(got, amr) {
			t.Errorf("%s amr = %v, want %v", name, got, amr)
		}
		if _, ok := raw["auth_time"].(float64); !ok {
			t.Errorf("%s has no auth_time: %v", name, raw)
		}
	}
}

func TestSecondFactor(t *testing.T) {
	withSSOEnv(t, "policy", func(t *testing.T, e *ssoEnv) {
		res := e.admin(t, http.MethodPut, "/admin/roles/teacher", map[string]any{"name": "teacher",
			"scopes": []string{"results:read", "results:write", "schedule:write"}, "require_mfa": true})
		if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"require_mfa":true`) {
			t.Fatalf("PUT role: %d %s", res.Status, res.Body)
		}
		c := e.Confidential
		scope := "openid profile results:write"

		// A teacher without a factor is sent to enrolment right after the
		// password, and the consent page cannot be used to skip it.
		b := e.newBrowser(t)
		ar := c.request(scope)
		enrol := b.login(t, b.get(t, ar.URL), "alice", alicePassword)
		wantPath(t, enrol, provider.PathEnrol)
		if csp := enrol.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:;") || strings.Contains(csp, "script-src") {
			t.Errorf("enrolment page CSP = %q", csp)
		}
		handle := enrol.formWith(t, provider.PathEnrol).hidden().Get("request")
		consent := b.get(t, e.URL+provider.PathConsent+"?request="+url.QueryEscape(handle))
		wantPath(t, consent, provider.PathEnrol)
		post := b.post(t, e.URL+provider.PathConsent, url.Values{"request": {handle}, "decision": {"allow"},
			"csrf": {enrol.formWith(t, provider.PathEnrol).hidden().Get("csrf")}})
		if post.Redirect != nil {
			t.Fatalf("a consent posted before the second factor left hallpass: %s", post)
		}

		// Enrolment: a wrong code is refused, the right one shows ten
		// recovery codes once, and the flow goes on.
		b = e.newBrowser(t)
		ar = c.request(scope)
		enrol = b.login(t, b.get(t, ar.URL), "alice", alicePassword)
		wantPath(t, enrol, provider.PathEnrol)
		m := secretRE.FindStringSubmatch(enrol.Body)
		if m == nil {
			t.Fatalf("no secret on the enrolment page: %s", enrol)
		}
		secret := m[1]
		wrong := b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, secret, time.Now().Add(-5*time.Minute))}})
		wantAlert(t, wrong, http.StatusOK, "The code is incorrect.")
		if got := secretRE.FindStringSubmatch(wrong.Body); got == nil || got[1] != secret {
			t.Fatalf("a wrong code changed the secret being enrolled: %s", wrong)
		}
		done := b.submitTo(t, wrong, provider.PathEnrol, url.Values{"code": {totpAt(t, secret, time.Now())}})
		codes := recoveryRE.FindAllStringSubmatch(done.Body, -1)
		if len(codes) != 10 {
			t.Fatalf("want 10 recovery codes, got %d: %s", len(codes), done)
		}
		p := b.submitTo(t, done, provider.PathFactorContinue, nil)
		p = b.decide(t, p, "allow")
		tok := e.exchange(t, ar, e.callback(t, p, ar))
		e.wantMFAClaims(t, ar, tok, provider.ACRMFA, "pwd", "otp", "mfa")

		// The same browser's session has the second factor: no prompt.
		ar = c.request(scope)
		cb, tr := b.signIn(t, ar, "alice", alicePassword)
		if tr.Login {
			t.Error("a session with a second factor was asked to sign in again")
		}
		e.wantMFAClaims(t, ar, e.exchange(t, ar, cb), provider.ACRMFA, "pwd", "otp", "mfa")

		// A new browser is asked for a code after the password. The code
		// of the enrolment's step, and a code three steps old, are
		// refused; the next step's code passes, once.
		b = e.newBrowser(t)
		ar = c.request(scope)
		prompt := b.login(t, b.get(t, ar.URL), "alice", alicePassword)
		wantPath(t, prompt, provider.PathSecondFactor)
		old := b.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {totpAt(t, secret, time.Now().Add(-90*time.Second))}})
		wantAlert(t, old, http.StatusOK, "The code is incorrect.")
		next := totpAt(t, secret, time.Now().Add(30*time.Second))
		p = b.submitTo(t, old, provider.PathSecondFactor, url.Values{"code": {next}})
		e.wantMFAClaims(t, ar, e.exchange(t, ar, e.callback(t, p, ar)), provider.ACRMFA, "pwd", "otp", "mfa")

		b2 := e.newBrowser(t)
		ar = c.request(scope)
		prompt = b2.login(t, b2.get(t, ar.URL), "alice", alicePassword)
		replay := b2.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {next}})
		wantAlert(t, replay, http.StatusOK, "already used")

		// A recovery code signs in once and offers re-enrolment.
		rc := codes[3][1]
		p = b2.submitTo(t, replay, provider.PathSecondFactor, url.Values{"code": {strings.ToUpper(rc)}})
		wantPath(t, p, provider.PathSecondFactor)
		wantAlert(t, p, http.StatusOK, "9 are left")
		if secretRE.FindStringSubmatch(p.Body) == nil {
			t.Fatalf("no re-enrolment offered after a recovery code: %s", p)
		}
		p = b2.submitTo(t, p, provider.PathFactorContinue, nil)
		e.wantMFAClaims(t, ar, e.exchange(t, ar, e.callback(t, p, ar)), provider.ACRMFA, "pwd", "otp", "mfa")
		b3 := e.newBrowser(t)
		prompt = b3.login(t, b3.get(t, c.request(scope).URL), "alice", alicePassword)
		again := b3.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {rc}})
		wantAlert(t, again, http.StatusOK, "The code is incorrect.")

		// An admin reset deletes the factor: the teacher enrols again.
		if res := e.admin(t, http.MethodDelete, "/admin/users/alice/factors", nil); res.Status != http.StatusNoContent {
			t.Fatalf("reset factors: %d %s", res.Status, res.Body)
		}
		if res := e.admin(t, http.MethodDelete, "/admin/users/nobody/factors", nil); res.Status != http.StatusNotFound {
			t.Errorf("reset factors of an unknown user: %d %s", res.Status, res.Body)
		}
		b4 := e.newBrowser(t)
		wantPath(t, b4.login(t, b4.get(t, c.request(scope).URL), "alice", alicePassword), provider.PathEnrol)

		// Each of these is in the audit log, about alice, without a code,
		// naming who acted: alice at her sign-in steps (README "The audit
		// log": actor user:<id>), the admin for the reset.
		for _, want := range []struct{ typ, actor string }{
			{"mfa.enrolled", "user:" + e.AliceID},
			{"mfa.code_wrong", "user:" + e.AliceID},
			{"mfa.code_replayed", "user:" + e.AliceID},
			{"mfa.recovery_code_used", "user:" + e.AliceID},
			{"mfa.factors_reset", "admin-token"},
		} {
			got := e.wantAudit(t, want.typ, func(en audit.EntryView) bool { return en.Object == "user:"+e.AliceID })
			if strings.Contains(string(got.Details), rc) {
				t.Errorf("%s holds the recovery code: %s", want.typ, got.Details)
			}
			if got.Actor != want.actor {
				t.Errorf("%s actor = %q, want %q", want.typ, got.Actor, want.actor)
			}
		}
	})

	withSSOEnv(t, "step-up", func(t *testing.T, e *ssoEnv) {
		c := e.Confidential
		scope := "openid profile results:read"
		// A student may sign in with a password alone.
		b := e.newBrowser(t)
		ar := c.request(scope)
		cb, _ := b.signIn(t, ar, "bob", bobPassword)
		pwdTok := e.exchange(t, ar, cb)
		e.wantMFAClaims(t, ar, pwdTok, provider.ACRPassword, "pwd")
		// A resource server demanding a second factor refuses his token.
		v, err := resource.NewVerifier(t.Context(), resource.Config{Issuer: e.URL, Audience: schoolAudience, HTTPClient: e.HTTP})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		api := v.Middleware(resource.RequireACR(provider.ACRMFA)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})))
		callAPI := func(tok *oauth2.Token) *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodPut, "/schedule", nil)
			r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, r)
			return rec
		}
		if rec := callAPI(pwdTok); rec.Code != http.StatusForbidden || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "insufficient_user_authentication") {
			t.Errorf("a password-only token at an API demanding MFA: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
		}

		// acr_values asks for a second factor: the password session is
		// not enough, and without a factor bob is taken to enrolment.
		ar = c.request(scope, oauth2.SetAuthURLParam("acr_values", provider.ACRMFA))
		silent := c.request(scope, oauth2.SetAuthURLParam("acr_values", provider.ACRMFA), oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, b.get(t, silent.URL), silent).wantError(t, "login_required")
		enrol := b.get(t, ar.URL)
		wantPath(t, enrol, provider.PathEnrol)
		secret := secretRE.FindStringSubmatch(enrol.Body)[1]
		done := b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, secret, time.Now())}})
		p := b.submitTo(t, done, provider.PathFactorContinue, nil)
		mfaTok := e.exchange(t, ar, e.callback(t, p, ar))
		e.wantMFAClaims(t, ar, mfaTok, provider.ACRMFA, "pwd", "otp", "mfa")
		if rec := callAPI(mfaTok); rec.Code != http.StatusNoContent {
			t.Errorf("a token with a second factor at an API demanding it: %d %s", rec.Code, rec.Body)
		}

		// prompt=login and max_age=0 force a fresh sign-in, which asks for
		// the code again even though the session had it.
		for _, force := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
			fresh := b.get(t, c.request(scope, force).URL)
			if fresh.kind() != "login" {
				t.Fatalf("a forced fresh sign-in did not show the login page: %s", fresh)
			}
			wantPath(t, b.login(t, fresh, "bob", bobPassword), provider.PathSecondFactor)
		}

		// Enrolled, bob is asked for a code in a new browser even
		// without acr_values; a password alone no longer signs him in.
		b = e.newBrowser(t)
		prompt := b.login(t, b.get(t, c.request(scope).URL), "bob", bobPassword)
		wantPath(t, prompt, provider.PathSecondFactor)
		// Nor can a password-only sign-in replace his authenticator.
		handle := prompt.formWith(t, provider.PathSecondFactor).hidden().Get("request")
		b.get(t, e.URL+provider.PathEnrol+"?request="+url.QueryEscape(handle)).wantErrorPage(t, http.StatusForbidden)
	})
}

func TestSecondFactorThrottled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.LoginLimits = provider.LoginLimits{AccountFreeFailures: 2}
		})
		e.admin(t, http.MethodPut, "/admin/roles/student", map[string]any{"name": "student", "scopes": []string{"results:read"}, "require_mfa": true})
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid")
		enrol := b.login(t, b.get(t, ar.URL), "bob", bobPassword)
		secret := secretRE.FindStringSubmatch(enrol.Body)[1]
		b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, secret, time.Now())}})

		b = e.newBrowser(t)
		p := b.login(t, b.get(t, e.Confidential.request("openid").URL), "bob", bobPassword)
		for range 2 {
			p = b.submitTo(t, p, provider.PathSecondFactor, url.Values{"code": {"000000"}})
			wantAlert(t, p, http.StatusOK, "The code is incorrect.")
		}
		// Locked: even the right code is refused now, with Retry-After.
		p = b.submitTo(t, p, provider.PathSecondFactor, url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}})
		wantAlert(t, p, http.StatusTooManyRequests, "Too many wrong codes")
		if p.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After on a throttled code")
		}
	})
}

// The account page sets up an authenticator; the console resets it and
// makes a role require a second factor.
func TestSecondFactorAccountAndConsole(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		b := e.newBrowser(t)
		if p := e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword); !strings.Contains(p.Body, "No second factor is set up") {
			t.Fatalf("bob's account page: %s", p)
		}
		p := b.get(t, e.URL+provider.PathAccountSecurity)
		secret := secretRE.FindStringSubmatch(p.Body)
		if secret == nil {
			t.Fatalf("no secret on the account's enrolment page: %s", p)
		}
		if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:;") {
			t.Errorf("enrolment page CSP = %q", csp)
		}
		if p := b.submitTo(t, p, "/security/totp", url.Values{"code": {"000000"}, "csrf": {"forged"}}); p.Status != http.StatusForbidden {
			t.Errorf("an enrolment without the csrf token: %s", p)
		}
		wrong := b.submitTo(t, p, "/security/totp", url.Values{"code": {"000000"}})
		wantAlert(t, wrong, http.StatusOK, "The code is incorrect.")
		done := b.submitTo(t, wrong, "/security/totp", url.Values{"code": {totpAt(t, secret[1], time.Now())}})
		if n := len(recoveryRE.FindAllString(done.Body, -1)); n != 10 {
			t.Fatalf("want 10 recovery codes, got %d: %s", n, done)
		}
		if p := b.get(t, e.URL+provider.PathAccount); !strings.Contains(p.Body, "An authenticator app is set up.") {
			t.Errorf("the account page does not show the authenticator: %s", p)
		}
		// Another browser now needs the code after bob's password.
		phone := e.newBrowser(t)
		wantPath(t, phone.login(t, phone.get(t, e.URL+provider.PathAccount), "bob", bobPassword), provider.PathSecondFactor)

		// The console resets bob's factors, and makes students require
		// a second factor: bob enrols again at his next sign-in.
		admin := e.newBrowser(t)
		e.consoleSignIn(t, admin, "/console", adminUsername, adminPassword)
		csrf := admin.formCSRF(t, e)
		if p := admin.post(t, e.URL+"/console/users/"+e.BobID+"/factors", url.Values{"csrf": {csrf}}); p.Status != http.StatusOK || !strings.Contains(p.Body, "Two-step sign-in was reset") {
			t.Errorf("console reset: %s", p)
		}
		if _, err := e.Store.GetTOTP(t.Context(), e.BobID); err == nil {
			t.Error("bob's authenticator survived the reset")
		}
		version := browserPost(t, admin.get(t, e.URL+"/console/roles/student"), "/console/roles/student").Get("version")
		if p := admin.post(t, e.URL+"/console/roles/student", url.Values{"csrf": {csrf}, "version": {version}, "scopes": {"results:read"}, "require_mfa": {"yes"}}); p.Status != http.StatusOK {
			t.Errorf("console role update: %s", p)
		}
		if r, err := e.Store.GetRole(t.Context(), "student"); err != nil || !r.RequireMFA {
			t.Errorf("student after the console update = %+v, %v", r, err)
		}
		again := e.newBrowser(t)
		wantPath(t, again.login(t, again.get(t, e.URL+provider.PathAccount), "bob", bobPassword), provider.PathEnrol)
	})
}

// TestSecondFactorFailureSpendsNothing: a second-factor step whose record
// fails on our side (503) spends neither the authenticator's code nor the
// recovery code it checked: the user's retry with the same code signs in.
// Spent first and recorded after, in statements of their own, a failure
// in between cost the user a recovery code for good, and a retry of the
// authenticator code was told it was already used.
func TestSecondFactorFailureSpendsNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &nthStore{failOn: []string{"SetAuthRequestAMR"}}
		e := newSSOEnv(t, dsn, func(c *provider.Config) { st.Store = c.Store; c.Store = st })
		secret, done := e.enrolOnAccountPage(t, e.newBrowser(t), "bob", bobPassword)
		codes := recoveryRE.FindAllStringSubmatch(done.Body, -1)
		if len(codes) == 0 {
			t.Fatalf("no recovery codes after the enrolment: %s", done)
		}
		for _, c := range []struct {
			name, code string
			// signedIn is what the page after the code says.
			signedIn string
		}{
			{"authenticator code", totpAt(t, secret, time.Now().Add(30*time.Second)), "Your account"},
			{"recovery code", codes[0][1], "9 are left"},
		} {
			t.Run(c.name, func(t *testing.T) {
				b := e.newBrowser(t)
				prompt := b.login(t, b.get(t, e.URL+provider.PathAccount), "bob", bobPassword)
				wantPath(t, prompt, provider.PathSecondFactor)
				st.fail.Store(1)
				if p := b.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {c.code}}); p.Status != http.StatusServiceUnavailable {
					t.Fatalf("a step whose record failed: want 503, got %s", p)
				}
				p := b.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {c.code}})
				if strings.Contains(p.Body, "already used") || strings.Contains(p.Body, "incorrect") {
					t.Fatalf("the same code after a failure of ours was refused: %s", p)
				}
				if p.Status != http.StatusOK || !strings.Contains(p.Body, c.signedIn) {
					t.Errorf("the same code after a failure of ours: want a page saying %q, got %s", c.signedIn, p)
				}
			})
		}
	})
}

// TestFactorContinueKeepsSession: a sign-in that goes on from the
// recovery-code notice (/login/continue) issues its code in the browser
// session it signed in: the ID token carries the session's sid, so the
// client is recorded for back-channel logout, and the account page's own
// sign-in completes. The step resumed the request without the session,
// so the code had no sid: the account page refused the sign-in (400) and
// a client got no logout notice when the session ended.
func TestFactorContinueKeepsSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, fastOutbox)
		rp, lc := newLogoutClient(t, e, "bc-continue")
		b := e.newBrowser(t)
		secret, done := e.enrolOnAccountPage(t, b, "bob", bobPassword)
		codes := recoveryRE.FindAllStringSubmatch(done.Body, -1)
		if len(codes) < 2 {
			t.Fatalf("want recovery codes after the enrolment, got %d", len(codes))
		}
		// bob allows the client once, so that the next sign-in goes from
		// the second factor straight back to it.
		ar := lc.request("openid")
		p := b.get(t, ar.URL)
		if p.URL.Path == provider.PathSecondFactor {
			p = b.submitTo(t, p, provider.PathSecondFactor, url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}})
		}
		if p.kind() == "consent" {
			p = b.decide(t, p, "allow")
		}
		e.exchange(t, ar, e.callback(t, p, ar))

		recover := func(b *browser, start string) page {
			t.Helper()
			prompt := b.login(t, b.get(t, start), "bob", bobPassword)
			wantPath(t, prompt, provider.PathSecondFactor)
			code := codes[0][1]
			codes = codes[1:]
			notice := b.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {code}})
			return b.submitTo(t, notice, provider.PathFactorContinue, nil)
		}
		if p := recover(e.newBrowser(t), e.URL+provider.PathAccount); p.Status != http.StatusOK || !strings.Contains(p.Body, "Your account") {
			t.Errorf("the account page signed in with a recovery code: %s", p)
		}
		b = e.newBrowser(t)
		ar = lc.request("openid")
		idToken := e.exchange(t, ar, e.callback(t, recover(b, ar.URL), ar)).Extra("id_token").(string)
		sid, _ := rawClaims(t, idToken)["sid"].(string)
		if sid == "" {
			t.Fatal("the ID token of a sign-in with a recovery code has no sid")
		}
		logout := e.URL + provider.PathEndSession + "?" + url.Values{"id_token_hint": {idToken}}.Encode()
		if p := b.get(t, logout); p.Status != http.StatusOK {
			t.Fatalf("logout: %s", p)
		}
		rp.want(t, "logout of a sign-in with a recovery code", sid, e.BobID)
	})
}

// A recovery code is accepted as people copy it from where they kept it:
// in upper case, with its groups apart by spaces, or with no separators.
// Each of those was taken for a wrong TOTP code (it lacked the dashes of
// the printed form), refused, and counted against the user's limit.
func TestRecoveryCodeTypedForms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.admin(t, http.MethodPut, "/admin/roles/student", map[string]any{"name": "student", "scopes": []string{"results:read"}, "require_mfa": true})
		b := e.newBrowser(t)
		enrol := b.login(t, b.get(t, e.Confidential.request("openid").URL), "bob", bobPassword)
		secret := secretRE.FindStringSubmatch(enrol.Body)[1]
		done := b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, secret, time.Now())}})
		codes := recoveryRE.FindAllStringSubmatch(done.Body, -1)
		if len(codes) != 10 {
			t.Fatalf("want 10 recovery codes, got %d: %s", len(codes), done)
		}
		for i, typed := range []func(string) string{
			func(c string) string { return strings.ToUpper(c) },
			func(c string) string { return strings.ReplaceAll(c, "-", " ") },
			func(c string) string { return strings.ToUpper(strings.ReplaceAll(c, "-", "")) },
			func(c string) string { return " " + c[:9] + c[10:] + " " },
		} {
			code := typed(codes[i][1])
			b := e.newBrowser(t)
			prompt := b.login(t, b.get(t, e.Confidential.request("openid").URL), "bob", bobPassword)
			wantPath(t, prompt, provider.PathSecondFactor)
			p := b.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {code}})
			wantAlert(t, p, http.StatusOK, fmt.Sprintf("%d are left", 9-i))
		}
	})
}
