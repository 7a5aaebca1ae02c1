package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
)

// liveRaceWait bounds each wait of TestPutLiveSessionClientWaitsForEnd
// for the other side; it is a deadline against a hang, not a timing.
const liveRaceWait = 30 * time.Second

// TestPutLiveSessionClientWaitsForEnd checks that PutLiveSessionClient,
// run while a transaction that ends the browser session (deletes it,
// then takes its clients' records, as a logout does) is under way,
// waits for that end to commit and then writes nothing (ErrNotFound).
// A write of the record and a read of the session apart, or a read that
// does not wait for the end, judged the session live (the end was not
// committed yet) and left a record the end had not taken: the client
// got tokens for a session that was over and no logout notice. At
// REPEATABLE READ and SERIALIZABLE the wait ends in a serialization
// failure, which the Store retries, and the retry finds the session gone.
func TestPutLiveSessionClientWaitsForEnd(t *testing.T) {
	testdb.PostgresURL(t)
	for _, isolation := range []string{"read committed", "repeatable read", "serializable"} {
		t.Run(isolation, func(t *testing.T) {
			s := testdb.OpenPostgres(t, testdb.Postgres(t), map[string]string{"default_transaction_isolation": isolation})
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			putLiveDuringEnd(t, s)
		})
	}
}

// putLiveDuringEnd runs PutLiveSessionClient on s while a transaction
// ends the session, and checks that it wrote nothing.
func putLiveDuringEnd(t *testing.T, s *postgres.Store) {
	ctx := t.Context()
	db := postgres.DB(s)
	now := time.Now()
	if err := s.CreateClient(ctx, &storage.Client{ID: "rp", BackchannelLogoutURI: "https://rp.example/bc"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBrowserSession(ctx, &storage.BrowserSession{ID: "bs-1", UserID: "u1", SID: "sid-1", AuthTime: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}

	// The end, as a logout runs it, up to its commit.
	tx, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Rollback(tx) }()
	if err := s.DeleteBrowserSession(tx, "bs-1"); err != nil {
		t.Fatal(err)
	}
	if taken, err := s.TakeSessionClients(tx, "sid-1", "", ""); err != nil || len(taken) != 0 {
		t.Fatalf("TakeSessionClients in the end: %v, %v; want none", taken, err)
	}

	done := make(chan error, 1)
	go func() {
		done <- s.PutLiveSessionClient(ctx, &storage.SessionClient{SID: "sid-1", ClientID: "rp", UserID: "u1", ExpiresAt: now.Add(time.Hour)},
			now, now.Add(-time.Hour))
	}()
	// Commit the end once the record's statement waits for it (or has
	// returned: then it did not wait, and judged the session live).
	var early error
	returned := false
	deadline := time.After(liveRaceWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !returned {
		var waiting bool
		if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'tuple' AND relation = 'browser_sessions'::regclass)`).Scan(&waiting); err != nil {
			t.Fatalf("read the locks: %v", err)
		}
		if waiting {
			break
		}
		select {
		case early = <-done:
			returned = true
		case <-deadline:
			t.Fatalf("waited %v for PutLiveSessionClient to wait for the end of the session, or to return", liveRaceWait)
		case <-tick.C:
		}
	}
	if err := s.Commit(tx); err != nil {
		t.Fatalf("commit the end: %v", err)
	}
	if !returned {
		select {
		case early = <-done:
		case <-time.After(liveRaceWait):
			t.Fatalf("waited %v for PutLiveSessionClient after the end committed", liveRaceWait)
		}
	}
	if !errors.Is(early, storage.ErrNotFound) {
		t.Errorf("PutLiveSessionClient during the end of its session = %v, want ErrNotFound", early)
	}
	left, err := s.TakeSessionClients(ctx, "sid-1", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("a record outlived the end of its session, untold: %v", left)
	}
}
