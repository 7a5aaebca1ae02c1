package provider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// The admin API for the directory: /admin/scopes, /admin/roles and
// /admin/users (DESIGN.md, "The external contract").

// directoryRows is everything the directory endpoints store, read
// straight from the store (password hashes and timestamps included).
type directoryRows struct {
	Users  []storage.User
	Roles  []storage.Role
	Scopes []storage.Scope
}

func (ts *testServer) directory(t *testing.T) directoryRows {
	t.Helper()
	ctx := context.Background()
	us, err := ts.Store.ListUsers(ctx)
	if err != nil {
		t.Fatalf("list users: %v", err)
	}
	rs, err := ts.Store.ListRoles(ctx)
	if err != nil {
		t.Fatalf("list roles: %v", err)
	}
	ss, err := ts.Store.ListScopes(ctx)
	if err != nil {
		t.Fatalf("list scopes: %v", err)
	}
	return directoryRows{Users: us, Roles: rs, Scopes: ss}
}

// assertDirectoryUnchanged fails the test if anything in the directory
// differs from before.
func (ts *testServer) assertDirectoryUnchanged(t *testing.T, before directoryRows) {
	t.Helper()
	if after := ts.directory(t); !reflect.DeepEqual(before, after) {
		t.Errorf("directory changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

// decodeInto decodes a JSON answer, failing the test on anything else.
func decodeInto[T any](t *testing.T, res result) T {
	t.Helper()
	var v T
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(res.Body, &v); err != nil {
		t.Fatalf("decode %T (status %d): %v\n%s", v, res.Status, err, res.Body)
	}
	return v
}

// wantStatus fails the test now unless res has status.
func wantStatus(t *testing.T, what string, res result, status int) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, res.Status, status, res.Body)
	}
}

// assertNoPassword fails if a response reveals a password or its hash.
func assertNoPassword(t *testing.T, res result, passwords ...string) {
	t.Helper()
	body := string(res.Body)
	for _, p := range passwords {
		if strings.Contains(body, p) {
			t.Errorf("response (status %d) contains the password %q: %s", res.Status, p, body)
		}
	}
	if strings.Contains(body, "argon2") || strings.Contains(body, "password_hash") || strings.Contains(body, `"password"`) {
		t.Errorf("response (status %d) reveals a password field or hash: %s", res.Status, body)
	}
}

