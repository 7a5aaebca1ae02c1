package provider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestAdminNameCaseVariants: the admin API answers 409, naming the
// holder, as it does a username's case variant, to a role, a scope or a
// client created with a name (client id) that differs from another's of
// its kind only by case, and 400 to a scope named as a protocol scope
// but for case; it stores nothing.
func TestAdminNameCaseVariants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "create scope read", ts.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": "read"}), http.StatusCreated)
		wantStatus(t, "create role teacher", ts.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": "teacher", "scopes": []string{"read"}}), http.StatusCreated)
		wantStatus(t, "create client app", ts.admin(t, http.MethodPost, "/admin/clients",
			map[string]any{"client_id": "app", "grant_types": []string{"client_credentials"}, "scope": "read"}), http.StatusCreated)

		for _, tc := range []struct {
			name, path string
			body       map[string]any
			status     int
			code, says string
		}{
			{"role", "/admin/roles", map[string]any{"name": "Teacher"}, http.StatusConflict, "conflict",
				`role name "Teacher" is taken (by "teacher"); role names differ by more than case`},
			{"scope", "/admin/scopes", map[string]any{"name": "READ"}, http.StatusConflict, "conflict",
				`scope name "READ" is taken (by "read"); scope names differ by more than case`},
			{"client", "/admin/clients", map[string]any{"client_id": "APP", "grant_types": []string{"client_credentials"}, "scope": "read"},
				http.StatusConflict, "conflict", `client id "APP" is taken (by "app"); client ids differ by more than case`},
			{"protocol scope", "/admin/scopes", map[string]any{"name": "Offline"}, http.StatusBadRequest, "invalid_request",
				`scope name "Offline" differs only by case from offline,`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := ts.directory(t)
				clients, err := ts.Store.ListClients(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				res := ts.admin(t, http.MethodPost, tc.path, tc.body)
				assertError(t, res, tc.status, tc.code)
				var body struct {
					Description string `json:"error_description"`
				}
				_ = json.Unmarshal(res.Body, &body)
				if !strings.Contains(body.Description, tc.says) {
					t.Errorf("error_description = %q, want it to say %q", body.Description, tc.says)
				}
				ts.assertDirectoryUnchanged(t, before)
				if after, err := ts.Store.ListClients(context.Background()); err != nil || len(after) != len(clients) {
					t.Errorf("clients after the refusal: %d, %v; want %d", len(after), err, len(clients))
				}
			})
		}
	})
}
