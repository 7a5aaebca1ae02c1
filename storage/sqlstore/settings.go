package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// CreateSetting stores a named value once; storage.ErrConflict if it exists.
func (s *Store) CreateSetting(ctx context.Context, name string, value []byte) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)`,
		name, blobArg(value))
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("create setting %q", name), err)
	}
	return nil
}

// PutSetting creates or replaces the value of setting name.
func (s *Store) PutSetting(ctx context.Context, name string, value []byte) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
		name, blobArg(value))
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("put setting %q", name), err)
	}
	return nil
}

// GetSetting returns the value of setting name (nil if it was stored empty);
// storage.ErrNotFound for an unknown name.
func (s *Store) GetSetting(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.q(ctx).queryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(blobCol{&v})
	if err != nil {
		return nil, s.mapErr(ctx, fmt.Sprintf("get setting %q", name), err)
	}
	return v, nil
}

// SetClientAssertionJTI deletes every expired JTI (expiry at or before now)
// but jti itself, then records jti until exp; storage.ErrConflict if jti is
// already recorded and unexpired, or recorded (expired or not) and exp is
// not after now.
//
// Its own expired record is replaced, not swept: sweeping would take
// jti for unknown from then on, while replacing is one atomic statement
// that two sets racing over the same expired record cannot both win (the
// loser finds the winner's unexpired record). It is replaced only by a
// record that is itself unexpired, so a late second use of the very use
// recorded (the same exp, already past) is still refused rather than
// taken for the first; a later use of the same jti, with an exp after
// now, is not a replay of anything still valid and is recorded.
func (s *Store) SetClientAssertionJTI(ctx context.Context, jti string, exp time.Time) error {
	op := "set client assertion jti"
	r := s.q(ctx)
	now := s.timeValue(s.now())
	// expires_at is NOT NULL: encoded as it is, the zero time included.
	if _, err := r.exec(ctx, `DELETE FROM client_assertion_jtis WHERE expires_at <= $1 AND jti <> $2`,
		now, jti); err != nil {
		return s.mapErr(ctx, op+": delete expired", err)
	}
	n, err := rowsAffected(r.exec(ctx, `INSERT INTO client_assertion_jtis (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE client_assertion_jtis.expires_at <= $3 AND excluded.expires_at > $3`,
		jti, s.timeValue(exp), now))
	if err != nil {
		return s.mapErr(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, storage.ErrConflict)
	}
	return nil
}

// GetClientAssertionJTI returns the expiry of a recorded jti, whether past or
// not; storage.ErrNotFound if unknown.
func (s *Store) GetClientAssertionJTI(ctx context.Context, jti string) (time.Time, error) {
	var exp time.Time
	err := s.q(ctx).queryRow(ctx, `SELECT expires_at FROM client_assertion_jtis WHERE jti = $1`,
		jti).Scan(s.timeCol(&exp))
	if err != nil {
		return time.Time{}, s.mapErr(ctx, "get client assertion jti", err)
	}
	return exp, nil
}
