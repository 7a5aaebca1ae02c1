package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hallpass/hallpass/storage"
)

var _ storage.Store = (*Store)(nil)

// Store implements storage.Store on a database/sql handle, in the SQL of
// its Dialect. It is safe for concurrent use.
type Store struct {
	db  *sql.DB
	d   Dialect
	now func() time.Time
	// The statements that depend on the dialect, built once.
	userSelect     string
	signedInSelect string
	confirmSelect  string
	claimNotices   string
	expiredDeletes []expiredDelete
	// stmts holds the prepared statements when the dialect asks for them
	// (Dialect.PrepareStatements); nil otherwise.
	stmts *stmtCache
	// onFailure, when set, is told of every failure of the database
	// (ObserveFailures).
	onFailure atomic.Pointer[func(op string)]
	// onQuery, when set, is told of every statement (ObserveQueries).
	onQuery atomic.Pointer[QueryObserver]
	// writers holds the one turn to write, where the dialect queues the
	// Store's writers (Dialect.WriterWait); nil otherwise.
	writers chan struct{}
	// queue holds the writers waiting for a group commit
	// (Dialect.WriterWait), oldest first; batch is the buffer of the
	// holder of the turn to write, for the jobs it runs.
	queueMu sync.Mutex
	queue   []*job
	batch   []*job
	// hooks, set by tests only, watch group commits.
	hooks *testHooks
}

// QueryObserver is told that a statement starts, with the context it runs
// in and its text (placeholders, never values); it returns the function
// told how the statement ended. For tracing.
type QueryObserver func(ctx context.Context, query string) (done func(err error))

// ObserveQueries makes the store call fn around every statement it runs
// (for a query, until its rows start to arrive). fn must be quick and
// safe for concurrent use; a later call replaces it.
func (s *Store) ObserveQueries(fn QueryObserver) {
	s.onQuery.Store(&fn)
}

// ObserveFailures makes the store call fn with the operation's name
// ("get_client", "append_audit_entry") each time the database fails an
// operation (an error marked storage.ErrUnavailable), for metrics. Lost
// races, missing rows and invalid references are answers, not failures,
// and are not reported. A transaction the database could not order
// (storage.ErrTransient) is reported only when it is not run again: once
// the retries are spent, or where nothing retries it (a transaction
// begun with BeginTX, a statement of its own nothing retries), so that a
// deadlock a retry got past is no failure either. fn must be quick and
// safe for concurrent use; a later call replaces it.
func (s *Store) ObserveFailures(fn func(op string)) {
	s.onFailure.Store(&fn)
}

// opName is op without the names and numbers of what it was about, so
// that it is one of a few values, in snake case: `get client "x"` is
// "get_client".
func opName(op string) string {
	if i := strings.IndexAny(op, "\":0123456789"); i >= 0 {
		op = op[:i]
	}
	return strings.Join(strings.Fields(op), "_")
}

// New returns a Store on db, speaking d. The Store owns db from then on:
// Close closes it. New neither connects nor migrates: call Ping and
// Migrate.
func New(db *sql.DB, d Dialect) *Store {
	s := &Store{db: db, d: d, now: time.Now,
		userSelect: userSelect(&d), signedInSelect: signedInSelect(&d),
		confirmSelect: confirmSelect(&d), claimNotices: claimNoticesQuery(&d),
		expiredDeletes: expiredDeletes(&d)}
	if d.PrepareStatements {
		s.stmts = &stmtCache{db: db, m: map[string]*sql.Stmt{}}
	}
	if d.WriterWait > 0 {
		s.writers = make(chan struct{}, 1)
	}
	return s
}

// writeTurn waits for the Store's turn to write (Dialect.WriterWait) and
// returns the function that gives it back, which may be called more than
// once; where the dialect queues no writers it returns at once. Writers
// queued here wait in order on a channel; left to the database, each
// would poll for the lock (SQLite's busy handler sleeps up to 100 ms
// between tries, however soon the lock is free), which makes a queue of
// writers slow and its tail very long.
func (s *Store) writeTurn(ctx context.Context) (func(), error) {
	if s.writers == nil {
		return func() {}, nil
	}
	select {
	case s.writers <- struct{}{}:
		return s.endTurn(), nil
	default:
	}
	t := time.NewTimer(s.d.WriterWait)
	defer t.Stop()
	select {
	case s.writers <- struct{}{}:
		return s.endTurn(), nil
	case <-ctx.Done():
		return nil, turnWaitErr(ctx)
	case <-t.C:
		return nil, s.turnTimeoutErr()
	}
}

