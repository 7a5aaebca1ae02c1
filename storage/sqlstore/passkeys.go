package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hallpass/hallpass/storage"
)

const passkeyColumns = `id, user_id, public_key, sign_count, transports, aaguid, backup_eligible, backup_state,
	user_verified, attestation_fmt, name, created_at, last_used_at`

// scanPasskey reads one row of passkeyColumns.
func (s *Store) scanPasskey(row scanner) (*storage.Passkey, error) {
	var (
		pk    storage.Passkey
		count int64
	)
	if err := row.Scan(&pk.ID, &pk.UserID, blobCol{&pk.PublicKey}, &count, amrCol{&pk.Transports}, blobCol{&pk.AAGUID},
		&pk.BackupEligible, &pk.BackupState, &pk.UserVerified, textCol{&pk.AttestationFormat}, &pk.Name,
		s.timeCol(&pk.CreatedAt), s.timeCol(&pk.LastUsedAt)); err != nil {
		return nil, err
	}
	pk.SignCount = uint32(count)
	return &pk, nil
}

// CreatePasskey stores pk; storage.ErrConflict if its id exists,
// storage.ErrInvalidReference if its user does not.
func (s *Store) CreatePasskey(ctx context.Context, pk *storage.Passkey) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		pk.ID, pk.UserID, pk.PublicKey, int64(pk.SignCount), textArg(strings.Join(pk.Transports, " ")), blobArg(pk.AAGUID),
		pk.BackupEligible, pk.BackupState, pk.UserVerified, textArg(pk.AttestationFormat), pk.Name,
		s.timeArg(pk.CreatedAt), s.timeArg(pk.LastUsedAt))
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("create passkey of user %q", pk.UserID), err)
	}
	return nil
}

// GetPasskey returns passkey id; storage.ErrNotFound if absent.
func (s *Store) GetPasskey(ctx context.Context, id string) (*storage.Passkey, error) {
	pk, err := s.scanPasskey(s.q(ctx).queryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE id = $1`, id))
	if err != nil {
		return nil, s.mapErr(ctx, "get passkey", err)
	}
	return pk, nil
}

// GetUserPasskey returns userID's passkey id, in one read that takes the
// owner; storage.ErrNotFound if absent or another user's.
func (s *Store) GetUserPasskey(ctx context.Context, userID, id string) (*storage.Passkey, error) {
	pk, err := s.scanPasskey(s.q(ctx).queryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 AND id = $2`, userID, id))
	if err != nil {
		return nil, s.mapErr(ctx, fmt.Sprintf("get passkey of user %q", userID), err)
	}
	return pk, nil
}

// ListPasskeys returns userID's passkeys, oldest first. NULLS FIRST: an
// unknown creation time (NULL) is the oldest on every backend, where
// PostgreSQL would sort it last and SQLite first; ties by id in byte
// order.
func (s *Store) ListPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error) {
	return queryAll(ctx, s, fmt.Sprintf("list passkeys of user %q", userID),
		`SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY created_at NULLS FIRST, id`+s.d.ByteOrder, s.scanPasskey, userID)
}

// UsePasskey advances the sign count of passkey id in one statement, so
// of two uses of one assertion only one succeeds; storage.ErrConflict if
// the count did not advance, storage.ErrNotFound if there is no passkey.
func (s *Store) UsePasskey(ctx context.Context, id string, signCount uint32, backupState bool, at time.Time) error {
	n := int64(signCount)
	res, err := s.q(ctx).exec(ctx, `UPDATE passkeys SET sign_count = $1, backup_state = $2, last_used_at = $3
		WHERE id = $4 AND (sign_count < $1 OR (sign_count = 0 AND $1 = 0))`, n, backupState, s.timeArg(at), id)
	affected, err := rowsAffected(res, err)
	if err != nil {
		return s.mapErr(ctx, "use passkey", err)
	}
	if affected == 1 {
		return nil
	}
	if _, err := s.GetPasskey(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("use passkey: signature counter %d did not advance: %w", signCount, storage.ErrConflict)
}

// DeletePasskey deletes userID's passkey id; storage.ErrNotFound if the
// user has no such passkey.
func (s *Store) DeletePasskey(ctx context.Context, userID, id string) error {
	res, err := s.q(ctx).exec(ctx, `DELETE FROM passkeys WHERE user_id = $1 AND id = $2`, userID, id)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("delete passkey of user %q", userID))
}
