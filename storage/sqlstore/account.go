package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// ListUserBrowserSessions returns every session of userID, expired or
// not, most recently seen first. NULLS LAST: a session never seen (NULL)
// is the least recent on every backend, where PostgreSQL would sort it
// first and SQLite last.
func (s *Store) ListUserBrowserSessions(ctx context.Context, userID string) ([]storage.BrowserSession, error) {
	return queryAll(ctx, s, fmt.Sprintf("list browser sessions of user %q", userID),
		`SELECT `+browserSessionColumns+` FROM browser_sessions WHERE user_id = $1
		ORDER BY last_seen_at DESC NULLS LAST, id`, func(row scanner) (*storage.BrowserSession, error) {
			var bs storage.BrowserSession
			if err := row.Scan(s.browserSessionDest(&bs)...); err != nil {
				return nil, err
			}
			return &bs, nil
		}, userID)
}

// ListUserConsents returns every consent userID gave, ordered by client id.
func (s *Store) ListUserConsents(ctx context.Context, userID string) ([]storage.Consent, error) {
	return queryAll(ctx, s, fmt.Sprintf("list consents of user %q", userID),
		`SELECT user_id, client_id, scopes, granted_at FROM consents WHERE user_id = $1 ORDER BY client_id`,
		func(row scanner) (*storage.Consent, error) {
			var c storage.Consent
			if err := row.Scan(&c.UserID, &c.ClientID, s.listCol(&c.Scopes), s.timeCol(&c.GrantedAt)); err != nil {
				return nil, err
			}
			return &c, nil
		}, userID)
}

// DeleteConsent deletes the consent of userID to clientID;
// storage.ErrNotFound if there is none.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	res, err := s.q(ctx).exec(ctx, `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("delete consent of user %q to client %q", userID, clientID))
}

// RevokeTokensByClientSubject ends every grant of subject to clientID in
// one transaction, its rows as endGrantRows has it, and records the
// revocation of each grant's self-contained access tokens.
func (s *Store) RevokeTokensByClientSubject(ctx context.Context, clientID, subject string, accessUntil time.Time) error {
	op := fmt.Sprintf("revoke tokens of subject %q at client %q", subject, clientID)
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		// Self-contained access tokens have no row: their grants get
		// revocation records instead.
		rows, err := r.query(ctx, `SELECT DISTINCT request_id FROM tokens
			WHERE client_id = $1 AND subject = $2 AND request_id <> ''`, clientID, subject)
		if err != nil {
			return s.mapErr(ctx, op+": read the grants", err)
		}
		var grants []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return s.mapErr(ctx, op+": read the grants", err)
			}
			grants = append(grants, storage.GrantRevocationID(id))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.mapErr(ctx, op+": read the grants", err)
		}
		if err := s.recordRevocations(ctx, r, grants, accessUntil); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return s.endGrantRows(ctx, r, op, `client_id = $1 AND subject = $2`, clientID, subject)
	})
}
