package provider

// The second-factor steps of the browser flow (authflow.go): the code
// prompt for an enrolled user, and the enrolment of an authenticator for a
// user who must have one and has none. Both come right after the password
// step, before any scope or consent decision, and hand the flow back to
// the dispatcher once the code is right.

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// Paths of the second-factor steps.
const (
	PathSecondFactor = "/login/code"
	PathEnrol        = "/login/enrol"
	// PathFactorContinue takes the flow on after the recovery codes were
	// shown (or a re-enrolment was put off).
	PathFactorContinue = "/login/continue"
)

// csrfFactor is the purpose of the second-factor forms' CSRF tokens.
const csrfFactor = "second-factor"

// Messages of the code prompt.
const (
	codeWrong    = "The code is incorrect."
	codeReplayed = "This code was already used. Wait for your app to show the next one."
)

// toFactorPage sends the browser to a second-factor step, storing the
// request with who signed in for it first, as the consent step does.
func (p *Provider) toFactorPage(w http.ResponseWriter, r *http.Request, f *flow, page string) {
	p.metrics.signins.WithLabelValues("mfa_required").Inc()
	if err := p.savePending(w, r, f); err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	if f.pending.UserID == "" {
		if err := p.recordLogin(r.Context(), f); err != nil {
			p.authorizeError(w, r, f.ar, err)
			return
		}
	}
	p.toPage(w, r, f, page)
}

// factorSubject resumes the step's request and returns the user who
// signed in for it and their browser session; it answers itself and
// returns nil when the request is unusable, or when this browser signed
// out (or someone else signed in) since the password step.
func (p *Provider) factorSubject(w http.ResponseWriter, r *http.Request) (*flow, *storage.User, *storage.BrowserSession) {
	f := p.resumeStep(w, r)
	if f == nil {
		return nil, nil, nil
	}
	if f.pending.UserID == "" {
		p.pendingGone(w, r, errPendingGone)
		return nil, nil, nil
	}
	sess, err := p.browserSession(r.Context(), r)
	if err != nil {
		p.pendingGone(w, r, err)
		return nil, nil, nil
	}
	if sess == nil || sess.UserID != f.pending.UserID {
		p.pendingGone(w, r, errPendingGone)
		return nil, nil, nil
	}
	user, err := p.activeUser(r.Context(), f.pending.UserID)
	if err != nil {
		p.pendingGone(w, r, err)
		return nil, nil, nil
	}
	if user == nil {
		p.pendingGone(w, r, errPendingGone)
		return nil, nil, nil
	}
	f.sid = sess.SID
	return f, user, sess
}

// codePage renders the code prompt, with a passkey button for a user
// who has passkeys.
func (p *Provider) codePage(w http.ResponseWriter, r *http.Request, f *flow, user *storage.User, status int, msg string) {
	ctx := r.Context()
	d := web.MFAData{Title: "Two-step sign-in", Lead: "Enter the six-digit code from your authenticator app, or one of your recovery codes.",
		Error: msg, Action: PathSecondFactor, RequestID: f.handle, CSRF: p.formCSRF(r, csrfFactor, f.handle), CodeLabel: "Code",
		FormActionOrigins: redirectOrigin(f)}
	pks, err := p.cfg.Store.ListPasskeys(ctx, user.ID)
	if err != nil {
		p.pendingGone(w, r, err)
		return
	}
	if len(pks) > 0 {
		totp, err := p.hasTOTP(ctx, user.ID)
		if err != nil {
			p.pendingGone(w, r, err)
			return
		}
		d.Passkey = p.factorPasskeyForm(ctx, f.handle, user, pks)
		if d.Passkey != nil {
			d.Passkey.Action, d.Passkey.RequestID, d.Passkey.CSRF = PathSecondFactorPasskey, f.handle, d.CSRF
			d.Passkey.Button = "Use a passkey"
		}
		switch {
		case totp:
		case d.Passkey != nil:
			d.Lead, d.CodeLabel = "Use your passkey, or enter one of your recovery codes.", "Recovery code"
		default:
			// Passkeys are off here (the issuer's host changed to an IP
			// address): the recovery codes remain.
			d.Lead, d.CodeLabel = "Your passkeys cannot be used at this address. Enter one of your recovery codes.", "Recovery code"
		}
	}
	p.pages.MFA(w, status, d)
}

