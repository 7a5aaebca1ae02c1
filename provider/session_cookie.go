package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// browserSession returns the valid SSO session of the browser, or nil. An
// expired one is deleted.
func (p *Provider) browserSession(ctx context.Context, r *http.Request) (*storage.BrowserSession, error) {
	value, ok := p.cookies.Session(r)
	if !ok {
		return nil, nil
	}
	id := web.Digest(value)
	s, err := p.cfg.Store.GetBrowserSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load browser session: %w", err)
	}
	return p.liveSession(ctx, s)
}

// signedIn is browserSession for the authorization endpoint: the valid
// SSO session of the browser, or nil, read at once with its user, whether
// the user has a second factor, and their consent to clientID
// (storage.Store.GetSignedIn), where reading them one by one took five
// statements. The session is not touched: when a touch is due, touch is
// the last-seen time to record (non-zero), for the caller to write with
// the code it issues, or alone (touchSession) if it issues none.
func (p *Provider) signedIn(ctx context.Context, r *http.Request, clientID string) (si *storage.SignedIn, touch time.Time, err error) {
	value, ok := p.cookies.Session(r)
	if !ok {
		return nil, time.Time{}, nil
	}
	si, err = p.cfg.Store.GetSignedIn(ctx, web.Digest(value), clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("load browser session: %w", err)
	}
	now := p.cfg.Now()
	if live, err := p.sessionLive(ctx, &si.Session, now); err != nil || !live {
		return nil, time.Time{}, err
	}
	if touchDue(&si.Session, now) {
		touch = now.UTC()
	}
	return si, touch, nil
}

// liveSession returns s, the session just read, unless it is over: then
// it is deleted, and nil returned. A session in use is touched when due
// (touchDue).
func (p *Provider) liveSession(ctx context.Context, s *storage.BrowserSession) (*storage.BrowserSession, error) {
	now := p.cfg.Now()
	if live, err := p.sessionLive(ctx, s, now); err != nil || !live {
		return nil, err
	}
	if touchDue(s, now) {
		if err := p.touchSession(ctx, s.ID, now.UTC()); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// sessionLive reports whether s, the session just read, is not over at
// now; one that is over is deleted.
func (p *Provider) sessionLive(ctx context.Context, s *storage.BrowserSession, now time.Time) (bool, error) {
	if !p.sessionOver(s, now) {
		return true, nil
	}
	if err := p.cfg.Store.DeleteBrowserSession(ctx, s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("delete expired browser session: %w", err)
	}
	return false, nil
}

// touchDue reports whether session s, in use at now, is to be touched:
// touching at most once a minute keeps the idle timeout honest without a
// write per request.
func touchDue(s *storage.BrowserSession, now time.Time) bool {
	return now.Sub(s.LastSeenAt) > time.Minute
}

// touchSession records that browser session id was seen at at; a session
// gone meanwhile is no error.
func (p *Provider) touchSession(ctx context.Context, id string, at time.Time) error {
	if err := p.cfg.Store.TouchBrowserSession(ctx, id, at); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("touch browser session: %w", err)
	}
	return nil
}

// startSession signs the browser in as userID, replacing any session it
// had, so a session id planted before login is never the one that counts.
// The new session's sid goes into f, for the ID tokens of this sign-in.
//
// user is the user as read when the password was checked. Once the session
// exists, the user's credential is confirmed unchanged: a password reset
// or a disable that committed in between (the check takes tens of
// milliseconds) would otherwise miss this session, and the old password
// would have outlived its reset. errCredentialChanged then, and the
// session is gone again. still, when not nil, confirms likewise, after
// the credential, that what else signed the browser in still holds (a
// passkey not removed meanwhile); its storage.ErrNotFound is
// errCredentialChanged too. It must come after the credential: a change
// that ends sessions locks the user's row before it lists them, which
// ConfirmUserCredential waits for, so a still that then reads the change
// misses nothing it would have ended.
func (p *Provider) startSession(w http.ResponseWriter, r *http.Request, f *flow, user *storage.User, authTime time.Time, amr []string, still func(ctx context.Context) error) error {
	userID := user.ID
	ctx := r.Context()
	if old, ok := p.cookies.Session(r); ok {
		// The session replaced has ended as surely as by a logout: the
		// apps that got tokens in it are told, or a later logout (which
		// names the new sid) would leave them signed in.
		if err := p.cfg.Store.InTransaction(ctx, func(ctx context.Context) error {
			return p.endSessionRecord(ctx, web.Digest(old))
		}); err != nil {
			return fmt.Errorf("replace browser session: %w", err)
		}
	}
	value := web.RandomToken()
	s := &storage.BrowserSession{
		ID: web.Digest(value), UserID: userID, AuthTime: authTime,
		// The sid is random rather than derived from the id (say an HMAC
		// of it): a derived sid could not be looked up without a column
		// of its own anyway, and a random one stays unlinkable to the
		// cookie even if the token secret leaks, and survives a change of
		// that secret.
		SID:        web.RandomToken(),
		LastSeenAt: authTime, CreatedAt: authTime, ExpiresAt: authTime.Add(p.cfg.SessionLifetime),
		// What the account page shows, for the user to tell sessions apart.
		UserAgent: sessionUserAgent(r), Address: sessionAddress(r, p.cfg.TrustedProxies),
		// What signed it in (a password, or a passkey alone); a second
		// factor is added when proved.
		AMR: amr,
	}
	if err := p.cfg.Store.CreateBrowserSession(ctx, s); err != nil {
		return fmt.Errorf("start browser session: %w", err)
	}
	err := p.cfg.Store.ConfirmUserCredential(ctx, userID, user.PasswordHash)
	if err == nil && still != nil {
		err = still(ctx)
	}
	if err != nil {
		if derr := p.cfg.Store.DeleteBrowserSession(ctx, s.ID); derr != nil && !errors.Is(derr, storage.ErrNotFound) {
			return fmt.Errorf("withdraw browser session of a changed credential: %w", derr)
		}
		if errors.Is(err, storage.ErrNotFound) {
			return errCredentialChanged
		}
		return fmt.Errorf("confirm credential: %w", err)
	}
	p.cookies.SetSession(w, value, p.cfg.SessionLifetime)
	f.sid = s.SID
	return nil
}

// errCredentialChanged: the user's password changed (or the user was
// disabled or deleted) while a sign-in or a token request that relied on
// the old state was in flight.
var errCredentialChanged = errors.New("the user's credential changed meanwhile")

// endSession signs the browser out: the session row goes, and the cookie.
// The row goes first: a cookie cleared over a session row that failed to
// go would tell the user they are signed out while the session lives on.
// A request without a session cookie (a cross-site post, which SameSite
// keeps the cookie from, or a server-side call) ends nothing here and sets
// no cookie: it must not sign out, or abandon the pending sign-ins of, the
// browser it passes through.
//
// In the same transaction the records of the clients that had tokens in
// the session are taken, which queues their back-channel logout notices
// (queueSessionLogouts), as a logout at the end_session endpoint does.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) error {
	value, ok := p.cookies.Session(r)
	if !ok {
		return nil
	}
	err := p.cfg.Store.InTransaction(r.Context(), func(ctx context.Context) error {
		return p.endSessionRecord(ctx, web.Digest(value))
	})
	if err != nil {
		return err
	}
	p.clearSession(w)
	return nil
}

