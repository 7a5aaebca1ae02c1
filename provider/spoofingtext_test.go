package provider_test

// Text that people read on the pages (a client's name on the login and
// consent pages, a user's name and a scope's description in the console
// and on the consent page) may not hold characters that draw nothing, nor
// words whose Latin letters are mixed with Cyrillic or Greek lookalikes:
// with either a third party's client shows exactly as another one's name.

import (
	"net/http"
	"testing"
)

func TestSpoofingTextRefusedInDisplayedText(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		client := func(name string) map[string]any {
			return map[string]any{"grant_types": []string{"client_credentials"}, "scope": "x", "client_name": name}
		}
		for _, name := range []string{
			"hallpass\u200b-console",   // zero-width space
			"Grade\u2060book",          // word joiner
			"\ufeffGradebook",          // BOM
			"Grade\u00adbook",          // soft hyphen
			"Gradebook\U000E0041",      // tag character
			"Gradebook\u3164",          // Hangul filler
			"Gradebook\u200f\u200e",    // direction marks
			"Grade\u061cbook",          // Arabic letter mark
			"Gradebook \u202elanretni", // override (was already refused)
			"Gr\u0430debook",           // Cyrillic a among Latin letters
			"hallpass-c\u043ensole",    // Cyrillic o
			"\u0391pple Music",         // Greek capital alpha
		} {
			t.Run(name, func(t *testing.T) {
				before := ts.clients(t)
				assertError(t, ts.admin(t, http.MethodPost, "/admin/clients", client(name)), http.StatusBadRequest, "invalid_client_metadata")
				ts.assertClientsUnchanged(t, before)
				res := ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "u" + string(rune('a'+len(name)%26)), "name": name, "password": "correct horse battery staple 9"})
				if res.Status != http.StatusBadRequest {
					t.Errorf("user with name %q: %d %s, want 400", name, res.Status, res.Body)
				}
				res = ts.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": "s:read", "description": name})
				if res.Status != http.StatusBadRequest {
					t.Errorf("scope with description %q: %d %s, want 400", name, res.Status, res.Body)
				}
			})
		}
		// The joiners that scripts and emoji need stay allowed.
		for _, name := range []string{"می\u200cخواهم", "क्\u200dष", "👩\u200d🏫 Teachers", "علي حسن",
			"Βαθμολόγιο Gradebook", "Москва School", "Dana (דנה) Levi", "Łódź Café"} {
			if res := ts.admin(t, http.MethodPost, "/admin/clients", client(name)); res.Status != http.StatusCreated {
				t.Errorf("client named %q: %d %s, want 201", name, res.Status, res.Body)
			}
		}
	})
}