func TestAdminScopes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)

		res := ts.admin(t, http.MethodPost, "/admin/scopes", map[string]any{
			"name": "results:read", "description": "Read exam results", "audience": "https://school.example/api",
		})
		wantStatus(t, "create", res, http.StatusCreated)
		created := decodeInto[directory.ScopeView](t, res)
		if created.Name != "results:read" || created.Description != "Read exam results" || created.Audience != "https://school.example/api" {
			t.Errorf("created = %+v", created)
		}
		if created.CreatedAt.IsZero() {
			t.Errorf("created_at missing: %s", res.Body)
		}
		wantStatus(t, "create second", ts.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": "results:write"}), http.StatusCreated)

		t.Run("duplicate", func(t *testing.T) {
			before := ts.directory(t)
			res := ts.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": "results:read", "description": "other"})
			assertError(t, res, http.StatusConflict, "conflict")
			ts.assertDirectoryUnchanged(t, before)
		})

		t.Run("list", func(t *testing.T) {
			res := ts.admin(t, http.MethodGet, "/admin/scopes", nil)
			wantStatus(t, "list", res, http.StatusOK)
			var names []string
			for _, s := range decodeInto[[]directory.ScopeView](t, res) {
				names = append(names, s.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"results:read", "results:write"}) {
				t.Errorf("listed %q", names)
			}
		})

		t.Run("get", func(t *testing.T) {
			res := ts.admin(t, http.MethodGet, "/admin/scopes/results:read", nil)
			wantStatus(t, "get", res, http.StatusOK)
			if got := decodeInto[directory.ScopeView](t, res); got.Description != "Read exam results" || got.Audience != "https://school.example/api" {
				t.Errorf("got %+v", got)
			}
			assertError(t, ts.admin(t, http.MethodGet, "/admin/scopes/nope", nil), http.StatusNotFound, "not_found")
		})

		t.Run("put", func(t *testing.T) {
			old, err := ts.Store.GetScope(context.Background(), "results:read")
			if err != nil {
				t.Fatal(err)
			}
			res := ts.admin(t, http.MethodPut, "/admin/scopes/results:read", map[string]any{
				"description": "See exam results", "audience": "https://results.school.example",
			})
			wantStatus(t, "put", res, http.StatusOK)
			if got := decodeInto[directory.ScopeView](t, res); got.Name != "results:read" || got.Description != "See exam results" {
				t.Errorf("put answered %+v", got)
			}
			stored, err := ts.Store.GetScope(context.Background(), "results:read")
			if err != nil || stored.Description != "See exam results" || stored.Audience != "https://results.school.example" {
				t.Errorf("stored after PUT = %+v, %v", stored, err)
			}
			if !stored.CreatedAt.Equal(old.CreatedAt) {
				t.Errorf("PUT changed created_at from %v to %v", old.CreatedAt, stored.CreatedAt)
			}
			before := ts.directory(t)
			assertError(t, ts.admin(t, http.MethodPut, "/admin/scopes/nope", map[string]any{"description": "x"}), http.StatusNotFound, "not_found")
			assertError(t, ts.admin(t, http.MethodPut, "/admin/scopes/results:read", map[string]any{"name": "renamed"}), http.StatusBadRequest, "invalid_request")
			ts.assertDirectoryUnchanged(t, before)
		})

		t.Run("delete", func(t *testing.T) {
			res := ts.admin(t, http.MethodDelete, "/admin/scopes/results:write", nil)
			wantStatus(t, "delete", res, http.StatusNoContent)
			if len(res.Body) != 0 {
				t.Errorf("204 with a body: %q", res.Body)
			}
			assertError(t, ts.admin(t, http.MethodGet, "/admin/scopes/results:write", nil), http.StatusNotFound, "not_found")
			assertError(t, ts.admin(t, http.MethodDelete, "/admin/scopes/results:write", nil), http.StatusNotFound, "not_found")
		})
	})
}

// TestScopeNamesNeedingEscapes checks that a scope whose name must be
// escaped in a URL path ("/" above all, as in the common
// "https://api.example/read") is reached by its escaped name, at the
// admin API and on the console, like any other: chi routes on the raw
// path when there is one, so the name it hands over is still escaped.
func TestScopeNamesNeedingEscapes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		ada := e.newBrowser(t)
		if p := e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK {
			t.Fatalf("the admin on the console: %s", p)
		}
		for _, name := range []string{"https://api.example/read", "a/b", "x%2Fy", "50%", "a?b#c", "a;b,c", "a/%41"} {
			t.Run(name, func(t *testing.T) {
				path := "/admin/scopes/" + url.PathEscape(name)
				wantStatus(t, "create", e.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": name, "description": "one"}), http.StatusCreated)
				res := e.admin(t, http.MethodGet, path, nil)
				wantStatus(t, "get", res, http.StatusOK)
				if got := decodeInto[directory.ScopeView](t, res); got.Name != name {
					t.Errorf("GET %s answered the scope %q", path, got.Name)
				}
				wantStatus(t, "put", e.admin(t, http.MethodPut, path, map[string]any{"description": "two"}), http.StatusOK)
				if s, err := e.Store.GetScope(context.Background(), name); err != nil || s.Description != "two" {
					t.Errorf("after PUT %s: %+v, %v", path, s, err)
				}

				console := e.URL + "/console/scopes/" + url.PathEscape(name)
				if p := ada.get(t, console); p.Status != http.StatusOK || !strings.Contains(p.Body, "two") {
					t.Errorf("GET %s: %d", console, p.Status)
				}
				if p := ada.post(t, console+"/delete", url.Values{"csrf": {ada.formCSRF(t, e)}, "confirm": {"yes"}}); p.Status != http.StatusOK {
					t.Errorf("POST %s/delete: %d", console, p.Status)
				}
				if _, err := e.Store.GetScope(context.Background(), name); err == nil {
					t.Errorf("the console did not delete %q", name)
				}

				wantStatus(t, "create again", e.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": name}), http.StatusCreated)
				wantStatus(t, "delete", e.admin(t, http.MethodDelete, path, nil), http.StatusNoContent)
				assertError(t, e.admin(t, http.MethodGet, path, nil), http.StatusNotFound, "not_found")
			})
		}
	})
}

