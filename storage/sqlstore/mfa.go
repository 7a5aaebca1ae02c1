package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/hallpass/hallpass/storage"
)

// amrArg encodes a list of authentication methods as one space-separated
// text (method names hold no spaces, RFC 8176), NULL when empty.
func amrArg(amr []string) any { return textArg(strings.Join(amr, " ")) }

// amrCol scans what amrArg encoded: nil for NULL or empty.
type amrCol struct{ dst *[]string }

func (c amrCol) Scan(src any) error {
	var s string
	if err := (textCol{&s}).Scan(src); err != nil {
		return err
	}
	*c.dst = strings.Fields(s)
	if len(*c.dst) == 0 {
		*c.dst = nil
	}
	return nil
}

// SetAuthRequestAMR replaces the authentication methods of request id
// while userID's login is the one it records; storage.ErrNotFound if
// absent or another user's login replaced it.
func (s *Store) SetAuthRequestAMR(ctx context.Context, id, userID string, amr []string) error {
	res, err := s.q(ctx).exec(ctx, `UPDATE auth_requests SET amr = $1 WHERE id = $2 AND user_id = $3`, amrArg(amr), id, userID)
	return s.affectedOne(ctx, res, err, "set auth request amr")
}

// SetBrowserSessionAMR replaces the authentication methods of session id;
// storage.ErrNotFound if absent.
func (s *Store) SetBrowserSessionAMR(ctx context.Context, id string, amr []string) error {
	res, err := s.q(ctx).exec(ctx, `UPDATE browser_sessions SET amr = $1 WHERE id = $2`, amrArg(amr), id)
	return s.affectedOne(ctx, res, err, "set browser session amr")
}

