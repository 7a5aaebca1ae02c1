package main

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// The CLI on the database refuses to change or delete hallpass's own
// client, as the admin API does (the directory service refuses it): the
// command exits non-zero saying why, and the row stays as it was. Reading
// it still works.
func TestClientsCommandsRefuseSelfClient(t *testing.T) {
	const says = "conflict: hallpass-console is hallpass's own client; it cannot be changed or deleted"
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := migrated(t, b.DSN(t))
			st := testdb.Open(t, db)
			ctx := context.Background()
			// As a server's start registers it.
			now := time.Now().UTC().Truncate(time.Second)
			if err := st.CreateClient(ctx, &storage.Client{ID: provider.SelfClientID, Name: "hallpass console and account page",
				RedirectURIs: []string{"https://id.example/console/callback"}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
				Scopes: []string{"openid", "profile"}, TokenEndpointAuthMethod: "none", SkipConsent: true, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			before, err := st.GetClient(ctx, provider.SelfClientID)
			if err != nil {
				t.Fatal(err)
			}
			hp := onDatabase(t, db)
			for _, args := range [][]string{
				{"clients", "update", provider.SelfClientID, "--redirect-uri", "https://evil.example/cb"},
				{"clients", "update", provider.SelfClientID, "--name", "mine now"},
				{"clients", "delete", provider.SelfClientID},
				{"clients", "create", "--id", provider.SelfClientID, "--auth-method", "none", "--redirect-uri", "https://evil.example/cb"},
			} {
				if _, errOut, code := hp("", args...); code == 0 || !strings.Contains(errOut, says) {
					t.Errorf("%s: exit %d, stderr %q; want a failure saying %q", strings.Join(args, " "), code, errOut, says)
				}
				after, err := st.GetClient(ctx, provider.SelfClientID)
				if err != nil || !reflect.DeepEqual(before, after) {
					t.Fatalf("after %s the stored client is %+v (%v), was %+v", strings.Join(args, " "), after, err, before)
				}
			}
			if out, errOut, code := hp("", "clients", "get", provider.SelfClientID); code != 0 || !strings.Contains(out, `"client_id": "hallpass-console"`) {
				t.Errorf("clients get: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}
