package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hallpass/hallpass/storage"
)

// GetThrottle returns the throttle entries of ids in that order; an id
// without one comes back with only ID set.
func (s *Store) GetThrottle(ctx context.Context, ids []string) ([]storage.ThrottleEntry, error) {
	entries, _, err := readThrottle(ctx, s.q(ctx), ids, false)
	return entries, err
}

// UpdateThrottle reads the entries of ids, lets update change them and
// stores the result in one transaction. The rows that exist are read
// with SELECT ... FOR UPDATE, in id order so that two calls sharing ids
// cannot deadlock, and are then updated; a row that did not exist is
// written with a plain INSERT, so a concurrent call that created it
// first makes this one fail with a unique violation rather than
// overwrite its count. Outside a transaction carried by ctx, a step
// that loses that way, or to a serialization failure or a deadlock
// (stricter isolation levels, distributed databases), is rolled back
// and run again, update included, after a short random pause.
func (s *Store) UpdateThrottle(ctx context.Context, ids []string, update func([]storage.ThrottleEntry) []storage.ThrottleEntry) error {
	if err := storage.CheckThrottleIDs(ids); err != nil {
		return err
	}
	if tx, ok := s.tx(ctx); ok {
		return updateThrottle(ctx, tx, ids, update)
	}
	for attempt := 1; ; attempt++ {
		err := s.inTx(ctx, func(q querier) error { return updateThrottle(ctx, q, ids, update) })
		if err == nil || attempt == retryAttempts || !errors.Is(err, storage.ErrConflict) {
			return err
		}
		pause := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

func updateThrottle(ctx context.Context, q querier, ids []string, update func([]storage.ThrottleEntry) []storage.ThrottleEntry) error {
	entries, found, err := readThrottle(ctx, q, ids, true)
	if err != nil {
		return err
	}
	out := update(entries)
	if err := storage.CheckThrottleResult(ids, out); err != nil {
		return err
	}
	for _, e := range out {
		var err error
		switch {
		case e.ExpiresAt.IsZero():
			_, err = q.Exec(ctx, `DELETE FROM login_throttle WHERE id = $1`, e.ID)
		case found[e.ID]:
			_, err = q.Exec(ctx, `UPDATE login_throttle SET attempts = $2, locked_until = $3, expires_at = $4
				WHERE id = $1`, e.ID, e.Attempts, ts(e.LockedUntil), ts(e.ExpiresAt))
		default:
			_, err = q.Exec(ctx, `INSERT INTO login_throttle (id, attempts, locked_until, expires_at)
				VALUES ($1, $2, $3, $4)`, e.ID, e.Attempts, ts(e.LockedUntil), ts(e.ExpiresAt))
		}
		if err != nil {
			return mapErr("store throttle entry", err)
		}
	}
	return nil
}

// readThrottle reads the entries of ids through q, locking the rows it
// finds (in id order) when lock is set, and reports which ids it found.
func readThrottle(ctx context.Context, q querier, ids []string, lock bool) ([]storage.ThrottleEntry, map[string]bool, error) {
	sql := `SELECT attempts, locked_until, expires_at FROM login_throttle WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	byID := make(map[string]storage.ThrottleEntry, len(ids))
	found := make(map[string]bool, len(ids))
	for _, id := range slices.Sorted(slices.Values(ids)) {
		e := storage.ThrottleEntry{ID: id}
		var locked, expires pgtype.Timestamptz
		err := q.QueryRow(ctx, sql, id).Scan(&e.Attempts, &locked, &expires)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return nil, nil, mapErr("read throttle entry", err)
		default:
			e.LockedUntil, e.ExpiresAt = fromTS(locked), fromTS(expires)
			found[id] = true
		}
		byID[id] = e
	}
	out := make([]storage.ThrottleEntry, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, found, nil
}
