package main

import (
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// TestServeLogsSchemaMigration: serve's start logs one line naming the
// migrations it applied when it applied some (an upgrade), and none
// when the schema was up to date; before, an upgrade's start said
// nothing of the schema change.
func TestServeLogsSchemaMigration(t *testing.T) {
	t.Setenv("HALLPASS_SECRET", strings.Repeat("m", 40))
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.DSN(t)
			first := startServe(t, "--database", db)
			if code := first.stop(); code != 0 {
				t.Fatalf("serve exited with %d:\n%s", code, first.stderr.String())
			}
			logged := first.stderr.String()
			if n := strings.Count(logged, `"msg":"database schema migrated"`); n != 1 {
				t.Fatalf("serve on a new database logged %d schema-migrated lines, want 1:\n%s", n, logged)
			}
			if !strings.Contains(logged, `"versions":[1,2,`) {
				t.Errorf("the migrated line does not name the versions applied:\n%s", logged)
			}

			again := startServe(t, "--database", db)
			if code := again.stop(); code != 0 {
				t.Fatalf("serve exited with %d:\n%s", code, again.stderr.String())
			}
			if strings.Contains(again.stderr.String(), "database schema migrated") {
				t.Errorf("serve on an up-to-date database logged a migration:\n%s", again.stderr.String())
			}
		})
	}
}