// endTurn returns the function that gives the turn to write back, once.
func (s *Store) endTurn() func() {
	var once sync.Once
	return func() { once.Do(func() { <-s.writers }) }
}

// Ping reports whether the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.mapErr(ctx, "ping "+s.d.Name, err)
	}
	return nil
}

// Close closes the database handle. It waits for the queries that have
// started to finish.
func (s *Store) Close() error {
	s.stmts.close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.d.Name, err)
	}
	return nil
}

// txKey is the context key under which BeginTX stores this Store's
// transaction. It carries the Store so that a transaction of one Store is
// never picked up by another.
type txKey struct{ s *Store }

// openTx is a transaction BeginTX opened, with the function that gives
// back its turn to write.
type openTx struct {
	tx      *sql.Tx
	endTurn func()
	// after is the work to run once it commits (AfterCommit).
	after *afterCommit
	// transient: a statement in it failed with storage.ErrTransient,
	// which aborted it (PostgreSQL), whether or not the caller returned
	// the error (mapErr sets it; inTransaction reads it).
	transient atomic.Bool
	// failed holds the error of the first statement in it that the
	// database failed (mapErr sets it), nil while none has.
	failed atomic.Pointer[error]
}

// errAborted marks a statement, or the commit, of a transaction in
// which an earlier statement failed at the database. PostgreSQL aborts
// such a transaction, refusing every later statement and rolling back
// at commit; SQLite fails only the statement and would commit the rest.
// A caller that went on past the failure (a conflict it took as "exists
// already") so got a commit on one backend and a failure of the
// database on the other; now it gets on both the earlier failure, with
// its mark (storage.ErrConflict, storage.ErrInvalidReference, ...), and
// nothing of the transaction is written.
var errAborted = errors.New("transaction aborted by an earlier failed statement")

// fail records err, met by a statement of t, if it is the first.
func (t *openTx) fail(err error) {
	t.failed.CompareAndSwap(nil, &err)
}

// abortedErr returns, once a statement of t failed, the error that
// later statements and the commit fail with; nil before. t may be nil
// (a runner outside a transaction BeginTX opened).
func (t *openTx) abortedErr() error {
	if t == nil {
		return nil
	}
	if first := t.failed.Load(); first != nil {
		return fmt.Errorf("%w: %w", errAborted, *first)
	}
	return nil
}