func TestAdminRoles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)

		// The contract's example.
		res := ts.admin(t, http.MethodPost, "/admin/roles", `{"name":"teacher","scopes":["results:read","results:write"]}`)
		wantStatus(t, "create", res, http.StatusCreated)
		created := decodeInto[directory.RoleView](t, res)
		if created.Name != "teacher" || !slices.Equal(created.Scopes, []string{"results:read", "results:write"}) {
			t.Errorf("created = %+v", created)
		}
		res = ts.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": "student", "description": "Pupils", "scopes": []string{"results:read"}})
		wantStatus(t, "create student", res, http.StatusCreated)

		t.Run("duplicate", func(t *testing.T) {
			before := ts.directory(t)
			assertError(t, ts.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": "teacher", "scopes": []string{"x"}}), http.StatusConflict, "conflict")
			ts.assertDirectoryUnchanged(t, before)
		})

		t.Run("list", func(t *testing.T) {
			res := ts.admin(t, http.MethodGet, "/admin/roles", nil)
			wantStatus(t, "list", res, http.StatusOK)
			got := map[string][]string{}
			for _, r := range decodeInto[[]directory.RoleView](t, res) {
				got[r.Name] = r.Scopes
			}
			want := map[string][]string{"teacher": {"results:read", "results:write"}, "student": {"results:read"}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("listed %v, want %v", got, want)
			}
		})

		t.Run("get", func(t *testing.T) {
			res := ts.admin(t, http.MethodGet, "/admin/roles/student", nil)
			wantStatus(t, "get", res, http.StatusOK)
			if got := decodeInto[directory.RoleView](t, res); got.Description != "Pupils" || !slices.Equal(got.Scopes, []string{"results:read"}) {
				t.Errorf("got %+v", got)
			}
			assertError(t, ts.admin(t, http.MethodGet, "/admin/roles/nope", nil), http.StatusNotFound, "not_found")
		})

		t.Run("put", func(t *testing.T) {
			res := ts.admin(t, http.MethodPut, "/admin/roles/teacher", map[string]any{"scopes": []string{"results:read", "results:write", "schedule:write"}})
			wantStatus(t, "put", res, http.StatusOK)
			stored, err := ts.Store.GetRole(context.Background(), "teacher")
			if err != nil || !slices.Equal(stored.Scopes, []string{"results:read", "results:write", "schedule:write"}) {
				t.Errorf("stored after PUT = %+v, %v", stored, err)
			}
			before := ts.directory(t)
			assertError(t, ts.admin(t, http.MethodPut, "/admin/roles/nope", map[string]any{"scopes": []string{"a"}}), http.StatusNotFound, "not_found")
			assertError(t, ts.admin(t, http.MethodPut, "/admin/roles/teacher", map[string]any{"name": "admin"}), http.StatusBadRequest, "invalid_request")
			ts.assertDirectoryUnchanged(t, before)
		})

		t.Run("delete", func(t *testing.T) {
			wantStatus(t, "delete", ts.admin(t, http.MethodDelete, "/admin/roles/student", nil), http.StatusNoContent)
			assertError(t, ts.admin(t, http.MethodGet, "/admin/roles/student", nil), http.StatusNotFound, "not_found")
			assertError(t, ts.admin(t, http.MethodDelete, "/admin/roles/student", nil), http.StatusNotFound, "not_found")
		})
	})
}

