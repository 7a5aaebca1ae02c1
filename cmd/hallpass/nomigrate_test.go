package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage/sqlite"
)

// TestServeNoMigrateRefusesOldSchema: serve --no-migrate on a database
// that lacks migrations of this release (a new one, or one an older
// release left) refuses to start, naming what is missing and what to
// run, instead of serving 5xx on a table or column that is not there
// while /readyz said ready; after `hallpass migrate` it serves.
func TestServeNoMigrateRefusesOldSchema(t *testing.T) {
	t.Setenv("HALLPASS_SECRET", strings.Repeat("m", 40))
	dir := t.TempDir()

	// A database an older release left: every migration but the last.
	older := filepath.Join(dir, "older.db")
	st, err := sqlite.Open(context.Background(), older)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := st.Versions()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MigrateTo(context.Background(), vs[len(vs)-2]); err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, tc := range []struct {
		name, path string
		missing    []int
	}{
		{"new database", filepath.Join(dir, "new.db"), vs},
		{"older release's database", older, vs[len(vs)-1:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runWithin(t, time.Minute, "serve", "--addr", "127.0.0.1:0", "--no-migrate", "--database", "sqlite:"+tc.path)
			if code == 0 {
				t.Fatal("serve --no-migrate started on a schema missing migrations")
			}
			for _, want := range []string{fmt.Sprintf("lacks %d migration(s)", len(tc.missing)), fmt.Sprint(tc.missing), "hallpass migrate"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("the error does not say %q:\n%s", want, stderr)
				}
			}
		})
	}

	if code, _, stderr := runWithin(t, time.Minute, "migrate", "--database", "sqlite:"+older); code != 0 {
		t.Fatalf("migrate: exit %d:\n%s", code, stderr)
	}
	in := startServe(t, "--no-migrate", "--database", "sqlite:"+older)
	if code := in.stop(); code != 0 {
		t.Fatalf("serve --no-migrate after migrate exited with %d:\n%s", code, in.stderr.String())
	}
}
