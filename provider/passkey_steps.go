package provider

// The passkey steps of the browser flow and the account page's passkeys
// (passkey.go has the ceremonies): signing in with a passkey alone at the
// login page, a passkey as the second factor, a passkey set up at the
// enrolment step, and adding and removing passkeys on the account page.
// Each is a form post carrying the browser's answer ("credential") and
// the ceremony's sealed state ("state"); a refusal shows the page again
// with a message (400, or 429 when the limits refuse).

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// Paths of the passkey steps.
const (
	PathLoginPasskey        = PathLogin + "/passkey"
	PathSecondFactorPasskey = PathSecondFactor + "/passkey"
	PathEnrolPasskey        = PathEnrol + "/passkey"
	// PathAccountPasskeys adds a passkey (POST); PathAccountPasskeys/{id}/remove removes one.
	PathAccountPasskeys = PathAccount + "/passkeys"
)

// csrfPasskey is the purpose of the login page's passkey form's token.
const csrfPasskey = "passkey"

// Messages of the passkey forms.
const (
	passkeyUnreadable = "The passkey did not answer in a way hallpass understands, or the page was open too long. Try again."
	passkeyRefused    = "This passkey could not sign you in. Try again, or use another way to sign in."
	passkeyNoName     = "Give the passkey a name (up to 64 characters), so you can tell it apart later."
	passkeyNotAdded   = "This passkey could not be set up (is it set up already?). Try again, or use another one."
)

// passkeyAttempt is the throttle's attempt for a passkey answer: against
// the user's second-factor limit when the account is known, always
// against the client address.
func (p *Provider) passkeyAttempt(r *http.Request, userID string) *loginAttempt {
	if userID == "" {
		// No account is known: an entry of its own, so only the address
		// limit binds.
		userID = "unknown passkey"
	}
	return p.logins.secondFactorAttempt(userID, clientAddress(r, p.cfg.TrustedProxies))
}

// passkeyFailed records a refused passkey answer.
func (p *Provider) passkeyFailed(ctx context.Context, userID string, a *loginAttempt, err error) {
	p.log.InfoContext(ctx, "passkey refused", "request_id", RequestID(ctx), "user_id", userID, "client", clientString(a), "reason", err.Error())
	if userID == "" {
		p.metrics.signins.WithLabelValues("mfa_failed").Inc()
		p.audit.Record(ctx, auditPasskeyFailure(err))
		return
	}
	p.mfaEvent(ctx, "passkey_failed", userID, "client", clientString(a), "reason", err.Error())
}

// reservePasskey counts a passkey answer against the limits; false when
// it answered itself (429 via refuse, or a failure of ours).
func (p *Provider) reservePasskey(w http.ResponseWriter, r *http.Request, a *loginAttempt, refuse func(status int, msg string)) bool {
	ctx := r.Context()
	v, err := p.logins.reserve(ctx, a, p.cfg.Now())
	if err != nil {
		p.pendingGone(w, r, err)
		return false
	}
	if !v.allowed {
		p.log.WarnContext(ctx, "passkey throttled", "request_id", RequestID(ctx), "client", clientString(a), "limit", v.limit(),
			"retry_after_seconds", retryAfter(v.retryAfter))
		w.Header().Set("Retry-After", retryAfter(v.retryAfter))
		refuse(http.StatusTooManyRequests, fmt.Sprintf("Too many failed attempts. Try again in %s.", humanWait(v.retryAfter)))
		return false
	}
	return true
}

// passkeyProven verifies the answer (verifyPasskey) and resets the
// throttle of a, whose user is userID, once it proves the passkey; what
// names the step in the log. False when it answered itself: a refusal,
// recorded and shown via refuse, or a failure of ours.
func (p *Provider) passkeyProven(w http.ResponseWriter, r *http.Request, a *loginAttempt, userID string, refuse func(status int, msg string), what string,
	c *ceremony, parsed *protocol.ParsedCredentialAssertionData, user *storage.User, pks []storage.Passkey) (*storage.User, *storage.Passkey, bool) {
	ctx := r.Context()
	user, pk, err := p.verifyPasskey(ctx, c, parsed, user, pks)
	if errors.Is(err, errPasskeyRefused) {
		p.passkeyFailed(ctx, userID, a, err)
		refuse(http.StatusBadRequest, passkeyRefused)
		return nil, nil, false
	}
	if errors.Is(err, errPasskeyInput) {
		// Answered already: a replay, refused as a stale page is.
		p.passkeyFailed(ctx, userID, a, err)
		refuse(http.StatusBadRequest, passkeyUnreadable)
		return nil, nil, false
	}
	if err != nil {
		p.pendingGone(w, r, err)
		return nil, nil, false
	}
	if err := p.logins.succeeded(ctx, a, p.cfg.Now()); err != nil {
		p.logFailure(ctx, what+" succeeded but its throttle reset failed", err)
	}
	return user, pk, true
}

