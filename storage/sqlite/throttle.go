package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hallpass/hallpass/storage"
)

// GetThrottle returns the throttle entries of ids in that order; an id
// without one comes back with only ID set.
func (s *Store) GetThrottle(ctx context.Context, ids []string) ([]storage.ThrottleEntry, error) {
	return readThrottle(ctx, s.q(ctx), ids)
}

// UpdateThrottle reads the entries of ids, lets update change them and
// stores the result in one transaction. Every transaction of this store
// begins IMMEDIATE, taking SQLite's write lock before the read, so calls
// from every connection and process on the file run one after the other;
// one that waits longer than the busy timeout fails with
// storage.ErrConflict.
func (s *Store) UpdateThrottle(ctx context.Context, ids []string, update func([]storage.ThrottleEntry) []storage.ThrottleEntry) error {
	if err := storage.CheckThrottleIDs(ids); err != nil {
		return err
	}
	return s.inTx(ctx, func(q querier) error {
		entries, err := readThrottle(ctx, q, ids)
		if err != nil {
			return err
		}
		out := update(entries)
		if err := storage.CheckThrottleResult(ids, out); err != nil {
			return err
		}
		for _, e := range out {
			if e.ExpiresAt.IsZero() {
				if _, err := q.ExecContext(ctx, `DELETE FROM login_throttle WHERE id = ?`, e.ID); err != nil {
					return mapErr("delete throttle entry", err)
				}
				continue
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO login_throttle (id, attempts, locked_until, expires_at)
				VALUES (?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts,
					locked_until = excluded.locked_until, expires_at = excluded.expires_at`,
				e.ID, e.Attempts, micros(e.LockedUntil), micros(e.ExpiresAt)); err != nil {
				return mapErr("store throttle entry", err)
			}
		}
		return nil
	})
}

// readThrottle reads the entries of ids through q.
func readThrottle(ctx context.Context, q querier, ids []string) ([]storage.ThrottleEntry, error) {
	out := make([]storage.ThrottleEntry, len(ids))
	for i, id := range ids {
		out[i].ID = id
		var locked, expires sql.NullInt64
		err := q.QueryRowContext(ctx, `SELECT attempts, locked_until, expires_at FROM login_throttle WHERE id = ?`,
			id).Scan(&out[i].Attempts, &locked, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, mapErr("read throttle entry", err)
		}
		out[i].LockedUntil = fromMicros(locked)
		out[i].ExpiresAt = fromMicros(expires)
	}
	return out, nil
}
