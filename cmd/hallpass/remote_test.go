package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// The admin commands with --server (or HALLPASS_SERVER) go through a
// running hallpass's admin API with the admin token, never touching a
// database, and print what the database mode prints.
func TestRemoteCommands(t *testing.T) {
	const token = "remote-cli-admin-token-0123456789abcdef"
	s := hallpasstest.Start(t, testdb.SQLite(t), hallpasstest.Options{AdminToken: token})
	t.Setenv("HALLPASS_ADMIN_TOKEN", token)
	t.Setenv("HALLPASS_SERVER", s.URL)
	// A database that does not exist: remote mode must not need it.
	nodb := "sqlite:" + filepath.Join(t.TempDir(), "typo.db")
	hp := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		return cli(t, stdin, append([]string{"--database", nodb}, args...)...)
	}
	mustRun := func(args ...string) string {
		t.Helper()
		code, out, errOut := hp("", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	ctx := context.Background()

	mustRun("scopes", "create", "results:read", "--audience", "https://school.example", "--description", "Read results")
	mustRun("roles", "create", "teacher", "--scope", "results:read")
	mustRun("roles", "update", "teacher", "--description", "Teaches")
	var alice struct {
		ID       string   `json:"id"`
		Username string   `json:"username"`
		Roles    []string `json:"roles"`
	}
	if err := json.Unmarshal([]byte(mustRun("users", "create", "--username", "alice", "--role", "teacher")), &alice); err != nil || alice.Username != "alice" {
		t.Fatalf("users create answered %+v, %v", alice, err)
	}
	if u, err := s.Store.GetUserByUsername(ctx, "alice"); err != nil || u.ID != alice.ID || u.Roles[0] != "teacher" {
		t.Fatalf("alice on the server: %+v, %v", u, err)
	}
	if r, err := s.Store.GetRole(ctx, "teacher"); err != nil || r.Description != "Teaches" || r.Scopes[0] != "results:read" {
		t.Errorf("teacher after update on the server: %+v, %v", r, err)
	}

	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(mustRun("clients", "create", "--id", "app", "--redirect-uri", "https://app.example/cb", "--scope", "openid,results:read")), &created); err != nil || created.ClientSecret == "" {
		t.Fatalf("clients create: %+v, %v", created, err)
	}
	mustRun("clients", "update", "app", "--name", "The App", "--redirect-uri", "https://app.example/cb2")
	c, err := s.Store.GetClient(ctx, "app")
	if err != nil || c.Name != "The App" || len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != "https://app.example/cb2" || strings.Join(c.Scopes, " ") != "openid results:read" {
		t.Errorf("app after clients update: %+v, %v", c, err)
	}
	// --server given as a flag wins, and the table and YAML formats.
	table := mustRun("clients", "list", "--server", s.URL, "--output", "table")
	if !strings.Contains(table, "CLIENT_ID") || !strings.Contains(table, "The App") {
		t.Errorf("clients list -o table:\n%s", table)
	}
	if y := mustRun("users", "get", "alice", "-o", "yaml"); !strings.Contains(y, "username: alice") {
		t.Errorf("users get -o yaml:\n%s", y)
	}
	mustRun("clients", "revoke-tokens", "app")
	// An authenticator of alice's, reset through the admin API.
	if err := s.Store.PutTOTP(ctx, &storage.TOTP{UserID: alice.ID, Secret: []byte("sealed"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	mustRun("users", "reset-factors", "alice")
	if _, err := s.Store.GetTOTP(ctx, alice.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("alice's authenticator after users reset-factors: %v", err)
	}
	if code, _, errOut := hp("", "users", "reset-factors", "nobody"); code != 1 || !strings.Contains(errOut, "not_found") {
		t.Errorf("users reset-factors nobody: exit %d %s", code, errOut)
	}
	var ks []map[string]any
	if err := json.Unmarshal([]byte(mustRun("keys", "list")), &ks); err != nil || len(ks) == 0 {
		t.Errorf("keys list: %v %v", ks, err)
	}
	var rotated map[string]any
	if err := json.Unmarshal([]byte(mustRun("keys", "rotate")), &rotated); err != nil || rotated["kid"] == "" {
		t.Errorf("keys rotate: %v %v", rotated, err)
	}
	mustRun("clients", "delete", "app")
	if _, err := s.Store.GetClient(ctx, "app"); err == nil {
		t.Error("app survived clients delete")
	}

	if _, err := os.Stat(strings.TrimPrefix(nodb, "sqlite:")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remote mode touched the database file: %v", err)
	}

	// Errors read as in database mode: the admin API's code, then its words.
	code, _, errOut := hp("", "users", "get", "nobody")
	remoteErr := errOut
	if code != 1 || !strings.Contains(errOut, `not_found: no user "nobody"`) {
		t.Errorf("users get nobody: exit %d %s", code, errOut)
	}
	t.Setenv("HALLPASS_SERVER", "")
	local := migrated(t, "sqlite:"+filepath.Join(t.TempDir(), "local.db"))
	if _, _, localErr := cli(t, "", "--database", local, "users", "get", "nobody"); localErr != remoteErr {
		t.Errorf("the same error reads differently:\nremote: %s\nlocal:  %s", remoteErr, localErr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--server", s.URL, "--token", "wrong-token-wrong-token-wrong-token", "users", "list"}, "invalid_token"},
		{[]string{"--server", "http://hallpass.example.com", "users", "list"}, "use https"},
		{[]string{"--server", s.URL, "users", "list", "--output", "xml"}, "use table, json or yaml"},
		{[]string{"--server", s.URL, "plan", "-f", "x.yaml"}, "works on the database"},
		// Commands with no admin API behind them refuse a server rather
		// than quietly read a local database.
		{[]string{"--server", s.URL, "audit", "list"}, "works on the database"},
		{[]string{"--server", s.URL, "audit", "verify"}, "works on the database"},
		{[]string{"--server", s.URL, "admin-token", "rotate"}, "works on the database"},
		// Database mode does not create a database for a typo.
		{[]string{"--database", nodb, "users", "list"}, "no database at"},
	} {
		code, _, errOut := cli(t, "", tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// An update through --server sends back, as If-Match, the ETag of the
// record it read: a change another admin makes between the command's read
// and its write survives, and the command exits 1 saying the record
// changed and to run it again. Without a change meanwhile the update
// works as before, keeping what the other admin changed.
func TestRemoteUpdateKeepsAChangeMadeMeanwhile(t *testing.T) {
	const token = "remote-cli-admin-token-0123456789abcdef"
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := hallpasstest.Start(t, b.DSN(t), hallpasstest.Options{AdminToken: token})
			t.Setenv("HALLPASS_ADMIN_TOKEN", token)
			t.Setenv("HALLPASS_SERVER", "")
			// The CLI under test goes through a proxy to the server that,
			// when armed, runs the other admin's change (straight to the
			// server) before passing the CLI's PUT on: after its GET.
			target, err := url.Parse(s.URL)
			if err != nil {
				t.Fatal(err)
			}
			var (
				mu        sync.Mutex
				meanwhile func()
			)
			forward := httputil.NewSingleHostReverseProxy(target)
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut {
					mu.Lock()
					f := meanwhile
					meanwhile = nil
					mu.Unlock()
					if f != nil {
						f()
					}
				}
				forward.ServeHTTP(w, r)
			}))
			t.Cleanup(proxy.Close)
			run := func(server string, args ...string) (int, string, string) {
				t.Helper()
				return cli(t, "", append([]string{"--server", server}, args...)...)
			}
			mustRun := func(args ...string) {
				t.Helper()
				if code, out, errOut := run(s.URL, args...); code != 0 {
					t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
				}
			}
			mustRun("scopes", "create", "results:read", "--description", "Read results")
			mustRun("roles", "create", "teacher", "--scope", "results:read")
			mustRun("users", "create", "--username", "alice", "--role", "teacher")
			mustRun("clients", "create", "--id", "app", "--redirect-uri", "https://app.example/cb")
			ctx := context.Background()

			for _, tc := range []struct {
				noun, id string
				// other is the other admin's change, mine the command's.
				other, mine []string
				// has reports whether the record as stored has the other
				// admin's change and the command's.
				has func(t *testing.T) (other, mine bool)
			}{
				{"client", "app", []string{"--name", "Other's name"}, []string{"--redirect-uri", "https://app.example/mine"},
					func(t *testing.T) (bool, bool) {
						c, err := s.Store.GetClient(ctx, "app")
						if err != nil {
							t.Fatal(err)
						}
						return c.Name == "Other's name", slices.Equal(c.RedirectURIs, []string{"https://app.example/mine"})
					}},
				{"user", "alice", []string{"--email", "alice@other.example"}, []string{"--name", "Alice Mine"},
					func(t *testing.T) (bool, bool) {
						u, err := s.Store.GetUserByUsername(ctx, "alice")
						if err != nil {
							t.Fatal(err)
						}
						return u.Email == "alice@other.example", u.Name == "Alice Mine"
					}},
				{"role", "teacher", []string{"--description", "Other's"}, []string{"--require-mfa"},
					func(t *testing.T) (bool, bool) {
						r, err := s.Store.GetRole(ctx, "teacher")
						if err != nil {
							t.Fatal(err)
						}
						return r.Description == "Other's", r.RequireMFA
					}},
				{"scope", "results:read", []string{"--description", "Other's"}, []string{"--audience", "https://mine.example"},
					func(t *testing.T) (bool, bool) {
						sc, err := s.Store.GetScope(ctx, "results:read")
						if err != nil {
							t.Fatal(err)
						}
						return sc.Description == "Other's", sc.Audience == "https://mine.example"
					}},
			} {
				cmd := tc.noun + "s"
				mu.Lock()
				meanwhile = func() {
					if code, out, errOut := run(s.URL, append([]string{cmd, "update", tc.id}, tc.other...)...); code != 0 {
						t.Errorf("the other admin's %s update: exit %d\n%s%s", tc.noun, code, out, errOut)
					}
				}
				mu.Unlock()
				code, out, errOut := run(proxy.URL, append([]string{cmd, "update", tc.id}, tc.mine...)...)
				if code != 1 || out != "" || !strings.Contains(errOut, "was changed") || !strings.Contains(errOut, "run the command again") {
					t.Errorf("%s update with a change meanwhile: exit %d, stdout %q, stderr %q; want exit 1 saying it changed and to run the command again", tc.noun, code, out, errOut)
				}
				if other, mine := tc.has(t); !other || mine {
					t.Errorf("%s after the refused update: other admin's change kept %v, command's change written %v; want true, false", tc.noun, other, mine)
				}
				// Run again, with nothing meanwhile: it works, on the
				// record as the other admin left it.
				if code, out, errOut := run(proxy.URL, append([]string{cmd, "update", tc.id}, tc.mine...)...); code != 0 {
					t.Errorf("%s update run again: exit %d\n%s%s", tc.noun, code, out, errOut)
				}
				if other, mine := tc.has(t); !other || !mine {
					t.Errorf("%s after the update run again: other admin's change kept %v, command's change written %v; want both", tc.noun, other, mine)
				}

				// Deleted by the other admin between the read and the
				// write: the server's 412 (If-Match is false where there
				// is no record) is not a change to apply the command to
				// by running it again; it says the record is gone, as
				// an update on the database does.
				mu.Lock()
				meanwhile = func() {
					if code, out, errOut := run(s.URL, cmd, "delete", tc.id); code != 0 {
						t.Errorf("the other admin's %s deletion: exit %d\n%s%s", tc.noun, code, out, errOut)
					}
				}
				mu.Unlock()
				code, out, errOut = run(proxy.URL, append([]string{cmd, "update", tc.id}, tc.mine...)...)
				gone := fmt.Sprintf("no %s %q", tc.noun, tc.id)
				if code != 1 || out != "" || !strings.Contains(errOut, gone) || strings.Contains(errOut, "run the command again") {
					t.Errorf("%s update with a deletion meanwhile: exit %d, stdout %q, stderr %q; want exit 1 saying %s", tc.noun, code, out, errOut, gone)
				}
			}
		})
	}
}

// TestDirectoryCommandsRefuseEmptyNames checks that a directory command
// given an empty record name (a shell variable that was unset: `hallpass
// users delete "$USER_TO_REMOVE"`) is refused as such, alike through
// --server and on the database. Through --server the empty name made the
// path /admin/users/, which the admin API does not serve, and the command
// blamed --server ("has no /admin/users/: is --server the URL of the
// admin listener…?") where on the database it answered `no user ""`.
func TestDirectoryCommandsRefuseEmptyNames(t *testing.T) {
	const token = "empty-names-admin-token-0123456789abcdef"
	db := testdb.SQLite(t)
	s := hallpasstest.Start(t, db, hallpasstest.Options{AdminToken: token})
	t.Setenv("HALLPASS_ADMIN_TOKEN", token)
	for _, mode := range []struct {
		name  string
		flags []string
	}{
		{"server", []string{"--server", s.URL}},
		{"database", []string{"--database", db}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			for _, args := range [][]string{
				{"users", "get", ""},
				{"users", "delete", ""},
				{"users", "update", "", "--name", "x"},
				{"users", "reset-factors", ""},
				{"roles", "get", ""},
				{"roles", "delete", ""},
				{"roles", "update", "", "--description", "x"},
				{"scopes", "delete", ""},
				{"scopes", "update", "", "--description", "x"},
				{"clients", "get", ""},
				{"clients", "delete", ""},
				{"clients", "update", "", "--name", "x"},
				{"clients", "revoke-tokens", ""},
			} {
				code, out, errOut := cli(t, "", append(mode.flags, args...)...)
				if code != 1 || !strings.Contains(errOut, "argument 1 is empty") || strings.Contains(errOut, "--server") || out != "" {
					t.Errorf("%q: exit %d, want 1 saying the argument is empty\n%s%s", args, code, out, errOut)
				}
			}
		})
	}
}

