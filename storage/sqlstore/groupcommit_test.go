package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
	sqlitestore "github.com/hallpass/hallpass/storage/sqlite"
	"github.com/hallpass/hallpass/storage/sqlstore"
)

// openSQLite returns a fresh, migrated SQLite store, whose dialect
// commits its writers in groups.
func openSQLite(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "gc.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s.Store
}

// waitQueued waits until n writers are queued for a group commit.
func waitQueued(t *testing.T, s *sqlstore.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sqlstore.QueuedWriters(s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writers queued, want %d", sqlstore.QueuedWriters(s), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// writer is one writer of a batch; it reports a panic as an error.
type writer func(ctx context.Context, s *sqlstore.Store) error

// inOneBatch queues writers, in order, while the turn to write is held by
// a transaction, then ends it, so that they are served together; it
// returns their errors and the sizes of the batches that ran.
func inOneBatch(t *testing.T, s *sqlstore.Store, writers []writer) (errs []error, batches []int) {
	t.Helper()
	ctx := t.Context()
	var mu sync.Mutex
	sqlstore.WatchBatches(s, func(n int) {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, n)
	})
	held, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	errs = make([]error, len(writers))
	var wg sync.WaitGroup
	for i, w := range writers {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					errs[i] = fmt.Errorf("panic: %v", p)
				}
			}()
			errs[i] = w(ctx, s)
		})
		waitQueued(t, s, i+1)
	}
	if err := s.Rollback(held); err != nil {
		t.Fatalf("end the transaction holding the turn: %v", err)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return errs, slices.Clone(batches)
}

// reportedWriter is a writer with what ObserveFailures is told when the
// database fails it.
type reportedWriter struct {
	name     string
	w        writer
	reported []string
}

// reportedWriters returns a statement, which creates role s and whose
// failure is reported by the method that maps its error, and a
// transaction, which inserts user t and whose failure is reported as its
// begin's.
func reportedWriters() []reportedWriter {
	return []reportedWriter{
		{"statement", func(ctx context.Context, s *sqlstore.Store) error {
			return s.CreateRole(ctx, &storage.Role{Name: "s"})
		}, []string{"create_role"}},
		{"transaction", func(ctx context.Context, s *sqlstore.Store) error {
			return sqlstore.WriteTx(ctx, s, func(exec func(string, ...any) (int64, error)) error {
				_, err := exec(`INSERT INTO users (id, username) VALUES ('t', 't')`)
				return err
			})
		}, []string{"begin_transaction"}},
	}
}

func insertUser(id string) writer {
	return func(ctx context.Context, s *sqlstore.Store) error {
		_, err := sqlstore.Exec(ctx, s, `INSERT INTO users (id, username) VALUES ($1, $1)`, id)
		return err
	}
}

// rows returns a writer running query as a statement of its own that
// fails unless it changes want rows.
func rows(want int64, query string, args ...any) writer {
	return func(ctx context.Context, s *sqlstore.Store) error {
		n, err := sqlstore.Exec(ctx, s, query, args...)
		if err == nil && n != want {
			err = fmt.Errorf("%s changed %d rows, want %d", query, n, want)
		}
		return err
	}
}

// failsCommit is a transaction of its own that succeeds but fails its
// batch's commit: a deferred foreign key that is never satisfied.
func failsCommit(ctx context.Context, s *sqlstore.Store) error {
	return sqlstore.WriteTx(ctx, s, func(exec func(string, ...any) (int64, error)) error {
		if _, err := exec(`PRAGMA defer_foreign_keys = ON`); err != nil {
			return err
		}
		_, err := exec(`INSERT INTO browser_sessions (id, user_id, auth_time, created_at, last_seen_at, expires_at)
			VALUES ('s', 'nobody', 0, 0, 0, 0)`)
		return err
	})
}

// errJob is a writer's own failure.
var errJob = errors.New("the job fails")

