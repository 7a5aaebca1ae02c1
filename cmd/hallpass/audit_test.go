package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage/sqlite"
)

// TestAuditCommands: `audit list` filters, `audit verify` passes an
// intact chain and exits 1 naming the entry edited in the database.
func TestAuditCommands(t *testing.T) {
	chdirTemp(t)
	path := filepath.Join(t.TempDir(), "audit.db")
	db := "sqlite:" + path
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	log := audit.New(st, audit.Options{Logger: slog.New(slog.DiscardHandler)})
	for i := range 5 {
		action := []string{"signin.success", "client.update"}[i%2]
		log.Record(audit.WithActor(ctx, "admin-token"), audit.Event{Action: action, Object: fmt.Sprintf("x:%d", i)})
	}
	st.Close()

	out, errOut, code := hallpass(t, db, "audit", "verify")
	if code != 0 || !strings.Contains(out, `"entries": 5`) {
		t.Fatalf("audit verify on an intact chain: code %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = hallpass(t, db, "audit", "list", "--type", "signin", "--after", "1")
	var views []audit.EntryView
	if code != 0 || json.Unmarshal([]byte(out), &views) != nil {
		t.Fatalf("audit list: code %d\n%s%s", code, out, errOut)
	}
	if len(views) != 2 || views[0].Seq != 3 || views[1].Seq != 5 || views[0].Type != "signin.success" {
		t.Fatalf("audit list --type signin --after 1 = %+v, want entries 3 and 5", views)
	}
	if _, errOut, code = hallpass(t, db, "audit", "list", "--since", "yesterday"); code != 1 || !strings.Contains(errOut, "RFC 3339") {
		t.Fatalf("audit list --since yesterday: code %d, %s", code, errOut)
	}

	// A change made through the CLI is recorded as the OS user's.
	if _, errOut, code := hallpass(t, db, "roles", "create", "teacher", "--scope", "results:read"); code != 0 {
		t.Fatalf("roles create: %s", errOut)
	}
	out, _, _ = hallpass(t, db, "audit", "list", "--type", "role.create")
	views = nil
	if err := json.Unmarshal([]byte(out), &views); err != nil || len(views) != 1 || views[0].Actor != cliActor() || views[0].Object != "role:teacher" {
		t.Fatalf("audit list --type role.create after roles create = %s, want one entry by %s", out, cliActor())
	}

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE audit_entries SET actor = 'nobody' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = hallpass(t, db, "audit", "verify")
	if code != 1 || !strings.Contains(errOut, "entry 3") {
		t.Fatalf("audit verify after editing entry 3: code %d, want 1 naming entry 3\n%s%s", code, out, errOut)
	}
}

// audit list refuses a filter no entry can hold (text that is not valid
// UTF-8 or holds a NUL, a negative --after, an actor over 200 bytes, a
// type that is not spelt as one), naming the flag and exiting 1, as GET
// /admin/audit answers 400 (audit.CheckQuery); the store matches nothing
// to such a filter, so before the check the answer was an empty list.
func TestAuditListRefusesUnreadableFilters(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := migrated(t, b.DSN(t))
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"--actor", "cli:\xffroot"}, "--actor must be valid UTF-8"},
				{[]string{"--actor", "admin\x00-token"}, "--actor must be valid UTF-8 without NUL"},
				{[]string{"--type", "signin\xfe"}, "--type must be valid UTF-8"},
				{[]string{"--type", "sign\x00in"}, "--type must be valid UTF-8 without NUL"},
				{[]string{"--after", "-1"}, "--after -1: must be the seq of an entry"},
				// Refused by the admin API as well (400), and matching
				// no entry hallpass records: both were answered [].
				{[]string{"--actor", "user:" + strings.Repeat("a", 196)}, "--actor is longer than 200 bytes"},
				{[]string{"--type", "signin failure"}, "--type must be an event type such as signin.failure or a family such as signin: 1 to 64 letters"},
				{[]string{"--type", strings.Repeat("x", 65)}, "--type must be an event type"},
				{[]string{"--type", ".."}, "--type must be an event type"},
			} {
				out, errOut, code := hallpass(t, db, append([]string{"audit", "list"}, tc.args...)...)
				if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
					t.Errorf("audit list %q: exit %d, stdout %q, stderr %q; want exit 1 saying %q", tc.args, code, out, errOut, tc.want)
				}
			}
			// A readable filter that matches nothing is still an empty list.
			if out, errOut, code := hallpass(t, db, "audit", "list", "--actor", "cli:nobody"); code != 0 || strings.TrimSpace(out) != "[]" {
				t.Errorf("audit list --actor cli:nobody: exit %d, %q %q", code, out, errOut)
			}
		})
	}
}
