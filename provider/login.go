package provider

// The login step of the browser flow (authflow.go): the login page, and
// its post, which checks the credentials within the login limits, signs
// the browser in and hands the flow back to the dispatcher.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// loginFailed is the one message for every failed login: it must not tell
// whether the username exists.
const loginFailed = "The username or password is incorrect."

// dummyHash is checked against when the username is unknown, so a failed
// login costs the same time whether or not the user exists: one argon2id
// computation at the parameters of directory.HashPassword, of the
// attempt normalised as it is for a hash HashPassword makes (norm=nfkc).
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1,norm=nfkc$c2FsdHNhbHRzYWx0c2FsdA$ZHVtbXlkdW1teWR1bW15ZHVtbXlkdW1teWR1bW15ZHU"

// handleLoginPage shows the login form for a pending authorization request.
func (p *Provider) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	f := p.resumeStep(w, r)
	if f == nil {
		return
	}
	username, err := p.loginPrefill(r, f)
	if err != nil {
		p.pendingGone(w, r, err)
		return
	}
	p.loginPage(w, r, http.StatusOK, web.LoginData{Action: PathLogin, RequestID: f.handle, ClientName: clientName(f),
		Username: username, FormActionOrigins: redirectOrigin(f)})
}

// loginPrefill is the username the login page shows first: the request's
// login_hint (loginHint), else, for prompt=select_account, the user the
// browser is signed in as. hallpass keeps one account per browser, so the
// account is "selected" by signing in again, as that user or another
// (flowUser), the way Keycloak treats select_account.
func (p *Provider) loginPrefill(r *http.Request, f *flow) (string, error) {
	if h := loginHint(f.ar); h != "" {
		return h, nil
	}
	if !slices.Contains(promptValues(f.ar), "select_account") {
		return "", nil
	}
	si, _, err := p.signedIn(r.Context(), r, f.ar.GetClient().GetID())
	if err != nil || si == nil || si.User.Disabled {
		return "", err
	}
	return si.User.Username, nil
}

// loginPage renders the login form with its CSRF token. Every rendering
// of the form goes through here: a form without the token could not be
// posted.
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request, status int, d web.LoginData) {
	d.CSRF = p.formCSRF(r, csrfLogin, d.RequestID)
	if d.Passkey = p.loginPasskeyForm(r.Context(), d.RequestID); d.Passkey != nil {
		d.Passkey.Action, d.Passkey.RequestID, d.Passkey.CSRF = PathLoginPasskey, d.RequestID, p.formCSRF(r, csrfPasskey, d.RequestID)
		d.Passkey.Button = "Sign in with a passkey"
	}
	p.pages.Login(w, status, d)
}

// handleLogin checks the credentials, starts the browser session and
// records the login on the pending request, for the dispatcher to take
// the flow on. A failure re-shows the form.
func (p *Provider) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := p.resumeStep(w, r)
	if f == nil {
		return
	}
	username := r.PostForm.Get("username")
	user, answered := p.checkLogin(w, r, f, username, r.PostForm.Get("password"))
	if answered {
		return
	}
	if user == nil {
		p.loginForm(w, r, f, http.StatusOK, username, loginFailed)
		return
	}
	authTime := p.cfg.Now().UTC()
	if err := p.startSession(w, r, f, user, authTime, []string{amrPassword}, nil); err != nil {
		if errors.Is(err, errCredentialChanged) {
			// The password was reset (or the user disabled) during the
			// check: the old password no longer signs in.
			p.loginForm(w, r, f, http.StatusOK, username, loginFailed)
			return
		}
		p.pendingGone(w, r, err)
		return
	}
	f.user, f.authTime, f.amr = user, authTime, []string{amrPassword}
	if err := p.recordLogin(ctx, f); err != nil {
		p.pendingGone(w, r, err)
		return
	}
	p.log.InfoContext(ctx, "login", "request_id", RequestID(ctx), "user_id", user.ID, "client_id", f.ar.GetClient().GetID())
	p.advance(w, r, f)
}

// Sign-in outcomes, for the audit log and metrics; never shown to the
// person signing in, who sees loginFailed whatever went wrong.
const (
	outcomeSuccess       = "success"
	outcomeWrongPassword = "wrong_password"
	outcomeUnknownUser   = "unknown_user"
	outcomeDisabled      = "disabled"
	outcomeThrottled     = "throttled"
)