// handleSecondFactorPage shows the code prompt.
func (p *Provider) handleSecondFactorPage(w http.ResponseWriter, r *http.Request) {
	f, user, _ := p.factorSubject(w, r)
	if f == nil {
		return
	}
	p.codePage(w, r, f, user, http.StatusOK, "")
}

// handleSecondFactor checks a code, within the login limits: a TOTP code
// (spending its time step) or a recovery code (spending the code). Once
// right, the sign-in and the browser session are marked as having a
// second factor and the flow goes on; a recovery code first offers to set
// up the authenticator again.
func (p *Provider) handleSecondFactor(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, user, sess := p.factorSubject(w, r)
	if f == nil {
		return
	}
	code := r.PostForm.Get("code")
	if len(code) > maxCodeLen || normaliseCode(code) == "" {
		p.codePage(w, r, f, user, http.StatusOK, codeWrong)
		return
	}
	code = normaliseCode(code)
	a := p.logins.secondFactorAttempt(user.ID, clientAddress(r, p.cfg.TrustedProxies))
	v, err := p.logins.reserve(ctx, a, p.cfg.Now())
	if err != nil {
		p.pendingGone(w, r, err)
		return
	}
	if !v.allowed {
		p.log.WarnContext(ctx, "second factor throttled", "request_id", RequestID(ctx), "user_id", user.ID,
			"client", clientString(a), "limit", v.limit(), "retry_after_seconds", retryAfter(v.retryAfter))
		w.Header().Set("Retry-After", retryAfter(v.retryAfter))
		p.codePage(w, r, f, user, http.StatusTooManyRequests, fmt.Sprintf("Too many wrong codes. Try again in %s.", humanWait(v.retryAfter)))
		return
	}
	recovery := isRecoveryCode(code)
	// The code is spent in the transaction that records the factor on
	// the sign-in: a failure of ours in between spends nothing, so the
	// user's retry with the same code (a recovery code above all) works.
	var ok bool
	err = p.cfg.Store.InTransaction(ctx, func(ctx context.Context) (err error) {
		if recovery {
			ok, err = p.checkRecoveryCode(ctx, user.ID, code)
		} else {
			ok, err = p.checkTOTP(ctx, user.ID, code)
		}
		if err != nil || !ok {
			return err
		}
		return p.proveFactor(ctx, f, sess, amrOTP)
	})
	switch {
	case errors.Is(err, errCodeReplayed):
		p.mfaEvent(ctx, "code_replayed", user.ID)
		p.codePage(w, r, f, user, http.StatusOK, codeReplayed)
		return
	case err != nil:
		p.pendingGone(w, r, err)
		return
	case !ok:
		p.mfaEvent(ctx, "code_wrong", user.ID, "client", clientString(a))
		p.codePage(w, r, f, user, http.StatusOK, codeWrong)
		return
	}
	if err := p.logins.succeeded(ctx, a, p.cfg.Now()); err != nil {
		p.logFailure(ctx, "second factor succeeded but its throttle reset failed", err)
	}
	p.log.InfoContext(ctx, "second factor", "request_id", RequestID(ctx), "user_id", user.ID, "recovery_code", recovery)
	if recovery {
		left, err := p.cfg.Store.CountRecoveryCodes(ctx, user.ID)
		if err != nil {
			p.pendingGone(w, r, err)
			return
		}
		p.mfaEvent(ctx, "recovery_code_used", user.ID, "recovery_codes_left", left)
		if !p.recentlySignedIn(f.pending.AuthTime) {
			// The enrolment of an old sign-in is refused (mayEnrol):
			// offered now, its post would send the browser to sign in
			// again, where the user, who may have lost the
			// authenticator, would spend another recovery code. The
			// sign-in goes on; the account page replaces the
			// authenticator after a fresh one.
			p.advance(w, r, f)
			return
		}
		p.enrolPage(w, r, f, user, http.StatusOK, "", "",
			fmt.Sprintf("You signed in with a recovery code; %d are left. If you lost your authenticator, set up a new one now.", left))
		return
	}
	p.advance(w, r, f)
}