func TestAdminUsers(t *testing.T) {
	const alicePW = "correct horse battery staple"
	const newPW = "tr0ub4dor&3-and-more"
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "create role", ts.admin(t, http.MethodPost, "/admin/roles", `{"name":"teacher","scopes":["results:read","results:write"]}`), http.StatusCreated)
		wantStatus(t, "create role", ts.admin(t, http.MethodPost, "/admin/roles", `{"name":"student","scopes":["results:read"]}`), http.StatusCreated)

		// The contract's example.
		res := ts.admin(t, http.MethodPost, "/admin/users", `{"username":"alice","password":"`+alicePW+`","email":"alice@example.com","roles":["teacher"]}`)
		wantStatus(t, "create", res, http.StatusCreated)
		assertNoPassword(t, res, alicePW)
		alice := decodeInto[directory.UserView](t, res)
		if alice.ID == "" || alice.ID == "alice" {
			t.Errorf("id = %q, want a generated id distinct from the username", alice.ID)
		}
		if alice.Username != "alice" || alice.Email != "alice@example.com" || !slices.Equal(alice.Roles, []string{"teacher"}) || alice.Disabled {
			t.Errorf("created = %+v", alice)
		}
		stored, err := ts.Store.GetUserByUsername(context.Background(), "alice")
		if err != nil {
			t.Fatalf("stored user: %v", err)
		}
		if stored.ID != alice.ID || !strings.HasPrefix(stored.PasswordHash, "$argon2id$") || strings.Contains(stored.PasswordHash, alicePW) {
			t.Errorf("stored user id %q hash %q: want the answered id and an argon2id hash", stored.ID, stored.PasswordHash)
		}
		if ok, err := directory.CheckPassword(stored.PasswordHash, alicePW); !ok || err != nil {
			t.Errorf("stored hash does not verify the password: %v, %v", ok, err)
		}
		res = ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "bob", "password": "maple-cinder-quartz-58", "roles": []string{"student"}, "name": "Bob"})
		wantStatus(t, "create bob", res, http.StatusCreated)
		assertNoPassword(t, res, "maple-cinder-quartz-58")

		t.Run("duplicate username", func(t *testing.T) {
			before := ts.directory(t)
			res := ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "alice", "password": "another-willow-pass-93"})
			assertError(t, res, http.StatusConflict, "conflict")
			assertNoPassword(t, res, "another-willow-pass-93")
			ts.assertDirectoryUnchanged(t, before)
		})

		t.Run("list", func(t *testing.T) {
			res := ts.admin(t, http.MethodGet, "/admin/users", nil)
			wantStatus(t, "list", res, http.StatusOK)
			assertNoPassword(t, res, alicePW, "maple-cinder-quartz-58")
			got := map[string][]string{}
			for _, u := range decodeInto[[]directory.UserView](t, res) {
				got[u.Username] = u.Roles
			}
			if want := map[string][]string{"alice": {"teacher"}, "bob": {"student"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("listed %v, want %v", got, want)
			}
		})

		t.Run("get by id and by username", func(t *testing.T) {
			for _, key := range []string{alice.ID, "alice"} {
				res := ts.admin(t, http.MethodGet, "/admin/users/"+key, nil)
				wantStatus(t, "get "+key, res, http.StatusOK)
				assertNoPassword(t, res, alicePW)
				if got := decodeInto[directory.UserView](t, res); got.ID != alice.ID || got.Username != "alice" {
					t.Errorf("GET /admin/users/%s = %+v", key, got)
				}
			}
			assertError(t, ts.admin(t, http.MethodGet, "/admin/users/nobody", nil), http.StatusNotFound, "not_found")
		})

		t.Run("put keeps the password when none is given", func(t *testing.T) {
			res := ts.admin(t, http.MethodPut, "/admin/users/alice", map[string]any{
				"username": "alice", "email": "alice@school.example", "email_verified": true, "name": "Alice Liddell", "roles": []string{"teacher", "student"},
			})
			wantStatus(t, "put", res, http.StatusOK)
			assertNoPassword(t, res, alicePW)
			got := decodeInto[directory.UserView](t, res)
			if got.ID != alice.ID || got.Email != "alice@school.example" || !got.EmailVerified || got.Name != "Alice Liddell" || !slices.Equal(got.Roles, []string{"teacher", "student"}) {
				t.Errorf("put answered %+v", got)
			}
			after, err := ts.Store.GetUser(context.Background(), alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.PasswordHash != stored.PasswordHash {
				t.Error("PUT without a password changed the password hash")
			}
			if !after.CreatedAt.Equal(stored.CreatedAt) {
				t.Errorf("PUT changed created_at from %v to %v", stored.CreatedAt, after.CreatedAt)
			}
		})

		t.Run("put with a password changes it", func(t *testing.T) {
			res := ts.admin(t, http.MethodPut, "/admin/users/"+alice.ID, map[string]any{"username": "alice", "password": newPW, "roles": []string{"teacher"}})
			wantStatus(t, "put", res, http.StatusOK)
			assertNoPassword(t, res, newPW)
			after, err := ts.Store.GetUser(context.Background(), alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ok, _ := directory.CheckPassword(after.PasswordHash, newPW); !ok {
				t.Error("the new password does not verify")
			}
			if ok, _ := directory.CheckPassword(after.PasswordHash, alicePW); ok {
				t.Error("the old password still verifies")
			}
		})

		t.Run("put unknown", func(t *testing.T) {
			before := ts.directory(t)
			assertError(t, ts.admin(t, http.MethodPut, "/admin/users/nobody", map[string]any{"username": "nobody"}), http.StatusNotFound, "not_found")
			ts.assertDirectoryUnchanged(t, before)
		})

		t.Run("put to a taken username conflicts", func(t *testing.T) {
			before := ts.directory(t)
			res := ts.admin(t, http.MethodPut, "/admin/users/bob", map[string]any{"username": "alice", "roles": []string{"student"}})
			assertError(t, res, http.StatusConflict, "conflict")
			ts.assertDirectoryUnchanged(t, before)
		})

		t.Run("delete", func(t *testing.T) {
			wantStatus(t, "delete", ts.admin(t, http.MethodDelete, "/admin/users/bob", nil), http.StatusNoContent)
			assertError(t, ts.admin(t, http.MethodGet, "/admin/users/bob", nil), http.StatusNotFound, "not_found")
			assertError(t, ts.admin(t, http.MethodDelete, "/admin/users/bob", nil), http.StatusNotFound, "not_found")
			if _, err := ts.Store.GetUserByUsername(context.Background(), "bob"); err == nil {
				t.Error("bob is still stored")
			}
		})
	})
}

