package main

import (
	"context"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// TestNamedCommandsRefuseCaseVariants: on the database, roles create,
// scopes create and clients create refuse a name (client id) that
// differs from another's of its kind only by case, exiting non-zero with
// the service's words, and store nothing; plan refuses such a file, and
// apply keeps nothing of it.
func TestNamedCommandsRefuseCaseVariants(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			chdirTemp(t)
			db := migrated(t, b.DSN(t))
			for _, args := range [][]string{
				{"scopes", "create", "read"},
				{"roles", "create", "admin", "--scope", "read"},
				{"clients", "create", "--id", "app", "--grant-type", "client_credentials", "--scope", "read"},
			} {
				if code, _, e := cli(t, "", append(args, "--database", db)...); code != 0 {
					t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, e)
				}
			}
			for _, tc := range []struct {
				name, stdin string
				args        []string
				says        string
			}{
				{"role", "", []string{"roles", "create", "Admin"},
					`role name "Admin" is taken (by "admin"); role names differ by more than case`},
				{"scope", "", []string{"scopes", "create", "READ"},
					`scope name "READ" is taken (by "read"); scope names differ by more than case`},
				{"client", "", []string{"clients", "create", "--id", "App", "--grant-type", "client_credentials", "--scope", "read"},
					`client id "App" is taken (by "app"); client ids differ by more than case`},
				{"plan", "roles:\n  - name: ADMIN\n", []string{"plan", "-f", "-"},
					`role name "ADMIN" is taken (by "admin")`},
				{"apply", "scopes:\n  - name: library:read\nroles:\n  - name: aDmIn\n", []string{"apply", "-f", "-"},
					`role name "aDmIn" is taken (by "admin")`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					code, out, e := cli(t, tc.stdin, append(tc.args, "--database", db)...)
					if code != 1 || !strings.Contains(e, tc.says) {
						t.Errorf("exit %d, stderr %q (stdout %q); want exit 1 saying %q", code, e, out, tc.says)
					}
				})
			}
			ctx := context.Background()
			st := testdb.Open(t, db)
			roles, err := st.ListRoles(ctx)
			if err != nil || len(roles) != 1 {
				t.Errorf("roles stored: %d, %v; want admin only", len(roles), err)
			}
			scopes, err := st.ListScopes(ctx)
			if err != nil || len(scopes) != 1 {
				t.Errorf("scopes stored: %d, %v; want read only", len(scopes), err)
			}
			if _, err := st.GetClient(ctx, "App"); err == nil {
				t.Error("the refused create stored App")
			}
		})
	}
}
