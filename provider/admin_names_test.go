package provider_test

import (
	"net/http"
	"strings"
	"testing"
)

// A name that is a dot segment ("." or "..") cannot be addressed by URL:
// browsers, proxies and HTTP libraries resolve /admin/clients/.. to
// /admin and /console/clients/./delete to /console/clients/delete,
// another client's page. Every kind refuses such a name and keeps
// nothing.
func TestAdminRefusesDotSegmentNames(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		const password = "correct horse battery staple 99"
		for _, name := range []string{".", ".."} {
			cases := []struct {
				path, code, field string
				body              map[string]any
			}{
				{"/admin/clients", "invalid_client_metadata", "client_id",
					map[string]any{"client_id": name, "grant_types": []string{"client_credentials"}, "scope": "x"}},
				{"/admin/users", "invalid_request", "username", map[string]any{"username": name, "password": password}},
				{"/admin/roles", "invalid_request", "name", map[string]any{"name": name}},
				{"/admin/scopes", "invalid_request", "name", map[string]any{"name": name}},
			}
			for _, c := range cases {
				res := ts.admin(t, http.MethodPost, c.path, c.body)
				assertError(t, res, http.StatusBadRequest, c.code)
				list := ts.admin(t, http.MethodGet, c.path, nil)
				if list.Status != http.StatusOK {
					t.Fatalf("list %s: status %d: %s", c.path, list.Status, list.Body)
				}
				if quoted := `"` + c.field + `":"` + name + `"`; strings.Contains(string(list.Body), quoted) {
					t.Errorf("POST %s named %q: the record is stored: %s", c.path, name, list.Body)
				}
			}
		}

		// Nor can a user be renamed to one.
		res := ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "dora", "password": password})
		if res.Status != http.StatusCreated {
			t.Fatalf("create dora: status %d: %s", res.Status, res.Body)
		}
		assertError(t, ts.admin(t, http.MethodPut, "/admin/users/dora", map[string]any{"username": ".."}), http.StatusBadRequest, "invalid_request")
		if got := ts.admin(t, http.MethodGet, "/admin/users/dora", nil); got.Status != http.StatusOK {
			t.Errorf("dora after a refused rename: status %d: %s", got.Status, got.Body)
		}
	})
}
