package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// maxBatch bounds how many writers one commit serves, so that a leader's
// own caller waits for a bounded batch and one transaction stays small.
const maxBatch = 64

// job is one writer's work, queued for a group commit
// (Dialect.WriterWait): a statement of its own (query and args, fn nil)
// or a transaction of its own (fn).
type job struct {
	ctx   context.Context
	query string
	args  []any
	fn    func(ctx context.Context, r runner) error

	// What the job came to, set by the holder of the turn to write, which
	// then closes done; read by the job's writer only after done.
	res      execResult
	err      error
	panicked any
	done     chan struct{}
	answered bool // by the holder of the turn only
	// afterOthers: the job ran after jobs of its batch that wrote, and
	// saw their writes, which are undone if the batch fails.
	afterOthers bool
}

// execResult is the sql.Result of a job's statement, read while the
// statement's connection was held.
type execResult struct {
	lastID, rows       int64
	lastIDErr, rowsErr error
}

func (r execResult) LastInsertId() (int64, error) { return r.lastID, r.lastIDErr }
func (r execResult) RowsAffected() (int64, error) { return r.rows, r.rowsErr }

// result returns what j came to, panicking again in its writer's
// goroutine if it panicked in the leader's.
func (j *job) result() error {
	if j.panicked != nil {
		panic(j.panicked)
	}
	return j.err
}

// failed reports whether j failed or panicked.
func (j *job) failed() bool { return j.err != nil || j.panicked != nil }

// turnWaitErr is the error of a writer whose ctx was done before its
// work ran.
func turnWaitErr(ctx context.Context) error {
	return fmt.Errorf("wait for the turn to write: %w: %w", storage.ErrUnavailable, ctx.Err())
}

// turnTimeoutErr is the error of a writer that waited the dialect's
// WriterWait for the turn to write in vain.
func (s *Store) turnTimeoutErr() error {
	return fmt.Errorf("wait for the turn to write: %w: another writer kept it for %s", storage.ErrUnavailable, s.d.WriterWait)
}

// turnErr is err, j's failure to get the turn to write: a transaction's
// mapped here (reported to ObserveFailures) as its begin would be, a
// statement's for its caller to map, as the statement's own error is.
func (s *Store) turnErr(j *job, err error) error {
	if j.fn != nil {
		return s.mapErr(j.ctx, "begin transaction", err)
	}
	return err
}

// write queues j and returns when it has run and its transaction has
// committed, or it failed. Whoever gets the turn to write is the leader:
// it takes the jobs queued so far, its own among them, runs them in one
// transaction and commits once (runBatch), so that writers that queued
// while a commit ran share the next one. Nothing waits to gather a
// batch: without concurrent writers a batch is one job.
//
// A job whose ctx is done, or whose writer waited longer than the
// dialect's WriterWait, before it runs is not run.
func (s *Store) write(ctx context.Context, j *job) error {
	j.ctx = ctx
	j.done = make(chan struct{})
	s.queueMu.Lock()
	s.queue = append(s.queue, j)
	s.queueMu.Unlock()
	select {
	case s.writers <- struct{}{}:
		s.lead(j)
		return j.result()
	default:
	}
	t := time.NewTimer(s.d.WriterWait)
	defer t.Stop()
	select {
	case <-j.done:
	case s.writers <- struct{}{}:
		s.lead(j)
	case <-ctx.Done():
		if s.unqueue(j) {
			return s.turnErr(j, turnWaitErr(ctx))
		}
		// A leader has taken it: it answers soon, running it or not.
		<-j.done
	case <-t.C:
		if s.unqueue(j) {
			return s.turnErr(j, s.turnTimeoutErr())
		}
		<-j.done
	}
	return j.result()
}

// unqueue removes j from the queue, reporting whether it was still there
// (no leader has taken it).
func (s *Store) unqueue(j *job) bool {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	i := slices.Index(s.queue, j)
	if i < 0 {
		return false
	}
	s.queue = slices.Delete(s.queue, i, i+1) // clears the freed slot
	return true
}

