package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hallpass/hallpass/storage"
)

const browserSessionColumns = `id, user_id, sid, auth_time, last_seen_at, expires_at, created_at, user_agent, address, amr`

// CreateBrowserSession stores a session; storage.ErrConflict if the id or
// a non-empty sid exists, storage.ErrInvalidReference if the user does not.
func (s *Store) CreateBrowserSession(ctx context.Context, bs *storage.BrowserSession) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO browser_sessions (`+browserSessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		bs.ID, bs.UserID, textArg(bs.SID), s.timeArg(bs.AuthTime), s.timeArg(bs.LastSeenAt),
		s.timeArg(bs.ExpiresAt), s.timeArg(bs.CreatedAt), textArg(bs.UserAgent), textArg(bs.Address), amrArg(bs.AMR))
	if err != nil {
		return s.mapErr(ctx, "create browser session", err)
	}
	return nil
}

// GetBrowserSession returns the session with id, expired or not;
// storage.ErrNotFound if unknown.
func (s *Store) GetBrowserSession(ctx context.Context, id string) (*storage.BrowserSession, error) {
	return s.getBrowserSession(ctx, "get browser session", `id = $1`, id)
}

// GetBrowserSessionBySID returns the session whose public sid is sid,
// expired or not; storage.ErrNotFound if none. An empty sid matches
// nothing: sessions without one store NULL.
func (s *Store) GetBrowserSessionBySID(ctx context.Context, sid string) (*storage.BrowserSession, error) {
	if sid == "" {
		return nil, fmt.Errorf("get browser session by sid: %w", storage.ErrNotFound)
	}
	return s.getBrowserSession(ctx, "get browser session by sid", `sid = $1`, sid)
}

func (s *Store) getBrowserSession(ctx context.Context, op, where, arg string) (*storage.BrowserSession, error) {
	var bs storage.BrowserSession
	err := s.q(ctx).queryRow(ctx, `SELECT `+browserSessionColumns+` FROM browser_sessions
		WHERE `+where, arg).Scan(s.browserSessionDest(&bs)...)
	if err != nil {
		return nil, s.mapErr(ctx, op, err)
	}
	return &bs, nil
}

// browserSessionDest is where a row of browserSessionColumns is scanned.
func (s *Store) browserSessionDest(bs *storage.BrowserSession) []any {
	return []any{&bs.ID, &bs.UserID, textCol{&bs.SID}, s.timeCol(&bs.AuthTime), s.timeCol(&bs.LastSeenAt),
		s.timeCol(&bs.ExpiresAt), s.timeCol(&bs.CreatedAt), textCol{&bs.UserAgent}, textCol{&bs.Address}, amrCol{&bs.AMR}}
}

// TouchBrowserSession sets LastSeenAt of session id; storage.ErrNotFound if
// absent.
func (s *Store) TouchBrowserSession(ctx context.Context, id string, lastSeen time.Time) error {
	res, err := s.q(ctx).exec(ctx, touchSession, s.timeArg(lastSeen), id)
	return s.affectedOne(ctx, res, err, "touch browser session")
}

// DeleteBrowserSession deletes session id; storage.ErrNotFound if absent.
func (s *Store) DeleteBrowserSession(ctx context.Context, id string) error {
	res, err := s.q(ctx).exec(ctx, `DELETE FROM browser_sessions WHERE id = $1`, id)
	return s.affectedOne(ctx, res, err, "delete browser session")
}

// DeleteUserBrowserSessions deletes every session of userID but keep (""
// keeps none: no session has an empty id). It is not an error if there is
// none.
func (s *Store) DeleteUserBrowserSessions(ctx context.Context, userID, keep string) error {
	if _, err := s.q(ctx).exec(ctx, `DELETE FROM browser_sessions WHERE user_id = $1 AND id <> $2`, userID, keep); err != nil {
		return s.mapErr(ctx, fmt.Sprintf("delete browser sessions of user %q", userID), err)
	}
	return nil
}

// PutConsent creates or replaces the consent of (c.UserID, c.ClientID);
// storage.ErrInvalidReference if the user or the client does not exist.
func (s *Store) PutConsent(ctx context.Context, c *storage.Consent) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET
			scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.UserID, c.ClientID, s.listArg(c.Scopes), s.timeArg(c.GrantedAt))
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("put consent of user %q to client %q", c.UserID, c.ClientID), err)
	}
	return nil
}

// GetConsent returns the consent of userID to clientID; storage.ErrNotFound
// if there is none.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	var c storage.Consent
	err := s.q(ctx).queryRow(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
		WHERE user_id = $1 AND client_id = $2`, userID, clientID).Scan(
		&c.UserID, &c.ClientID, s.listCol(&c.Scopes), s.timeCol(&c.GrantedAt))
	if err != nil {
		return nil, s.mapErr(ctx, fmt.Sprintf("get consent of user %q to client %q", userID, clientID), err)
	}
	return &c, nil
}