// handleLoginPasskey signs in with a passkey alone: whoever's passkey
// answered, with user verification, is signed in with two factors (amr
// hwk or swk, user, mfa), and the flow goes on as after a password and a
// second factor.
func (p *Provider) handleLoginPasskey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := p.resumeStep(w, r)
	if f == nil {
		return
	}
	refuse := func(status int, msg string) { p.loginForm(w, r, f, status, "", msg) }
	c, err := p.openCeremony(ceremonyLogin, f.handle, r.PostForm.Get("state"))
	if err != nil {
		refuse(http.StatusBadRequest, passkeyUnreadable)
		return
	}
	parsed, err := parseAssertion(r.PostForm.Get("credential"))
	if err != nil {
		p.passkeyFailed(ctx, "", p.passkeyAttempt(r, ""), err)
		refuse(http.StatusBadRequest, passkeyUnreadable)
		return
	}
	// The account the answer names, if any, for its limit.
	var ownerID string
	if pk, err := p.cfg.Store.GetPasskey(ctx, passkeyIDOf(parsed.RawID)); err == nil {
		ownerID = pk.UserID
	} else if !errors.Is(err, storage.ErrNotFound) {
		p.pendingGone(w, r, fmt.Errorf("load passkey: %w", err))
		return
	}
	a := p.passkeyAttempt(r, ownerID)
	if !p.reservePasskey(w, r, a, refuse) {
		return
	}
	user, pk, ok := p.passkeyProven(w, r, a, ownerID, refuse, "passkey sign-in", c, parsed, nil, nil)
	if !ok {
		return
	}
	authTime := p.cfg.Now().UTC()
	amr := passwordlessAMR(pk)
	if err := p.startSession(w, r, f, user, authTime, amr, p.passkeyStill(user.ID, pk.ID)); err != nil {
		if errors.Is(err, errCredentialChanged) {
			refuse(http.StatusBadRequest, passkeyRefused)
			return
		}
		p.pendingGone(w, r, err)
		return
	}
	f.user, f.authTime, f.amr = user, authTime, amr
	if err := p.recordLogin(ctx, f); err != nil {
		p.pendingGone(w, r, err)
		return
	}
	p.recordSignin(ctx, f, a, user, outcomeSuccess, map[string]any{"method": "passkey", "amr": amr})
	p.log.InfoContext(ctx, "login", "request_id", RequestID(ctx), "user_id", user.ID, "client_id", f.ar.GetClient().GetID(), "method", "passkey")
	p.advance(w, r, f)
}

// passkeyStill returns startSession's check that passkey passkeyID of
// userID, which signed the browser in alone, was not removed (or its
// user's factors reset) since it was checked: the removal ended the
// sessions that existed then, and a session started after it must not
// outlive it. storage.ErrNotFound when it is gone.
func (p *Provider) passkeyStill(userID, passkeyID string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if _, err := p.cfg.Store.GetUserPasskey(ctx, userID, passkeyID); err != nil {
			return fmt.Errorf("confirm passkey: %w", err)
		}
		return nil
	}
}

// handleSecondFactorPasskey takes one of the user's passkeys as the
// second factor after the password.
func (p *Provider) handleSecondFactorPasskey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, user, sess := p.factorSubject(w, r)
	if f == nil {
		return
	}
	refuse := func(status int, msg string) { p.codePage(w, r, f, user, status, msg) }
	c, err := p.openCeremony(ceremonyFactor, f.handle+" "+user.ID, r.PostForm.Get("state"))
	if err != nil {
		refuse(http.StatusBadRequest, passkeyUnreadable)
		return
	}
	a := p.passkeyAttempt(r, user.ID)
	parsed, err := parseAssertion(r.PostForm.Get("credential"))
	if err != nil {
		p.passkeyFailed(ctx, user.ID, a, err)
		refuse(http.StatusBadRequest, passkeyUnreadable)
		return
	}
	if !p.reservePasskey(w, r, a, refuse) {
		return
	}
	pks, err := p.cfg.Store.ListPasskeys(ctx, user.ID)
	if err != nil {
		p.pendingGone(w, r, fmt.Errorf("list passkeys: %w", err))
		return
	}
	_, pk, ok := p.passkeyProven(w, r, a, user.ID, refuse, "second factor", c, parsed, user, pks)
	if !ok {
		return
	}
	if err := p.proveFactor(r.Context(), f, sess, passkeyMethod(pk)); err != nil {
		p.pendingGone(w, r, err)
		return
	}
	p.log.InfoContext(ctx, "second factor", "request_id", RequestID(ctx), "user_id", user.ID, "method", passkeyMethod(pk))
	p.advance(w, r, f)
}

