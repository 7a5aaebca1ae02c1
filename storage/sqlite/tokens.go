package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hallpass/hallpass/storage"
)

const tokenColumns = `kind, signature, request_id, requested_at, client_id, subject,
	requested_scopes, granted_scopes, requested_audience, granted_audience,
	form, session, active, expires_at, access_signature`

// CreateToken stores a token row; storage.ErrConflict if (kind, signature)
// exists.
func (s *Store) CreateToken(ctx context.Context, t *storage.Token) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(t.Kind), t.Signature, t.RequestID, micros(t.RequestedAt), t.ClientID, t.Subject,
		list(t.RequestedScopes), list(t.GrantedScopes), list(t.RequestedAudience), list(t.GrantedAudience),
		t.Form, blob(t.Session), t.Active, micros(t.ExpiresAt), t.AccessSignature)
	if err != nil {
		return mapErr(fmt.Sprintf("create %s token", t.Kind), err)
	}
	return nil
}

// GetToken returns the row whether active or not; storage.ErrNotFound if
// absent.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (*storage.Token, error) {
	var (
		t                  storage.Token
		kindStr            string
		requested, expires sql.NullInt64
		session            []byte
	)
	err := s.q(ctx).QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE kind = ? AND signature = ?`, string(kind), signature).Scan(
		&kindStr, &t.Signature, &t.RequestID, &requested, &t.ClientID, &t.Subject,
		listScanner{&t.RequestedScopes}, listScanner{&t.GrantedScopes},
		listScanner{&t.RequestedAudience}, listScanner{&t.GrantedAudience},
		&t.Form, &session, &t.Active, &expires, &t.AccessSignature)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get %s token", kind), err)
	}
	t.Kind = storage.TokenKind(kindStr)
	t.RequestedAt = fromMicros(requested)
	t.ExpiresAt = fromMicros(expires)
	t.Session = fromBlob(session)
	return &t, nil
}

// DeactivateToken marks an active row inactive with a conditional update.
// storage.ErrNotFound if the row is absent, storage.ErrConflict if it was
// already inactive.
func (s *Store) DeactivateToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	op := fmt.Sprintf("deactivate %s token", kind)
	q := s.q(ctx)
	res, err := q.ExecContext(ctx, `UPDATE tokens SET active = 0
		WHERE kind = ? AND signature = ? AND active = 1`, string(kind), signature)
	if err != nil {
		return mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(op, err)
	}
	if n == 1 {
		return nil
	}
	var one int
	err = q.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE kind = ? AND signature = ?`,
		string(kind), signature).Scan(&one)
	if err != nil {
		return mapErr(op, err)
	}
	return fmt.Errorf("%s: already inactive: %w", op, storage.ErrConflict)
}

// DeleteToken deletes one row; storage.ErrNotFound if absent.
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM tokens WHERE kind = ? AND signature = ?`,
		string(kind), signature)
	return affectedOne(res, err, fmt.Sprintf("delete %s token", kind))
}

// DeactivateTokensByRequest marks every row of kind with requestID inactive.
// It is not an error if there is none.
func (s *Store) DeactivateTokensByRequest(ctx context.Context, kind storage.TokenKind, requestID string) error {
	_, err := s.q(ctx).ExecContext(ctx, `UPDATE tokens SET active = 0
		WHERE kind = ? AND request_id = ? AND active = 1`, string(kind), requestID)
	if err != nil {
		return mapErr(fmt.Sprintf("deactivate %s tokens of request %q", kind, requestID), err)
	}
	return nil
}

// DeleteTokensByRequest deletes every row of kind with requestID. It is not
// an error if there is none.
func (s *Store) DeleteTokensByRequest(ctx context.Context, kind storage.TokenKind, requestID string) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM tokens WHERE kind = ? AND request_id = ?`,
		string(kind), requestID)
	if err != nil {
		return mapErr(fmt.Sprintf("delete %s tokens of request %q", kind, requestID), err)
	}
	return nil
}

// RevokeTokensByClient ends every grant of clientID in one transaction (the
// one carried by ctx, if any): its access-token rows are deleted, its
// authorization-code and refresh-token rows marked inactive. Its OIDC and
// PKCE rows are left as they are: they are only read after an active code,
// and they expire with it. It is not an error if there is none.
func (s *Store) RevokeTokensByClient(ctx context.Context, clientID string) error {
	return s.revokeTokens(ctx, "client_id", clientID, fmt.Sprintf("revoke tokens of client %q", clientID))
}

// RevokeTokensBySubject does what RevokeTokensByClient does for every token
// row whose subject is subject.
func (s *Store) RevokeTokensBySubject(ctx context.Context, subject string) error {
	return s.revokeTokens(ctx, "subject", subject, fmt.Sprintf("revoke tokens of subject %q", subject))
}

// revokeTokens revokes the token rows whose column (client_id or subject,
// both indexed) is value.
func (s *Store) revokeTokens(ctx context.Context, column, value, op string) error {
	return s.inTx(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM tokens WHERE `+column+` = ? AND kind = ?`,
			value, string(storage.KindAccessToken)); err != nil {
			return mapErr(op+": delete access tokens", err)
		}
		if _, err := q.ExecContext(ctx, `UPDATE tokens SET active = 0
			WHERE `+column+` = ? AND kind IN (?, ?) AND active = 1`,
			value, string(storage.KindAuthorizeCode), string(storage.KindRefreshToken)); err != nil {
			return mapErr(op+": deactivate codes and refresh tokens", err)
		}
		return nil
	})
}