// TestGroupCommitBatch checks what writers served in one batch see and
// get: each its own result and error, in the order they queued, and
// nothing of a writer that failed, or of any when the commit fails.
func TestGroupCommitBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		writers []writer
		// wantErr: for each writer, nil, or an error errors.Is finds.
		wantErr []error
		// anyErr marks the writers that must fail, however.
		anyErr  []bool
		exist   []string
		missing []string
	}{{
		name:    "statements share a commit and see each other",
		writers: []writer{insertUser("a"), insertUser("b"), rows(1, `UPDATE users SET username = 'a2' WHERE id = 'a'`), rows(2, `UPDATE users SET disabled = TRUE WHERE id IN ('a', 'b')`), rows(0, `DELETE FROM users WHERE id = 'nobody'`)},
		wantErr: []error{nil, nil, nil, nil, nil},
		exist:   []string{"a", "b"},
	}, {
		name: "a failing job is undone alone",
		writers: []writer{
			insertUser("a"),
			insertUser("u0"), // exists: a unique violation
			func(ctx context.Context, s *sqlstore.Store) error {
				return sqlstore.WriteTx(ctx, s, func(exec func(string, ...any) (int64, error)) error {
					if _, err := exec(`INSERT INTO users (id, username) VALUES ('b', 'b')`); err != nil {
						return err
					}
					return errJob
				})
			},
			func(ctx context.Context, s *sqlstore.Store) error {
				return sqlstore.WriteTx(ctx, s, func(exec func(string, ...any) (int64, error)) error {
					if _, err := exec(`INSERT INTO users (id, username) VALUES ('c', 'c')`); err != nil {
						return err
					}
					panic("the job panics")
				})
			},
			rows(1, `UPDATE users SET username = 'a2' WHERE id = 'a'`),
			// Sees neither b nor c.
			rows(1, `UPDATE users SET disabled = TRUE WHERE id IN ('a', 'b', 'c')`),
			insertUser("d"),
		},
		wantErr: []error{nil, nil, errJob, nil, nil, nil, nil},
		anyErr:  []bool{false, true, true, true, false, false, false},
		exist:   []string{"a", "d", "u0"},
		missing: []string{"b", "c"},
	}, {
		name: "a failed commit fails every job",
		writers: []writer{
			insertUser("a"),
			failsCommit,
			insertUser("b"),
		},
		wantErr: []error{storage.ErrUnavailable, storage.ErrUnavailable, storage.ErrUnavailable},
		exist:   []string{"u0"},
		missing: []string{"a", "b"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := openSQLite(t)
			if err := insertUser("u0")(ctx, s); err != nil {
				t.Fatalf("insert u0: %v", err)
			}
			errs, batches := inOneBatch(t, s, tc.writers)
			if !slices.Equal(batches, []int{len(tc.writers)}) {
				t.Errorf("batches %v, want one of %d", batches, len(tc.writers))
			}
			for i, err := range errs {
				switch want := tc.wantErr[i]; {
				case tc.anyErr != nil && tc.anyErr[i]:
					if err == nil || want != nil && !errors.Is(err, want) {
						t.Errorf("writer %d: %v, want an error (%v)", i, err, want)
					}
				case want == nil && err != nil:
					t.Errorf("writer %d: %v, want success", i, err)
				case want != nil && !errors.Is(err, want):
					t.Errorf("writer %d: %v, want %v", i, err, want)
				}
			}
			for _, id := range tc.exist {
				if _, err := s.GetUser(ctx, id); err != nil {
					t.Errorf("user %s: %v, want it written", id, err)
				}
			}
			for _, id := range tc.missing {
				if _, err := s.GetUser(ctx, id); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("user %s: %v, want storage.ErrNotFound", id, err)
				}
			}
			// The queue goes on: a writer after the batch writes.
			if err := insertUser("after")(ctx, s); err != nil {
				t.Errorf("a write after the batch: %v", err)
			}
		})
	}
}

