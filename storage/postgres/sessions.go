package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hallpass/hallpass/storage"
)

// nullString encodes s, NULL when empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const browserSessionColumns = `id, user_id, sid, auth_time, last_seen_at, expires_at, created_at`

// CreateBrowserSession stores a session; storage.ErrConflict if the id or
// a non-empty sid exists, storage.ErrInvalidReference if the user does not.
func (s *Store) CreateBrowserSession(ctx context.Context, bs *storage.BrowserSession) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO browser_sessions (`+browserSessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		bs.ID, bs.UserID, nullString(bs.SID), ts(bs.AuthTime), ts(bs.LastSeenAt), ts(bs.ExpiresAt), ts(bs.CreatedAt))
	if err != nil {
		return mapErr("create browser session", err)
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
	var (
		bs                                   storage.BrowserSession
		sid                                  pgtype.Text
		authTime, lastSeen, expires, created pgtype.Timestamptz
	)
	err := s.q(ctx).QueryRow(ctx, `SELECT `+browserSessionColumns+` FROM browser_sessions
		WHERE `+where, arg).Scan(&bs.ID, &bs.UserID, &sid, &authTime, &lastSeen, &expires, &created)
	if err != nil {
		return nil, mapErr(op, err)
	}
	bs.SID = sid.String
	bs.AuthTime = fromTS(authTime)
	bs.LastSeenAt = fromTS(lastSeen)
	bs.ExpiresAt = fromTS(expires)
	bs.CreatedAt = fromTS(created)
	return &bs, nil
}

// TouchBrowserSession sets LastSeenAt of session id; storage.ErrNotFound if
// absent.
func (s *Store) TouchBrowserSession(ctx context.Context, id string, lastSeen time.Time) error {
	tag, err := s.q(ctx).Exec(ctx, `UPDATE browser_sessions SET last_seen_at = $1 WHERE id = $2`,
		ts(lastSeen), id)
	return affectedOne(tag, err, "touch browser session")
}

// DeleteBrowserSession deletes session id; storage.ErrNotFound if absent.
func (s *Store) DeleteBrowserSession(ctx context.Context, id string) error {
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM browser_sessions WHERE id = $1`, id)
	return affectedOne(tag, err, "delete browser session")
}

// DeleteUserBrowserSessions deletes every session of userID. It is not an
// error if there is none.
func (s *Store) DeleteUserBrowserSessions(ctx context.Context, userID string) error {
	if _, err := s.q(ctx).Exec(ctx, `DELETE FROM browser_sessions WHERE user_id = $1`, userID); err != nil {
		return mapErr(fmt.Sprintf("delete browser sessions of user %q", userID), err)
	}
	return nil
}

// PutConsent creates or replaces the consent of (c.UserID, c.ClientID);
// storage.ErrInvalidReference if the user or the client does not exist.
func (s *Store) PutConsent(ctx context.Context, c *storage.Consent) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET
			scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.UserID, c.ClientID, list(c.Scopes), ts(c.GrantedAt))
	if err != nil {
		return mapErr(fmt.Sprintf("put consent of user %q to client %q", c.UserID, c.ClientID), err)
	}
	return nil
}

// GetConsent returns the consent of userID to clientID; storage.ErrNotFound
// if there is none.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	var (
		c       storage.Consent
		granted pgtype.Timestamptz
	)
	err := s.q(ctx).QueryRow(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
		WHERE user_id = $1 AND client_id = $2`, userID, clientID).Scan(
		&c.UserID, &c.ClientID, &c.Scopes, &granted)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get consent of user %q to client %q", userID, clientID), err)
	}
	c.Scopes = fromList(c.Scopes)
	c.GrantedAt = fromTS(granted)
	return &c, nil
}

const authRequestColumns = `id, query, requested_at, browser_binding, user_id, auth_time, expires_at`

// CreateAuthRequest stores a pending request; storage.ErrConflict if the id
// exists, storage.ErrInvalidReference if r.UserID is set and does not exist.
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.Query, ts(r.RequestedAt), blob(r.BrowserBinding), nullString(r.UserID),
		ts(r.AuthTime), ts(r.ExpiresAt))
	if err != nil {
		return mapErr("create auth request", err)
	}
	return nil
}

// GetAuthRequest returns the pending request with id; storage.ErrNotFound if
// unknown.
func (s *Store) GetAuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error) {
	var (
		r                            storage.AuthRequest
		userID                       pgtype.Text
		requested, authTime, expires pgtype.Timestamptz
	)
	err := s.q(ctx).QueryRow(ctx, `SELECT `+authRequestColumns+` FROM auth_requests
		WHERE id = $1`, id).Scan(&r.ID, &r.Query, &requested, &r.BrowserBinding, &userID, &authTime, &expires)
	if err != nil {
		return nil, mapErr("get auth request", err)
	}
	r.RequestedAt = fromTS(requested)
	r.BrowserBinding = fromBlob(r.BrowserBinding)
	r.UserID = userID.String
	r.AuthTime = fromTS(authTime)
	r.ExpiresAt = fromTS(expires)
	return &r, nil
}

// SetAuthRequestLogin sets UserID and AuthTime of request id;
// storage.ErrNotFound if absent, storage.ErrInvalidReference if the user
// does not exist.
func (s *Store) SetAuthRequestLogin(ctx context.Context, id, userID string, authTime time.Time) error {
	tag, err := s.q(ctx).Exec(ctx, `UPDATE auth_requests SET user_id = $1, auth_time = $2 WHERE id = $3`,
		nullString(userID), ts(authTime), id)
	return affectedOne(tag, err, "set auth request login")
}

// DeleteAuthRequest deletes request id; storage.ErrNotFound if absent, so
// of two concurrent deletes exactly one succeeds.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM auth_requests WHERE id = $1`, id)
	return affectedOne(tag, err, "delete auth request")
}
