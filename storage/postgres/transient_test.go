package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
)

// TestDeadlockRetried: two transactions that lock two rows in opposite
// order deadlock; PostgreSQL fails one (40P01), which InTransaction runs
// again, so both succeed. Before, the loser came back as
// storage.ErrConflict. The deadlock a retry got past is not reported as a
// failure of the database.
func TestDeadlockRetried(t *testing.T) {
	s, ctx := twoRows(t)
	var failures atomic.Int32
	s.ObserveFailures(func(string) { failures.Add(1) })
	attempts, errs := deadlock(ctx, s, func(tx context.Context, _, second string, _ int) error {
		return s.PutSetting(tx, second, []byte("1"))
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v (conflict %v, transient %v)", i, err,
				errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrTransient))
		}
	}
	if n := attempts[0] + attempts[1]; n != 3 {
		t.Errorf("%d attempts, want 3: two, and the deadlock's loser once more", n)
	}
	if n := failures.Load(); n != 0 {
		t.Errorf("%d failures reported for a deadlock a retry got past, want 0", n)
	}
}

// TestTOTPStepRaceStrictIsolation: at REPEATABLE READ or SERIALIZABLE,
// concurrent uses of one TOTP step wait for the winner's row lock and
// then fail with a serialization failure. Exactly one use succeeds; each
// loser is run again, finds the step used, and is the real "step already
// used" storage.ErrConflict, a replay; never a serialization failure
// passed off as one, nor a failure of the database.
func TestTOTPStepRaceStrictIsolation(t *testing.T) {
	eachStrictIsolation(t, 2, func(t *testing.T, stores []*postgres.Store) {
		ctx := t.Context()
		const (
			rounds     = 10
			contenders = 4
		)
		if err := stores[0].CreateUser(ctx, &storage.User{ID: "u", Username: "u"}); err != nil {
			t.Fatal(err)
		}
		if err := stores[0].PutTOTP(ctx, &storage.TOTP{UserID: "u", Secret: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		for round := range rounds {
			step := int64(round + 1)
			errs := contend(contenders, 1, func(i, _ int) error {
				return stores[i%len(stores)].UseTOTPStep(ctx, "u", step)
			})
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrUnavailable) ||
					!strings.Contains(err.Error(), "step already used"):
					t.Errorf("round %d: contender %d: %v; want nil or the step already used", round, i, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d uses of step %d succeeded, want exactly one", round, won, step)
			}
		}
	})
}

// TestCreateUsersAfterCountSerializable: at SERIALIZABLE two
// transactions that each read the users and then create a different one
// cannot both commit as they ran; PostgreSQL fails one with a
// serialization failure, which InTransaction runs again. Both users are
// created; neither caller is told one "already exists" (the directory's
// answer to storage.ErrConflict).
func TestCreateUsersAfterCountSerializable(t *testing.T) {
	stores := strictReplicas(t, 2, "serializable")
	ctx := t.Context()
	var read sync.WaitGroup
	read.Add(2)
	var attempts atomic.Int32
	create := func(i int) error {
		s := stores[i]
		tries := 0
		return s.InTransaction(ctx, func(tx context.Context) error {
			tries++
			attempts.Add(1)
			users, err := s.ListUsers(tx)
			if err != nil {
				return err
			}
			if tries == 1 {
				// Both have read before either writes.
				read.Done()
				read.Wait()
			}
			name := fmt.Sprintf("user-%d-after-%d", i, len(users))
			return s.CreateUser(tx, &storage.User{ID: name, Username: name})
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = create(i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v (conflict %v)", i, err, errors.Is(err, storage.ErrConflict))
		}
	}
	users, err := stores[0].ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || attempts.Load() != 3 {
		t.Fatalf("%d users after %d attempts, want 2 after 3 (one run again, having read the other)", len(users), attempts.Load())
	}
}

// TestSwallowedDeadlockRetried: a statement of InTransaction's fn that
// loses a deadlock, whose error fn does not return (audit.Log.Record
// logs a failed append and carries on; directory/state.Apply records
// its changes inside its transaction), has still aborted the
// transaction: the attempt is run again as if fn had returned the
// error, and both transactions succeed. Before, the loser's commit
// failed ("commit unexpectedly resulted in rollback"), a failure of the
// database that nothing ran again.
func TestSwallowedDeadlockRetried(t *testing.T) {
	s, ctx := twoRows(t)
	var failures atomic.Int32
	s.ObserveFailures(func(string) { failures.Add(1) })
	var swallowed atomic.Int32
	// One goes on with nothing more, the other with a statement of the
	// aborted transaction, whose error it returns; that failure is the
	// deadlock's, run again, and no more reported than the deadlock.
	attempts, errs := deadlock(ctx, s, func(tx context.Context, first, second string, _ int) error {
		if err := s.PutSetting(tx, second, []byte("1")); err != nil {
			swallowed.Add(1) // logged, not returned
		}
		if first == "b" {
			return s.PutSetting(tx, "c", []byte("1"))
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v (transient %v)", i, err, errors.Is(err, storage.ErrTransient))
		}
	}
	if n, sw := attempts[0]+attempts[1], swallowed.Load(); n != 3 || sw != 1 {
		t.Errorf("%d attempts, %d errors swallowed; want 3 and 1: the deadlock's loser run again", n, sw)
	}
	if n := failures.Load(); n != 0 {
		t.Errorf("%d failures reported for a deadlock a retry got past, want 0", n)
	}
}

// TestAfterCommitRetried: work AfterCommit queued in an attempt of
// InTransaction that lost a deadlock and was run again is dropped with
// that attempt: each transaction's work runs once, the one its
// committed attempt queued.
func TestAfterCommitRetried(t *testing.T) {
	s, ctx := twoRows(t)
	var mu sync.Mutex
	var ran []string
	attempts, errs := deadlock(ctx, s, func(tx context.Context, first, second string, attempt int) error {
		work := fmt.Sprintf("%s%s attempt %d", first, second, attempt)
		s.AfterCommit(tx, func(context.Context) {
			mu.Lock()
			defer mu.Unlock()
			ran = append(ran, work)
		})
		return s.PutSetting(tx, second, []byte("1"))
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	if attempts[0]+attempts[1] != 3 {
		t.Fatalf("attempts %v, want 3 in all: the deadlock's loser run again", attempts)
	}
	want := []string{fmt.Sprintf("ab attempt %d", attempts[0]), fmt.Sprintf("ba attempt %d", attempts[1])}
	slices.Sort(ran)
	if !slices.Equal(ran, want) {
		t.Errorf("work run %q, want %q: once per transaction, its committed attempt's", ran, want)
	}
}

// twoRows opens a migrated PostgreSQL store holding settings a and b,
// the two rows the deadlock tests lock in opposite orders.
func twoRows(t *testing.T) (*postgres.Store, context.Context) {
	t.Helper()
	s := testdb.OpenPostgres(t, testdb.Postgres(t), nil)
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := s.CreateSetting(ctx, name, []byte("0")); err != nil {
			t.Fatal(err)
		}
	}
	return s, ctx
}

// deadlock runs two transactions at once on twoRows's store, "ab" and
// "ba": each attempt sets its first row, a or b, and, on its first
// attempt, waits until the other holds its own; then it calls then, which
// asks for the other's row, so the first attempts deadlock. It returns
// each transaction's attempts (counting from 1) and error.
//
// The deadlock's loser runs again only after the winner has returned.
// Else, on a busy machine, its next attempt, a few milliseconds after
// the rollback, can take its first row again before the winner (woken by
// the rollback, waiting for that row) is scheduled to take it: the two
// deadlock once more, as often as that happens, and the attempts are
// 5 or more where the test means the one deadlock, run again once.
func deadlock(ctx context.Context, s *postgres.Store, then func(tx context.Context, first, second string, attempt int) error) (attempts [2]int, errs [2]error) {
	var holding sync.WaitGroup
	holding.Add(2)
	done := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	lock := func(i int, first, second string) {
		defer close(done[i])
		errs[i] = s.InTransaction(ctx, func(tx context.Context) error {
			attempts[i]++
			if attempts[i] > 1 {
				select {
				case <-done[1-i]:
				case <-time.After(time.Minute):
					return fmt.Errorf("attempt %d: the other transaction, the deadlock's winner, has not returned", attempts[i])
				}
			}
			if err := s.PutSetting(tx, first, []byte("1")); err != nil {
				return err
			}
			if attempts[i] == 1 {
				holding.Done()
				holding.Wait()
			}
			return then(tx, first, second, attempts[i])
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() { lock(0, "a", "b") })
	wg.Go(func() { lock(1, "b", "a") })
	wg.Wait()
	return attempts, errs
}
