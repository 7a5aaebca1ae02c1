package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// TestLocalChangeSaysAppsWereNotNotified: a command working on the
// database that ends a user's sessions cannot send back-channel logout
// tokens (only a server does), so it names the apps that take them and
// points to --server, instead of dropping their notices in silence. Apps
// without back-channel logout are not named; a change that ends no
// session warns of nothing.
func TestLocalChangeSaysAppsWereNotNotified(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			chdirTemp(t)
			db := migrated(t, b.DSN(t))
			hp := func(stdin string, args ...string) (string, int) {
				var out, errb syncBuffer
				root := newRootCmd(&out, &errb)
				root.SetIn(strings.NewReader(stdin))
				root.SetArgs(append([]string{"--database", db}, args...))
				if err := root.ExecuteContext(context.Background()); err != nil {
					return errb.String() + err.Error(), 1
				}
				return errb.String(), 0
			}
			if e, code := hp("violet-otter-harbour-31\n", "users", "create", "--username", "alice", "--password-stdin"); code != 0 {
				t.Fatalf("users create alice: %s", e)
			}
			st := testdb.Open(t, db)
			ctx := context.Background()
			alice, err := st.GetUserByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for _, c := range []*storage.Client{
				{ID: "notified-app", BackchannelLogoutURI: "https://app.example/logout", CreatedAt: now},
				{ID: "plain-app", CreatedAt: now},
			} {
				if err := st.CreateClient(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.CreateBrowserSession(ctx, &storage.BrowserSession{ID: "s1", SID: "sid-1", UserID: alice.ID, AuthTime: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"notified-app", "plain-app"} {
				if err := st.PutSessionClient(ctx, &storage.SessionClient{SID: "sid-1", ClientID: id, UserID: alice.ID, ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}

			e, code := hp("", "users", "update", "alice", "--name", "Alice")
			if code != 0 || strings.Contains(e, "not notified") {
				t.Errorf("a change that ends no session: exit %d, stderr %q; want no warning", code, e)
			}
			e, code = hp("quiet-copper-meadow-64\n", "users", "update", "alice", "--password-stdin")
			if code != 0 {
				t.Fatalf("users update --password-stdin: %s", e)
			}
			if !strings.Contains(e, "notified-app") || !strings.Contains(e, "not notified") || !strings.Contains(e, "--server") {
				t.Errorf("stderr %q: want a warning naming notified-app and pointing to --server", e)
			}
			if strings.Contains(e, "plain-app") {
				t.Errorf("stderr %q names an app without back-channel logout", e)
			}
		})
	}
}
