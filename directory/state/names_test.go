package state_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/directory/state"
	"github.com/hallpass/hallpass/storage"
)

// TestNameCaseVariants: a file that creates a role, a scope or a client
// whose name (client id) differs only by case from a stored one of its
// kind, or from another the file creates, or a scope named as a protocol
// scope but for case, fails to plan and to apply with the service's
// words, and nothing of it is applied; records an older database holds
// as case variants of each other are updated as any other.
func TestNameCaseVariants(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
		ctx := context.Background()
		if _, err := dir.Scopes().Create(ctx, directory.ScopeView{Name: "read"}); err != nil {
			t.Fatal(err)
		}
		if _, err := dir.Roles().Create(ctx, directory.RoleView{Name: "admin"}); err != nil {
			t.Fatal(err)
		}
		if _, err := dir.Clients().Create(ctx, directory.ClientMetadata{ClientID: "app", GrantTypes: []string{"client_credentials"}, Scope: "read"}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"carol", "CAROL"} {
			if err := st.CreateRole(ctx, &storage.Role{Name: name}); err != nil {
				t.Fatal(err)
			}
		}
		const first = "scopes:\n  - name: library:read\n"
		const client = "    grant_types: [client_credentials]\n    response_types: []\n    scope: read\n"
		for _, tc := range []struct {
			name, file string
			prune      bool
			want       string
		}{
			{"role: variant of a stored role", first + "roles:\n  - name: Admin\n", false,
				`role "Admin": role name "Admin" is taken (by "admin"); role names differ by more than case`},
			{"role: variant of a stored role the prune would delete", first + "roles:\n  - name: Admin\n", true,
				`role "Admin": role name "Admin" is taken (by "admin")`},
			{"role: variants within the file", first + "roles:\n  - name: dave\n  - name: Dave\n", false,
				`role "Dave": role name "Dave" is taken (by "dave")`},
			{"role: variant of stored variants", first + "roles:\n  - name: Carol\n", false,
				`role "Carol": role name "Carol" is taken (by "`},
			{"scope: variant of a stored scope", first + "  - name: READ\n", false,
				`scope "READ": scope name "READ" is taken (by "read"); scope names differ by more than case`},
			{"scope: variants within the file", first + "  - name: Library:Read\n", false,
				`scope "Library:Read": scope name "Library:Read" is taken (by "library:read")`},
			{"scope: a protocol scope but for case", first + "  - name: Offline\n", false,
				`scope "Offline": scope name "Offline" differs only by case from offline,`},
			{"client: variant of a stored client", first + "clients:\n  - client_id: App\n" + client, false,
				`client "App": client id "App" is taken (by "app"); client ids differ by more than case`},
			{"client: variants within the file", first + "clients:\n  - client_id: web\n" + client + "  - client_id: WEB\n" + client, false,
				`client "WEB": client id "WEB" is taken (by "web")`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := load(t, tc.file)
				opts := state.Options{Prune: tc.prune}
				if _, err := state.Make(ctx, dir, f, opts); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Make = %v, want an error saying %q", err, tc.want)
				}
				if _, err := state.Apply(ctx, dir, f, opts); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Apply = %v, want an error saying %q", err, tc.want)
				}
				if _, err := dir.Scopes().Get(ctx, "library:read"); err == nil {
					t.Error("the refused apply created library:read")
				}
				roles, _ := st.ListRoles(ctx)
				scopes, _ := st.ListScopes(ctx)
				clients, _ := st.ListClients(ctx)
				if len(roles) != 3 || len(scopes) != 1 || len(clients) != 1 {
					t.Errorf("after the refused apply: %d roles, %d scopes, %d clients; want admin, carol, CAROL, read and app only", len(roles), len(scopes), len(clients))
				}
			})
		}

		// Stored variants are both in the file: updates, not creates.
		f := load(t, "roles:\n  - name: admin\n  - name: carol\n    description: Carol One\n  - name: CAROL\n")
		mustApply(t, dir, f, state.Options{})
		if r, err := st.GetRole(ctx, "carol"); err != nil || r.Description != "Carol One" {
			t.Errorf("carol after apply: %+v, %v", r, err)
		}
		wantEmpty(t, "the applied file", mustPlan(t, dir, f, state.Options{}))
	})
}
