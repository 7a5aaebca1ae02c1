package provider

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// plausibleCredentials reports whether a password check could succeed at
// all; other submissions fail at once, costing neither a password check
// nor an attempt.
func plausibleCredentials(username, password string) bool {
	return username != "" && len(username) <= 64 && password != "" && len(password) <= directory.MaxPasswordLen
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
		p.loginFailed(r, a)
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
		p.log.WarnContext(ctx, "login refused: too many password checks at once", "request_id", RequestID(ctx),
			"username_digest", a.usernameDigest(), "client", clientString(a))
		w.Header().Set("Retry-After", p.passwords.retryAfter())
		p.loginForm(w, r, f, http.StatusServiceUnavailable, username, "Too many people are signing in right now. Try again in a few seconds.")
		return nil, true
	}
	user, err = func() (*storage.User, error) {
		defer leave()
		if v, err = p.logins.reserve(ctx, a, p.cfg.Now()); err != nil || !v.allowed {
			return nil, err
		}
		return p.authenticate(ctx, username, password)
	}()
	switch {
	case err != nil:
		p.pendingGone(w, r, err)
		return nil, true
	case !v.allowed:
		p.loginThrottled(w, r, f, a, v, username)
		return nil, true
	case user == nil:
		p.loginFailed(r, a)
		return nil, false
	}
	p.metrics.logins.WithLabelValues("success").Inc()
	if err := p.logins.succeeded(ctx, a, p.cfg.Now()); err != nil {
		// The password was right: refusing the sign-in now would punish
		// the user for the database. The failures stay counted.
		p.logFailure(ctx, "login succeeded but its throttle reset failed", err)
	}
	return user, false
}

// loginFailed logs and counts a wrong username or password.
func (p *Provider) loginFailed(r *http.Request, a *loginAttempt) {
	p.metrics.logins.WithLabelValues("failure").Inc()
	p.log.InfoContext(r.Context(), "login failed", "request_id", RequestID(r.Context()),
		"username_digest", a.usernameDigest(), "client", clientString(a))
}

// loginThrottled answers an attempt a limit refused: the form again, 429,
// and Retry-After with the time left.
func (p *Provider) loginThrottled(w http.ResponseWriter, r *http.Request, f *flow, a *loginAttempt, v loginVerdict, username string) {
	ctx := r.Context()
	p.metrics.logins.WithLabelValues("throttled").Inc()
	p.log.WarnContext(ctx, "login throttled", "request_id", RequestID(ctx), "username_digest", a.usernameDigest(),
		"client", clientString(a), "limit", v.limit(), "retry_after_seconds", retryAfter(v.retryAfter))
	w.Header().Set("Retry-After", retryAfter(v.retryAfter))
	p.loginForm(w, r, f, http.StatusTooManyRequests, username,
		fmt.Sprintf("Too many failed sign-ins. Try again in %s.", humanWait(v.retryAfter)))
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
