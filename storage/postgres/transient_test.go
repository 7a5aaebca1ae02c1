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
	// Each transaction's first attempt waits, holding its first row,
	// until the other holds its own: then each asks for the other's.
	var holding sync.WaitGroup
	holding.Add(2)
	var attempts atomic.Int32
	lock := func(first, second string) error {
		tries := 0
		return s.InTransaction(ctx, func(tx context.Context) error {
			tries++
			attempts.Add(1)
			if err := s.PutSetting(tx, first, []byte("1")); err != nil {
				return err
			}
			if tries == 1 {
				holding.Done()
				holding.Wait()
			}
			return s.PutSetting(tx, second, []byte("1"))
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = lock("a", "b") })
	wg.Go(func() { errs[1] = lock("b", "a") })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v (conflict %v, transient %v)", i, err,
				errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrTransient))
		}
	}
	if n := attempts.Load(); n != 3 {
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
	var holding sync.WaitGroup
	holding.Add(2)
	var attempts, swallowed atomic.Int32
	lock := func(first, second string, then func(tx context.Context) error) error {
		tries := 0
		return s.InTransaction(ctx, func(tx context.Context) error {
			tries++
			attempts.Add(1)
			if err := s.PutSetting(tx, first, []byte("1")); err != nil {
				return err
			}
			if tries == 1 {
				holding.Done()
				holding.Wait()
			}
			if err := s.PutSetting(tx, second, []byte("1")); err != nil {
				swallowed.Add(1) // logged, not returned
			}
			return then(tx)
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	// One goes on with nothing more, the other with a statement of the
	// aborted transaction, whose error it returns; that failure is the
	// deadlock's, run again, and no more reported than the deadlock.
	wg.Go(func() { errs[0] = lock("a", "b", func(context.Context) error { return nil }) })
	wg.Go(func() {
		errs[1] = lock("b", "a", func(tx context.Context) error { return s.PutSetting(tx, "c", []byte("1")) })
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v (transient %v)", i, err, errors.Is(err, storage.ErrTransient))
		}
	}
	if n, sw := attempts.Load(), swallowed.Load(); n != 3 || sw != 1 {
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
	var holding sync.WaitGroup
	holding.Add(2)
	var mu sync.Mutex
	var ran []string
	lock := func(first, second string) (attempts int, err error) {
		err = s.InTransaction(ctx, func(tx context.Context) error {
			attempts++
			attempt := fmt.Sprintf("%s%s attempt %d", first, second, attempts)
			s.AfterCommit(tx, func(context.Context) {
				mu.Lock()
				defer mu.Unlock()
				ran = append(ran, attempt)
			})
			if err := s.PutSetting(tx, first, []byte("1")); err != nil {
				return err
			}
			if attempts == 1 {
				holding.Done()
				holding.Wait()
			}
			return s.PutSetting(tx, second, []byte("1"))
		})
		return attempts, err
	}
	var attempts [2]int
	var errs [2]error
	var wg sync.WaitGroup
	wg.Go(func() { attempts[0], errs[0] = lock("a", "b") })
	wg.Go(func() { attempts[1], errs[1] = lock("b", "a") })
	wg.Wait()
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
