package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// expiredDeletes are, in the order DeleteExpired runs them, the statements
// that delete at most $2 rows of one table that expired before $1. They
// pick the rows by primary key in a bounded subquery: DELETE ... LIMIT does
// not exist, and ctid is not portable to Postgres-compatible distributed
// databases. Every expires_at is indexed.
var expiredDeletes = []struct{ table, sql string }{
	{"tokens", `DELETE FROM tokens WHERE (kind, signature) IN (
		SELECT kind, signature FROM tokens WHERE expires_at < $1 LIMIT $2)`},
	{"client_assertion_jtis", `DELETE FROM client_assertion_jtis WHERE jti IN (
		SELECT jti FROM client_assertion_jtis WHERE expires_at < $1 LIMIT $2)`},
	{"browser_sessions", `DELETE FROM browser_sessions WHERE id IN (
		SELECT id FROM browser_sessions WHERE expires_at < $1 LIMIT $2)`},
	{"auth_requests", `DELETE FROM auth_requests WHERE id IN (
		SELECT id FROM auth_requests WHERE expires_at < $1 LIMIT $2)`},
	{"login_throttle", `DELETE FROM login_throttle WHERE id IN (
		SELECT id FROM login_throttle WHERE expires_at < $1 LIMIT $2)`},
}

// DeleteExpired deletes at most limit rows whose expires_at is before
// `before` (a NULL expiry never expires): token rows, client-assertion
// JTIs, browser sessions past their absolute expiry, pending
// authorization requests and throttle entries, filling the budget from each table in turn. It
// returns how many rows it deleted; fewer than limit means nothing expired
// was left (or another replica deleted it meanwhile). On an error the count
// is of the rows deleted before it. limit must be positive.
//
// Outside a transaction every statement commits on its own, so locks are
// held for one bounded statement at a time. Replicas may run it at once: at
// READ COMMITTED a row another replica deleted first is skipped, and a
// statement that loses to a concurrent one with a serialization failure or
// a deadlock (at stricter isolation levels, or on distributed databases)
// is retried, which is safe because it changed nothing.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("delete expired: limit must be positive, got %d", limit)
	}
	total := 0
	for _, d := range expiredDeletes {
		if total == limit {
			break
		}
		tag, err := s.execRetry(ctx, d.sql, ts(before), limit-total)
		if err != nil {
			return total, mapErr("delete expired "+d.table, err)
		}
		total += int(tag.RowsAffected())
	}
	return total, nil
}

// retryAttempts bounds how often execRetry runs a statement.
const retryAttempts = 10

// execRetry runs one statement. Outside a transaction it retries the
// statement, after a short random pause, when it failed with a
// serialization failure (40001) or a deadlock (40P01): the statement ran in
// its own implicit transaction, which was rolled back whole. Inside the
// transaction carried by ctx it runs once, since a failed statement aborts
// the transaction.
func (s *Store) execRetry(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if tx, ok := s.tx(ctx); ok {
		return tx.Exec(ctx, sql, args...)
	}
	for attempt := 1; ; attempt++ {
		tag, err := s.pool.Exec(ctx, sql, args...)
		if err == nil || attempt == retryAttempts || !(hasCode(err, "40001") || hasCode(err, "40P01")) {
			return tag, err
		}
		pause := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return tag, err
		case <-time.After(pause):
		}
	}
}
