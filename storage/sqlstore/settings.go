package sqlstore

import (
	"context"
	"fmt"
	"time"
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
// already recorded, expired or not. Its own record is never swept by its
// own set: swept and inserted again, a use arriving after the record of
// an earlier one expired would be taken as the first, which is exactly
// the replay the record is kept to refuse. The next set of another jti
// sweeps it.
func (s *Store) SetClientAssertionJTI(ctx context.Context, jti string, exp time.Time) error {
	op := "set client assertion jti"
	r := s.q(ctx)
	// expires_at is NOT NULL: encoded as it is, the zero time included.
	if _, err := r.exec(ctx, `DELETE FROM client_assertion_jtis WHERE expires_at <= $1 AND jti <> $2`,
		s.timeValue(s.now()), jti); err != nil {
		return s.mapErr(ctx, op+": delete expired", err)
	}
	if _, err := r.exec(ctx, `INSERT INTO client_assertion_jtis (jti, expires_at) VALUES ($1, $2)`,
		jti, s.timeValue(exp)); err != nil {
		return s.mapErr(ctx, op, err)
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