// PutTOTP creates or replaces the TOTP authenticator of t.UserID;
// storage.ErrInvalidReference if the user does not exist.
func (s *Store) PutTOTP(ctx context.Context, t *storage.TOTP) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO user_totp (user_id, secret, last_step, created_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET
			secret = excluded.secret, last_step = excluded.last_step, created_at = excluded.created_at`,
		t.UserID, t.Secret, t.LastStep, s.timeArg(t.CreatedAt))
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("put totp of user %q", t.UserID), err)
	}
	return nil
}

// GetTOTP returns the TOTP authenticator of userID; storage.ErrNotFound if
// none.
func (s *Store) GetTOTP(ctx context.Context, userID string) (*storage.TOTP, error) {
	var t storage.TOTP
	err := s.q(ctx).queryRow(ctx, `SELECT user_id, secret, last_step, created_at FROM user_totp
		WHERE user_id = $1`, userID).Scan(&t.UserID, blobCol{&t.Secret}, &t.LastStep, s.timeCol(&t.CreatedAt))
	if err != nil {
		return nil, s.mapErr(ctx, fmt.Sprintf("get totp of user %q", userID), err)
	}
	return &t, nil
}

// ListTOTP returns every TOTP authenticator ordered by user id, in byte
// order on every backend.
func (s *Store) ListTOTP(ctx context.Context) ([]storage.TOTP, error) {
	return queryAll(ctx, s, "list totp", `SELECT user_id, secret, last_step, created_at FROM user_totp ORDER BY user_id`+s.d.ByteOrder,
		func(row scanner) (*storage.TOTP, error) {
			var t storage.TOTP
			if err := row.Scan(&t.UserID, blobCol{&t.Secret}, &t.LastStep, s.timeCol(&t.CreatedAt)); err != nil {
				return nil, err
			}
			return &t, nil
		})
}

// SetTOTPSecret replaces the sealed secret of userID's authenticator;
// storage.ErrNotFound if there is none.
func (s *Store) SetTOTPSecret(ctx context.Context, userID string, secret []byte) error {
	res, err := s.q(ctx).exec(ctx, `UPDATE user_totp SET secret = $1 WHERE user_id = $2`, secret, userID)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("set totp secret of user %q", userID))
}

// UseTOTPStep advances LastStep to step if step is after it, in one
// statement so two uses of one code cannot both succeed;
// storage.ErrConflict if it is not, storage.ErrNotFound if there is no
// authenticator.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	res, err := s.q(ctx).exec(ctx, `UPDATE user_totp SET last_step = $1 WHERE user_id = $2 AND last_step < $1`,
		step, userID)
	n, err := rowsAffected(res, err)
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("use totp step of user %q", userID), err)
	}
	if n == 1 {
		return nil
	}
	if _, err := s.GetTOTP(ctx, userID); err != nil {
		return err
	}
	return fmt.Errorf("use totp step of user %q: step already used: %w", userID, storage.ErrConflict)
}

// PutRecoveryCodes replaces the recovery codes of userID, in one
// transaction.
func (s *Store) PutRecoveryCodes(ctx context.Context, userID string, digests []string) error {
	op := fmt.Sprintf("put recovery codes of user %q", userID)
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		if _, err := r.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return s.mapErr(ctx, op, err)
		}
		return s.insertRecoveryCodes(ctx, r, op, userID, digests)
	})
}

// PutRecoveryCodesIfNone stores digests as the recovery codes of userID
// unless the user has an unused one, and reports whether it did;
// storage.ErrInvalidReference if the user does not exist.
//
// The user's row is the lock: an update that changes nothing in it holds
// the row (PostgreSQL) or the database's write lock (SQLite, held from the
// start of the transaction already) until the transaction ends, so a
// second caller counts the codes only once the first committed. Counting
// alone would not do at READ COMMITTED: two callers would both see none
// and both insert. An update rather than SELECT ... FOR UPDATE for the
// reason LockKeys gives (at stricter isolation the waiting caller fails
// with storage.ErrTransient instead of counting through an older
// snapshot, and is run again: by retry here when alone, by the caller's
// InTransaction in a caller's transaction); and since the update leaves
// the key unchanged, it locks as FOR NO KEY UPDATE does, which the
// foreign-key checks of rows inserted for the user do not wait for, so
// two transactions that each stored a factor of the user before calling
// this do not deadlock.
func (s *Store) PutRecoveryCodesIfNone(ctx context.Context, userID string, digests []string) (put bool, err error) {
	op := fmt.Sprintf("put first recovery codes of user %q", userID)
	err = s.inTx(ctx, func(ctx context.Context, r runner) error {
		put = false
		res, err := r.exec(ctx, `UPDATE users SET id = id WHERE id = $1`, userID)
		n, err := rowsAffected(res, err)
		if err != nil {
			return s.mapErr(ctx, op+": lock the user", err)
		}
		if n == 0 {
			return fmt.Errorf("%s: no such user: %w", op, storage.ErrInvalidReference)
		}
		left, err := s.countRecoveryCodes(ctx, r, op, userID)
		if err != nil {
			return err
		}
		if left > 0 {
			return nil
		}
		if err := s.insertRecoveryCodes(ctx, r, op, userID, digests); err != nil {
			return err
		}
		put = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return put, nil
}

// insertRecoveryCodes inserts digests as recovery codes of userID
// through r.
func (s *Store) insertRecoveryCodes(ctx context.Context, r runner, op, userID string, digests []string) error {
	for _, d := range digests {
		if _, err := r.exec(ctx, `INSERT INTO recovery_codes (user_id, digest) VALUES ($1, $2)`, userID, d); err != nil {
			return s.mapErr(ctx, op, err)
		}
	}
	return nil
}

// UseRecoveryCode deletes the unused recovery code digest of userID;
// storage.ErrNotFound if there is none.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, digest string) error {
	res, err := s.q(ctx).exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1 AND digest = $2`, userID, digest)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("use recovery code of user %q", userID))
}

// CountRecoveryCodes returns the number of unused recovery codes of userID.
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	return s.countRecoveryCodes(ctx, s.q(ctx), fmt.Sprintf("count recovery codes of user %q", userID), userID)
}

// countRecoveryCodes counts the unused recovery codes of userID through r,
// for op.
func (s *Store) countRecoveryCodes(ctx context.Context, r runner, op, userID string) (int, error) {
	var n int
	if err := r.queryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, s.mapErr(ctx, op, err)
	}
	return n, nil
}

// DeleteUserFactors deletes the TOTP authenticator, recovery codes and
// passkeys of userID, in one transaction.
func (s *Store) DeleteUserFactors(ctx context.Context, userID string) error {
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		for _, q := range []string{`DELETE FROM user_totp WHERE user_id = $1`, `DELETE FROM recovery_codes WHERE user_id = $1`,
			`DELETE FROM passkeys WHERE user_id = $1`} {
			if _, err := r.exec(ctx, q, userID); err != nil {
				return s.mapErr(ctx, fmt.Sprintf("delete factors of user %q", userID), err)
			}
		}
		return nil
	})
}
