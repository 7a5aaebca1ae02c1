package provider_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
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

// An If-Match that is not "*" nor a list of entity-tags (RFC 9110
// §8.8.3, §13.1.1) is a malformed request, 400 invalid_request, not a
// precondition that failed: told 412 with the record's ETag, a client
// that sent the tag without its quotes would retry the same mistake.
// A weak tag is well-formed and never matches (If-Match compares
// strongly): 412. Neither changes anything.
func TestAdminIfMatchMalformed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		if res := ts.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": "teacher"}); res.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		read := ts.admin(t, http.MethodGet, "/admin/roles/teacher", nil)
		etag := read.Header.Get("ETag")
		bare := etag[1 : len(etag)-1]
		send := func(method string, ifMatch []string) result {
			rq := req{Method: method, Path: "/admin/roles/teacher", Auth: "Bearer " + ts.AdminToken, Header: http.Header{"If-Match": ifMatch}}
			if method == http.MethodPut {
				rq.ContentType, rq.Body = "application/json", `{"description":"changed"}`
			}
			return ts.do(t, rq)
		}
		for _, bad := range [][]string{{bare}, {""}, {"W/" + bare}, {`"` + bare}, {etag + " " + etag}, {`*, ` + etag}, {etag, "*"}, {`"a"b"`}, {`"a b"`}} {
			for _, method := range []string{http.MethodPut, http.MethodDelete} {
				assertError(t, send(method, bad), http.StatusBadRequest, "invalid_request")
			}
		}
		for _, method := range []string{http.MethodPut, http.MethodDelete} {
			assertError(t, send(method, []string{"W/" + etag}), http.StatusPreconditionFailed, "precondition_failed")
		}
		if again := ts.admin(t, http.MethodGet, "/admin/roles/teacher", nil); string(again.Body) != string(read.Body) || again.Header.Get("ETag") != etag {
			t.Errorf("a refused request changed the role: %s, was %s", again.Body, read.Body)
		}
		// Well-formed: a list across lines and with empty elements.
		if res := send(http.MethodPut, []string{`"other"`, ` , ` + etag + `,`}); res.Status != http.StatusOK {
			t.Errorf("PUT with the ETag in a list: %d %s", res.Status, res.Body)
		}
	})
}

// A replica checks If-Match against the record as the database holds
// it, never against its cache of clients, roles and scopes, which may be
// an interval behind another replica's change: an ETag that change has
// overtaken was let through on the replica that had cached the record,
// and the change it made from the old read undid the other.
func TestAdminIfMatchAcrossReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		a := newTestServer(t, dsn)
		b := newTestServer(t, dsn, func(c *provider.Config) {
			c.Issuer = a.URL
			c.DirectoryCacheInterval = time.Hour
		})
		for _, tc := range []struct{ collection, path, create, first, second string }{
			{"/admin/roles", "/admin/roles/teacher", `{"name":"teacher"}`, `{"description":"First"}`, `{"description":"Second"}`},
			{"/admin/scopes", "/admin/scopes/notes", `{"name":"notes"}`, `{"description":"First"}`, `{"description":"Second"}`},
			{"/admin/clients", "/admin/clients/portal", `{"client_id":"portal","redirect_uris":["https://portal.example/cb"]}`,
				`{"client_name":"First","redirect_uris":["https://portal.example/cb"]}`, `{"client_name":"Second","redirect_uris":["https://portal.example/cb"]}`},
		} {
			t.Run(tc.path, func(t *testing.T) {
				if res := a.admin(t, http.MethodPost, tc.collection, tc.create); res.Status != http.StatusCreated {
					t.Fatalf("create on A: %d %s", res.Status, res.Body)
				}
				etag := b.admin(t, http.MethodGet, tc.path, nil).Header.Get("ETag") // B caches the record
				if res := a.admin(t, http.MethodPut, tc.path, tc.first); res.Status != http.StatusOK {
					t.Fatalf("PUT on A: %d %s", res.Status, res.Body)
				}
				after := a.admin(t, http.MethodGet, tc.path, nil)
				for _, method := range []string{http.MethodPut, http.MethodDelete} {
					rq := req{Method: method, Path: tc.path, Auth: "Bearer " + b.AdminToken, Header: http.Header{"If-Match": {etag}}}
					if method == http.MethodPut {
						rq.ContentType, rq.Body = "application/json", tc.second
					}
					assertError(t, b.do(t, rq), http.StatusPreconditionFailed, "precondition_failed")
				}
				if again := a.admin(t, http.MethodGet, tc.path, nil); string(again.Body) != string(after.Body) {
					t.Errorf("B undid A's change: %s, was %s", again.Body, after.Body)
				}
				rq := req{Method: http.MethodPut, Path: tc.path, Auth: "Bearer " + b.AdminToken, Header: http.Header{"If-Match": {after.Header.Get("ETag")}},
					ContentType: "application/json", Body: tc.second}
				if res := b.do(t, rq); res.Status != http.StatusOK {
					t.Errorf("PUT on B with the current ETag: %d %s", res.Status, res.Body)
				}
			})
		}
	})
}
