package provider_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestAdminUsernameCaseVariants: the admin API answers 409, naming the
// holder, to a user created or renamed to a username that differs from
// another user's only by case, and stores nothing; a user's own username
// may change case.
func TestAdminUsernameCaseVariants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "create alice", ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "alice", "password": "correct horse battery staple"}), http.StatusCreated)
		wantStatus(t, "create bob", ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "bob", "password": "maple-cinder-quartz-58"}), http.StatusCreated)

		for _, tc := range []struct{ name, method, path, username string }{
			{"create", http.MethodPost, "/admin/users", "Alice"},
			{"create, upper case", http.MethodPost, "/admin/users", "ALICE"},
			{"rename", http.MethodPut, "/admin/users/bob", "aLiCe"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := ts.directory(t)
				res := ts.admin(t, tc.method, tc.path, map[string]any{"username": tc.username, "password": "another-willow-pass-93"})
				assertError(t, res, http.StatusConflict, "conflict")
				assertNoPassword(t, res, "another-willow-pass-93")
				var body struct {
					Description string `json:"error_description"`
				}
				_ = json.Unmarshal(res.Body, &body)
				if want := `username "` + tc.username + `" is taken (by "alice")`; !strings.Contains(body.Description, want) {
					t.Errorf("error_description = %q, want it to say %q", body.Description, want)
				}
				ts.assertDirectoryUnchanged(t, before)
			})
		}

		res := ts.admin(t, http.MethodPut, "/admin/users/alice", map[string]any{"username": "Alice"})
		wantStatus(t, "alice renamed to Alice", res, http.StatusOK)
	})
}