func TestAdminUserWithUnknownRole(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "create role", ts.admin(t, http.MethodPost, "/admin/roles", `{"name":"teacher","scopes":["results:read"]}`), http.StatusCreated)
		wantStatus(t, "create carol", ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "carol", "password": "stone-lantern-river-8", "roles": []string{"teacher"}}), http.StatusCreated)

		before := ts.directory(t)
		for _, tc := range []struct{ name, method, path string }{
			{"create", http.MethodPost, "/admin/users"},
			{"update", http.MethodPut, "/admin/users/carol"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				username := "alice"
				if tc.method == http.MethodPut {
					username = "carol"
				}
				res := ts.admin(t, tc.method, tc.path, map[string]any{
					"username": username, "password": "correct horse battery", "roles": []string{"teacher", "headmaster"},
				})
				assertError(t, res, http.StatusBadRequest, "invalid_request")
				if !strings.Contains(string(res.Body), "headmaster") {
					t.Errorf("the error does not name the missing role: %s", res.Body)
				}
				if strings.Contains(string(res.Body), `\"teacher\"`) {
					t.Errorf("the error names an existing role: %s", res.Body)
				}
				assertNoPassword(t, res, "correct horse battery")
				ts.assertDirectoryUnchanged(t, before)
			})
		}
	})
}