// handleEnrolPasskey sets up a passkey at the enrolment step, in place of
// an authenticator app; the first second factor shows the recovery codes
// before the flow goes on.
func (p *Provider) handleEnrolPasskey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, user, sess := p.factorSubject(w, r)
	if f == nil || !p.mayEnrol(w, r, f, user) {
		return
	}
	refuse := func(status int, msg string) { p.enrolPage(w, r, f, user, status, msg, "", "") }
	c, err := p.openCeremony(ceremonyEnrol, f.handle+" "+user.ID, r.PostForm.Get("state"))
	if err != nil {
		refuse(http.StatusBadRequest, passkeyUnreadable)
		return
	}
	name := passkeyName(r.PostForm.Get("name"))
	if name == "" {
		refuse(http.StatusBadRequest, passkeyNoName)
		return
	}
	parsed, err := parseAttestation(r.PostForm.Get("credential"))
	if err != nil {
		refuse(http.StatusBadRequest, passkeyUnreadable)
		return
	}
	pk, codes, err := p.registerPasskey(ctx, c, parsed, user, name)
	if msg := p.registrationRefused(ctx, user.ID, err); msg != "" {
		refuse(http.StatusBadRequest, msg)
		return
	}
	if err != nil {
		p.pendingGone(w, r, err)
		return
	}
	p.enrolled(w, r, f, sess, passkeyMethod(pk), codes)
}

// registrationRefused logs a registration of userID's passkey that
// registerPasskey refused with err and returns what to tell the user: the
// stale-page message for a ceremony answered already (errPasskeyInput),
// passkeyNotAdded for an answer that registers nothing (errPasskeyRefused).
// "" when err is neither (nil, or a failure of ours, the caller's to
// answer). The enrolment step and the account page share it.
func (p *Provider) registrationRefused(ctx context.Context, userID string, err error) string {
	var msg string
	switch {
	case errors.Is(err, errPasskeyInput):
		msg = passkeyUnreadable
	case errors.Is(err, errPasskeyRefused):
		msg = passkeyNotAdded
	default:
		return ""
	}
	p.log.InfoContext(ctx, "passkey not registered", "request_id", RequestID(ctx), "user_id", userID, "reason", err.Error())
	return msg
}

// accountPasskeyForm is the account page's form that adds a passkey.
func (p *Provider) accountPasskeyForm(ctx context.Context, s *selfSignIn, pks []storage.Passkey) *web.PasskeyForm {
	f := p.registerPasskeyForm(ctx, ceremonyAccount, s.user.ID+" "+s.session.ID, s.user, pks)
	if f != nil {
		f.Action, f.CSRF, f.Button = PathAccountPasskeys, p.selfCSRF(s), "Add a passkey"
	}
	return f
}

// accountAddPasskey adds a passkey from the account page and shows the
// recovery codes of a first second factor.
func (p *Provider) accountAddPasskey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := signedIn(r)
	c, err := p.openCeremony(ceremonyAccount, s.user.ID+" "+s.session.ID, r.PostForm.Get("state"))
	if err != nil {
		p.showAccount(w, r, http.StatusBadRequest, "", "", passkeyUnreadable)
		return
	}
	name := passkeyName(r.PostForm.Get("name"))
	if name == "" {
		p.showAccount(w, r, http.StatusBadRequest, "", "", passkeyNoName)
		return
	}
	parsed, err := parseAttestation(r.PostForm.Get("credential"))
	if err != nil {
		p.showAccount(w, r, http.StatusBadRequest, "", "", passkeyUnreadable)
		return
	}
	pk, codes, err := p.registerPasskey(ctx, c, parsed, s.user, name)
	if msg := p.registrationRefused(ctx, s.user.ID, err); msg != "" {
		p.showAccount(w, r, http.StatusBadRequest, "", "", msg)
		return
	}
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	p.selfProved(ctx, s, passkeyMethod(pk))
	if len(codes) > 0 {
		p.pages.MFA(w, http.StatusOK, web.MFAData{Title: "Your passkey is set up", RecoveryCodes: codes, Back: PathAccount})
		return
	}
	http.Redirect(w, r, PathAccount+"?done=passkey", http.StatusSeeOther)
}

// accountRemovePasskey removes one of the user's passkeys, which ends
// the user's other sessions and grants (directory's RemovePasskey): a
// passkey the user finds and removes must not leave whoever it signed in
// signed in. This browser stays signed in.
func (p *Provider) accountRemovePasskey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := signedIn(r)
	pk, err := p.dir.Users().RemovePasskey(ctx, s.user.ID, pathParam(r, "id"), s.session.ID)
	if errors.Is(err, directory.ErrNotFound) {
		p.showAccount(w, r, http.StatusNotFound, "", "", "That passkey is not one of yours (was it removed already?).")
		return
	}
	if err != nil {
		p.consoleFailure(w, r, fmt.Errorf("remove passkey: %w", err))
		return
	}
	p.mfaEvent(ctx, "passkey_removed", s.user.ID, "passkey", pk.Name)
	http.Redirect(w, r, PathAccount+"?done=passkey-removed", http.StatusSeeOther)
}

// auditPasskeyFailure is the audit event of a refused passwordless
// answer whose passkey names no known account.
func auditPasskeyFailure(err error) audit.Event {
	return audit.Event{Action: "mfa.passkey_failed", Details: map[string]any{"reason": err.Error()}}
}
