package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestSelfClientRevokeSignsOut: revoking the own client's tokens
// (README: "revoking its tokens is allowed, and signs everyone out of
// both") ends every sign-in to the console and the account page made
// before it: a page starts the sign-in again, a form posted with the old
// page's token is refused and changes nothing. A sign-in made after it
// works.
func TestSelfClientRevokeSignsOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		ada := e.newBrowser(t)
		if p := e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK {
			t.Fatalf("the admin's sign-in: %s", p)
		}
		bob := e.newBrowser(t)
		if p := e.consoleSignIn(t, bob, provider.PathAccount, "bob", bobPassword); p.Status != http.StatusOK {
			t.Fatalf("bob's sign-in: %s", p)
		}
		csrf := bob.formCSRF(t, e)

		if res := e.admin(t, http.MethodPost, "/admin/clients/"+provider.SelfClientID+"/revoke-tokens", nil); res.Status != http.StatusNoContent {
			t.Fatalf("revoke the own client's tokens: %d %s", res.Status, res.Body)
		}

		// A post made from the page shown before is refused: the sign-in
		// it was made in has ended.
		if p := bob.post(t, e.URL+"/account/password", url.Values{"csrf": {csrf}, "current": {bobPassword},
			"new": {"quiet-harbor-lantern-95"}, "confirm": {"quiet-harbor-lantern-95"}}); p.Status != http.StatusForbidden {
			t.Errorf("bob's password change after the revocation: %s, want 403", p)
		}
		if p := e.consoleSignIn(t, e.newBrowser(t), provider.PathAccount, "bob", bobPassword); p.Status != http.StatusOK {
			t.Errorf("bob's old password no longer signs in: %s", p)
		}
		// Each page goes through the own client's sign-in again, and
		// comes back signed in under the new epoch.
		for _, tc := range []struct {
			name string
			b    *browser
			path string
		}{{"the admin's console", ada, provider.PathConsole}, {"bob's account page", bob, provider.PathAccount}} {
			p := tc.b.get(t, e.URL+tc.path)
			through := false
			for _, h := range p.Hops {
				through = through || strings.Contains(h.Location, provider.PathAuthorize)
			}
			if !through {
				t.Errorf("%s after the revocation was shown without a new sign-in: %s", tc.name, p)
			}
			if p.Status != http.StatusOK || p.URL.Path != tc.path {
				t.Errorf("%s after signing in again: %s", tc.name, p)
			}
		}
	})
}
