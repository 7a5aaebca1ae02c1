package provider_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// A passkey's name, which the account page and the console's audit log
// (mfa.passkey_enrolled) show, is refused when it holds text that draws
// as something else: a direction override ("Laptop\u202Eexe.gnp" reads
// "Laptopgnp.exe"), or an invisible character.
func TestPasskeyNameRefusesHiddenText(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		add := func(t *testing.T, name string) (page, *softKey) {
			t.Helper()
			b := e.newBrowser(t)
			home := e.consoleSignIn(t, b, provider.PathAccount, "alice", alicePassword)
			key := newSoftKey(t, e.AliceID)
			_, _, p := postForm(t, b, home, provider.PathAccountPasskeys,
				url.Values{"name": {name}, "credential": {key.attestation(t, challengeOf(t, home), e.URL, "localhost")}})
			return p, key
		}
		for _, name := range []string{"Laptop\u202eexe.gnp", "Lap\u200btop", "Laptop\u2066", "\ufeffLaptop"} {
			t.Run(name, func(t *testing.T) {
				p, key := add(t, name)
				if p.Status != http.StatusBadRequest {
					t.Errorf("passkey named %q: want 400, got %s", name, p)
				}
				if _, err := e.Store.GetPasskey(t.Context(), b64u.EncodeToString(key.id)); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("passkey named %q: stored (%v), want refused", name, err)
				}
			})
		}
		if p, _ := add(t, "Work laptop (דנה)"); p.Status != http.StatusOK {
			t.Errorf("a plain name: want the passkey set up, got %s", p)
		}
	})
}