// authenticate returns the user whose credentials these are, or nil, and
// the outcome; known is the user the username names, if any, even when
// the sign-in failed. It notes in a whether that user's account count is
// shared with case variants of the username (loginThrottle.succeeded).
func (p *Provider) authenticate(ctx context.Context, a *loginAttempt, username, password string) (user, known *storage.User, outcome string, err error) {
	if !plausibleCredentials(username, password) {
		return nil, nil, outcomeUnknownUser, nil
	}
	// Without case, as the directory decides (Users.SignInUser): a
	// username that names nobody, or several case variants of which none
	// exactly, is an unknown user.
	u, shared, err := p.dir.Users().SignInUser(ctx, username)
	if err != nil {
		return nil, nil, "", fmt.Errorf("load user: %w", err)
	}
	a.sharedAccount = shared
	hash := dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	_, span := p.tracer.Start(ctx, "password check")
	ok, err := directory.CheckPassword(hash, password)
	endSpan(span, nil)
	if err != nil && u != nil {
		return nil, u, "", fmt.Errorf("check password of user %s: %w", u.ID, err)
	}
	switch {
	case u == nil:
		return nil, nil, outcomeUnknownUser, nil
	case !ok:
		return nil, u, outcomeWrongPassword, nil
	case u.Disabled:
		return nil, u, outcomeDisabled, nil
	}
	return u, u, outcomeSuccess, nil
}

// plausibleCredentials reports whether a password check could succeed at
// all; other submissions fail at once, costing neither a password check
// nor an attempt.
func plausibleCredentials(username, password string) bool {
	return username != "" && len(username) <= 64 && password != "" && len(password) <= directory.MaxPasswordInputLen
}

// checkLogin checks a submitted username and password within the login
// limits and the bound on password checks. It returns the user when the
// credentials are right and nil when they are wrong, for the caller to
// answer; answered is true when it answered the request itself: 429 with
// Retry-After when a limit refuses the attempt (whatever the password),
// 503 with Retry-After when no password check could start in time, an
// error page when the database failed.
//
// The order matters. A refused attempt is answered before it queues for
// a password check, so locked-out guessing costs no argon2id time. The
// attempt is then counted, atomically with the check of the limits, only
// once it holds a password-check slot: counted before its password is
// checked, so parallel guesses cannot outrun a limit, yet never while it
// merely waits, so a burst of honest sign-ins from one address (a school
// behind one NAT) does not look like a burst of failures.
func (p *Provider) checkLogin(w http.ResponseWriter, r *http.Request, f *flow, username, password string) (user *storage.User, answered bool) {
	ctx := r.Context()
	a := p.logins.attempt(username, clientAddress(r, p.cfg.TrustedProxies))
	if !plausibleCredentials(username, password) {
		p.loginFailed(r, f, a, nil, outcomeUnknownUser)
		return nil, false
	}
	v, err := p.logins.peek(ctx, a, p.cfg.Now())
	if err != nil {
		p.pendingGone(w, r, err)
		return nil, true
	}
	if !v.allowed {
		p.loginThrottled(w, r, f, a, v, username)
		return nil, true
	}
	leave, err := p.passwords.enter(ctx)
	if err != nil {
		p.metrics.logins.WithLabelValues("busy").Inc()
		p.metrics.signins.WithLabelValues("busy").Inc()
		p.log.WarnContext(ctx, "login refused: too many password checks at once", "request_id", RequestID(ctx),
			"username_digest", a.usernameDigest(), "client", clientString(a))
		w.Header().Set("Retry-After", p.passwords.retryAfter())
		p.loginForm(w, r, f, http.StatusServiceUnavailable, username, "Too many people are signing in right now. Try again in a few seconds.")
		return nil, true
	}
	var (
		known   *storage.User
		outcome string
	)
	err = func() error {
		defer leave()
		if v, err = p.logins.reserve(ctx, a, p.cfg.Now()); err != nil || !v.allowed {
			return err
		}
		user, known, outcome, err = p.authenticate(ctx, a, username, password)
		return err
	}()
	switch {
	case err != nil:
		p.pendingGone(w, r, err)
		return nil, true
	case !v.allowed:
		p.loginThrottled(w, r, f, a, v, username)
		return nil, true
	case user == nil:
		p.loginFailed(r, f, a, known, outcome)
		return nil, false
	}
	p.metrics.logins.WithLabelValues("success").Inc()
	p.recordSignin(ctx, f, a, user, outcomeSuccess, nil)
	if err := p.logins.succeeded(ctx, a, p.cfg.Now()); err != nil {
		// The password was right: refusing the sign-in now would punish
		// the user for the database. The failures stay counted.
		p.logFailure(ctx, "login succeeded but its throttle reset failed", err)
	}
	return user, false
}

