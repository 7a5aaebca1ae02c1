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

// TestLocalChangeQueuesLogoutNotices: a command working on the database
// that ends a user's sessions queues their back-channel logout notices in
// the database, as a server would, for a running server to send (only a
// server signs them): it says how many it queued for which apps, and the
// outbox holds them. Apps without back-channel logout get none and are
// not named; a change that ends no session says nothing.
func TestLocalChangeQueuesLogoutNotices(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			chdirTemp(t)
			db := migrated(t, b.DSN(t))
			run := onDatabase(t, db)
			hp := func(stdin string, args ...string) (string, int) {
				_, stderr, code := run(stdin, args...)
				return stderr, code
			}
			st, aliceID := aliceSignedIn(t, db, "plain-app")

			e, code := hp("", "users", "update", "alice", "--name", "Alice")
			if code != 0 || strings.Contains(e, "back-channel") {
				t.Errorf("a change that ends no session: exit %d, stderr %q; want nothing said", code, e)
			}
			e, code = hp("quiet-copper-meadow-64\n", "users", "update", "alice", "--password-stdin")
			if code != 0 {
				t.Fatalf("users update --password-stdin: %s", e)
			}
			if !strings.Contains(e, queuedOne) {
				t.Errorf("stderr %q: want %q", e, queuedOne)
			}
			if strings.Contains(e, "plain-app") || strings.Contains(e, "warning") {
				t.Errorf("stderr %q names an app without back-channel logout, or warns", e)
			}
			wantQueued(t, st, aliceID, "sid-s1")
		})
	}
}

// TestApplyQueuesLogoutNotices: apply works on the database only (it
// refuses --server) and queues the notices of the sessions it ends just
// the same, saying so without pointing to --server.
func TestApplyQueuesLogoutNotices(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			chdirTemp(t)
			db := migrated(t, b.DSN(t))
			st, aliceID := aliceSignedIn(t, db)

			code, out, e := cli(t, "users:\n  - username: alice\n    disabled: true\n", "apply", "-f", "-", "--database", db)
			if code != 0 || !strings.Contains(out, "Applied.") {
				t.Fatalf("apply disabling alice: exit %d\n%s%s", code, out, e)
			}
			if !strings.Contains(e, queuedOne) {
				t.Errorf("stderr %q: want %q", e, queuedOne)
			}
			if strings.Contains(e, "--server") {
				t.Errorf("stderr %q tells to run apply with --server, which apply refuses", e)
			}
			wantQueued(t, st, aliceID, "sid-s1")
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

// TestLogoutsQueuedUnreadableClient: a client that cannot be read is
// named in a warning of its own, with the error, once however many of the
// ended sessions it was in; the notices of the apps that were read and
// take back-channel logout are still counted, each session's once, and an
// app deleted since is not named.
func TestLogoutsQueuedUnreadableClient(t *testing.T) {
	st := testdb.Open(t, testdb.SQLite(t))
	ctx := context.Background()
	if err := st.CreateClient(ctx, &storage.Client{ID: "notified-app", BackchannelLogoutURI: "https://app.example/logout", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	logoutsQueued(unreadableClients{st, []string{"broken-app"}}, &stderr)(ctx, []storage.SessionClient{
		{SID: "sid-1", ClientID: "broken-app"}, {SID: "sid-1", ClientID: "notified-app"}, {SID: "sid-1", ClientID: "deleted-app"},
		{SID: "sid-2", ClientID: "broken-app"}, {SID: "sid-2", ClientID: "notified-app"},
	})
	got := stderr.String()
	const readFailed = "warning: could not read client broken-app to see whether a back-channel logout notice was queued for it: injected: database unavailable\n"
	if n := strings.Count(got, readFailed); n != 1 {
		t.Errorf("stderr %q: want the read failure of broken-app once, got it %d times", got, n)
	}
	const queued = "queued 2 back-channel logout notices for the ended sessions, for notified-app (2): a running hallpass server on this database sends them\n"
	if !strings.Contains(got, queued) {
		t.Errorf("stderr %q: want %q", got, queued)
	}
	if strings.Count(got, "\n") != 2 || strings.Contains(got, "deleted-app") {
		t.Errorf("stderr %q: want exactly the two lines above", got)
	}
}

// aliceSignedIn creates user alice on the migrated database db with the
// CLI, and clients notified-app (with a back-channel logout URI) and
// plainIDs (without), and stores her session s1, signed in to all of
// them. It returns the store, open on db, and alice's id.
func aliceSignedIn(t *testing.T, db string, plainIDs ...string) (storage.Store, string) {
	t.Helper()
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
	clients := []*storage.Client{{ID: "notified-app", BackchannelLogoutURI: "https://app.example/logout", CreatedAt: now}}
	for _, id := range plainIDs {
		clients = append(clients, &storage.Client{ID: id, CreatedAt: now})
	}
	for _, c := range clients {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	testdb.SignedIn(t, st, alice.ID, "s1", now, append([]string{"notified-app"}, plainIDs...)...)
	return st, alice.ID
}

// queuedOne is what a command says when it queued one notice, for
// notified-app.
const queuedOne = "queued 1 back-channel logout notice for the ended sessions, for notified-app (1): a running hallpass server on this database sends them\n"

// wantQueued fails unless the outbox of st holds exactly one notice, to
// notified-app, of user userID's session sid.
func wantQueued(t *testing.T, st storage.Store, userID, sid string) {
	t.Helper()
	ns, err := st.ClaimLogoutNotices(t.Context(), time.Now().Add(time.Second), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].ClientID != "notified-app" || ns[0].UserID != userID || ns[0].SID != sid {
		t.Errorf("outbox holds %+v, want one notice to notified-app of %s's session %s", ns, userID, sid)
	}
}
