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
			run := onDatabase(db)
			hp := func(stdin string, args ...string) (string, int) {
				_, stderr, code := run(stdin, args...)
				return stderr, code
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

// TestApplySaysAppsWereNotNotified: apply works on the database only (it
// refuses --server), so its warning about the back-channel logout notices
// it could not send must not tell the operator to run it with --server.
func TestApplySaysAppsWereNotNotified(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			chdirTemp(t)
			db := migrated(t, b.DSN(t))
			if code, _, e := cli(t, "violet-otter-harbour-31\n", "users", "create", "--username", "alice", "--password-stdin", "--database", db); code != 0 {
				t.Fatalf("users create alice: %s", e)
			}
			st := testdb.Open(t, db)
			ctx := context.Background()
			alice, err := st.GetUserByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if err := st.CreateClient(ctx, &storage.Client{ID: "notified-app", BackchannelLogoutURI: "https://app.example/logout", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateBrowserSession(ctx, &storage.BrowserSession{ID: "s1", SID: "sid-1", UserID: alice.ID, AuthTime: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := st.PutSessionClient(ctx, &storage.SessionClient{SID: "sid-1", ClientID: "notified-app", UserID: alice.ID, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}

			code, out, e := cli(t, "users:\n  - username: alice\n    disabled: true\n", "apply", "-f", "-", "--database", db)
			if code != 0 || !strings.Contains(out, "Applied.") {
				t.Fatalf("apply disabling alice: exit %d\n%s%s", code, out, e)
			}
			if !strings.Contains(e, "notified-app") || !strings.Contains(e, "not notified") {
				t.Errorf("stderr %q: want a warning naming notified-app", e)
			}
			if strings.Contains(e, "run it with --server") {
				t.Errorf("stderr %q tells to run apply with --server, which apply refuses", e)
			}
			if code, _, e := cli(t, "", "apply", "-f", "-", "--server", "http://127.0.0.1:1", "--database", db); code == 0 || !strings.Contains(e, "not through --server") {
				t.Errorf("apply --server: exit %d, stderr %q; want it refused (the premise of this test)", code, e)
			}
		})
	}
}
