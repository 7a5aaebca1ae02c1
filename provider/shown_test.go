package provider_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/provider"
)

// The console's audit page shows an entry's text as it is: a direction
// override or an invisible character in it (a passkey's name recorded
// before names refused them) is written as its escape, not obeyed, so
// "Laptop<U+202E>exe.gnp" never reads as "Laptopgnp.exe".
func TestConsoleAuditShowsHiddenCharacters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		log := audit.New(e.Store, audit.Options{Logger: slog.New(slog.DiscardHandler)})
		log.Record(t.Context(), audit.Event{Action: "mfa.passkey_enrolled", Actor: "user:mallory", Object: "user:mallory",
			Details: map[string]any{"passkey": "Laptop\u202eexe.gnp", "note": "zero\u200bwidth"}})
		log.Record(t.Context(), audit.Event{Action: "signin.failure", Details: map[string]any{"username": "ad\u2066min", "reason": "wrong\u202epassword"}})

		ada := e.newBrowser(t)
		if p := e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK {
			t.Fatalf("sign in: %s", p)
		}
		for _, path := range []string{"/console/audit", provider.PathConsole} {
			p := ada.get(t, e.URL+path)
			if p.Status != http.StatusOK {
				t.Fatalf("%s: %s", path, p)
			}
			if i := strings.IndexAny(p.Body, "\u202e\u200b\u2066"); i >= 0 {
				t.Errorf("%s shows a hidden character as it is, at %q", path, p.Body[max(0, i-40):min(len(p.Body), i+40)])
			}
		}
		if p := ada.get(t, e.URL+"/console/audit"); !strings.Contains(p.Body, `Laptop\u202Eexe.gnp`) || !strings.Contains(p.Body, `zero\u200Bwidth`) {
			t.Errorf("the audit page does not write the hidden characters as escapes: %s", p)
		}
	})
}

// A client's name stored before the service refused invisible and
// direction characters shows on the login page with them written as
// escapes, so it cannot pass for another client's name.
func TestLoginPageShowsHiddenCharactersOfStoredName(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c, err := e.Store.GetClient(t.Context(), confidentialID)
		if err != nil {
			t.Fatal(err)
		}
		c.Name = "hallpass\u200b console"
		if err := e.Store.UpdateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		p := e.newBrowser(t).get(t, e.Confidential.request("openid").URL)
		if p.kind() != "login" || strings.Contains(p.Body, "\u200b") || !strings.Contains(p.Body, `hallpass\u200B console`) {
			t.Errorf("the login page does not write the stored name's zero-width space as an escape: %s", p)
		}
	})
}
