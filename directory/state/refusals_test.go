package state_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/directory/state"
	"github.com/hallpass/hallpass/storage"
)

// TestPlanReportsEveryRefusal: a file with several entries the rules
// refuse (as an export of records stored before those rules holds) is
// refused with every one of them, one line each, not only the first: an
// operator with N such records needed N runs to learn of them. Nothing
// is changed.
func TestPlanReportsEveryRefusal(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
		ctx := context.Background()
		file := "scopes:\n  - name: Offline\n  - name: read\n  - name: OpenID\n" +
			"roles:\n  - name: staff\n    scopes: [read]\n" +
			"clients:\n  - client_id: app\n    token_endpoint_auth_method: none\n    redirect_uris: ['https://app.example/cb\\x']\n" +
			"  - client_id: web\n    token_endpoint_auth_method: none\n    redirect_uris: ['https://web.example/cb']\n" +
			"users:\n  - username: alice\n    roles: [missing]\n"
		want := []string{
			`plan: scope "Offline": `,
			`plan: scope "OpenID": `,
			`plan: client "app": redirect_uris: `,
			`plan: user "alice": role "missing" does not exist`,
		}
		for name, call := range map[string]func() error{
			"Make":  func() error { _, err := state.Make(ctx, dir, load(t, file), state.Options{}); return err },
			"Apply": func() error { _, err := state.Apply(ctx, dir, load(t, file), state.Options{}); return err },
		} {
			err := call()
			if err == nil {
				t.Fatalf("%s accepted the file", name)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(want) {
				t.Errorf("%s = %d line(s), want %d:\n%v", name, len(lines), len(want), err)
				continue
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("%s line %d = %q, want it to begin %q", name, i+1, lines[i], w)
				}
			}
		}
		if scopes, _ := st.ListScopes(ctx); len(scopes) != 0 {
			t.Errorf("the refused file stored %d scope(s)", len(scopes))
		}
	})
}