// TestGroupCommitCancelled checks that a writer whose ctx is done before
// its job runs is not run and gets its ctx's error, whether it is still
// queued or its batch has been taken.
func TestGroupCommitCancelled(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t)
	queued, cancelQueued := context.WithCancel(ctx)
	taken, cancelTaken := context.WithCancel(ctx)
	var (
		wg        sync.WaitGroup
		queuedErr error
	)
	held, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	wg.Go(func() { queuedErr = insertUser("q")(queued, s) })
	waitQueued(t, s, 1)
	cancelQueued()
	wg.Wait()
	if !errors.Is(queuedErr, context.Canceled) || !errors.Is(queuedErr, storage.ErrUnavailable) {
		t.Errorf("cancelled queued writer: %v, want context.Canceled and storage.ErrUnavailable", queuedErr)
	}
	if n := sqlstore.QueuedWriters(s); n != 0 {
		t.Errorf("%d writers queued after the cancelled one returned, want 0", n)
	}
	// The first job of a batch cancels the second, which its batch has
	// taken already.
	errs, batches := func() ([]error, []int) {
		if err := s.Rollback(held); err != nil {
			t.Fatalf("rollback: %v", err)
		}
		return inOneBatch(t, s, []writer{
			func(ctx context.Context, s *sqlstore.Store) error {
				return sqlstore.WriteTx(ctx, s, func(exec func(string, ...any) (int64, error)) error {
					cancelTaken()
					_, err := exec(`INSERT INTO users (id, username) VALUES ('a', 'a')`)
					return err
				})
			},
			func(_ context.Context, s *sqlstore.Store) error { return insertUser("t")(taken, s) },
			insertUser("b"),
		})
	}()
	if !slices.Equal(batches, []int{3}) {
		t.Errorf("batches %v, want one of 3", batches)
	}
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("the other writers of the batch: %v, %v; want success", errs[0], errs[2])
	}
	if !errors.Is(errs[1], context.Canceled) || !errors.Is(errs[1], storage.ErrUnavailable) {
		t.Errorf("cancelled taken writer: %v, want context.Canceled and storage.ErrUnavailable", errs[1])
	}
	for id, want := range map[string]error{"q": storage.ErrNotFound, "t": storage.ErrNotFound, "a": nil, "b": nil} {
		if _, err := s.GetUser(ctx, id); !errors.Is(err, want) {
			t.Errorf("user %s: %v, want %v", id, err, want)
		}
	}
}

// TestGroupCommitCancelledReported: a writer whose ctx ends after its
// batch took it, before its job ran, is reported to ObserveFailures once,
// as one that noticed first and left the queue is
// (TestGroupCommitTurnTimeout): a transaction's as its begin would be, a
// statement's by the method that maps its error.
func TestGroupCommitCancelledReported(t *testing.T) {
	for _, tc := range reportedWriters() {
		t.Run(tc.name, func(t *testing.T) {
			s := openSQLite(t)
			var mu sync.Mutex
			var failures []string
			s.ObserveFailures(func(op string) { mu.Lock(); failures = append(failures, op); mu.Unlock() })
			taken, cancelTaken := context.WithCancel(t.Context())
			errs, batches := inOneBatch(t, s, []writer{
				// The first job of the batch cancels the second, which
				// the batch has taken already.
				func(ctx context.Context, s *sqlstore.Store) error {
					return sqlstore.WriteTx(ctx, s, func(exec func(string, ...any) (int64, error)) error {
						cancelTaken()
						_, err := exec(`INSERT INTO users (id, username) VALUES ('a', 'a')`)
						return err
					})
				},
				func(_ context.Context, s *sqlstore.Store) error { return tc.w(taken, s) },
			})
			if !slices.Equal(batches, []int{2}) {
				t.Fatalf("batches %v, want one of 2", batches)
			}
			if errs[0] != nil {
				t.Errorf("the writer that cancelled the other: %v, want success", errs[0])
			}
			if !errors.Is(errs[1], context.Canceled) || !errors.Is(errs[1], storage.ErrUnavailable) {
				t.Errorf("cancelled taken writer: %v, want context.Canceled and storage.ErrUnavailable", errs[1])
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(failures, tc.reported) {
				t.Errorf("failures reported %q, want %q", failures, tc.reported)
			}
		})
	}
}

// TestGroupCommitConcurrent runs read-modify-write transactions of their
// own, which group commits batch, among transactions begun by the caller,
// which take the turn alone: every increment counts, so each saw every
// one committed or batched before it, and the batches served every job.
func TestGroupCommitConcurrent(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t)
	var (
		mu             sync.Mutex
		jobs, maxBatch int
	)
	sqlstore.WatchBatches(s, func(n int) {
		mu.Lock()
		defer mu.Unlock()
		jobs += n
		maxBatch = max(maxBatch, n)
	})
	const writers, each = 16, 25
	ids := []string{"k"}
	inc := func(es []storage.ThrottleEntry) []storage.ThrottleEntry {
		es[0].Attempts++
		es[0].ExpiresAt = time.Now().Add(time.Hour)
		return es
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for range each {
				if w%4 == 0 {
					errs <- s.InTransaction(ctx, func(ctx context.Context) error {
						return s.UpdateThrottle(ctx, ids, inc)
					})
					continue
				}
				errs <- s.UpdateThrottle(ctx, ids, inc)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("increment: %v", err)
		}
	}
	es, err := s.GetThrottle(ctx, ids)
	if err != nil {
		t.Fatalf("get throttle: %v", err)
	}
	if got := es[0].Attempts; got != writers*each {
		t.Errorf("attempts %d, want %d", got, writers*each)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := writers * each * 3 / 4; jobs != want {
		t.Errorf("batches ran %d jobs, want %d (the transactions of their own)", jobs, want)
	}
	t.Logf("largest batch: %d jobs", maxBatch)
}

// TestGroupCommitPanicAlone checks that a transaction that panics while
// it has the turn to itself panics in its caller, is rolled back, and
// leaves the queue working.
func TestGroupCommitPanicAlone(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t)
	func() {
		defer func() {
			if p := recover(); p != "the job panics" {
				t.Errorf("recovered %v, want the job's panic", p)
			}
		}()
		sqlstore.WriteTx(ctx, s, func(exec func(string, ...any) (int64, error)) error {
			if _, err := exec(`INSERT INTO users (id, username) VALUES ('p', 'p')`); err != nil {
				return err
			}
			panic("the job panics")
		})
	}()
	if _, err := s.GetUser(ctx, "p"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("user p: %v, want storage.ErrNotFound (rolled back)", err)
	}
	if err := insertUser("after")(ctx, s); err != nil {
		t.Errorf("a write after the panic: %v", err)
	}
}

