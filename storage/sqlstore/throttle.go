package sqlstore

import (
	"context"

	"github.com/hallpass/hallpass/storage"
)

// GetThrottle returns the throttle entries of ids in that order; an id
// without one comes back with only ID set.
func (s *Store) GetThrottle(ctx context.Context, ids []string) ([]storage.ThrottleEntry, error) {
	entries, _, err := s.readThrottle(ctx, s.q(ctx), ids, false)
	return entries, err
}

// UpdateThrottle reads the entries of ids, lets update change them and
// stores the result in one transaction. The rows that exist are read
// locked (SELECT ... FOR UPDATE in PostgreSQL; in SQLite every transaction
// of this store begins IMMEDIATE, taking the write lock before the read),
// in id order so that two calls sharing ids cannot deadlock, and are then
// updated; a row that did not exist is written with a plain INSERT, so a
// concurrent call that created it first makes this one fail with a unique
// violation rather than overwrite its count.
//
// Outside a transaction carried by ctx, where the dialect retries
// (PostgreSQL), a call that loses that way (storage.ErrConflict, which a
// retry wins: it then finds the row), or to a serialization failure or a
// deadlock (storage.ErrTransient: stricter isolation levels, distributed
// databases), is rolled back and run again, update included, after a
// short random pause. In SQLite calls from every connection and process
// on the file run one after the other; one that waits longer than the
// busy timeout fails with storage.ErrUnavailable.
func (s *Store) UpdateThrottle(ctx context.Context, ids []string, update func([]storage.ThrottleEntry) []storage.ThrottleEntry) error {
	if err := storage.CheckThrottleIDs(ids); err != nil {
		return err
	}
	return s.retryRaces(ctx, func(ctx context.Context) error {
		return s.inTx(ctx, func(ctx context.Context, r runner) error { return s.updateThrottle(ctx, r, ids, update) })
	})
}

func (s *Store) updateThrottle(ctx context.Context, r runner, ids []string, update func([]storage.ThrottleEntry) []storage.ThrottleEntry) error {
	entries, found, err := s.readThrottle(ctx, r, ids, true)
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
			_, err = r.exec(ctx, `DELETE FROM login_throttle WHERE id = $1`, e.ID)
		case found[e.ID]:
			_, err = r.exec(ctx, `UPDATE login_throttle SET attempts = $2, locked_until = $3, expires_at = $4
				WHERE id = $1`, e.ID, e.Attempts, s.timeArg(e.LockedUntil), s.timeArg(e.ExpiresAt))
		default:
			_, err = r.exec(ctx, `INSERT INTO login_throttle (id, attempts, locked_until, expires_at)
				VALUES ($1, $2, $3, $4)`, e.ID, e.Attempts, s.timeArg(e.LockedUntil), s.timeArg(e.ExpiresAt))
		}
		if err != nil {
			return s.mapErr(ctx, "store throttle entry", err)
		}
	}
	return nil
}

// readThrottle reads the entries of ids through r in one query (a login
// reads two: its account's and its address's), locking the rows it finds
// in id order when lock is set, and reports which ids it found.
//
// The ids are parameters of their own (id IN ($1, $2)), not one list
// unnested in a subquery: PostgreSQL plans that join as a scan of the
// whole table when the table was small at its last analysis (a new
// database), and keeps that generic plan while guesses fill the table
// (TestLoadPathsPlanWithoutScans).
func (s *Store) readThrottle(ctx context.Context, r runner, ids []string, lock bool) ([]storage.ThrottleEntry, map[string]bool, error) {
	if len(ids) == 0 {
		return nil, map[string]bool{}, nil
	}
	query := `SELECT id, attempts, locked_until, expires_at FROM login_throttle
		WHERE id IN (` + placeholders(1, len(ids)) + `) ORDER BY id`
	if lock {
		query += s.d.ForUpdate
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	byID := make(map[string]storage.ThrottleEntry, len(ids))
	found := make(map[string]bool, len(ids))
	rows, err := r.query(ctx, query, args...)
	if err != nil {
		return nil, nil, s.mapErr(ctx, "read throttle entries", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e storage.ThrottleEntry
		if err := rows.Scan(&e.ID, &e.Attempts, s.timeCol(&e.LockedUntil), s.timeCol(&e.ExpiresAt)); err != nil {
			return nil, nil, s.mapErr(ctx, "read throttle entries", err)
		}
		byID[e.ID], found[e.ID] = e, true
	}
	if err := rows.Err(); err != nil {
		return nil, nil, s.mapErr(ctx, "read throttle entries", err)
	}
	out := make([]storage.ThrottleEntry, len(ids))
	for i, id := range ids {
		out[i] = storage.ThrottleEntry{ID: id}
		if e, ok := byID[id]; ok {
			out[i] = e
		}
	}
	return out, found, nil
}
