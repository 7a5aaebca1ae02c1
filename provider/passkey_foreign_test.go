package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/provider"
)

// A passkey registered to another user signs nobody in as alice: not as
// the second factor after her password (with its own user handle or
// hers), nor passwordless with her user handle in place of its owner's.
func TestPasskeyOfAnotherUserRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		u, _ := url.Parse(e.URL)
		alices := newSoftKey(t, e.AliceID)
		alices.store(t, e.Store, "Alice's key")
		bobs := newSoftKey(t, e.BobID)
		bobs.store(t, e.Store, "Bob's key")

		for name, answer := range map[string]func(challenge string) string{
			"own handle": func(c string) string { return bobs.assertion(t, c, e.URL, u.Hostname(), flagsUPUV) },
			"alice handle": func(c string) string {
				return withUserHandle(t, bobs.assertion(t, c, e.URL, u.Hostname(), flagsUPUV), []byte(e.AliceID))
			},
		} {
			b := e.newBrowser(t)
			prompt := b.login(t, b.get(t, e.Confidential.request("openid").URL), "alice", alicePassword)
			wantPath(t, prompt, provider.PathSecondFactor)
			p := b.submitTo(t, prompt, provider.PathSecondFactorPasskey, url.Values{"credential": {answer(challengeOf(t, prompt))}})
			if p.Status != http.StatusBadRequest || p.Redirect != nil || !strings.Contains(p.Body, "This passkey could not sign you in") {
				t.Errorf("%s: bob's passkey as alice's second factor: %s", name, p)
			}
		}
		// Her own passkey, in the same step, passes.
		ok := e.newBrowser(t)
		prompt := ok.login(t, ok.get(t, e.Confidential.request("openid").URL), "alice", alicePassword)
		p := ok.submitTo(t, prompt, provider.PathSecondFactorPasskey, url.Values{"credential": {alices.assertion(t, challengeOf(t, prompt), e.URL, u.Hostname(), flagsUPUV)}})
		if p.Status == http.StatusBadRequest || p.URL.Path == provider.PathSecondFactor {
			t.Errorf("alice's own passkey as her second factor: %s", p)
		}
		b := e.newBrowser(t)
		login := b.get(t, e.Confidential.request("openid").URL)
		a := withUserHandle(t, bobs.assertion(t, challengeOf(t, login), e.URL, u.Hostname(), flagsUPUV), []byte(e.AliceID))
		if p := b.submitTo(t, login, provider.PathLoginPasskey, url.Values{"credential": {a}}); p.Status != http.StatusBadRequest || p.Redirect != nil || !strings.Contains(p.Body, "This passkey could not sign you in") {
			t.Errorf("bob's passkey with alice's user handle, passwordless: %s", p)
		}
	})
}
