package provider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/storage"
)

// TestAdminQueryParameters: a query parameter an admin route does not
// read (a typo, another case, an option the route does not have), one
// given twice, or a query that does not parse is answered 400
// invalid_request naming it, on both backends, and changes nothing: no
// record, no key, no audit entry. They were ignored: "?limt=5" and
// "?Limit=5" listed a default page, "?limit=5&limit=5000" read the
// first, "DELETE /admin/roles/teacher?dry_run=true" deleted the role and
// "POST /admin/keys/rotate?immediate=true" only scheduled a rotation.
// The parameters the audit route reads still work.
func TestAdminQueryParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ctx := context.Background()
		wantStatus(t, "create scope", ts.admin(t, http.MethodPost, "/admin/scopes", `{"name":"results:read"}`), http.StatusCreated)
		wantStatus(t, "create role", ts.admin(t, http.MethodPost, "/admin/roles", `{"name":"teacher","scopes":["results:read"]}`), http.StatusCreated)
		svc := ts.registerService(t, "client_secret_basic", "results:read")
		role := `{"name":"staff","scopes":["results:read"]}`
		longParam := strings.Repeat("n", 3000)

		for _, tc := range []struct {
			name, method, path, body, want string
		}{
			{"audit: unknown parameter", http.MethodGet, "/admin/audit?limt=5", "", `unknown query parameter "limt"`},
			{"audit: parameter in another case", http.MethodGet, "/admin/audit?Limit=5", "", `unknown query parameter "Limit"`},
			{"audit: repeated limit", http.MethodGet, "/admin/audit?limit=5&limit=5000", "", `query parameter "limit" is given 2 times`},
			{"audit: repeated actor", http.MethodGet, "/admin/audit?actor=a&actor=b", "", `query parameter "actor" is given 2 times`},
			{"audit: repeated empty", http.MethodGet, "/admin/audit?type=&type=", "", `query parameter "type" is given 2 times`},
			{"audit: bad escape", http.MethodGet, "/admin/audit?actor=%zz", "", "the query string is malformed"},
			{"audit: semicolon", http.MethodGet, "/admin/audit?limit=5;after=1", "", "separated by &"},
			{"list users: paging", http.MethodGet, "/admin/users?limit=-5&offset=abc", "", `unknown query parameter "limit"`},
			{"list clients", http.MethodGet, "/admin/clients?page=2", "", `unknown query parameter "page"`},
			{"list keys", http.MethodGet, "/admin/keys?limit=99999999999999999999", "", `unknown query parameter "limit"`},
			{"get role", http.MethodGet, "/admin/roles/teacher?fields=name", "", `unknown query parameter "fields"`},
			{"create role", http.MethodPost, "/admin/roles?upsert=true", role, `unknown query parameter "upsert"`},
			{"replace role", http.MethodPut, "/admin/roles/teacher?partial=1", `{"scopes":[]}`, `unknown query parameter "partial"`},
			{"delete role", http.MethodDelete, "/admin/roles/teacher?dry_run=true", "", `unknown query parameter "dry_run"`},
			{"delete client", http.MethodDelete, "/admin/clients/" + svc.ClientID + "?x=", "", `unknown query parameter "x"`},
			{"revoke client tokens", http.MethodPost, "/admin/clients/" + svc.ClientID + "/revoke-tokens?all=1", "", `unknown query parameter "all"`},
			{"rotate", http.MethodPost, "/admin/keys/rotate?immediate=true", "", `unknown query parameter "immediate"`},
			{"create scope: bad escape", http.MethodPost, "/admin/scopes?a=%", `{"name":"s2"}`, "the query string is malformed"},
			// An unknown name is named by its start and length, not
			// repeated whole (up to the request line's size).
			{"audit: long unknown name", http.MethodGet, "/admin/audit?" + longParam + "=1", "", `unknown query parameter "nnnn`},
			{"list roles: long unknown name", http.MethodGet, "/admin/roles?" + longParam, "", `(3000 bytes): this request takes no query parameters`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				keys, err := ts.Store.ListKeys(ctx)
				if err != nil {
					t.Fatal(err)
				}
				clients, dir, entries := ts.clients(t), ts.directory(t), ts.auditCount(t)
				var body any
				if tc.body != "" {
					body = tc.body
				}
				res := ts.admin(t, tc.method, tc.path, body)
				assertError(t, res, http.StatusBadRequest, "invalid_request")
				var e struct {
					Description string `json:"error_description"`
				}
				if err := json.Unmarshal(res.Body, &e); err != nil || !strings.Contains(e.Description, tc.want) {
					t.Errorf("%s %s: %.300s; want it to say %q", tc.method, tc.path, res.Body, tc.want)
				}
				if strings.Contains(e.Description, longParam[:200]) {
					t.Errorf("%s: the refusal repeats the parameter's name: %.300s…", tc.name, e.Description)
				}
				ts.assertClientsUnchanged(t, clients)
				ts.assertDirectoryUnchanged(t, dir)
				if after, err := ts.Store.ListKeys(ctx); err != nil || !reflect.DeepEqual(keys, after) {
					t.Errorf("signing keys changed (%v)", err)
				}
				if n := ts.auditCount(t); n != entries {
					t.Errorf("audit entries: %d before, %d after", entries, n)
				}
			})
		}

		// What the audit route reads, each once, still works.
		for _, q := range []string{"", "limit=2", "limit=2&after=1&before=100&type=role&actor=admin-token&since=2000-01-01T00:00:00Z", "type=&actor=&since="} {
			if res := ts.admin(t, http.MethodGet, "/admin/audit?"+q, nil); res.Status != http.StatusOK {
				t.Errorf("GET /admin/audit?%s: %d %s", q, res.Status, res.Body)
			}
		}
		wantStatus(t, "list roles without a query", ts.admin(t, http.MethodGet, "/admin/roles", nil), http.StatusOK)
	})
}

// auditCount is how many entries the audit log holds.
func (ts *testServer) auditCount(t *testing.T) int {
	t.Helper()
	es, err := ts.Store.ListAudit(context.Background(), storage.AuditQuery{})
	if err != nil {
		t.Fatalf("list audit entries: %v", err)
	}
	return len(es)
}