// jobKey carries a writer's number in its ctx.
type jobKey struct{}

// TestGroupCommitObserved checks that the statements of a batch are
// observed each with its own writer's ctx, and the batch's savepoints not
// at all.
func TestGroupCommitObserved(t *testing.T) {
	s := openSQLite(t)
	var (
		mu   sync.Mutex
		seen []string
	)
	s.ObserveQueries(func(ctx context.Context, query string) func(error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%v %.6s", ctx.Value(jobKey{}), query))
		return func(error) {}
	})
	var writers []writer
	for i := range 3 {
		writers = append(writers, func(ctx context.Context, s *sqlstore.Store) error {
			return insertUser(strconv.Itoa(i))(context.WithValue(ctx, jobKey{}, i), s)
		})
	}
	errs, batches := inOneBatch(t, s, writers)
	if !slices.Equal(batches, []int{3}) || errors.Join(errs...) != nil {
		t.Fatalf("batches %v, errors %v; want one of 3 without errors", batches, errs)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"0 INSERT", "1 INSERT", "2 INSERT"}; !slices.Equal(seen, want) {
		t.Errorf("observed %q, want %q", seen, want)
	}
}

// TestGroupCommitClosed checks that writers queued when the store closes
// fail with storage.ErrUnavailable rather than wait forever.
func TestGroupCommitClosed(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t)
	held, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = insertUser(strconv.Itoa(i))(ctx, s) })
		waitQueued(t, s, i+1)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s.Rollback(held) // the store is closed: an error or not, it ends
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("writer %d: %v, want storage.ErrUnavailable", i, err)
		}
	}
}

// TestGroupCommitGoexit checks that a job that ends its goroutine
// (runtime.Goexit, as t.FailNow in a callback does) on the leader's
// goroutine, which rolls the batch back, fails the other jobs of the
// batch rather than answering them as if they had been committed.
func TestGroupCommitGoexit(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t)
	// returned marks the writers that returned: the leader's goroutine,
	// whichever it is, is the one that ends.
	var returned [4]atomic.Bool
	insert := func(i int, id string) writer {
		return func(ctx context.Context, s *sqlstore.Store) error {
			err := insertUser(id)(ctx, s)
			returned[i].Store(true) // not deferred: runtime.Goexit runs deferred calls
			return err
		}
	}
	ids := []string{"a", "b", "", "c"}
	errs, batches := inOneBatch(t, s, []writer{
		insert(0, "a"),
		insert(1, "b"),
		func(ctx context.Context, s *sqlstore.Store) error {
			return sqlstore.WriteTx(ctx, s, func(func(string, ...any) (int64, error)) error {
				runtime.Goexit()
				return nil
			})
		},
		insert(3, "c"),
	})
	if !slices.Equal(batches, []int{4}) {
		t.Fatalf("batches %v, want one of 4", batches)
	}
	for i, id := range ids {
		if id == "" || !returned[i].Load() {
			continue
		}
		_, err := s.GetUser(ctx, id)
		if errs[i] == nil && err != nil {
			t.Errorf("writer %d was answered success, but user %s: %v", i, id, err)
		}
		if errs[i] != nil && !errors.Is(errs[i], storage.ErrUnavailable) {
			t.Errorf("writer %d: %v, want storage.ErrUnavailable", i, errs[i])
		}
	}
	if err := insertUser("after")(ctx, s); err != nil {
		t.Errorf("a write after the batch: %v", err)
	}
}