// endSessionRecord deletes, in ctx's transaction, the browser session
// whose id is id, and queues the back-channel logout notices of the
// clients that had tokens in it. A session already gone ends nothing.
func (p *Provider) endSessionRecord(ctx context.Context, id string) error {
	s, err := p.cfg.Store.GetBrowserSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // ended already
	}
	if err != nil {
		return fmt.Errorf("load browser session: %w", err)
	}
	if err := p.cfg.Store.DeleteBrowserSession(ctx, s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("end browser session: %w", err)
	}
	return p.queueSessionLogouts(ctx, s.SID)
}

// deleteSession deletes, in ctx, the session row of the browser's
// session cookie, and reports whether it had one (handleEndSession).
func (p *Provider) deleteSession(ctx context.Context, r *http.Request) (bool, error) {
	value, ok := p.cookies.Session(r)
	if !ok {
		return false, nil
	}
	err := p.cfg.Store.DeleteBrowserSession(ctx, web.Digest(value))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("end browser session: %w", err)
	}
	return true, nil
}

// clearSession clears the cookies of a session deleteSession ended.
func (p *Provider) clearSession(w http.ResponseWriter) {
	p.cookies.ClearSession(w)
	// Pending requests started before the logout die with it.
	p.cookies.ClearBinding(w)
}

// sessionOver says whether browser session s has ended by now: past its
// lifetime, or idle longer than Config.SessionIdleTimeout. Every reader
// of a session (the flow, the console, the account page) judges by it.
func (p *Provider) sessionOver(s *storage.BrowserSession, now time.Time) bool {
	return !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) > p.cfg.SessionIdleTimeout
}
