package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/provider"
)

// Guesses at a code sent all at once are counted as they arrive: no more
// are checked than the limit lets through one after another; the rest
// are refused with 429.
func TestSecondFactorParallelGuesses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.LoginLimits = provider.LoginLimits{AccountFreeFailures: 2}
		})
		e.admin(t, http.MethodPut, "/admin/roles/student", map[string]any{"name": "student", "scopes": []string{"results:read"}, "require_mfa": true})
		b := e.newBrowser(t)
		enrol := b.login(t, b.get(t, e.Confidential.request("openid").URL), "bob", bobPassword)
		secret := secretRE.FindStringSubmatch(enrol.Body)[1]
		b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, secret, time.Now())}})

		b = e.newBrowser(t)
		prompt := b.login(t, b.get(t, e.Confidential.request("openid").URL), "bob", bobPassword)
		wantPath(t, prompt, provider.PathSecondFactor)
		const n = 24
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				statuses[i] = b.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {"000000"}}).Status
			})
		}
		wg.Wait()
		checked := 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				checked++
			case http.StatusTooManyRequests:
			default:
				t.Errorf("a parallel guess answered %d", s)
			}
		}
		if checked > 2 {
			t.Errorf("%d of %d parallel guesses were checked, limit 2: %v", checked, n, statuses)
		}
	})
}

// One right code sent in two sign-ins at once signs in only one of them.
func TestSecondFactorParallelReplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.admin(t, http.MethodPut, "/admin/roles/student", map[string]any{"name": "student", "scopes": []string{"results:read"}, "require_mfa": true})
		b := e.newBrowser(t)
		enrol := b.login(t, b.get(t, e.Confidential.request("openid").URL), "bob", bobPassword)
		secret := secretRE.FindStringSubmatch(enrol.Body)[1]
		b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, secret, time.Now())}})

		const n = 8
		bs := make([]*browser, n)
		prompts := make([]page, n)
		for i := range n {
			bs[i] = e.newBrowser(t)
			prompts[i] = bs[i].login(t, bs[i].get(t, e.Confidential.request("openid").URL), "bob", bobPassword)
			wantPath(t, prompts[i], provider.PathSecondFactor)
		}
		code := totpAt(t, secret, time.Now().Add(30*time.Second))
		results := make([]page, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i] = bs[i].submitTo(t, prompts[i], provider.PathSecondFactor, url.Values{"code": {code}})
			})
		}
		wg.Wait()
		passed := 0
		for _, p := range results {
			if p.Redirect != nil || (p.Status == http.StatusOK && !strings.Contains(p.Body, "already used") && !strings.Contains(p.Body, "incorrect")) {
				passed++
			}
		}
		if passed != 1 {
			t.Errorf("one code signed in %d of %d parallel sign-ins", passed, n)
		}
	})
}

// A refreshed token says how the user signed in when the grant was
// made: with a second factor, it keeps claiming one; with a password
// alone, it never claims one.
func TestRefreshKeepsAMR(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		scope := "openid offline_access results:read"
		b := e.newBrowser(t)
		ar := c.request(scope)
		cb, _ := b.signIn(t, ar, "bob", bobPassword)
		tok := e.exchange(t, ar, cb)
		e.wantMFAClaims(t, ar, tok, provider.ACRPassword, "pwd")
		renewed, err := e.refreshWorks(c, tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		// A refreshed ID token has no nonce (OIDC Core §12.2).
		noNonce := ar
		noNonce.Nonce = ""
		e.wantMFAClaims(t, noNonce, renewed, provider.ACRPassword, "pwd")

		ar = c.request(scope, oauth2.SetAuthURLParam("acr_values", provider.ACRMFA))
		enrol := b.get(t, ar.URL)
		wantPath(t, enrol, provider.PathEnrol)
		secret := secretRE.FindStringSubmatch(enrol.Body)[1]
		done := b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, secret, time.Now())}})
		p := b.submitTo(t, done, provider.PathFactorContinue, nil)
		if p.kind() == "consent" {
			p = b.decide(t, p, "allow")
		}
		tok = e.exchange(t, ar, e.callback(t, p, ar))
		e.wantMFAClaims(t, ar, tok, provider.ACRMFA, "pwd", "otp", "mfa")
		renewed, err = e.refreshWorks(c, tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		noNonce = ar
		noNonce.Nonce = ""
		e.wantMFAClaims(t, noNonce, renewed, provider.ACRMFA, "pwd", "otp", "mfa")
	})
}
