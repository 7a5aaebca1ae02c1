package directory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
)

// What a user does on their own account page, and an admin to a user's
// sessions: through the service, like every other change, so that its
// rules and its record of who changed what are the same.

// objectSession and objectConsent name what a refusal is about.
const (
	objectSession Object = "session"
	objectConsent Object = "consent"
	objectPasskey Object = "passkey"
)

// Sessions returns the browser sessions of user userID, most recently
// seen first, expired ones included (the caller judges the timeouts).
func (s *Users) Sessions(ctx context.Context, userID string) ([]storage.BrowserSession, error) {
	list, err := s.store.ListUserBrowserSessions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list the sessions of user %s: %w", userID, err)
	}
	return list, nil
}

// EndSession signs user userID's browser session sessionID out. A session
// of another user is not found, as a missing one is.
func (s *Users) EndSession(ctx context.Context, userID, sessionID string) error {
	bs, err := s.store.GetBrowserSession(ctx, sessionID)
	if err == nil && bs.UserID != userID {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storeErr(err, objectSession, "of this user")
	}
	err = s.endingSessions(ctx, func(tx context.Context) ([]storage.SessionClient, error) {
		if err := s.store.DeleteBrowserSession(tx, sessionID); err != nil {
			return nil, storeErr(err, objectSession, "of this user")
		}
		ended, err := s.store.TakeSessionClients(tx, bs.SID, "", "")
		if err != nil {
			return nil, fmt.Errorf("read the clients of the ended session: %w", err)
		}
		return ended, nil
	})
	if err != nil {
		return err
	}
	record(ctx, s.audit, ObjectUser, "session_ended", userID, nil, nil)
	return nil
}

// EndSessions signs user idOrName out everywhere and ends their grants,
// as a password reset does, without changing the password.
func (s *Users) EndSessions(ctx context.Context, idOrName string) error {
	u, err := s.find(ctx, idOrName)
	if err != nil {
		return err
	}
	err = s.endingSessions(ctx, func(tx context.Context) ([]storage.SessionClient, error) {
		return endUserSessions(tx, s.store, u.ID, "", "whose sessions an admin ended")
	})
	if err != nil {
		return err
	}
	record(ctx, s.audit, ObjectUser, "sessions_ended", u.ID, nil, map[string]any{"username": u.Username})
	return nil
}

// Consents returns the apps user userID allowed, by client id.
func (s *Users) Consents(ctx context.Context, userID string) ([]storage.Consent, error) {
	list, err := s.store.ListUserConsents(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list the consents of user %s: %w", userID, err)
	}
	return list, nil
}