// TestGroupCommitFailedAfterOthers checks that a job that failed on its
// own after seeing the writes of earlier jobs of its batch (a lost race
// with one of them) gets storage.ErrUnavailable, not its own answer, when
// the commit fails and those writes never happen; a job that failed
// seeing only committed rows keeps its answer.
func TestGroupCommitFailedAfterOthers(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t)
	if err := insertUser("u0")(ctx, s); err != nil {
		t.Fatalf("insert u0: %v", err)
	}
	dup := func(ctx context.Context, s *sqlstore.Store) error {
		// As the store's methods map a statement's error.
		return s.CreateUser(ctx, &storage.User{ID: "a2", Username: "a"})
	}
	errs, batches := inOneBatch(t, s, []writer{
		func(ctx context.Context, s *sqlstore.Store) error {
			return s.CreateUser(ctx, &storage.User{ID: "u1", Username: "u0"})
		},
		func(ctx context.Context, s *sqlstore.Store) error {
			return s.CreateUser(ctx, &storage.User{ID: "a", Username: "a"})
		},
		dup, // a lost race with the writer before, which the commit undoes
		failsCommit,
	})
	if !slices.Equal(batches, []int{4}) {
		t.Fatalf("batches %v, want one of 4", batches)
	}
	if !errors.Is(errs[0], storage.ErrConflict) {
		t.Errorf("conflict with a committed row: %v, want storage.ErrConflict", errs[0])
	}
	if _, err := s.GetUser(ctx, "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("user a: %v, want storage.ErrNotFound (the commit failed)", err)
	}
	for i := 1; i < 4; i++ {
		if !errors.Is(errs[i], storage.ErrUnavailable) || errors.Is(errs[i], storage.ErrConflict) {
			t.Errorf("writer %d: %v, want storage.ErrUnavailable only", i, errs[i])
		}
	}
}

// TestGroupCommitFailedAfterOthersReported: a transaction that failed on
// its own as a failure of the database, after earlier jobs of its batch
// wrote, and is then failed with the batch's commit, was reported to
// ObserveFailures when it failed and is not reported again: one failure
// reported per writer.
func TestGroupCommitFailedAfterOthersReported(t *testing.T) {
	s := openSQLite(t)
	var mu sync.Mutex
	var failures []string
	s.ObserveFailures(func(op string) { mu.Lock(); failures = append(failures, op); mu.Unlock() })
	errs, batches := inOneBatch(t, s, []writer{
		func(ctx context.Context, s *sqlstore.Store) error {
			return sqlstore.WriteTx(ctx, s, func(exec func(string, ...any) (int64, error)) error {
				_, err := exec(`INSERT INTO users (id, username) VALUES ('a', 'a')`)
				return err
			})
		},
		func(ctx context.Context, s *sqlstore.Store) error {
			return sqlstore.ExecErrTx(ctx, s, `INSERT INTO no_such_table (id) VALUES (1)`)
		},
		failsCommit,
	})
	if !slices.Equal(batches, []int{3}) {
		t.Fatalf("batches %v, want one of 3", batches)
	}
	for i, err := range errs {
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("writer %d: %v, want storage.ErrUnavailable", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"test_statement", "commit", "commit"}; !slices.Equal(failures, want) {
		t.Errorf("failures reported %q, want %q: one per writer", failures, want)
	}
}

// TestTakeSessionClientsQueues: TakeSessionClients writes (DELETE ...
// RETURNING), so on SQLite it waits for the turn to write in the queue,
// like every other write, instead of polling for the database's lock
// while the holder of the turn commits.
func TestTakeSessionClientsQueues(t *testing.T) {
	s := openSQLite(t)
	ctx := t.Context()
	if err := s.CreateClient(ctx, &storage.Client{ID: "rp"}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	exp := time.Now().Add(time.Hour)
	for _, sid := range []string{"sid-1", "sid-2"} {
		if err := s.PutSessionClient(ctx, &storage.SessionClient{SID: sid, ClientID: "rp", UserID: "u1", ExpiresAt: exp}); err != nil {
			t.Fatalf("PutSessionClient(%s): %v", sid, err)
		}
	}
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatalf("BeginTX: %v", err)
	}
	type taken struct {
		scs []storage.SessionClient
		err error
	}
	done := make(chan taken, 1)
	go func() {
		scs, err := s.TakeSessionClients(ctx, "", "u1", "")
		done <- taken{scs, err}
	}()
	waitQueued(t, s, 1)
	if err := s.Commit(txCtx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	got := <-done
	if got.err != nil {
		t.Fatalf("TakeSessionClients: %v", got.err)
	}
	if len(got.scs) != 2 || got.scs[0].SID != "sid-1" || got.scs[1].SID != "sid-2" {
		t.Fatalf("TakeSessionClients = %+v, want sid-1 and sid-2", got.scs)
	}
	if again, err := s.TakeSessionClients(ctx, "", "u1", ""); err != nil || len(again) != 0 {
		t.Fatalf("second TakeSessionClients = %+v, %v; want none: each record is taken once", again, err)
	}
}

// TestGroupCommitTurnTimeout checks that a writer that waits the
// dialect's WriterWait in vain for the turn to write (a transaction keeps
// it) fails with storage.ErrUnavailable, leaves the queue, and is not run
// when the turn comes free; and that the failure is reported to
// ObserveFailures once, as any other failure of the database (a
// statement's by the method that maps its error).
func TestGroupCommitTurnTimeout(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t)
	sqlstore.SetWriterWait(s, 50*time.Millisecond)
	var failures []string
	s.ObserveFailures(func(op string) { failures = append(failures, op) })
	held, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	for _, w := range append(reportedWriters(), reportedWriter{"BeginTX", func(ctx context.Context, s *sqlstore.Store) error {
		_, err := s.BeginTX(ctx)
		return err
	}, []string{"begin_transaction"}}) {
		failures = nil
		if err := w.w(ctx, s); !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.Canceled) {
			t.Errorf("%s waiting past WriterWait: %v, want storage.ErrUnavailable", w.name, err)
		}
		if !slices.Equal(failures, w.reported) {
			t.Errorf("%s waiting past WriterWait: failures reported %q, want %q", w.name, failures, w.reported)
		}
	}
	if n := sqlstore.QueuedWriters(s); n != 0 {
		t.Errorf("%d writers queued after they timed out, want 0", n)
	}
	if err := s.Rollback(held); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if err := insertUser("after")(ctx, s); err != nil {
		t.Fatalf("a write after the turn came free: %v", err)
	}
	if _, err := s.GetUser(ctx, "t"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("user t of a writer that timed out: %v, want storage.ErrNotFound", err)
	}
	if _, err := s.GetRole(ctx, "s"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("role s of a writer that timed out: %v, want storage.ErrNotFound", err)
	}
}