func (s *Store) tx(ctx context.Context) (*sql.Tx, bool) {
	t, ok := ctx.Value(txKey{s}).(*openTx)
	if !ok {
		return nil, false
	}
	return t.tx, true
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// runner runs statements on the database or in a transaction. Both
// drivers bind $n to the n-th argument, so statements go to them as
// written, with nothing rewritten per call. With a statement cache,
// statements are prepared once per connection and reused.
type runner struct {
	q querier
	// tx is q when q is a transaction; st is the Store's statement cache.
	tx *sql.Tx
	st *stmtCache
	// obs is the store's QueryObserver, nil when none.
	obs *QueryObserver
	// s, when set, is the Store whose turn to write exec waits for: set
	// for a runner on the database itself, whose every exec is a
	// transaction of its own.
	s *Store
	// detach: statements run without ctx's cancellation: on the
	// database where the dialect says so (Dialect.DetachStatements), and
	// always in a group commit's transaction, which no one writer's ctx
	// may end (runJobs).
	detach bool
	// open is the transaction BeginTX opened that tx belongs to, nil
	// for the Store's own transactions: once a statement of it failed,
	// the runner refuses the rest (errAborted).
	open *openTx
}

// stmtCtx is the context a statement runs with: ctx, or, where r
// detaches statements, ctx without its cancellation unless it is done
// already (then the driver refuses the statement with ctx's error).
func (r runner) stmtCtx(ctx context.Context) context.Context {
	if r.detach && ctx.Err() == nil {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// stmt returns the prepared statement of query for r, nil when there is
// none (no cache, or preparing failed: the statement then runs unprepared
// and reports its error as usual).
func (r runner) stmt(ctx context.Context, query string) *sql.Stmt {
	st := r.st.get(ctx, query)
	if st == nil || r.tx == nil {
		return st
	}
	return r.tx.StmtContext(ctx, st)
}

// observe calls the store's QueryObserver, if any, as query starts; the
// function it returns is told how the statement ended.
func (r runner) observe(ctx context.Context, query string) func(error) {
	if r.obs == nil {
		return func(error) {}
	}
	return (*r.obs)(ctx, query)
}

// The runner's exec, query and queryRow refuse a statement given an
// argument no backend can store (checkArgs) before it reaches the
// database or the queue of writers: PostgreSQL would fail it as a failure
// of its own, SQLite would run it, so that each backend answered the same
// call differently. exec and query return errUnstorable (for mapErr);
// queryRow's row fails its Scan with sql.ErrNoRows as well, since a row
// read by a value no row can hold is not there.

func (r runner) exec(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	if err := r.open.abortedErr(); err != nil {
		return nil, err
	}
	if err := checkArgs(args); err != nil {
		return nil, err
	}
	if r.s != nil && r.s.writers != nil {
		j := &job{query: query, args: args}
		if err := r.s.write(ctx, j); err != nil {
			return nil, err
		}
		return j.res, nil
	}
	if r.s != nil && r.s.d.Retry {
		// A statement of its own, a transaction of its own: one the
		// database could not order is run again (retry). The last
		// error is the caller's to map, with ctx. Where the dialect
		// does not retry, the statement runs as it is, with no
		// attempt's context built around it.
		err = r.s.retryWhile(ctx, func(err error) bool { return r.s.d.Classify(err) == Transient }, func(ctx context.Context) error {
			var err error
			res, err = r.execOnce(ctx, query, args...)
			return err
		})
		return res, err
	}
	return r.execOnce(ctx, query, args...)
}

// execOnce runs an Exec statement once.
func (r runner) execOnce(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	done := r.observe(ctx, query)
	ctx = r.stmtCtx(ctx)
	if st := r.stmt(ctx, query); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = r.q.ExecContext(ctx, query, args...)
	}
	done(err)
	return res, err
}

func (r runner) query(ctx context.Context, query string, args ...any) (rows *sql.Rows, err error) {
	if err := r.open.abortedErr(); err != nil {
		return nil, err
	}
	if err := checkArgs(args); err != nil {
		return nil, err
	}
	done := r.observe(ctx, query)
	ctx = r.stmtCtx(ctx)
	if st := r.stmt(ctx, query); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = r.q.QueryContext(ctx, query, args...)
	}
	done(err)
	return rows, err
}

func (r runner) queryRow(ctx context.Context, query string, args ...any) scanner {
	if err := r.open.abortedErr(); err != nil {
		return errRow{err}
	}
	if err := checkArgs(args); err != nil {
		return errRow{fmt.Errorf("%w (%w)", sql.ErrNoRows, err)}
	}
	done := r.observe(ctx, query)
	var row *sql.Row
	ctx = r.stmtCtx(ctx)
	if st := r.stmt(ctx, query); st != nil {
		row = st.QueryRowContext(ctx, args...)
	} else {
		row = r.q.QueryRowContext(ctx, query, args...)
	}
	done(row.Err())
	return row
}

// errRow is the row queryRow reads for a statement it refused: its Scan
// fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// run returns a runner on q with the store's observer and no prepared
// statements (migrations: a migration changes the schema they would see).
func (s *Store) run(q querier) runner { return runner{q: q, obs: s.onQuery.Load()} }

// q returns a runner on the transaction carried by ctx, or on the database.
func (s *Store) q(ctx context.Context) runner {
	if t, ok := ctx.Value(txKey{s}).(*openTx); ok {
		return s.openRunner(t)
	}
	r := s.dbRunner()
	r.s = s
	return r
}

// lockRead locks, when ctx asks for locking reads (storage.LockingReads)
// in a transaction BeginTX began, the rows of table that where (with
// args) selects, until the transaction ends; the caller then reads them.
// op names the read in errors. A statement of its own, before the read:
// at READ COMMITTED, a SELECT ... FOR UPDATE that waited for a concurrent
// writer returns the locked row as the writer left it, but what it reads
// of other tables (a user's roles) as it was when it began; the read
// after the lock sees everything the writer committed. Nothing where the
// dialect locks no rows (Dialect.ForNoKeyUpdate: SQLite's write transactions
// hold the database) and outside a transaction. The lock is the one an
// UPDATE of the record takes (Dialect.ForNoKeyUpdate), not FOR UPDATE:
// that one would also hold up, for as long as the change takes, every
// sign-in, consent and token whose row refers to the record (their
// foreign key checks), which a plain UPDATE never did.
func (s *Store) lockRead(ctx context.Context, op, table, where string, args ...any) error {
	if s.d.ForNoKeyUpdate == "" || !storage.ReadsLock(ctx) {
		return nil
	}
	if _, ok := s.tx(ctx); !ok {
		return nil
	}
	rows, err := s.q(ctx).query(ctx, `SELECT 1 FROM `+table+` WHERE `+where+s.d.ForNoKeyUpdate, args...)
	if errors.Is(err, errUnstorable) {
		return nil // no row can hold the key: the read finds none
	}
	if err != nil {
		return s.mapErr(ctx, op, err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return s.mapErr(ctx, op, err)
	}
	return nil
}

// dbRunner returns a runner on the database itself whose statements do
// not wait for the turn to write: for the holder of the turn.
func (s *Store) dbRunner() runner {
	return runner{q: s.db, st: s.stmts, obs: s.onQuery.Load(), detach: s.d.DetachStatements}
}

// txRunner returns a runner in tx, with the statement cache.
func (s *Store) txRunner(tx *sql.Tx) runner {
	return runner{q: tx, tx: tx, st: s.stmts, obs: s.onQuery.Load()}
}

// openRunner returns a runner in t, a transaction BeginTX opened.
func (s *Store) openRunner(t *openTx) runner {
	r := s.txRunner(t.tx)
	r.open = t
	return r
}

// maxStatements bounds the statement cache: the store's statements are
// fixed texts but for a few with a list of parameters, so this is never
// reached in practice, and past it statements simply run unprepared.
const maxStatements = 256

// stmtCache prepares each statement text once (database/sql then
// prepares it on each connection that runs it, once), sparing SQLite the
// parsing and planning of every statement on every call.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get returns the prepared statement of query; nil for a nil cache, a
// full one, or a statement that fails to prepare.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxStatements
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev
	}
	c.m[query] = st
	return st
}

