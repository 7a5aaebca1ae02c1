package provider_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestLoginThrottledAfterFailures: after ten wrong passwords for alice
// from this browser's address, even the right password is refused (429,
// the form again, no code) — guessing stops paying off.
func TestLoginThrottledAfterFailures(t *testing.T) {
	withSSOEnv(t, "throttle", func(t *testing.T, e *ssoEnv) {
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid results:read")
		p := b.get(t, ar.URL)
		for i := range 10 {
			p = b.login(t, p, "alice", "wrong-password-"+string(rune('a'+i)))
			if p.Status != http.StatusOK || p.kind() != "login" {
				t.Fatalf("wrong password %d: %s", i, p)
			}
		}
		p = b.login(t, p, "alice", alicePassword)
		if p.Status != http.StatusTooManyRequests || p.kind() != "login" || !strings.Contains(p.Body, "Too many failed sign-ins") {
			t.Fatalf("right password after 10 failures: %s", p)
		}
		// Another user from the same address is unaffected.
		p = b.login(t, p, "bob", bobPassword)
		if p.Status == http.StatusTooManyRequests || p.kind() == "login" {
			t.Fatalf("bob throttled by alice's failures: %s", p)
		}
	})
}
