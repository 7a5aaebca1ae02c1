package main

import (
	"context"
	"errors"
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
			testdb.SignedIn(t, st, alice.ID, "s1", now, "notified-app", "plain-app")

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
			testdb.SignedIn(t, st, alice.ID, "s1", now, "notified-app")

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

// unreadableClients is a store that cannot read the clients named, as
// when the database fails under the command.
type unreadableClients struct {
	storage.Store
	ids []string
}

func (s unreadableClients) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	for _, bad := range s.ids {
		if id == bad {
			return nil, errors.New("injected: database unavailable")
		}
	}
	return s.Store.GetClient(ctx, id)
}

// TestNotNotifiedUnreadableClient: a client that cannot be read is named
// in a warning of its own, with the error, once however many of the
// ended sessions it was in; the apps that were read and take back-channel
// logout are still named, and an app deleted since is not.
func TestNotNotifiedUnreadableClient(t *testing.T) {
	st := testdb.Open(t, testdb.SQLite(t))
	ctx := context.Background()
	if err := st.CreateClient(ctx, &storage.Client{ID: "notified-app", BackchannelLogoutURI: "https://app.example/logout", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	notNotified(unreadableClients{st, []string{"broken-app"}}, &stderr, "tell them")(ctx, []storage.SessionClient{
		{SID: "sid-1", ClientID: "broken-app"}, {SID: "sid-1", ClientID: "notified-app"}, {SID: "sid-1", ClientID: "deleted-app"},
		{SID: "sid-2", ClientID: "broken-app"}, {SID: "sid-2", ClientID: "notified-app"},
	})
	got := stderr.String()
	const readFailed = "warning: could not read client broken-app to see whether it takes back-channel logout: injected: database unavailable\n"
	if n := strings.Count(got, readFailed); n != 1 {
		t.Errorf("stderr %q: want the read failure of broken-app once, got it %d times", got, n)
	}
	const ended = "warning: sessions ended at notified-app, which take back-channel logout, were not notified: this command works on the database; tell them\n"
	if !strings.Contains(got, ended) {
		t.Errorf("stderr %q: want the warning naming notified-app (once) and only it", got)
	}
	if strings.Count(got, "warning:") != 2 || strings.Contains(got, "deleted-app") {
		t.Errorf("stderr %q: want exactly the two warnings above", got)
	}
}