// TestServerURLPasswordNeverShown checks that a --server URL carrying a
// user and password is refused without printing the password: the
// messages about --server quoted the URL as given, and the admin token,
// not a password in the URL, is what the admin API takes.
func TestServerURLPasswordNeverShown(t *testing.T) {
	t.Setenv("HALLPASS_ADMIN_TOKEN", "server-url-admin-token-0123456789abcdef")
	for _, server := range []string{
		"http://admin:hunter2hunter2@hallpass.example.com",
		"https://admin:hunter2hunter2@hallpass.example.com",
		"http://admin:hunter2hunter2@127.0.0.1:1",
		"https://admin:hunter2hunter2@[::1",
		// A token where the password would be, or in the query or the
		// fragment, which are refused too: Redacted hid only a password.
		"https://hunter2hunter2@hallpass.example.com",
		"https://hallpass.example.com/?access_token=hunter2hunter2",
		"http://127.0.0.1:1/?token=hunter2hunter2",
		"https://hallpass.example.com/#hunter2hunter2",
	} {
		code, out, errOut := cli(t, "", "--server", server, "users", "list")
		if code != 1 || strings.Contains(out+errOut, "hunter2hunter2") || !strings.Contains(errOut, "--server") {
			t.Errorf("--server %s: exit %d, want 1 refusing it without the password\n%s%s", server, code, out, errOut)
		}
	}
}

// TestRemoteChangeNeedsHallpassAnswer checks that a change through
// --server whose answer is not hallpass's (a proxy's or a portal's page,
// 200 to anything) fails: the commands that read no record back (delete,
// revoke-tokens, reset-factors) took any 2xx for done and exited 0,
// "deleted user alice", with nothing deleted.
func TestRemoteChangeNeedsHallpassAnswer(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>Welcome</body></html>"))
	}))
	defer page.Close()
	t.Setenv("HALLPASS_ADMIN_TOKEN", "not-hallpass-admin-token-0123456789abcdef")
	for _, args := range [][]string{
		{"users", "delete", "alice"},
		{"users", "reset-factors", "alice"},
		{"roles", "delete", "teacher"},
		{"scopes", "delete", "results:read"},
		{"clients", "delete", "app"},
		{"clients", "revoke-tokens", "app"},
	} {
		code, out, errOut := cli(t, "", append([]string{"--server", page.URL}, args...)...)
		if code != 1 || out != "" || !strings.Contains(errOut, "not what hallpass answers") {
			t.Errorf("%q against a page answering 200: exit %d, want 1\n%s%s", args, code, out, errOut)
		}
	}
}