// WithdrawConsent forgets that user userID allowed client clientID and
// ends the user's grants to it: its refresh tokens stop working and its
// access tokens stop introspecting as active, at once. The app must ask
// again.
func (s *Users) WithdrawConsent(ctx context.Context, userID, clientID string) error {
	err := inTransaction(ctx, s.store, func(tx context.Context) error {
		if err := s.store.DeleteConsent(tx, userID, clientID); err != nil {
			return storeErr(err, objectConsent, clientID)
		}
		if err := s.store.RevokeTokensByClientSubject(tx, clientID, userID, s.now().Add(s.accessLifespan+time.Minute)); err != nil {
			return fmt.Errorf("revoke the grants of user %s to client %q: %w", userID, clientID, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.audit.Record(ctx, audit.Event{Action: "consent.withdrawn", Object: "user:" + userID, ClientID: clientID})
	return nil
}

// ChangePassword sets user idOrName's password, under the password rules,
// keeping every other field; as any password change, it ends the user's
// sessions and grants (Update). Checking the current password is the
// caller's.
func (s *Users) ChangePassword(ctx context.Context, idOrName, password string) (UserView, error) {
	if password == "" {
		return UserView{}, invalid(ObjectUser, "password", "the new password is required")
	}
	u, err := s.find(ctx, idOrName)
	if err != nil {
		return UserView{}, err
	}
	// The profile given is the password rules' (a password must not be
	// the username); the update keeps the profile it reads (passwordOnly).
	update, err := s.prepareUpdate(ctx, u.ID, UserInput{Username: u.Username, Password: password, Email: u.Email,
		EmailVerified: u.EmailVerified, Name: u.Name, Roles: u.Roles, Disabled: u.Disabled}, true)
	if err != nil {
		return UserView{}, err
	}
	return update(ctx)
}

// RemovePasskey deletes user userID's passkey passkeyID and returns it. A
// passkey signs in alone, as a password does, so what it signed in must
// not outlive it (a passkey the user did not add, found and removed, would
// otherwise leave its holder signed in): in the same transaction the
// removal ends every browser session of the user but keep, the session of
// the browser removing it, and every grant of the user (endUserSessions),
// as a new password does, and logout notices are queued for the clients
// of the ended sessions. A passkey of another user is not found, as a missing
// one is. Recording the removal is the caller's (its mfa events).
func (s *Users) RemovePasskey(ctx context.Context, userID, passkeyID, keep string) (*storage.Passkey, error) {
	var removed *storage.Passkey
	err := s.endingSessions(ctx, func(tx context.Context) ([]storage.SessionClient, error) {
		// Both take the owner: another user's passkey is not found, as
		// a missing one is.
		pk, err := s.store.GetUserPasskey(tx, userID, passkeyID)
		if err == nil {
			err = s.store.DeletePasskey(tx, userID, passkeyID)
		}
		if err != nil {
			return nil, storeErr(err, objectPasskey, passkeyID)
		}
		removed = pk
		return endUserSessions(tx, s.store, userID, keep, "who removed a passkey")
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// PutTOTP stores user t.UserID's authenticator app and reports whether
// it replaced one. An authenticator's code, proved at a sign-in, is as
// much a part of the session as a passkey (ResetFactors): a user who
// replaces an authenticator they lost, or one they did not set up, must
// not leave signed in whoever the old one signed in. So a replacement
// ends, in the same transaction, every browser session of the user but
// keep, the session of the browser replacing it, and every grant of the
// user (endUserSessions), as removing a passkey does, and logout notices
// are queued for the clients of the ended sessions. A first
// authenticator ends nothing. Run in the caller's transaction when ctx
// carries one (the recovery codes of a first factor are issued with
// it). Recording the enrolment is the caller's (its mfa events).
func (s *Users) PutTOTP(ctx context.Context, t *storage.TOTP, keep string) (replaced bool, err error) {
	err = s.endingSessions(ctx, func(tx context.Context) ([]storage.SessionClient, error) {
		replaced = false
		// The user's row, locked, orders two enrolments at once (two
		// browsers of the account, on PostgreSQL at READ COMMITTED): the
		// second waits, then reads the first's authenticator and counts
		// as the replacement it is. Without it both read none, and the
		// later one replaced the earlier without ending what it signed in.
		if _, err := s.store.GetUser(storage.LockingReads(tx), t.UserID); err != nil {
			return nil, storeErr(err, ObjectUser, t.UserID)
		}
		if _, err := s.store.GetTOTP(tx, t.UserID); err == nil {
			replaced = true
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("read the authenticator of user %s: %w", t.UserID, err)
		}
		if err := s.store.PutTOTP(tx, t); err != nil {
			return nil, fmt.Errorf("store the authenticator of user %s: %w", t.UserID, err)
		}
		if !replaced {
			return nil, nil
		}
		return endUserSessions(tx, s.store, t.UserID, keep, "who replaced their authenticator")
	})
	return replaced, err
}

// ResetFactors deletes user idOrName's second factors (authenticator app,
// passkeys and recovery codes): their next sign-in enrols anew if one of
// their roles requires it. The admin API, the console and the CLI all
// reset through here, so a reset has one effect and one record whoever
// asks for it.
//
// A reset is the remedy for a lost device or an account that may be
// compromised: someone who had the password may have enrolled their own
// authenticator app, or a passkey, which signs in alone. Whatever the
// factors were, what they signed in must end with them, so in the same
// transaction the reset ends every browser session and every grant of the
// user (endUserSessions: the user's token epoch advances, refresh tokens
// stop working, access tokens introspect inactive), as a new password
// does, and logout notices are queued for the clients of the ended
// sessions. Which kind of factor was removed changes nothing of that: an
// app's code proved at a sign-in is as much a part of the session as a
// passkey. The entry mfa.factors_reset names the kinds of factor removed
// and what ended.
func (s *Users) ResetFactors(ctx context.Context, idOrName string) error {
	u, err := s.find(ctx, idOrName)
	if err != nil {
		return err
	}
	var removed []string
	err = s.endingSessions(ctx, func(tx context.Context) ([]storage.SessionClient, error) {
		// Read in the transaction, for the record only: the reset and
		// what it ends do not depend on it. Run again (a retried
		// transaction), it reads again.
		removed = []string{}
		if _, err := s.store.GetTOTP(tx, u.ID); err == nil {
			removed = append(removed, "totp")
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("read the authenticator of user %q: %w", idOrName, err)
		}
		pks, err := s.store.ListPasskeys(tx, u.ID)
		if err != nil {
			return nil, fmt.Errorf("list the passkeys of user %q: %w", idOrName, err)
		}
		if len(pks) > 0 {
			removed = append(removed, "passkeys")
		}
		codes, err := s.store.CountRecoveryCodes(tx, u.ID)
		if err != nil {
			return nil, fmt.Errorf("count the recovery codes of user %q: %w", idOrName, err)
		}
		if codes > 0 {
			removed = append(removed, "recovery_codes")
		}
		if err := s.store.DeleteUserFactors(tx, u.ID); err != nil {
			return nil, storeErr(err, ObjectUser, idOrName)
		}
		return endUserSessions(tx, s.store, u.ID, "", "whose second factors were reset")
	})
	if err != nil {
		return err
	}
	s.audit.Record(ctx, audit.Event{Action: "mfa.factors_reset", Object: "user:" + u.ID,
		Details: map[string]any{"username": u.Username, "removed": removed, "ended": []string{"sessions", "grants"}}})
	return nil
}
