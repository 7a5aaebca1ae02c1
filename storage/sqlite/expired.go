package sqlite

import (
	"context"
	"fmt"
	"time"
)

// expiringTables are the tables DeleteExpired cleans, in the order it
// cleans them. Every one is a rowid table with an index on expires_at.
var expiringTables = []string{"tokens", "client_assertion_jtis", "browser_sessions", "auth_requests", "login_throttle"}

// DeleteExpired deletes at most limit rows whose expires_at is before
// `before` (a NULL expiry never expires): token rows, client-assertion
// JTIs, browser sessions past their absolute expiry, pending
// authorization requests and throttle entries, filling the budget from each table in turn. It
// returns how many rows it deleted; fewer than limit means nothing expired
// was left (or another process deleted it meanwhile). Outside a
// transaction every table's DELETE commits on its own, so the write lock is
// held for one bounded statement at a time; on an error the count is of
// the rows deleted before it. limit must be positive.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("delete expired: limit must be positive, got %d", limit)
	}
	q := s.q(ctx)
	total := 0
	for _, table := range expiringTables {
		if total == limit {
			break
		}
		// SQLite's DELETE ... LIMIT is a compile-time option; a bounded
		// subquery by rowid is not.
		res, err := q.ExecContext(ctx, `DELETE FROM `+table+` WHERE rowid IN (
			SELECT rowid FROM `+table+` WHERE expires_at < ? LIMIT ?)`,
			micros(before), limit-total)
		if err != nil {
			return total, mapErr("delete expired "+table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, mapErr("delete expired "+table, err)
		}
		total += int(n)
	}
	return total, nil
}
