package provider_test

import (
	"net/http"
	"testing"
)

// A PUT of a record as it is changes nothing, and the audit log, which
// records changes, gets no entry for it; a PUT that changes a field gets
// exactly one, naming the field.
func TestAdminUpdateWithoutChangeRecordsNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		kinds := []struct {
			path, typ string
			body      map[string]any
			field     string
			changed   any
		}{
			{"/admin/scopes", "scope.update", map[string]any{"name": "grades:read", "description": "Read grades"}, "description", "Read the grades"},
			{"/admin/roles", "role.update", map[string]any{"name": "tutor", "scopes": []string{"grades:read"}}, "scopes", []string{"grades:read", "grades:write"}},
			{"/admin/clients", "client.update", map[string]any{"client_id": "sync", "grant_types": []string{"client_credentials"}, "scope": "grades:read"}, "scope", "grades:read grades:write"},
			{"/admin/users", "user.update", map[string]any{"username": "erin", "password": "correct horse battery staple 99", "roles": []string{"tutor"}}, "email", "erin@example.com"},
		}
		for _, k := range kinds {
			if res := ts.admin(t, http.MethodPost, k.path, k.body); res.Status != http.StatusCreated {
				t.Fatalf("create %s: status %d: %s", k.path, res.Status, res.Body)
			}
		}
		for _, k := range kinds {
			id := k.body["name"]
			if id == nil {
				id = k.body["client_id"]
			}
			if id == nil {
				id = k.body["username"]
			}
			one := k.path + "/" + id.(string)
			same := map[string]any{}
			for f, v := range k.body {
				if f != "password" {
					same[f] = v
				}
			}
			before := len(ts.auditPage(t, "limit=1000&type="+k.typ).Entries)
			if res := ts.admin(t, http.MethodPut, one, same); res.Status != http.StatusOK {
				t.Fatalf("PUT %s unchanged: status %d: %s", one, res.Status, res.Body)
			}
			if after := len(ts.auditPage(t, "limit=1000&type="+k.typ).Entries); after != before {
				t.Errorf("PUT %s without a change: %d %s entries added, want none", one, after-before, k.typ)
			}
			same[k.field] = k.changed
			if res := ts.admin(t, http.MethodPut, one, same); res.Status != http.StatusOK {
				t.Fatalf("PUT %s changed: status %d: %s", one, res.Status, res.Body)
			}
			es := ts.auditPage(t, "limit=1000&type="+k.typ).Entries
			if len(es) != before+1 {
				t.Fatalf("PUT %s changing %s: %d %s entries added, want 1", one, k.field, len(es)-before, k.typ)
			}
			if fields, _ := details(t, es[len(es)-1])["fields"].([]any); len(fields) != 1 || fields[0] != k.field {
				t.Errorf("PUT %s changing %s recorded fields %v", one, k.field, fields)
			}
		}
	})
}