// lead runs batches, holding the turn to write, until j has been
// answered, then gives the turn back. Jobs are only ever taken by the
// holder of the turn, and answered before it gives the turn back, so a
// job that is not answered when its writer gets the turn is still
// queued: the loop ends. Writers queued meanwhile wait for the turn, and
// the next to get it leads the next batch; the leader's own caller never
// serves more than the batches before its job.
func (s *Store) lead(j *job) {
	defer func() { <-s.writers }()
	for !j.answered {
		batch := s.take()
		if len(batch) == 0 {
			return
		}
		s.runBatch(batch)
		clear(batch) // the buffer keeps no finished job alive
	}
}

// take moves up to maxBatch jobs, oldest first, from the queue to the
// leader's batch buffer, which only the holder of the turn uses.
func (s *Store) take() []*job {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	n := min(len(s.queue), maxBatch)
	s.batch = append(s.batch[:0], s.queue[:n]...)
	s.queue = slices.Delete(s.queue, 0, n)
	return s.batch
}

// answer hands j its result.
func answer(j *job) {
	if !j.answered {
		j.answered = true
		close(j.done)
	}
}

// runBatch runs the jobs of batch in one transaction, each in a savepoint
// of its own when there are several: a job that fails is rolled back to
// its savepoint, with its own error, and the others are unaffected. The
// transaction commits once, and only then is any job answered; if the
// commit fails, none of them happened and every one fails with
// storage.ErrUnavailable. A single statement runs on its own, as it
// would without a queue.
func (s *Store) runBatch(batch []*job) {
	ended := false
	defer func() {
		// A panic of the batch itself (a job's own panic is recovered
		// with the job), or a job ending the leader's goroutine
		// (runtime.Goexit, which recover does not see), rolls the batch
		// back: it must neither leave writers waiting for an answer nor
		// answer them as if they had been committed. The jobs taken
		// out of batch as not run are answered already.
		p := recover()
		batch = slices.DeleteFunc(batch, func(j *job) bool { return j == nil || j.answered })
		if !ended {
			why := "a job ended its goroutine (runtime.Goexit)"
			if p != nil {
				why = fmt.Sprintf("a job panicked: %v", p)
			}
			s.failBatch(batch, "group commit", fmt.Errorf("the batch was cut short: %s", why))
		}
		for _, j := range batch {
			answer(j)
		}
		if p != nil {
			panic(p)
		}
	}()
	s.runJobs(batch)
	ended = true
}