// close closes every prepared statement.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// BeginTX starts a transaction and returns a context carrying it. Every
// method called with that context runs inside the transaction, which holds
// a connection until Commit or Rollback; the caller must call one of them.
// The transaction is rolled back if ctx is cancelled before Commit. Nested
// transactions are not supported.
//
// The backend decides how the transaction begins: SQLite's IMMEDIATE,
// holding the write lock until it ends; PostgreSQL's default isolation
// level. Where the dialect queues writers (Dialect.WriterWait), the
// transaction first waits for its turn, and holds it until it ends or ctx
// is done.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := s.tx(ctx); ok {
		return ctx, errors.New("begin transaction: ctx already carries a transaction")
	}
	endTurn, err := s.writeTurn(ctx)
	if err != nil {
		return ctx, s.mapErr(ctx, "begin transaction", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		endTurn()
		return ctx, s.mapErr(ctx, "begin transaction", err)
	}
	if s.writers != nil {
		// database/sql rolls the transaction back when ctx is done; the
		// turn goes with it, even if nobody calls Rollback.
		stop := context.AfterFunc(ctx, endTurn)
		turn := endTurn
		endTurn = func() { stop(); turn() }
	}
	t := &openTx{tx: tx, endTurn: endTurn, after: s.newAfterCommit(ctx)}
	return context.WithValue(context.WithValue(ctx, txKey{s}, t), afterKey{s}, t.after), nil
}

// Commit commits the transaction carried by ctx, then runs the work
// AfterCommit queued on it (after giving back the turn to write, which
// that work may need). A serialization failure is reported as
// storage.ErrTransient: the whole transaction may be run again.
func (s *Store) Commit(ctx context.Context) error {
	t, ok := ctx.Value(txKey{s}).(*openTx)
	if !ok {
		return errors.New("commit: no transaction in ctx")
	}
	if aborted := t.abortedErr(); aborted != nil {
		// Rolled back on every backend, as PostgreSQL would.
		rbErr := t.tx.Rollback()
		t.endTurn()
		t.after.end(false)
		if rbErr != nil {
			return errors.Join(fmt.Errorf("commit: %w", aborted), s.mapErr(ctx, "roll back", rbErr))
		}
		return fmt.Errorf("commit: %w", aborted)
	}
	err := t.tx.Commit()
	t.endTurn()
	if err != nil {
		t.after.end(false)
		return s.mapErr(ctx, "commit", err)
	}
	t.after.end(true)
	return nil
}

// Rollback rolls back the transaction carried by ctx.
func (s *Store) Rollback(ctx context.Context) error {
	t, ok := ctx.Value(txKey{s}).(*openTx)
	if !ok {
		return errors.New("rollback: no transaction in ctx")
	}
	defer t.endTurn()
	t.after.end(false)
	if err := t.tx.Rollback(); err != nil {
		return s.mapErr(ctx, "rollback", err)
	}
	return nil
}