func TestAdminDeleteRoleRemovesItFromUsers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		for _, body := range []string{`{"name":"teacher","scopes":["results:write"]}`, `{"name":"student","scopes":["results:read"]}`} {
			wantStatus(t, "create role", ts.admin(t, http.MethodPost, "/admin/roles", body), http.StatusCreated)
		}
		wantStatus(t, "create user", ts.admin(t, http.MethodPost, "/admin/users", map[string]any{
			"username": "alice", "password": "violet-otter-harbour-31", "roles": []string{"teacher", "student"},
		}), http.StatusCreated)

		wantStatus(t, "delete role", ts.admin(t, http.MethodDelete, "/admin/roles/teacher", nil), http.StatusNoContent)

		res := ts.admin(t, http.MethodGet, "/admin/users/alice", nil)
		wantStatus(t, "get user", res, http.StatusOK)
		if got := decodeInto[directory.UserView](t, res).Roles; !slices.Equal(got, []string{"student"}) {
			t.Errorf("roles after deleting teacher = %q, want [student]", got)
		}
		// The user is still updatable with what the API shows: no dangling
		// role blocks it.
		res = ts.admin(t, http.MethodPut, "/admin/users/alice", map[string]any{"username": "alice", "roles": []string{"student"}, "name": "Alice"})
		wantStatus(t, "update user", res, http.StatusOK)
		// A new role of the old name is not silently held again.
		wantStatus(t, "recreate role", ts.admin(t, http.MethodPost, "/admin/roles", `{"name":"teacher","scopes":["results:write"]}`), http.StatusCreated)
		res = ts.admin(t, http.MethodGet, "/admin/users/alice", nil)
		if got := decodeInto[directory.UserView](t, res).Roles; !slices.Equal(got, []string{"student"}) {
			t.Errorf("roles after recreating teacher = %q, want [student]", got)
		}
	})
}

