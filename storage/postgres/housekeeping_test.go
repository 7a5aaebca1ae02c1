package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
)

// strictReplicas opens n stores on one fresh, migrated schema whose
// transactions run at isolation (e.g. "repeatable read"), as on a database
// configured so, or like the SERIALIZABLE default of distributed
// Postgres-compatible databases.
func strictReplicas(t *testing.T, n int, isolation string) []*postgres.Store {
	t.Helper()
	dsn := testdb.Postgres(t)
	stores := make([]*postgres.Store, n)
	for i := range stores {
		stores[i] = testdb.OpenPostgres(t, dsn, map[string]string{"default_transaction_isolation": isolation})
	}
	if err := stores[0].Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	var got string
	if err := postgres.DB(stores[0]).QueryRowContext(t.Context(), `SHOW transaction_isolation`).Scan(&got); err != nil || got != isolation {
		t.Fatalf("transaction_isolation = %q (err %v), want %q", got, err, isolation)
	}
	return stores
}

// eachStrictIsolation runs fn, in a subtest per level, on n replicas
// (strictReplicas) whose transactions run at REPEATABLE READ, then at
// SERIALIZABLE.
func eachStrictIsolation(t *testing.T, n int, fn func(t *testing.T, stores []*postgres.Store)) {
	t.Helper()
	testdb.PostgresURL(t)
	for _, isolation := range []string{"repeatable read", "serializable"} {
		t.Run(isolation, func(t *testing.T) { fn(t, strictReplicas(t, n, isolation)) })
	}
}

// contend runs fn for contenders 0 to n-1 at once, each again (with the
// next attempt number) while it fails with storage.ErrTransient, at most
// attempts times, and returns how each one's last attempt ended. A
// transient failure must never read as storage.ErrConflict: fn failing
// with both ends its contender at once, so the test sees it.
func contend(n, attempts int, fn func(i, attempt int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			for a := range attempts {
				errs[i] = fn(i, a)
				if !errors.Is(errs[i], storage.ErrTransient) || errors.Is(errs[i], storage.ErrConflict) {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// TestLockKeysStrictIsolation checks that LockKeys still serializes
// key rotation when transactions run at REPEATABLE READ or SERIALIZABLE:
// a contender that waited for the lock must not go on with a snapshot
// that misses the winner's key, but fail with storage.ErrTransient so
// that it retries (a transaction begun with BeginTX is its caller's to
// run again).
func TestLockKeysStrictIsolation(t *testing.T) {
	eachStrictIsolation(t, 2, func(t *testing.T, stores []*postgres.Store) {
		ctx := t.Context()
		const (
			rounds     = 10
			contenders = 4
			attempts   = 20
		)
		// attempt runs one contender's transaction once; it reports
		// whether it created the next key.
		attempt := func(s *postgres.Store, id string) (bool, error) {
			tx, err := s.BeginTX(ctx)
			if err != nil {
				return false, err
			}
			defer s.Rollback(tx) // an error once committed
			if err := s.LockKeys(tx); err != nil {
				return false, err
			}
			ks, err := s.ListKeys(tx)
			if err != nil {
				return false, err
			}
			for _, k := range ks {
				if k.State == storage.KeyNext {
					return false, s.Commit(tx)
				}
			}
			time.Sleep(5 * time.Millisecond)
			if err := s.CreateKey(tx, &storage.Key{ID: id, Algorithm: "RS256", State: storage.KeyNext}); err != nil {
				return false, err
			}
			return true, s.Commit(tx)
		}
		for round := range rounds {
			created := make([]bool, contenders)
			errs := contend(contenders, attempts, func(i, _ int) (err error) {
				created[i], err = attempt(stores[i%len(stores)], fmt.Sprintf("kid-%d-%d", round, i))
				return err
			})
			n := 0
			for i := range contenders {
				if errs[i] != nil {
					t.Errorf("round %d: contender %d: %v", round, i, errs[i])
				}
				if created[i] {
					n++
				}
			}
			ks, err := stores[0].ListKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var next []string
			for _, k := range ks {
				if k.State == storage.KeyNext {
					next = append(next, k.ID)
				}
			}
			if n != 1 || len(next) != 1 {
				t.Fatalf("round %d: %d contenders created a next key, next keys %q; want exactly one", round, n, next)
			}
			if err := stores[0].UpdateKey(ctx, &storage.Key{ID: next[0], State: storage.KeyRetired}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestDeleteExpiredStrictIsolation checks that replicas running
// DeleteExpired at once on the same rows do not fail when a statement that
// finds its rows deleted by a concurrent one fails with a serialization
// failure (REPEATABLE READ, SERIALIZABLE): DeleteExpired retries it.
func TestDeleteExpiredStrictIsolation(t *testing.T) {
	eachStrictIsolation(t, 4, func(t *testing.T, stores []*postgres.Store) {
		ctx := t.Context()
		before := time.Now().UTC().Truncate(time.Microsecond)
		const (
			rounds   = 5
			expired  = 60
			limit    = 7
			maxCalls = 1000
		)
		live := &storage.Token{Kind: storage.KindAccessToken, Signature: "live", ExpiresAt: before.Add(time.Hour)}
		if err := stores[0].CreateToken(ctx, live); err != nil {
			t.Fatal(err)
		}
		for round := range rounds {
			for i := range expired {
				kind := []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken, storage.KindAuthorizeCode}[i%3]
				if err := stores[0].CreateToken(ctx, &storage.Token{Kind: kind, Signature: fmt.Sprintf("expired-%d-%d", round, i),
					ExpiresAt: before.Add(-time.Duration(i+1) * time.Second)}); err != nil {
					t.Fatal(err)
				}
			}
			counts := make([]int, len(stores))
			errs := contend(len(stores), 1, func(i, _ int) error {
				for range maxCalls {
					n, err := stores[i].DeleteExpired(ctx, before, limit)
					counts[i] += n
					if err != nil || n == 0 {
						return err
					}
				}
				return fmt.Errorf("still deleting after %d calls", maxCalls)
			})
			sum := 0
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d: replica %d: DeleteExpired: %v", round, i, err)
				}
				sum += counts[i]
			}
			if sum != expired {
				t.Fatalf("round %d: replicas deleted %d rows together (%v), want %d", round, sum, counts, expired)
			}
		}
		if _, err := stores[0].GetToken(ctx, live.Kind, live.Signature); err != nil {
			t.Fatalf("GetToken of a live token: %v", err)
		}
	})
}

// TestLockKeysBlocks checks that LockKeys is an exclusive lock held until
// the transaction ends: a second transaction's LockKeys waits for it.
func TestLockKeysBlocks(t *testing.T) {
	s := newStore(t).(*postgres.Store)
	ctx := t.Context()
	tx1, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback(tx1)
	if err := s.LockKeys(tx1); err != nil {
		t.Fatalf("LockKeys(tx1): %v", err)
	}
	tx2, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback(tx2)
	locked := make(chan error, 1)
	go func() { locked <- s.LockKeys(tx2) }()
	select {
	case err := <-locked:
		t.Fatalf("LockKeys(tx2) returned %v while tx1 holds the lock, want it to wait", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := s.Commit(tx1); err != nil {
		t.Fatalf("Commit(tx1): %v", err)
	}
	select {
	case err := <-locked:
		if err != nil {
			t.Fatalf("LockKeys(tx2) after tx1 ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LockKeys(tx2) still waiting after tx1 ended")
	}
	if err := s.Commit(tx2); err != nil {
		t.Fatalf("Commit(tx2): %v", err)
	}
}
