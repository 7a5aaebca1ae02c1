package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
