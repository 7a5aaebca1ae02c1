package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// expiredDelete is the statement that deletes at most $2 rows of table
// that expired before $1, where $1 is DeleteExpired's `before` less age.
type expiredDelete struct {
	table, query string
	age          time.Duration
}

// LogoutNoticeMaxAge is how long a back-channel logout notice is kept
// undelivered: DeleteExpired drops those created longer ago, so that an
// outbox no server drains (a database only the CLI changes) does not
// grow without end. A sender gives up on a notice its client keeps
// failing long before; this is the bound on one that failures of the
// sender's own (which spend no attempt) keep from being sent.
const LogoutNoticeMaxAge = 24 * time.Hour

// expiredDeletes returns, in the order DeleteExpired runs them, the
// statements that delete the expired rows of each table. They pick the
// rows by the dialect's row id, or else by primary key. Every expires_at is
// indexed; logout notices expire LogoutNoticeMaxAge after created_at (a
// scan of a table a running server keeps small).
func expiredDeletes(d *Dialect) []expiredDelete {
	var ds []expiredDelete
	for _, t := range []struct {
		table, key, column string
		age                time.Duration
	}{
		{"tokens", "kind, signature", "expires_at", 0},
		{"client_assertion_jtis", "jti", "expires_at", 0},
		{"browser_sessions", "id", "expires_at", 0},
		{"auth_requests", "id", "expires_at", 0},
		{"login_throttle", "id", "expires_at", 0},
		{"session_clients", "sid, client_id", "expires_at", 0},
		{"access_revocations", "id", "expires_at", 0},
		{"logout_notices", "id", "created_at", LogoutNoticeMaxAge},
	} {
		key, sel := "("+t.key+")", t.key
		if d.RowID != "" {
			key, sel = d.RowID, d.RowID
		}
		ds = append(ds, expiredDelete{t.table, `DELETE FROM ` + t.table + ` WHERE ` + key + ` IN (
			SELECT ` + sel + ` FROM ` + t.table + ` WHERE ` + t.column + ` < $1 LIMIT $2)`, t.age})
	}
	return ds
}

// DeleteExpired deletes at most limit rows whose expires_at is before
// `before` (a NULL expiry never expires): token rows, client-assertion
// JTIs, browser sessions past their absolute expiry, pending
// authorization requests, throttle entries, session-client records,
// access revocations and logout notices older than LogoutNoticeMaxAge,
// filling the budget from
// each table in turn. It returns how many rows it deleted; fewer than limit
// means nothing expired was left (or another process deleted it
// meanwhile). On an error the count is of the rows deleted before it.
// limit must be positive.
//
// Every table's DELETE picks its rows in a bounded subquery, by the
// dialect's row id or else by primary key: DELETE ... LIMIT is an SQLite
// compile-time option and does not exist in PostgreSQL, and ctid is not
// portable to Postgres-compatible distributed databases. Outside a
// transaction every statement commits on its own (on SQLite possibly in a
// group commit with other writers' work, Dialect.WriterWait), so locks
// (SQLite's write lock) are held for bounded work at a time. Processes may run it
// at once: at READ COMMITTED a row another one deleted first is skipped,
// and where the dialect retries, a statement that loses to a concurrent
// one with a serialization failure or a deadlock (at stricter isolation
// levels, or on distributed databases) runs again, as every statement of
// its own does (Store.retry), which is safe because it changed nothing.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("delete expired: limit must be positive, got %d", limit)
	}
	total := 0
	for _, del := range s.expiredDeletes {
		if total == limit {
			break
		}
		n, err := rowsAffected(s.q(ctx).exec(ctx, del.query, s.timeBound(before.Add(-del.age)), limit-total))
		if err != nil {
			return total, s.mapErr(ctx, "delete expired "+del.table, err)
		}
		total += int(n)
	}
	return total, nil
}