// InTransaction runs fn in the transaction ctx carries, or else in a new
// one that commits when fn returns nil (see storage.Store). A new one that
// fails with storage.ErrTransient is run again, fn included, as retry
// says.
func (s *Store) InTransaction(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := s.tx(ctx); ok {
		return fn(ctx)
	}
	return s.retry(ctx, func(ctx context.Context) error { return s.inTransaction(ctx, fn) })
}

// inTransaction runs fn in a new transaction, once.
func (s *Store) inTransaction(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			if rbErr := s.Rollback(txCtx); rbErr != nil && err != nil {
				err = errors.Join(err, fmt.Errorf("roll back: %w", rbErr))
			}
		}
	}()
	err = fn(txCtx)
	if t, _ := txCtx.Value(txKey{s}).(*openTx); t != nil && t.transient.Load() && !errors.Is(err, storage.ErrTransient) {
		// A statement of fn could not be ordered against a concurrent
		// transaction and fn carried on without returning its error (a
		// failed audit append is logged, not returned): the database
		// has aborted the transaction all the same, and its commit
		// would fail as a failure of the database. It is run again, as
		// if fn had returned the error.
		return fmt.Errorf("transaction: %w (%w): a statement of it could not be ordered against a concurrent transaction (then: %v)",
			storage.ErrTransient, storage.ErrUnavailable, err)
	}
	if err != nil {
		return err
	}
	committed = true
	return s.Commit(txCtx)
}

// inTx runs fn in the transaction carried by ctx, or else in a new one,
// run again as retry says; fn is given the context of its attempt.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, r runner) error) error {
	if t, ok := ctx.Value(txKey{s}).(*openTx); ok {
		return fn(ctx, s.openRunner(t))
	}
	// Each job, and each attempt, queues its own AfterCommit work: a job
	// is answered only after its batch committed, and fails if it was
	// rolled back to its savepoint.
	if s.writers != nil {
		return s.afterCommitted(ctx, func(ctx context.Context) error { return s.write(ctx, &job{fn: fn}) })
	}
	return s.retry(ctx, func(ctx context.Context) error {
		return s.afterCommitted(ctx, func(ctx context.Context) error { return s.inNewTx(ctx, fn) })
	})
}

// inStmt runs fn, one statement that writes or locks rows and returns
// rows (DELETE ... RETURNING, SELECT ... FOR SHARE), as runner.exec runs
// one that returns none: in the transaction carried by ctx, if any; where
// the dialect queues writers, in its turn to write (a transaction of its
// own, inTx: a job of a statement returns no rows); else as a statement
// of its own on the database, run again as retry says.
func (s *Store) inStmt(ctx context.Context, fn func(ctx context.Context, r runner) error) error {
	if s.writers != nil {
		return s.inTx(ctx, fn)
	}
	return s.retry(ctx, func(ctx context.Context) error { return fn(ctx, s.q(ctx)) })
}

// inNewTx runs fn in a new transaction, once.
func (s *Store) inNewTx(ctx context.Context, fn func(ctx context.Context, r runner) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.mapErr(ctx, "begin transaction", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err := fn(ctx, s.txRunner(tx)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.mapErr(ctx, "commit", err)
	}
	return nil
}

// retryAttempts bounds how often retry runs fn.
const retryAttempts = 10

// retryKey marks the context of an attempt of retry's: its value is true
// but on the last attempt, when a storage.ErrTransient met in it is no
// longer run again and so is reported to ObserveFailures.
type retryKey struct{ s *Store }

// retry runs fn, a statement or a transaction of its own, and runs it
// again after a short random pause while it fails with
// storage.ErrTransient: the database could not order it against a
// concurrent one and rolled it back whole, so running it again is safe.
// Only where the dialect says a retry can win (Dialect.Retry), never
// inside the transaction carried by ctx, which a failed statement aborts
// (the caller that began it runs it again), never inside an attempt of
// another retry (which runs it again), and at most retryAttempts times; a
// ctx done meanwhile makes the next attempt the last, which then fails
// with ctx's error. fn is given ctx, marked with retryKey.
//
// The Store retries in four places, which together cover every
// transaction that is not a caller's: a statement of its own (runner.exec
// on the database, inStmt for one that returns rows), a transaction of
// its own (inTx), and the transaction InTransaction begins.
func (s *Store) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.retryWhile(ctx, func(err error) bool { return errors.Is(err, storage.ErrTransient) }, fn)
}

