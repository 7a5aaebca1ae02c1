package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// claimNoticesQuery returns the statement that claims due logout
// notices: $1 now, $2 the lease's end, $3 the limit. It counts the claim
// (claims), not an attempt: whether the claim sends the notice and the
// client fails it, the sender tells RetryLogoutNotice. Where the dialect
// locks rows (PostgreSQL) the subquery skips rows another sender's claim
// holds, so concurrent claims neither wait for each other nor get the
// same row; where every write holds the database's one write lock
// (SQLite) there is no concurrent claim to skip.
func claimNoticesQuery(d *Dialect) string {
	lock := ""
	if d.ForUpdate != "" {
		lock = d.ForUpdate + " SKIP LOCKED"
	}
	return `UPDATE logout_notices SET lease_until = $2, claims = claims + 1
		WHERE id IN (SELECT id FROM logout_notices
			WHERE next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY next_attempt_at LIMIT $3` + lock + `)
		RETURNING id, client_id, sid, user_id, attempts, claims, created_at`
}

// ClaimLogoutNotices leases up to limit due notices until now+lease and
// returns them (see storage.Store), in one statement.
func (s *Store) ClaimLogoutNotices(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]storage.LogoutNotice, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim logout notices: limit must be positive, got %d", limit)
	}
	var out []storage.LogoutNotice
	claim := func(ctx context.Context, r runner) (err error) {
		out, err = queryAllIn(ctx, s, r, "claim logout notices", s.claimNotices,
			func(row scanner) (*storage.LogoutNotice, error) {
				var n storage.LogoutNotice
				if err := row.Scan(&n.ID, &n.ClientID, &n.SID, &n.UserID, &n.Attempts, &n.Claim, s.timeCol(&n.CreatedAt)); err != nil {
					return nil, err
				}
				return &n, nil
			}, s.timeArg(now), s.timeArg(now.Add(lease)), limit)
		return err
	}
	// A write that returns rows (inStmt).
	if err := s.inStmt(ctx, claim); err != nil {
		return nil, err
	}
	return out, nil
}

// FinishLogoutNotice deletes notice id (see storage.Store).
func (s *Store) FinishLogoutNotice(ctx context.Context, id string) error {
	res, err := s.q(ctx).exec(ctx, `DELETE FROM logout_notices WHERE id = $1`, id)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("finish logout notice %q", id))
}

// RetryLogoutNotice makes notice id due at next, without a lease, if
// claim number claim still holds it, and counts the attempt if attempted
// (see storage.Store). claims only grows, so it tells a sender's claim
// from any later one, however many claims since counted no attempt;
// attempts could not: a postponed claim leaves it as it was.
func (s *Store) RetryLogoutNotice(ctx context.Context, id string, claim int, attempted bool, next time.Time) error {
	counted := 0
	if attempted {
		counted = 1
	}
	res, err := s.q(ctx).exec(ctx, `UPDATE logout_notices SET next_attempt_at = $2, lease_until = NULL, attempts = attempts + $4
		WHERE id = $1 AND claims = $3`, id, s.timeArg(next), claim, counted)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("retry logout notice %q", id))
}