// TestGroupCommitAfterCommit: the work a job of a group commit queued
// with AfterCommit runs once the batch has committed (the job's write is
// then there for anyone), and not at all for a job rolled back to its
// savepoint, nor for any job of a batch whose commit failed.
func TestGroupCommitAfterCommit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failing string // the writer that fails on its own, if any
		failAll bool   // a writer fails the batch's commit
		want    []string
	}{
		{name: "committed, but the failed job", failing: "b", want: []string{"a", "c"}},
		{name: "a failed commit runs none", failAll: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openSQLite(t)
			var mu sync.Mutex
			var ran []string
			job := func(id string) writer {
				return func(ctx context.Context, s *sqlstore.Store) error {
					return sqlstore.WriteTxCtx(ctx, s, func(tx context.Context, exec func(string, ...any) (int64, error)) error {
						if _, err := exec(`INSERT INTO users (id, username) VALUES ($1, $1)`, id); err != nil {
							return err
						}
						s.AfterCommit(tx, func(ctx context.Context) {
							got := id
							if _, err := s.GetUser(ctx, id); err != nil {
								got += " (not committed: " + err.Error() + ")"
							}
							mu.Lock()
							defer mu.Unlock()
							ran = append(ran, got)
						})
						if id == tc.failing {
							return errJob
						}
						return nil
					})
				}
			}
			writers := []writer{job("a"), job("b"), job("c")}
			if tc.failAll {
				writers = append(writers, failsCommit)
			}
			errs, batches := inOneBatch(t, s, writers)
			if !slices.Equal(batches, []int{len(writers)}) {
				t.Fatalf("batches %v, want one of %d", batches, len(writers))
			}
			for i, err := range errs {
				if failed := tc.failAll || i == 1 && tc.failing == "b"; failed != (err != nil) {
					t.Errorf("writer %d: %v, want failed %v", i, err, failed)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			slices.Sort(ran)
			if !slices.Equal(ran, tc.want) {
				t.Errorf("work run %q, want %q", ran, tc.want)
			}
		})
	}
}