// proveFactor records, in ctx, that the sign-in proved a second factor,
// on the pending request and on the browser session.
//
// The request's write is bound to the user who proved the factor
// (f.pending.UserID, as factorSubject read it): the same browser may
// post another user's password for the request while the factor is
// checked, and that login, with its password alone, must not end up
// carrying this user's factor. Then, or when the request was completed
// or dropped meanwhile, it is gone for this step (errPendingGone).
func (p *Provider) proveFactor(ctx context.Context, f *flow, sess *storage.BrowserSession, method string) error {
	f.amr = withFactor(f.pending.AMR, method)
	if err := p.cfg.Store.SetAuthRequestAMR(ctx, f.pending.ID, f.pending.UserID, f.amr); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			err = errPendingGone
		}
		return fmt.Errorf("record second factor: %w", err)
	}
	f.pending.AMR = f.amr
	if err := p.cfg.Store.SetBrowserSessionAMR(ctx, sess.ID, withFactor(sess.AMR, method)); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("record second factor: %w", err)
	}
	return nil
}

// enrolPage renders the enrolment step with a new secret, or with the one
// posted (secret and sealed non-empty) when its code was wrong. notice,
// when set, explains why (a recovery code was used) and offers to go on
// without enrolling.
func (p *Provider) enrolPage(w http.ResponseWriter, r *http.Request, f *flow, user *storage.User, status int, errMsg, posted, notice string) {
	e, err := p.enrolmentFor(user, posted)
	if err != nil {
		p.pendingGone(w, r, err)
		return
	}
	d := web.MFAData{Title: "Set up two-step sign-in",
		Lead:   "Your account needs a second step at sign-in: a code from an authenticator app on your phone.",
		Notice: notice, Error: errMsg, Action: PathEnrol, RequestID: f.handle, CSRF: p.formCSRF(r, csrfFactor, f.handle),
		CodeLabel: "Code from the app", QRPNG: e.qr, Secret: e.secret, Enrolment: e.sealed, FormActionOrigins: redirectOrigin(f)}
	if notice != "" {
		d.Lead = ""
		d.ContinueAction, d.ContinueLabel = PathFactorContinue, "Not now"
	} else if p.passkeysOn() {
		pks, err := p.cfg.Store.ListPasskeys(r.Context(), user.ID)
		if err != nil {
			p.pendingGone(w, r, err)
			return
		}
		if d.Passkey = p.registerPasskeyForm(r.Context(), ceremonyEnrol, f.handle+" "+user.ID, user, pks); d.Passkey != nil {
			d.Lead = "Your account needs a second step at sign-in: a passkey on this device, or a code from an authenticator app on your phone."
			d.Passkey.Action, d.Passkey.RequestID, d.Passkey.CSRF = PathEnrolPasskey, f.handle, d.CSRF
			d.Passkey.Button = "Set up a passkey"
		}
	}
	p.pages.MFA(w, status, d)
}

// enrolmentFor is the enrolment the page shows: the posted one when it
// still opens, else a new one.
func (p *Provider) enrolmentFor(user *storage.User, posted string) (*enrolment, error) {
	if posted != "" {
		if secret, err := p.openEnrolment(user, posted); err == nil {
			return p.enrolmentOf(user, secret, posted)
		}
	}
	return p.newEnrolment(user)
}

// mayEnrol reports whether the sign-in may set up a second factor: it
// must be recent (recentlySignedIn), as on the account page, or the
// browser is sent to the request's login page first, so that a session
// left open long ago cannot put in an authenticator or a passkey of its
// holder's (the enrolment pages of any request it starts, a consent
// page's included, are reachable by their handle); and a user who has
// one (an authenticator or a passkey) must prove it (or a recovery code)
// first, so a stolen password cannot add another.
func (p *Provider) mayEnrol(w http.ResponseWriter, r *http.Request, f *flow, user *storage.User) bool {
	if !p.recentlySignedIn(f.pending.AuthTime) {
		p.log.InfoContext(r.Context(), "enrolment of an old sign-in: signing in again", "request_id", RequestID(r.Context()), "user_id", user.ID)
		p.toPage(w, r, f, PathLogin)
		return false
	}
	if hasSecondFactor(f.pending.AMR) {
		return true
	}
	enrolled, err := p.hasFactor(r.Context(), user.ID)
	if err != nil {
		p.pendingGone(w, r, err)
		return false
	}
	if enrolled {
		p.pageError(w, r, http.StatusForbidden, "Sign in with your second factor first",
			"You already have an authenticator or a passkey. Go back to the application and sign in with it (or a recovery code) to replace it.")
		return false
	}
	return true
}

