package state_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/directory/state"
	"github.com/hallpass/hallpass/storage"
)

// TestUsernameCaseVariants: a file that creates a user whose username
// differs only by case from a stored one, or from another the file
// creates, fails to plan and to apply (the service would refuse it), and
// nothing of it is applied; users an older database holds as case
// variants of each other are updated as any other.
func TestUsernameCaseVariants(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
		ctx := context.Background()
		if _, err := dir.Users().CreateWithoutPassword(ctx, directory.UserInput{Username: "alice"}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"carol", "CAROL"} {
			if err := st.CreateUser(ctx, &storage.User{ID: "id-" + name, Username: name}); err != nil {
				t.Fatal(err)
			}
		}
		const scope = "scopes:\n  - name: library:read\n"
		for _, tc := range []struct {
			name, file string
			prune      bool
			want       string
		}{
			{"variant of a stored user", scope + "users:\n  - username: Alice\n", false,
				`user "Alice": username "Alice" is taken (by "alice"); usernames differ by more than case`},
			{"variant of a stored user, pruned", scope + "users:\n  - username: ALICE\n", true,
				`user "ALICE": username "ALICE" is taken (by "alice")`},
			{"variants within the file", scope + "users:\n  - username: alice\n  - username: dave\n  - username: Dave\n", false,
				`user "Dave": username "Dave" is taken (by "dave")`},
			{"variant of stored variants", scope + "users:\n  - username: Carol\n", false,
				`user "Carol": username "Carol" is taken (by "`},
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
				if users, _ := st.ListUsers(ctx); len(users) != 3 {
					t.Errorf("users after the refused apply: %q, want alice, carol and CAROL only", usernamesOf(users))
				}
				if _, err := dir.Scopes().Get(ctx, "library:read"); err == nil {
					t.Error("the refused apply created library:read")
				}
			})
		}

		// Stored variants are both in the file: an update, not a create.
		f := load(t, "users:\n  - username: alice\n  - username: carol\n    name: Carol One\n  - username: CAROL\n")
		mustApply(t, dir, f, state.Options{})
		if u, err := st.GetUserByUsername(ctx, "carol"); err != nil || u.Name != "Carol One" {
			t.Errorf("carol after apply: %+v, %v", u, err)
		}
		wantEmpty(t, "the applied file", mustPlan(t, dir, f, state.Options{Prune: true}))
	})
}

func usernamesOf(us []storage.User) []string {
	var names []string
	for _, u := range us {
		names = append(names, u.Username)
	}
	return names
}
