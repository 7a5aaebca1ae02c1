package provider_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// The admin API's GET of one record answers its version as ETag; a PUT
// or DELETE that sends it in If-Match goes through only while the record
// is as that read showed it. One overtaken by another change is refused
// with 412 precondition_failed and changes nothing (two admins editing
// one client no longer each undo the other's change). "*" and requests
// without If-Match go through as before. The same for every kind.
func TestAdminIfMatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		for _, tc := range []struct {
			path                  string
			create, first, second map[string]any
		}{
			{"/admin/clients/portal",
				map[string]any{"client_id": "portal", "redirect_uris": []string{"https://portal.example/cb"}},
				map[string]any{"client_name": "First", "redirect_uris": []string{"https://portal.example/cb"}},
				map[string]any{"client_name": "Second", "redirect_uris": []string{"https://portal.example/cb"}},
			},
			{"/admin/roles/teacher",
				map[string]any{"name": "teacher", "scopes": []string{"a"}},
				map[string]any{"description": "First", "scopes": []string{"a"}},
				map[string]any{"description": "Second", "scopes": []string{}},
			},
			{"/admin/scopes/notes",
				map[string]any{"name": "notes"},
				map[string]any{"description": "First"},
				map[string]any{"description": "Second"},
			},
		} {
			t.Run(tc.path, func(t *testing.T) {
				collection := tc.path[:len(tc.path)-len(lastSegment(tc.path))-1]
				if res := ts.admin(t, http.MethodPost, collection, tc.create); res.Status != http.StatusCreated {
					t.Fatalf("create: %d %s", res.Status, res.Body)
				}
				read := ts.admin(t, http.MethodGet, tc.path, nil)
				etag := read.Header.Get("ETag")
				if read.Status != http.StatusOK || len(etag) < 3 || etag[0] != '"' {
					t.Fatalf("GET: %d, ETag %q", read.Status, etag)
				}
				put := func(body map[string]any, ifMatch string) result {
					enc, _ := json.Marshal(body)
					rq := req{Method: http.MethodPut, Path: tc.path, Auth: "Bearer " + ts.AdminToken, ContentType: "application/json", Body: string(enc)}
					if ifMatch != "" {
						rq.Header = http.Header{"If-Match": {ifMatch}}
					}
					return ts.do(t, rq)
				}
				// Another admin's change, from the same read.
				if res := put(tc.first, etag); res.Status != http.StatusOK {
					t.Fatalf("PUT with the current ETag: %d %s", res.Status, res.Body)
				}
				after := ts.admin(t, http.MethodGet, tc.path, nil)
				res := put(tc.second, etag)
				assertError(t, res, http.StatusPreconditionFailed, "precondition_failed")
				if again := ts.admin(t, http.MethodGet, tc.path, nil); string(again.Body) != string(after.Body) {
					t.Errorf("the refused PUT changed the record: %s, was %s", again.Body, after.Body)
				}
				del := ts.do(t, req{Method: http.MethodDelete, Path: tc.path, Auth: "Bearer " + ts.AdminToken, Header: http.Header{"If-Match": {etag}}})
				assertError(t, del, http.StatusPreconditionFailed, "precondition_failed")
				if res := put(tc.second, `"other", `+after.Header.Get("ETag")); res.Status != http.StatusOK {
					t.Errorf("PUT with the new ETag among others: %d %s", res.Status, res.Body)
				}
				if res := put(tc.first, "*"); res.Status != http.StatusOK {
					t.Errorf("PUT with If-Match *: %d %s", res.Status, res.Body)
				}
				if res := put(tc.second, ""); res.Status != http.StatusOK {
					t.Errorf("PUT without If-Match: %d %s", res.Status, res.Body)
				}
			})
		}
	})
}

func lastSegment(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}
