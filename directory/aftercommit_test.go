package directory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// TestLogoutsQueuedAfterOuterCommit: a user disabled inside a caller's
// transaction (Service.InTransaction, as a configuration applied from a
// file does) tells Options.LogoutsQueued only once that transaction
// commits, once however often it was run, and never when it rolls back:
// the sessions are still there then.
func TestLogoutsQueuedAfterOuterCommit(t *testing.T) {
	boom := errors.New("boom")
	errTransient := fmt.Errorf("test: %w (%w)", storage.ErrTransient, storage.ErrUnavailable)
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			st := testdb.Open(t, b.DSN(t))
			now := time.Now()
			var mu sync.Mutex
			var told []storage.SessionClient
			inTx := false // whether the caller's transaction is still open
			svc := New(st, Options{Now: func() time.Time { return now },
				LogoutsQueued: func(ctx context.Context, ended []storage.SessionClient) {
					mu.Lock()
					defer mu.Unlock()
					if inTx {
						t.Error("LogoutsQueued told before the caller's transaction ended")
					}
					// The change is there for a reader outside it.
					if _, err := st.GetBrowserSession(ctx, "s"); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("the ended session, read as LogoutsQueued is told: %v, want not found", err)
					}
					told = append(told, ended...)
				}})
			if _, err := svc.Clients().Create(ctx, ClientMetadata{ClientID: "app", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{}}); err != nil {
				t.Fatal(err)
			}
			u, err := svc.Users().Create(ctx, UserInput{Username: "alice", Password: "correct horse battery staple"})
			if err != nil {
				t.Fatal(err)
			}
			testdb.SignedIn(t, st, u.ID, "s", now, "app")
			// then is what the caller's transaction does after the
			// update, on each attempt.
			disable := func(then func(attempt int) error) error {
				attempt := 0
				return svc.InTransaction(ctx, func(tx context.Context) error {
					attempt++
					mu.Lock()
					inTx = true
					mu.Unlock()
					defer func() {
						mu.Lock()
						inTx = false
						mu.Unlock()
					}()
					if _, err := svc.Users().Update(tx, "alice", UserInput{Username: "alice", Disabled: true}); err != nil {
						return err
					}
					return then(attempt)
				})
			}

			if err := disable(func(int) error { return boom }); !errors.Is(err, boom) {
				t.Fatalf("the failing transaction: %v", err)
			}
			if len(told) != 0 {
				t.Errorf("told %+v of a rolled-back change", told)
			}
			if _, err := st.GetBrowserSession(ctx, "s"); err != nil {
				t.Fatalf("the session after the rollback: %v", err)
			}

			// Committed, after one attempt run again where the backend
			// runs transactions again.
			if err := disable(func(attempt int) error {
				if attempt == 1 && b.Name == "postgres" {
					return errTransient
				}
				return nil
			}); err != nil {
				t.Fatalf("the committed transaction: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(told) != 1 || told[0].SID != "sid-s" || told[0].ClientID != "app" {
				t.Errorf("told %+v, want the one session's client, once", told)
			}
		})
	}
}