// ConfirmConsent reads the consent of userID to clientID under the
// dialect's shared lock (Dialect.ForShare; SQLite's readers read the last
// commit, and its writers, a withdrawal among them, commit one at a time)
// and checks that it covers scopes.
func (s *Store) ConfirmConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	op := fmt.Sprintf("confirm consent of user %q to client %q", userID, clientID)
	var granted []string
	err := s.q(ctx).queryRow(ctx, `SELECT scopes FROM consents
		WHERE user_id = $1 AND client_id = $2`+s.d.ForShare, userID, clientID).Scan(s.listCol(&granted))
	if err != nil {
		return s.mapErr(ctx, op, err)
	}
	for _, sc := range scopes {
		if !slices.Contains(granted, sc) {
			return fmt.Errorf("%s: scope %q not consented to: %w", op, sc, storage.ErrNotFound)
		}
	}
	return nil
}

// GetSignedIn returns session id with its user, whether the user has a
// second factor, and their consent to clientID, in one statement;
// storage.ErrNotFound if the session does not exist (a session goes with
// its user: ON DELETE CASCADE).
func (s *Store) GetSignedIn(ctx context.Context, id, clientID string) (*storage.SignedIn, error) {
	var (
		si            storage.SignedIn
		consentClient string
		consent       storage.Consent
	)
	bs, u := &si.Session, &si.User
	dest := append(s.browserSessionDest(bs), s.userDest(u)...)
	dest = append(dest, &si.HasTOTP, &si.HasPasskey, textCol{&consentClient}, s.listCol(&consent.Scopes), s.timeCol(&consent.GrantedAt))
	err := s.q(ctx).queryRow(ctx, s.signedInSelect, id, clientID).Scan(dest...)
	if err != nil {
		return nil, s.mapErr(ctx, "get signed-in session", err)
	}
	if consentClient != "" {
		consent.UserID, consent.ClientID = u.ID, consentClient
		si.Consent = &consent
	}
	return &si, nil
}

// signedInSelect returns GetSignedIn's statement: a browser session ($1)
// joined with its user (userColumns), the existence of the user's
// authenticator and passkeys, and their consent to client $2.
//
// The consent's columns are read by subqueries on its primary key, not
// by a LEFT JOIN: in the generic plan PostgreSQL made for the join while
// consents was empty (a new database), it read every consent to the
// client and filtered them by user, on each sign-in, until the table was
// next analyzed (TestLoadPathsPlanWithoutScans).
func signedInSelect(d *Dialect) string {
	consent := func(column string) string {
		return `(SELECT c.` + column + ` FROM consents c WHERE c.user_id = s.user_id AND c.client_id = $2)`
	}
	return `SELECT ` + qualified("s", browserSessionColumns) + `,
	` + userColumns(d) + `,
	EXISTS (SELECT 1 FROM user_totp WHERE user_totp.user_id = users.id),
	EXISTS (SELECT 1 FROM passkeys WHERE passkeys.user_id = users.id),
	` + consent("client_id") + `, ` + consent("scopes") + `, ` + consent("granted_at") + `
	FROM browser_sessions s
	JOIN users ON users.id = s.user_id
	WHERE s.id = $1`
}

// qualified returns the comma-separated columns, each prefixed with
// table.
func qualified(table, columns string) string {
	cs := strings.Split(columns, ", ")
	for i, c := range cs {
		cs[i] = table + "." + c
	}
	return strings.Join(cs, ", ")
}

const authRequestColumns = `id, query, requested_at, browser_binding, user_id, auth_time, expires_at, amr`

// CreateAuthRequest stores a pending request; storage.ErrConflict if the id
// exists, storage.ErrInvalidReference if r.UserID is set and does not exist.
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.ID, r.Query, s.timeArg(r.RequestedAt), blobArg(r.BrowserBinding), textArg(r.UserID),
		s.timeArg(r.AuthTime), s.timeArg(r.ExpiresAt), amrArg(r.AMR))
	if err != nil {
		return s.mapErr(ctx, "create auth request", err)
	}
	return nil
}

// GetAuthRequest returns the pending request with id; storage.ErrNotFound if
// unknown.
func (s *Store) GetAuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error) {
	var r storage.AuthRequest
	err := s.q(ctx).queryRow(ctx, `SELECT `+authRequestColumns+` FROM auth_requests
		WHERE id = $1`, id).Scan(&r.ID, &r.Query, s.timeCol(&r.RequestedAt), blobCol{&r.BrowserBinding},
		textCol{&r.UserID}, s.timeCol(&r.AuthTime), s.timeCol(&r.ExpiresAt), amrCol{&r.AMR})
	if err != nil {
		return nil, s.mapErr(ctx, "get auth request", err)
	}
	return &r, nil
}

// SetAuthRequestLogin sets UserID, AuthTime and AMR of request id;
// storage.ErrNotFound if absent, storage.ErrInvalidReference if the user
// does not exist.
func (s *Store) SetAuthRequestLogin(ctx context.Context, id, userID string, authTime time.Time, amr []string) error {
	res, err := s.q(ctx).exec(ctx, `UPDATE auth_requests SET user_id = $1, auth_time = $2, amr = $3 WHERE id = $4`,
		textArg(userID), s.timeArg(authTime), amrArg(amr), id)
	return s.affectedOne(ctx, res, err, "set auth request login")
}

// DeleteAuthRequest deletes request id; storage.ErrNotFound if absent, so
// of two concurrent deletes exactly one succeeds.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	res, err := s.q(ctx).exec(ctx, `DELETE FROM auth_requests WHERE id = $1`, id)
	return s.affectedOne(ctx, res, err, "delete auth request")
}
