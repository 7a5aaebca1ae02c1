package main

import (
	"context"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// TestUsersCommandsRefuseCaseVariants: on the database, users create and
// users update refuse a username that differs from another user's only
// by case, exiting non-zero with the service's words, and store nothing;
// the same refusal ends apply, and apply keeps nothing of its file.
func TestUsersCommandsRefuseCaseVariants(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			chdirTemp(t)
			db := migrated(t, b.DSN(t))
			for _, name := range []string{"alice", "bob"} {
				if code, _, e := cli(t, "", "users", "create", "--username", name, "--database", db); code != 0 {
					t.Fatalf("users create %s: exit %d: %s", name, code, e)
				}
			}
			for _, tc := range []struct {
				name, stdin string
				args        []string
				says        string
			}{
				{"create", "", []string{"users", "create", "--username", "Alice"},
					`username "Alice" is taken (by "alice"); usernames differ by more than case`},
				{"rename", "", []string{"users", "update", "bob", "--username", "ALICE"},
					`username "ALICE" is taken (by "alice"); usernames differ by more than case`},
				{"apply", "scopes:\n  - name: library:read\nusers:\n  - username: aLiCe\n", []string{"apply", "-f", "-"},
					`username "aLiCe" is taken (by "alice")`},
				{"plan", "users:\n  - username: ALICE\n", []string{"plan", "-f", "-"},
					`username "ALICE" is taken (by "alice")`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					code, out, e := cli(t, tc.stdin, append(tc.args, "--database", db)...)
					if code != 1 || !strings.Contains(e, tc.says) {
						t.Errorf("exit %d, stderr %q (stdout %q); want exit 1 saying %q", code, e, out, tc.says)
					}
				})
			}
			st := testdb.Open(t, db)
			users, err := st.ListUsers(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range users {
				names = append(names, u.Username)
			}
			if strings.Join(names, ",") != "alice,bob" {
				t.Errorf("users stored: %q, want alice and bob", names)
			}
			if _, err := st.GetScope(context.Background(), "library:read"); err == nil {
				t.Error("the refused apply created library:read")
			}
		})
	}
}
