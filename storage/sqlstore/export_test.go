package sqlstore

import (
	"context"
	"time"
)

// InsertUserWithRoles inserts user, then gives it roles without checking
// them first, in one transaction: the foreign-key fallback that catches a
// role deleted by a concurrent transaction between CreateUser's check and
// its insert.
func InsertUserWithRoles(ctx context.Context, s *Store, user string, roles []string) error {
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		if _, err := r.exec(ctx, `INSERT INTO users (id, username) VALUES ($1, $1)`, user); err != nil {
			return err
		}
		return s.insertUserRoles(ctx, r, "test", user, roles)
	})
}

// WatchBatches makes s call fn with the number of jobs of every group
// commit batch, before the batch runs. Set before s is used concurrently.
func WatchBatches(s *Store, fn func(n int)) {
	s.hooks = &testHooks{batch: fn}
}

// QueuedWriters returns how many writers wait in s's group commit queue.
func QueuedWriters(s *Store) int {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	return len(s.queue)
}

// Exec runs query as a statement of its own, as the store's methods do,
// and returns how many rows it changed.
func Exec(ctx context.Context, s *Store, query string, args ...any) (int64, error) {
	return rowsAffected(s.q(ctx).exec(ctx, query, args...))
}

// WriteTx runs fn in a transaction of its own, as the store's methods do;
// fn's exec runs a statement in it and returns how many rows it changed.
func WriteTx(ctx context.Context, s *Store, fn func(exec func(query string, args ...any) (int64, error)) error) error {
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		return fn(func(query string, args ...any) (int64, error) {
			return rowsAffected(r.exec(ctx, query, args...))
		})
	})
}

// SetWriterWait changes how long s's writers wait for the turn to write
// (Dialect.WriterWait). Set before s is used concurrently.
func SetWriterWait(s *Store, d time.Duration) {
	s.d.WriterWait = d
}

// ExecErr runs query as Exec does and returns its error as the store's
// methods do (mapErr).
func ExecErr(ctx context.Context, s *Store, query string) error {
	if _, err := s.q(ctx).exec(ctx, query); err != nil {
		return s.mapErr(ctx, "test statement", err)
	}
	return nil
}

// ExecArgsErr runs query with args as a statement of its own, its error
// mapped as the store's methods map theirs.
func ExecArgsErr(ctx context.Context, s *Store, query string, args ...any) error {
	if _, err := s.q(ctx).exec(ctx, query, args...); err != nil {
		return s.mapErr(ctx, "test statement", err)
	}
	return nil
}

// RetryAttempts is how often the store runs a transaction that keeps
// failing with storage.ErrTransient.
const RetryAttempts = retryAttempts

// WriteTxCtx is WriteTx whose fn is given the context of its
// transaction too, for AfterCommit.
func WriteTxCtx(ctx context.Context, s *Store, fn func(ctx context.Context, exec func(query string, args ...any) (int64, error)) error) error {
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		return fn(ctx, func(query string, args ...any) (int64, error) {
			return rowsAffected(r.exec(ctx, query, args...))
		})
	})
}

// ExecErrTx runs query in a transaction of its own, as the store's
// methods do, and returns its error as they return a statement's
// (mapErr).
func ExecErrTx(ctx context.Context, s *Store, query string) error {
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		if _, err := r.exec(ctx, query); err != nil {
			return s.mapErr(ctx, "test statement", err)
		}
		return nil
	})
}

// Placeholders returns the numbered parameter list the store's IN lists
// and multi-row inserts are written with.
func Placeholders(first, n int) string { return placeholders(first, n) }