// handleEnrolPage shows the enrolment step.
func (p *Provider) handleEnrolPage(w http.ResponseWriter, r *http.Request) {
	f, user, _ := p.factorSubject(w, r)
	if f == nil || !p.mayEnrol(w, r, f, user) {
		return
	}
	p.enrolPage(w, r, f, user, http.StatusOK, "", "", "")
}

// handleEnrol confirms an enrolment with a code from the new
// authenticator, stores it, and shows the recovery codes of a first
// enrolment before the flow goes on.
func (p *Provider) handleEnrol(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, user, sess := p.factorSubject(w, r)
	if f == nil || !p.mayEnrol(w, r, f, user) {
		return
	}
	posted := r.PostForm.Get("enrolment")
	secret, err := p.openEnrolment(user, posted)
	if err != nil {
		p.enrolPage(w, r, f, user, http.StatusOK, "This set-up expired. Scan the new code and enter the code it shows.", "", "")
		return
	}
	code := r.PostForm.Get("code")
	if len(code) > maxCodeLen {
		code = ""
	}
	ok, codes, _, err := p.saveTOTP(ctx, user, secret, code, sess.ID)
	if err != nil {
		p.pendingGone(w, r, err)
		return
	}
	if !ok {
		p.enrolPage(w, r, f, user, http.StatusOK, codeWrong+" Check the time on your phone and try the next code.", posted, "")
		return
	}
	p.enrolled(w, r, f, sess, amrOTP, codes)
}

// enrolled goes on with the sign-in f once its user has set up a factor
// of method at the enrolment step: the session has proved it, and the
// recovery codes of a first factor are shown once before the flow
// continues.
func (p *Provider) enrolled(w http.ResponseWriter, r *http.Request, f *flow, sess *storage.BrowserSession, method string, codes []string) {
	if err := p.proveFactor(r.Context(), f, sess, method); err != nil {
		if len(codes) > 0 && errors.Is(err, errPendingGone) {
			// The factor is set up and its recovery codes stored whatever
			// became of the request (another user's sign-in took it over,
			// or it was completed or dropped, while the code was checked):
			// this is the only time they can be shown. The sign-in does
			// not go on from here.
			p.log.InfoContext(r.Context(), "enrolled, but the sign-in request is gone", "request_id", RequestID(r.Context()), "user_id", f.pending.UserID)
			p.pages.MFA(w, http.StatusOK, web.MFAData{Title: "Two-step sign-in is set up", RecoveryCodes: codes, Back: PathAccount,
				Notice: "This sign-in request has ended, so it cannot go on from here. Save your recovery codes, then go back to the application and sign in again."})
			return
		}
		p.pendingGone(w, r, err)
		return
	}
	if len(codes) > 0 {
		p.pages.MFA(w, http.StatusOK, web.MFAData{Title: "Two-step sign-in is set up", RecoveryCodes: codes, FormActionOrigins: redirectOrigin(f),
			RequestID: f.handle, CSRF: p.formCSRF(r, csrfFactor, f.handle), ContinueAction: PathFactorContinue, ContinueLabel: "I saved them, continue"})
		return
	}
	p.advance(w, r, f)
}

// handleFactorContinue takes the flow on; the dispatcher decides whether
// it may. It resumes the request as the other factor steps do, with the
// browser session the user signed in (factorSubject), so that the code
// it may issue carries that session's sid: a code without one leaves the
// client unrecorded for back-channel logout, and the console's and the
// account page's own sign-in refuses it.
func (p *Provider) handleFactorContinue(w http.ResponseWriter, r *http.Request) {
	f, _, _ := p.factorSubject(w, r)
	if f == nil {
		return
	}
	p.advance(w, r, f)
}