func TestAdminDirectoryBadInput(t *testing.T) {
	type badCase struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
	}
	cases := []badCase{
		// users
		{"user malformed JSON", "POST", "/admin/users", jsonType, `{"username":"dave","password":"gentle-walrus-tuba-94"`, 400},
		{"user trailing garbage", "POST", "/admin/users", jsonType, `{"username":"dave","password":"gentle-walrus-tuba-94"} x`, 400},
		{"user JSON array", "POST", "/admin/users", jsonType, `[{"username":"dave","password":"gentle-walrus-tuba-94"}]`, 400},
		{"user username is a number", "POST", "/admin/users", jsonType, `{"username":42,"password":"gentle-walrus-tuba-94"}`, 400},
		{"user roles is a string", "POST", "/admin/users", jsonType, `{"username":"dave","password":"gentle-walrus-tuba-94","roles":"teacher"}`, 400},
		{"user disabled is a string", "POST", "/admin/users", jsonType, `{"username":"dave","password":"gentle-walrus-tuba-94","disabled":"no"}`, 400},
		{"user short password", "POST", "/admin/users", jsonType, `{"username":"dave","password":"short"}`, 400},
		{"user no password", "POST", "/admin/users", jsonType, `{"username":"dave"}`, 400},
		{"user empty username", "POST", "/admin/users", jsonType, `{"username":"","password":"gentle-walrus-tuba-94"}`, 400},
		{"user username with a space", "POST", "/admin/users", jsonType, `{"username":"da ve","password":"gentle-walrus-tuba-94"}`, 400},
		{"user username with a slash", "POST", "/admin/users", jsonType, `{"username":"da/ve","password":"gentle-walrus-tuba-94"}`, 400},
		{"user username with a control character", "POST", "/admin/users", jsonType, `{"username":"da\u0000ve","password":"gentle-walrus-tuba-94"}`, 400},
		{"user username too long", "POST", "/admin/users", jsonType, `{"username":"` + strings.Repeat("d", 65) + `","password":"gentle-walrus-tuba-94"}`, 400},
		{"user bad email", "POST", "/admin/users", jsonType, `{"username":"dave","password":"gentle-walrus-tuba-94","email":"not an email"}`, 400},
		{"user not JSON", "POST", "/admin/users", "text/plain", `{"username":"dave","password":"gentle-walrus-tuba-94"}`, 415},
		{"user update short password", "PUT", "/admin/users/alice", jsonType, `{"username":"alice","password":"short"}`, 400},
		{"user update bad username", "PUT", "/admin/users/alice", jsonType, `{"username":"al ice"}`, 400},
		{"user update roles wrong type", "PUT", "/admin/users/alice", jsonType, `{"username":"alice","roles":[1,2]}`, 400},
		{"user update malformed", "PUT", "/admin/users/alice", jsonType, `{"username":`, 400},
		// roles
		{"role malformed JSON", "POST", "/admin/roles", jsonType, `{"name":"admin"`, 400},
		{"role scopes is a string", "POST", "/admin/roles", jsonType, `{"name":"admin","scopes":"results:read"}`, 400},
		{"role name is a number", "POST", "/admin/roles", jsonType, `{"name":7}`, 400},
		{"role empty name", "POST", "/admin/roles", jsonType, `{"name":"","scopes":["a"]}`, 400},
		{"role name with a space", "POST", "/admin/roles", jsonType, `{"name":"head master"}`, 400},
		{"role scope with a space", "POST", "/admin/roles", jsonType, `{"name":"admin","scopes":["results read"]}`, 400},
		{"role scope with a quote", "POST", "/admin/roles", jsonType, `{"name":"admin","scopes":["a\"b"]}`, 400},
		{"role update wrong type", "PUT", "/admin/roles/teacher", jsonType, `{"scopes":{"a":1}}`, 400},
		// scopes
		{"scope malformed JSON", "POST", "/admin/scopes", jsonType, `{"name":`, 400},
		{"scope empty name", "POST", "/admin/scopes", jsonType, `{"name":""}`, 400},
		{"scope name with a space", "POST", "/admin/scopes", jsonType, `{"name":"results read"}`, 400},
		{"scope description is a number", "POST", "/admin/scopes", jsonType, `{"name":"x","description":5}`, 400},
		{"scope audience with a space", "POST", "/admin/scopes", jsonType, `{"name":"x","audience":"https://a b"}`, 400},
		{"scope update wrong type", "PUT", "/admin/scopes/results:read", jsonType, `{"audience":["a"]}`, 400},
	}
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "scope", ts.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": "results:read", "description": "Read exam results"}), http.StatusCreated)
		wantStatus(t, "role", ts.admin(t, http.MethodPost, "/admin/roles", `{"name":"teacher","scopes":["results:read"]}`), http.StatusCreated)
		wantStatus(t, "user", ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "alice", "password": "violet-otter-harbour-31", "roles": []string{"teacher"}}), http.StatusCreated)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := ts.directory(t)
				res := ts.do(t, req{Method: tc.method, Path: tc.path, ContentType: tc.contentType, Body: tc.body, Auth: "Bearer " + ts.AdminToken})
				assertError(t, res, tc.status, "invalid_request")
				assertNoPassword(t, res, "gentle-walrus-tuba-94")
				ts.assertDirectoryUnchanged(t, before)
			})
		}
		t.Run("no admin token", func(t *testing.T) {
			before := ts.directory(t)
			for _, path := range []string{"/admin/users", "/admin/roles", "/admin/scopes"} {
				res := ts.do(t, req{Method: http.MethodPost, Path: path, ContentType: jsonType, Body: `{"name":"x","username":"x","password":"xxxxxxxxxx"}`})
				assertBareChallenge(t, res)
				res = ts.do(t, req{Path: path, Auth: "Bearer wrong"})
				assertError(t, res, http.StatusUnauthorized, "invalid_token")
			}
			ts.assertDirectoryUnchanged(t, before)
		})
	})
}

// TestAdminUsernameCannotShadowAnID: /admin/users/{id} takes an id or a
// username, ids first. A username equal to another user's id (ids are
// UUIDs, which are valid usernames) would make that user unreachable by
// name, and DELETE /admin/users/{that name} would delete the other user.
func TestAdminUsernameCannotShadowAnID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		res := ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "bob", "password": "maple-cinder-quartz-58"})
		wantStatus(t, "create bob", res, http.StatusCreated)
		bob := decodeInto[directory.UserView](t, res)

		res = ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": bob.ID, "password": "mallory-password"})
		if res.Status == http.StatusCreated {
			shadow := decodeInto[directory.UserView](t, res)
			got := decodeInto[directory.UserView](t, ts.admin(t, http.MethodGet, "/admin/users/"+bob.ID, nil))
			t.Errorf("a user named %q (bob's id) was created; GET /admin/users/%s answers %q (id %s), the new user %s is unreachable by its name",
				bob.ID, bob.ID, got.Username, got.ID, shadow.ID)
			return
		}
		if res.Status < 400 || res.Status >= 500 {
			t.Errorf("status %d: %s", res.Status, res.Body)
		}
	})
}
