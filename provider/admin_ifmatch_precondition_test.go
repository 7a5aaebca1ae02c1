package provider_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
)

// A PUT's If-Match is evaluated before its body is looked at (RFC 9110
// §13.2.2): a stale one is refused 412 whatever the body, so that a
// client whose read is stale learns that first, rather than fixing a
// body only to be told its read was overtaken. A user's PUT whose body
// the directory refuses was answered that refusal (400), every other
// body that is not JSON for the kind too. If-Match, "*" included, is
// false for a record that does not exist (RFC 9110 §13.1.1): 412, where
// 404 was answered. Without If-Match, each is answered as before. The
// same for every kind.
func TestAdminIfMatchBeforeContent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		for _, tc := range []struct {
			kind, collection, id string
			create, change       string
			// invalid is JSON for the kind that the directory refuses.
			invalid string
		}{
			{"client", "/admin/clients", "portal",
				`{"client_id":"portal","redirect_uris":["https://portal.example/cb"]}`,
				`{"client_name":"First","redirect_uris":["https://portal.example/cb"]}`,
				`{"redirect_uris":["not a uri"]}`},
			{"user", "/admin/users", "erin",
				`{"username":"erin","password":"correct horse battery staple 99"}`,
				`{"username":"erin","name":"First"}`,
				`{"username":"erin","password":"short"}`},
			{"role", "/admin/roles", "teacher", `{"name":"teacher"}`, `{"description":"First"}`,
				`{"description":"` + strings.Repeat("x", 501) + `"}`},
			{"scope", "/admin/scopes", "notes", `{"name":"notes"}`, `{"description":"First"}`,
				`{"audience":"not an identifier"}`},
		} {
			t.Run(tc.kind, func(t *testing.T) {
				path := tc.collection + "/" + tc.id
				send := func(method, path, ifMatch, body string) result {
					rq := req{Method: method, Path: path, Auth: "Bearer " + ts.AdminToken}
					if method == http.MethodPut {
						rq.ContentType, rq.Body = "application/json", body
					}
					if ifMatch != "" {
						rq.Header = http.Header{"If-Match": {ifMatch}}
					}
					return ts.do(t, rq)
				}
				if res := ts.admin(t, http.MethodPost, tc.collection, tc.create); res.Status != http.StatusCreated {
					t.Fatalf("create: %d %s", res.Status, res.Body)
				}
				stale := ts.admin(t, http.MethodGet, path, nil).Header.Get("ETag")
				if res := send(http.MethodPut, path, stale, tc.change); res.Status != http.StatusOK {
					t.Fatalf("PUT with the current ETag: %d %s", res.Status, res.Body)
				}
				after := ts.admin(t, http.MethodGet, path, nil)

				for _, body := range []struct{ name, body string }{
					{"refused by the directory", tc.invalid},
					{"an unknown field", `{"rolez":["a"]}`},
					{"a field of the wrong type", `{"description":["a"]}`},
					{"not JSON", `{"description":`},
					{"empty", ``},
				} {
					if res := send(http.MethodPut, path, "", body.body); res.Status != http.StatusBadRequest {
						t.Errorf("PUT of a body %s without If-Match: %d %s, want 400", body.name, res.Status, res.Body)
					}
					res := send(http.MethodPut, path, stale, body.body)
					if res.Status != http.StatusPreconditionFailed {
						t.Errorf("PUT of a body %s with a stale If-Match: %d %s, want 412", body.name, res.Status, res.Body)
						continue
					}
					assertError(t, res, http.StatusPreconditionFailed, "precondition_failed")
				}
				if again := ts.admin(t, http.MethodGet, path, nil); string(again.Body) != string(after.Body) {
					t.Errorf("a refused PUT changed the record: %s, was %s", again.Body, after.Body)
				}

				missing := tc.collection + "/missing"
				assertError(t, send(http.MethodPut, missing, "", tc.change), http.StatusNotFound, "not_found")
				for _, ifMatch := range []string{stale, after.Header.Get("ETag"), "*"} {
					for _, method := range []string{http.MethodPut, http.MethodDelete} {
						res := send(method, missing, ifMatch, tc.change)
						if res.Status != http.StatusPreconditionFailed {
							t.Errorf("%s of a record that does not exist with If-Match %s: %d %s, want 412", method, ifMatch, res.Status, res.Body)
							continue
						}
						assertError(t, res, http.StatusPreconditionFailed, "precondition_failed")
					}
				}
				if res := ts.admin(t, http.MethodGet, missing, nil); res.Status != http.StatusNotFound {
					t.Errorf("GET of the record no PUT could create: %d %s", res.Status, res.Body)
				}
			})
		}
	})
}

// A user's PUT with a stale If-Match that sets a password is refused
// before any work on the password: it was checked and hashed (argon2id,
// tens of milliseconds of a CPU, in a slot of the password gate) and only
// then refused, in the transaction. A password is hashed nowhere but in a
// slot of the gate (Users.PreparePassword), and here the test holds every
// slot: the PUT is answered 412 at once, where it waited for a slot, in
// vain, and was answered 503.
func TestAdminIfMatchStalePasswordNotHashed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		const password = "correct horse battery staple 99"
		if res := ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "erin", "password": password}); res.Status != http.StatusCreated {
			t.Fatalf("create the user: %d %s", res.Status, res.Body)
		}
		read := ts.admin(t, http.MethodGet, "/admin/users/erin", nil)
		var erin struct{ ID string }
		if err := json.Unmarshal(read.Body, &erin); err != nil || erin.ID == "" {
			t.Fatalf("read the user: %v", err)
		}
		if res := ts.admin(t, http.MethodPut, "/admin/users/erin", map[string]any{"username": "erin", "name": "Erin"}); res.Status != http.StatusOK {
			t.Fatalf("PUT: %d %s", res.Status, res.Body)
		}

		release := ts.Provider.FillPasswordChecks()
		res := ts.do(t, req{Method: http.MethodPut, Path: "/admin/users/" + erin.ID, Auth: "Bearer " + ts.AdminToken, ContentType: "application/json",
			Body: `{"username":"erin","password":"violet ocean marbles 1987"}`, Header: http.Header{"If-Match": {read.Header.Get("ETag")}}})
		release()
		assertError(t, res, http.StatusPreconditionFailed, "precondition_failed")

		u, err := ts.Store.GetUser(t.Context(), erin.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := directory.CheckPassword(u.PasswordHash, password); !ok || err != nil {
			t.Errorf("the refused PUT changed the password (%v)", err)
		}
	})
}