// runJobs runs the jobs of batch as runBatch says, answering only those
// it does not run; runBatch answers the others.
func (s *Store) runJobs(batch []*job) {
	live := 0
	for _, j := range batch {
		if j.ctx.Err() != nil {
			j.err = s.turnErr(j, turnWaitErr(j.ctx))
			answer(j)
			continue
		}
		batch[live] = j
		live++
	}
	clear(batch[live:]) // runBatch answers what is left
	batch = batch[:live]
	if s.hooks != nil && s.hooks.batch != nil && len(batch) > 0 {
		s.hooks.batch(len(batch))
	}
	switch {
	case len(batch) == 0:
		return
	case len(batch) == 1 && batch[0].fn == nil:
		// A statement of its own commits on its own: no transaction
		// to begin and commit around it.
		runJob(s.dbRunner(), batch[0])
		return
	}
	// The transaction is the batch's, not any one writer's: neither it
	// nor its statements end with a writer's ctx. (SQLite rolls the whole
	// transaction back when a write statement in it is interrupted.) A
	// writer whose ctx is done before its job starts is not run.
	bg := context.Background()
	conn, err := s.db.Conn(bg)
	if err != nil {
		s.failBatch(batch, "begin transaction", err)
		return
	}
	defer conn.Close()
	tx, err := conn.BeginTx(bg, nil)
	if err != nil {
		s.failBatch(batch, "begin transaction", err)
		return
	}
	// Before conn.Close, which would wait for an open transaction
	// forever; after a commit, it does nothing.
	defer tx.Rollback()
	r := s.txRunner(tx)
	r.detach = true
	sp := r
	sp.obs = nil // savepoints are the batch's, not statements of a job
	several := len(batch) > 1
	wrote := false // a job of the batch has run and not failed
	for _, j := range batch {
		if j.ctx.Err() != nil {
			j.err = s.turnErr(j, turnWaitErr(j.ctx))
			continue
		}
		if several {
			if _, err := sp.exec(bg, `SAVEPOINT job`); err != nil {
				s.failBatch(batch, "savepoint", err)
				return
			}
		}
		j.afterOthers = wrote
		runJob(r, j)
		wrote = wrote || !j.failed()
		if !several {
			if j.failed() {
				return // rolled back
			}
			break
		}
		if j.failed() {
			// The job's statements are undone; a failure that has
			// rolled the whole transaction back (SQLite's I/O
			// errors, a full disk) fails here, and the batch with it.
			if _, err := sp.exec(bg, `ROLLBACK TO job`); err != nil {
				s.failBatch(batch, "roll back to savepoint", err)
				return
			}
		}
		if _, err := sp.exec(bg, `RELEASE job`); err != nil {
			s.failBatch(batch, "release savepoint", err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		// A COMMIT that fails may leave the transaction open on the
		// connection (a deferred constraint): end it before the
		// connection goes back to the pool. An error here means there
		// was none left.
		conn.ExecContext(bg, `ROLLBACK`)
		s.failBatch(batch, "commit", err)
	}
}

// runJob runs j with r, recovering a panic of j to be raised again in j's
// writer.
func runJob(r runner, j *job) {
	defer func() {
		if p := recover(); p != nil {
			j.panicked = p
		}
	}()
	if j.fn != nil {
		j.err = j.fn(j.ctx, r)
		return
	}
	res, err := r.exec(j.ctx, j.query, j.args...)
	if err != nil {
		j.err = err
		return
	}
	j.res.lastID, j.res.lastIDErr = res.LastInsertId()
	j.res.rows, j.res.rowsErr = res.RowsAffected()
}

// failBatch fails every job of batch that has not failed on its own with
// the database's failure err of op (begin, commit...), which rolled the
// batch back (or will, as runBatch returns), marked
// storage.ErrUnavailable whatever the driver says it is: none of the
// batch happened. A transaction's job gets it mapped (reported to
// ObserveFailures) as its commit would be, unless its own failure was
// reported already; a statement's gets it for its caller to map, as the
// statement's own error would be.
func (s *Store) failBatch(batch []*job, op string, err error) {
	for _, j := range batch {
		// A job that failed on its own keeps its answer, unless it saw
		// writes of the batch (lost a race with one, found a row it
		// inserted): those never happened, so its answer is no truer
		// than the others'.
		if j.panicked != nil || j.err != nil && !j.afterOthers {
			continue
		}
		j.res = execResult{}
		// A transaction's own failure marked storage.ErrUnavailable was
		// reported as mapErr marked it (a job is never run again): its
		// caller's one failure is not reported twice.
		reported := errors.Is(j.err, storage.ErrUnavailable)
		failed := fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
		if j.err != nil {
			failed = fmt.Errorf("%w (it had failed on its own, seeing writes of its batch: %v)", failed, j.err)
		}
		if j.fn != nil && !reported {
			j.err = s.mapErr(j.ctx, op, failed)
		} else {
			j.err = fmt.Errorf("%s: %w", op, failed)
		}
	}
}

// testHooks lets tests of the package watch group commits.
type testHooks struct {
	// batch is told how many jobs a batch runs, before it runs them.
	batch func(n int)
}