// loginFailed logs, counts and records a wrong username or password;
// known is the user the username names, if any.
func (p *Provider) loginFailed(r *http.Request, f *flow, a *loginAttempt, known *storage.User, outcome string) {
	p.metrics.logins.WithLabelValues("failure").Inc()
	p.recordSignin(r.Context(), f, a, known, "failure", map[string]any{"reason": outcome})
	p.log.InfoContext(r.Context(), "login failed", "request_id", RequestID(r.Context()),
		"username_digest", a.usernameDigest(), "client", clientString(a))
}

// loginThrottled answers an attempt a limit refused: the form again, 429,
// and Retry-After with the time left.
func (p *Provider) loginThrottled(w http.ResponseWriter, r *http.Request, f *flow, a *loginAttempt, v loginVerdict, username string) {
	ctx := r.Context()
	p.metrics.logins.WithLabelValues("throttled").Inc()
	p.recordSignin(ctx, f, a, nil, outcomeThrottled, map[string]any{"limit": v.limit()})
	p.log.WarnContext(ctx, "login throttled", "request_id", RequestID(ctx), "username_digest", a.usernameDigest(),
		"client", clientString(a), "limit", v.limit(), "retry_after_seconds", retryAfter(v.retryAfter))
	w.Header().Set("Retry-After", retryAfter(v.retryAfter))
	p.loginForm(w, r, f, http.StatusTooManyRequests, username,
		fmt.Sprintf("Too many failed sign-ins. Try again in %s.", humanWait(v.retryAfter)))
}

// recordSignin appends a sign-in (or another check of a password, f nil)
// to the audit log as signin.<result>. A
// username that names a user is recorded with the user; one that names
// nobody only as a digest, since people type passwords into the username
// field.
func (p *Provider) recordSignin(ctx context.Context, f *flow, a *loginAttempt, u *storage.User, result string, details map[string]any) {
	if details == nil {
		details = map[string]any{}
	}
	outcome := result
	if reason, ok := details["reason"].(string); ok {
		outcome = reason
	}
	p.metrics.signins.WithLabelValues(outcome).Inc()
	ev := audit.Event{Action: "signin." + result, Details: details}
	// f is nil for a password checked outside the browser flow (the
	// account page's password change).
	if f != nil && f.ar != nil && f.ar.GetClient() != nil {
		ev.ClientID = f.ar.GetClient().GetID()
	}
	if u != nil {
		ev.Actor, ev.Object = "user:"+u.ID, "user:"+u.ID
		details["username"] = u.Username
	} else {
		details["username_digest"] = a.usernameDigest()
	}
	p.audit.Record(ctx, ev)
}

// loginForm shows the login form again with a message.
func (p *Provider) loginForm(w http.ResponseWriter, r *http.Request, f *flow, status int, username, message string) {
	if len(username) > 64 {
		username = ""
	}
	p.loginPage(w, r, status, web.LoginData{Action: PathLogin, RequestID: f.handle, ClientName: clientName(f),
		Username: username, Error: message, FormActionOrigins: redirectOrigin(f)})
}

// clientString is the client address as logged.
func clientString(a *loginAttempt) string {
	if !a.client.IsValid() {
		return "unknown"
	}
	return a.client.String()
}

// humanWait says how long d is the way a person would: seconds up to a
// minute and a half, whole minutes (rounded up) beyond.
func humanWait(d time.Duration) string {
	secs := int((d + time.Second - 1) / time.Second)
	switch {
	case secs <= 1:
		return "1 second"
	case secs <= 90:
		return fmt.Sprintf("%d seconds", secs)
	}
	return fmt.Sprintf("%d minutes", (secs+59)/60)
}
