package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
)

// A flag's HALLPASS_* variable counts as the flag given, as --help says
// (each flag names its variable): plan's required --file is satisfied by
// HALLPASS_FILE, clients create takes HALLPASS_GRANT_TYPE rather than its
// default, and clients update, which changes only the flags given,
// changes what HALLPASS_NAME says.
func TestEnvironmentCountsAsGivenFlag(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
	hp := onDatabase(t, migrated(t, "sqlite:"+filepath.Join(dir, "env.db")))

	file := filepath.Join(dir, "scopes.yaml")
	if err := os.WriteFile(file, []byte("scopes:\n  - name: grades:read\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HALLPASS_FILE", file)
	if out, errb, code := hp("", "plan"); code != 2 || !strings.Contains(out, "create scope grades:read") {
		t.Errorf("plan with HALLPASS_FILE: exit %d, want 2 planning the scope; stdout %q, stderr %q", code, out, errb)
	}
	os.Unsetenv("HALLPASS_FILE")

	t.Setenv("HALLPASS_GRANT_TYPE", "client_credentials")
	out, errb, code := hp("", "clients", "create", "--id", "sync", "--scope", "grades:read", "-o", "json")
	if code != 0 {
		t.Fatalf("clients create with HALLPASS_GRANT_TYPE: exit %d: %s", code, errb)
	}
	var created directory.ClientMetadata
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if !slices.Equal(created.GrantTypes, []string{"client_credentials"}) {
		t.Errorf("grant_types = %v, want HALLPASS_GRANT_TYPE's [client_credentials]", created.GrantTypes)
	}
	os.Unsetenv("HALLPASS_GRANT_TYPE")

	t.Setenv("HALLPASS_NAME", "Grades sync")
	if _, errb, code := hp("", "clients", "update", "sync"); code != 0 {
		t.Fatalf("clients update with HALLPASS_NAME: exit %d: %s", code, errb)
	}
	os.Unsetenv("HALLPASS_NAME")
	out, errb, _ = hp("", "clients", "get", "sync", "-o", "json")
	var updated directory.ClientMetadata
	if err := json.Unmarshal([]byte(out), &updated); err != nil {
		t.Fatalf("decode %q (%s): %v", out, errb, err)
	}
	if updated.ClientName != "Grades sync" || updated.Scope != "grades:read" {
		t.Errorf("after update: client_name %q, scope %q; want HALLPASS_NAME's name and the scope kept", updated.ClientName, updated.Scope)
	}
}
