package provider_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// The admin API's requests that take no input (DELETE, revoke-tokens,
// a key's revoke, a factors reset) refuse a body naming a field, as
// every other admin request refuses a field it does not know (README
// "Security"), and change nothing: they ignored it, so an admin who
// sent {"immediate": false} to a key's revoke, or {"keep_sessions":
// true} to a factors reset, got a change they had asked to limit.
func TestAdminRequestsWithoutInputRefuseFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		for path, body := range map[string]any{
			"/admin/roles":   map[string]any{"name": "tutor"},
			"/admin/scopes":  map[string]any{"name": "grades:read"},
			"/admin/clients": map[string]any{"client_id": "sync", "grant_types": []string{"client_credentials"}},
			"/admin/users":   map[string]any{"username": "erin", "password": "correct horse battery staple 99"},
		} {
			if res := ts.admin(t, http.MethodPost, path, body); res.Status != http.StatusCreated {
				t.Fatalf("create %s: status %d: %s", path, res.Status, res.Body)
			}
		}
		var keys []struct {
			KID string `json:"kid"`
		}
		if res := ts.admin(t, http.MethodGet, "/admin/keys", nil); json.Unmarshal(res.Body, &keys) != nil || len(keys) == 0 {
			t.Fatalf("keys: %d %s", res.Status, res.Body)
		}
		audit := len(ts.auditPage(t, "limit=1000").Entries)
		for _, rq := range []struct{ method, path string }{
			{http.MethodDelete, "/admin/roles/tutor"},
			{http.MethodDelete, "/admin/scopes/grades:read"},
			{http.MethodDelete, "/admin/clients/sync"},
			{http.MethodDelete, "/admin/users/erin"},
			{http.MethodPost, "/admin/clients/sync/revoke-tokens"},
			{http.MethodDelete, "/admin/users/erin/factors"},
			{http.MethodPost, "/admin/keys/" + keys[0].KID + "/revoke"},
		} {
			res := ts.admin(t, rq.method, rq.path, `{"immediate":false}`)
			assertError(t, res, http.StatusBadRequest, "invalid_request")
		}
		for _, path := range []string{"/admin/roles/tutor", "/admin/scopes/grades:read", "/admin/clients/sync", "/admin/users/erin"} {
			if res := ts.admin(t, http.MethodGet, path, nil); res.Status != http.StatusOK {
				t.Errorf("%s after the refused requests: %d %s", path, res.Status, res.Body)
			}
		}
		if after := len(ts.auditPage(t, "limit=1000").Entries); after != audit {
			t.Errorf("the refused requests added %d audit entries", after-audit)
		}
		// Without a body, or with an empty object, they work as before.
		if res := ts.admin(t, http.MethodDelete, "/admin/roles/tutor", `{}`); res.Status != http.StatusNoContent {
			t.Errorf("DELETE with {}: %d %s", res.Status, res.Body)
		}
		if res := ts.admin(t, http.MethodDelete, "/admin/scopes/grades:read", nil); res.Status != http.StatusNoContent {
			t.Errorf("DELETE without a body: %d %s", res.Status, res.Body)
		}
	})
}

// TestAdminRequestsWithoutInputTakeNoValue checks that a request that
// takes no input still works when its client frames "nothing" as JSON
// does: null (JSON.stringify(null), a wrapper that always encodes its
// argument) or a body of white space. noInput refused both, 400 "must
// be a JSON object", where they name no field and worked before it.
func TestAdminRequestsWithoutInputTakeNoValue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		for i, body := range []string{"null", " null\n", "\n", "{}"} {
			name := "tutor" + string(rune('a'+i))
			if res := ts.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": name}); res.Status != http.StatusCreated {
				t.Fatalf("create role: status %d: %s", res.Status, res.Body)
			}
			if res := ts.admin(t, http.MethodDelete, "/admin/roles/"+name, body); res.Status != http.StatusNoContent {
				t.Errorf("DELETE with %q: %d %s", body, res.Status, res.Body)
			}
		}
	})
}
