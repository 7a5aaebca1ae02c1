package sqlstore

import (
	"context"
	"sync"
)

// afterKey is the context key under which a transaction of this Store
// carries its afterCommit queue.
type afterKey struct{ s *Store }

// afterCommit is the work AfterCommit queued on one transaction (one
// attempt of it: a retry begins a new one with an empty queue).
type afterCommit struct {
	// s and began give the context the work runs with (runCtx).
	s     *Store
	began context.Context
	mu    sync.Mutex
	fns   []func(ctx context.Context)
	// ended: the transaction has ended, committed or not; later work
	// runs at once if it committed, and is dropped otherwise.
	ended, committed bool
}

// newAfterCommit returns an empty queue for a transaction begun in ctx.
func (s *Store) newAfterCommit(ctx context.Context) *afterCommit {
	return &afterCommit{s: s, began: ctx}
}

// runCtx is the context the work runs with: the one the transaction
// began in, which carries neither it nor a retry's mark. Built only when
// there is work to run, not for every transaction.
func (a *afterCommit) runCtx() context.Context {
	return context.WithValue(a.began, retryKey{a.s}, nil)
}

// add queues fn, reporting false when the transaction has ended already
// and fn is not queued: then run reports whether to run it.
func (a *afterCommit) add(fn func(ctx context.Context)) (queued, run bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return false, a.committed
	}
	a.fns = append(a.fns, fn)
	return true, false
}

// end ends the queue: when the transaction committed, its work runs, in
// the order it was queued; otherwise it is dropped.
func (a *afterCommit) end(committed bool) {
	a.mu.Lock()
	fns := a.fns
	a.fns, a.ended, a.committed = nil, true, committed
	a.mu.Unlock()
	if !committed || len(fns) == 0 {
		return
	}
	ctx := a.runCtx()
	for _, fn := range fns {
		fn(ctx)
	}
}

// AfterCommit runs fn once the transaction ctx carries has committed, or
// at once when ctx carries none: for the effects of a change outside the
// database (a log line, a message sent) that must follow it only if it
// happens, and once. Queued on a transaction, fn runs after its commit
// has succeeded (and the turn to write is given back, so fn may write),
// in the order queued, with the context the transaction began in; it is
// dropped when the transaction rolls back or its commit fails, and an
// attempt InTransaction runs again starts with an empty queue. In a
// group commit (Dialect.WriterWait), a job's work runs once its batch
// has committed, and not at all when the job was rolled back to its
// savepoint. A panic of fn is its caller's: the transaction has
// committed all the same.
func (s *Store) AfterCommit(ctx context.Context, fn func(ctx context.Context)) {
	if a, ok := ctx.Value(afterKey{s}).(*afterCommit); ok {
		// Queued, or dropped with its rolled-back transaction, unless
		// that transaction has committed already.
		if _, run := a.add(fn); run {
			fn(a.runCtx())
		}
		return
	}
	fn(ctx)
}

// afterCommitted runs fn, a transaction of its own that has committed
// when it returns nil, with ctx carrying a new afterCommit queue: run
// once fn has returned nil, dropped otherwise.
func (s *Store) afterCommitted(ctx context.Context, fn func(ctx context.Context) error) error {
	a := s.newAfterCommit(ctx)
	committed := false
	defer func() { a.end(committed) }() // a panic drops the queue
	err := fn(context.WithValue(ctx, afterKey{s}, a))
	committed = err == nil
	return err
}
