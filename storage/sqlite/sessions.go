package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

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
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO browser_sessions (`+browserSessionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		bs.ID, bs.UserID, nullString(bs.SID), micros(bs.AuthTime), micros(bs.LastSeenAt), micros(bs.ExpiresAt), micros(bs.CreatedAt))
	if err != nil {
		return mapErr("create browser session", err)
	}
	return nil
}

// GetBrowserSession returns the session with id, expired or not;
// storage.ErrNotFound if unknown.
func (s *Store) GetBrowserSession(ctx context.Context, id string) (*storage.BrowserSession, error) {
	return s.getBrowserSession(ctx, "get browser session", `id = ?`, id)
}

// GetBrowserSessionBySID returns the session whose public sid is sid,
// expired or not; storage.ErrNotFound if none. An empty sid matches
// nothing: sessions without one store NULL.
func (s *Store) GetBrowserSessionBySID(ctx context.Context, sid string) (*storage.BrowserSession, error) {
	if sid == "" {
		return nil, fmt.Errorf("get browser session by sid: %w", storage.ErrNotFound)
	}
	return s.getBrowserSession(ctx, "get browser session by sid", `sid = ?`, sid)
}

func (s *Store) getBrowserSession(ctx context.Context, op, where, arg string) (*storage.BrowserSession, error) {
	var (
		bs                                   storage.BrowserSession
		sid                                  sql.NullString
		authTime, lastSeen, expires, created sql.NullInt64
	)
	err := s.q(ctx).QueryRowContext(ctx, `SELECT `+browserSessionColumns+` FROM browser_sessions
		WHERE `+where, arg).Scan(&bs.ID, &bs.UserID, &sid, &authTime, &lastSeen, &expires, &created)
	if err != nil {
		return nil, mapErr(op, err)
	}
	bs.SID = sid.String
	bs.AuthTime = fromMicros(authTime)
	bs.LastSeenAt = fromMicros(lastSeen)
	bs.ExpiresAt = fromMicros(expires)
	bs.CreatedAt = fromMicros(created)
	return &bs, nil
}

// TouchBrowserSession sets LastSeenAt of session id; storage.ErrNotFound if
// absent.
func (s *Store) TouchBrowserSession(ctx context.Context, id string, lastSeen time.Time) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE browser_sessions SET last_seen_at = ? WHERE id = ?`,
		micros(lastSeen), id)
	return affectedOne(res, err, "touch browser session")
}

// DeleteBrowserSession deletes session id; storage.ErrNotFound if absent.
func (s *Store) DeleteBrowserSession(ctx context.Context, id string) error {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM browser_sessions WHERE id = ?`, id)
	return affectedOne(res, err, "delete browser session")
}

// DeleteUserBrowserSessions deletes every session of userID. It is not an
// error if there is none.
func (s *Store) DeleteUserBrowserSessions(ctx context.Context, userID string) error {
	if _, err := s.q(ctx).ExecContext(ctx, `DELETE FROM browser_sessions WHERE user_id = ?`, userID); err != nil {
		return mapErr(fmt.Sprintf("delete browser sessions of user %q", userID), err)
	}
	return nil
}

// PutConsent creates or replaces the consent of (c.UserID, c.ClientID);
// storage.ErrInvalidReference if the user or the client does not exist.
func (s *Store) PutConsent(ctx context.Context, c *storage.Consent) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET
			scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.UserID, c.ClientID, list(c.Scopes), micros(c.GrantedAt))
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
		granted sql.NullInt64
	)
	err := s.q(ctx).QueryRowContext(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
		WHERE user_id = ? AND client_id = ?`, userID, clientID).Scan(
		&c.UserID, &c.ClientID, listScanner{&c.Scopes}, &granted)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get consent of user %q to client %q", userID, clientID), err)
	}
	c.GrantedAt = fromMicros(granted)
	return &c, nil
}

const authRequestColumns = `id, query, requested_at, browser_binding, user_id, auth_time, expires_at`

// CreateAuthRequest stores a pending request; storage.ErrConflict if the id
// exists, storage.ErrInvalidReference if r.UserID is set and does not exist.
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Query, micros(r.RequestedAt), blob(r.BrowserBinding), nullString(r.UserID),
		micros(r.AuthTime), micros(r.ExpiresAt))
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
		binding                      []byte
		userID                       sql.NullString
		requested, authTime, expires sql.NullInt64
	)
	err := s.q(ctx).QueryRowContext(ctx, `SELECT `+authRequestColumns+` FROM auth_requests
		WHERE id = ?`, id).Scan(&r.ID, &r.Query, &requested, &binding, &userID, &authTime, &expires)
	if err != nil {
		return nil, mapErr("get auth request", err)
	}
	r.RequestedAt = fromMicros(requested)
	r.BrowserBinding = fromBlob(binding)
	r.UserID = userID.String
	r.AuthTime = fromMicros(authTime)
	r.ExpiresAt = fromMicros(expires)
	return &r, nil
}

// SetAuthRequestLogin sets UserID and AuthTime of request id;
// storage.ErrNotFound if absent, storage.ErrInvalidReference if the user
// does not exist.
func (s *Store) SetAuthRequestLogin(ctx context.Context, id, userID string, authTime time.Time) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE auth_requests SET user_id = ?, auth_time = ? WHERE id = ?`,
		nullString(userID), micros(authTime), id)
	return affectedOne(res, err, "set auth request login")
}

// DeleteAuthRequest deletes request id; storage.ErrNotFound if absent, so
// of two concurrent deletes exactly one succeeds.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM auth_requests WHERE id = ?`, id)
	return affectedOne(res, err, "delete auth request")
}