// retryRaces is retry for a statement or transaction that also loses
// races a retry wins with storage.ErrConflict: a unique violation of an
// INSERT of a row it read as missing, which a concurrent one inserted
// meanwhile; run again, it finds the row.
func (s *Store) retryRaces(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.retryWhile(ctx, func(err error) bool {
		return errors.Is(err, storage.ErrTransient) || errors.Is(err, storage.ErrConflict)
	}, fn)
}

// retryWhile runs fn as retry says, again while again(err).
func (s *Store) retryWhile(ctx context.Context, again func(error) bool, fn func(ctx context.Context) error) error {
	if _, ok := s.tx(ctx); ok || !s.d.Retry {
		return fn(ctx)
	}
	if _, ok := ctx.Value(retryKey{s}).(bool); ok {
		return fn(ctx)
	}
	for attempt := 1; ; attempt++ {
		last := attempt == retryAttempts || ctx.Err() != nil
		err := fn(context.WithValue(ctx, retryKey{s}, !last))
		if err == nil || last || !again(err) {
			return err
		}
		pause := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// mapErr wraps err, met by op in ctx, translating sql.ErrNoRows to
// storage.ErrNotFound and what the dialect classifies as a conflict, a
// transient conflict or an invalid reference to storage.ErrConflict,
// storage.ErrTransient (with storage.ErrUnavailable) or
// storage.ErrInvalidReference; anything else (a lost connection, a
// timeout, a closed store) is marked storage.ErrUnavailable. Neither
// sql.ErrNoRows nor the driver error behind a sentinel of the store's own
// is ever wrapped with %w, so no caller comes to depend on a driver's
// error types. Failures are reported to ObserveFailures, a transient
// conflict only where no retry runs it again.
func (s *Store) mapErr(ctx context.Context, op string, err error) (mapped error) {
	if errors.Is(err, errAborted) {
		// Mapped, reported and recorded when it first failed.
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, storage.ErrNotFound)
	}
	if errors.Is(err, errUnstorable) {
		// The caller's input, refused before the database saw it:
		// no failure of the database, which goes on with the
		// transaction, if any.
		return fmt.Errorf("%s: %w: %v", op, storage.ErrInvalidInput, err)
	}
	if t, ok := ctx.Value(txKey{s}).(*openTx); ok {
		defer func() { t.fail(mapped) }()
	}
	switch s.d.Classify(err) {
	case Conflict:
		return fmt.Errorf("%s: %w: %v", op, storage.ErrConflict, err)
	case Transient:
		if t, ok := ctx.Value(txKey{s}).(*openTx); ok {
			t.transient.Store(true)
		}
		if !s.retried(ctx) {
			s.failed(op)
		}
		return fmt.Errorf("%s: %w (%w): %v", op, storage.ErrTransient, storage.ErrUnavailable, err)
	case InvalidReference:
		return fmt.Errorf("%s: %w: %v", op, storage.ErrInvalidReference, err)
	}
	if t, ok := ctx.Value(txKey{s}).(*openTx); !ok || !t.transient.Load() || !s.retried(ctx) {
		// Not a statement of a transaction that a serialization
		// failure or deadlock aborted and that is run again: those
		// fail because of it (in_failed_sql_transaction), which is
		// reported when it is not run again.
		s.failed(op)
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return fmt.Errorf("%s: %w", op, err)
	}
	// Anything else is the database failing, not the caller: marked, so
	// no layer above mistakes it for "not found" or bad input.
	return fmt.Errorf("%s: %w: %w", op, storage.ErrUnavailable, err)
}

// retried reports whether what runs in ctx is run again if it fails with
// storage.ErrTransient: an attempt of retry's but the last, or a
// statement of a transaction such an attempt began.
func (s *Store) retried(ctx context.Context) bool {
	again, _ := ctx.Value(retryKey{s}).(bool)
	return again
}

// failed reports a failure of op to ObserveFailures.
func (s *Store) failed(op string) {
	if fn := s.onFailure.Load(); fn != nil {
		(*fn)(opName(op))
	}
}

// affectedOne turns an Exec result that changed no row into
// storage.ErrNotFound; errors as mapErr.
func (s *Store) affectedOne(ctx context.Context, res sql.Result, err error, op string) error {
	n, err := rowsAffected(res, err)
	if err != nil {
		return s.mapErr(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, storage.ErrNotFound)
	}
	return nil
}

// rowsAffected returns how many rows an Exec changed.
func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
