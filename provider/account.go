package provider

// The account page (/account): any signed-in user's own page, signed in
// to through hallpass's own client as the console is (console_signin.go):
// profile and roles, a password change, the apps they allowed (and
// withdrawing one), and where they are signed in (and signing out any).
// Changes go through the directory service.

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// mountAccount mounts the account page under PathAccount.
func (p *Provider) mountAccount(r chi.Router) {
	r.Get("/callback", p.handleSelfCallback(accountArea()))
	r.Group(func(r chi.Router) {
		r.Use(p.requireSelf(accountArea()))
		r.Get("/", p.accountHome)
		// Changing how the user signs in (second factors, passkeys)
		// needs a recent sign-in; the password change asks for the
		// current password instead.
		recent := p.requireRecentSignIn(accountArea())
		r.With(recent).Get("/security", p.accountSecurity)
		r.Group(func(r chi.Router) {
			r.Use(p.crossOriginGuard(http.HandlerFunc(p.denyCrossOrigin)).Handler, p.requireSelfCSRF)
			r.Post("/signout", p.handleSelfSignOut)
			r.Post("/password", p.accountChangePassword)
			r.With(recent).Post("/security/totp", p.accountEnrol)
			r.With(recent).Post("/passkeys", p.accountAddPasskey)
			r.With(recent).Post("/passkeys/{id}/remove", p.accountRemovePasskey)
			r.Post("/apps/{client}/withdraw", p.accountWithdraw)
			r.Post("/sessions/{handle}/end", p.accountEndSession)
		})
	})
}

// accountNav is the account page's navigation.
func accountNav(current string) []web.NavItem {
	items := []web.NavItem{{Label: "Your account", Href: PathAccount}}
	for i := range items {
		items[i].Current = items[i].Href == current
	}
	return items
}

// accountHome shows the account page.
func (p *Provider) accountHome(w http.ResponseWriter, r *http.Request) {
	p.showAccount(w, r, http.StatusOK, "", "", "")
}

// showAccount renders the account page; passwordError and field are the
// password form's refusal, if any, and errMsg another form's.
func (p *Provider) showAccount(w http.ResponseWriter, r *http.Request, status int, passwordError, field, errMsg string) {
	ctx := r.Context()
	s := signedIn(r)
	u := s.user
	a := web.Account{Username: u.Username, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Roles: u.Roles,
		PasswordAction: PathAccount + "/password", PasswordError: passwordError, PasswordField: field}
	if slices.Contains(u.Roles, p.cfg.ConsoleAdminRole) {
		a.Console = PathConsole
	}
	enrolled, err := p.hasTOTP(ctx, u.ID)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	a.Security, a.SecondFactor = PathAccountSecurity, enrolled
	pks, err := p.cfg.Store.ListPasskeys(ctx, u.ID)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	a.Passkeys = passkeyRows(pks, func(id string) string { return PathAccountPasskeys + "/" + url.PathEscape(id) + "/remove" })
	a.PasskeyForm = p.accountPasskeyForm(ctx, s, pks)
	consents, err := p.dir.Users().Consents(ctx, u.ID)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	for _, c := range consents {
		row := web.AppRow{ClientID: c.ClientID, Name: c.ClientID, GrantedAt: when(c.GrantedAt),
			Withdraw: PathAccount + "/apps/" + url.PathEscape(c.ClientID) + "/withdraw"}
		if cl, err := p.cfg.Store.GetClient(ctx, c.ClientID); err == nil && cl.Name != "" {
			row.Name = shownAsIs(cl.Name)
		} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.consoleFailure(w, r, err)
			return
		}
		items, err := p.scopeItems(ctx, c.Scopes)
		if err != nil {
			p.consoleFailure(w, r, err)
			return
		}
		for _, it := range items {
			if it.Description != "" {
				row.Scopes = append(row.Scopes, it.Description)
			} else {
				row.Scopes = append(row.Scopes, it.Name)
			}
		}
		a.Apps = append(a.Apps, row)
	}
	sessions, err := p.dir.Users().Sessions(ctx, u.ID)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	now := p.cfg.Now()
	for _, bs := range sessions {
		if p.sessionOver(&bs, now) {
			continue // over, though not yet swept
		}
		row := web.SessionRow{Device: deviceName(bs.UserAgent), Address: bs.Address, LastSeen: when(bs.LastSeenAt),
			Started: when(bs.AuthTime), Current: bs.ID == s.session.ID}
		if !row.Current {
			row.End = PathAccount + "/sessions/" + p.sessionHandle(bs.ID) + "/end"
		}
		a.Sessions = append(a.Sessions, row)
	}
	p.accountPage(w, r, status, web.AccountHome, "Your account", web.ConsoleData{Page: a, Notice: notice(r), Error: errMsg})
}

// sessionHandle names a session in a URL without revealing its id (a
// digest of its cookie), which must not leave the server.
func (p *Provider) sessionHandle(id string) string {
	return web.CSRFToken(p.cfg.TokenSecret, "session-handle", id)
}

// when is how the account page shows a time.
func when(t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// accountPage renders an account page with its frame.
func (p *Provider) accountPage(w http.ResponseWriter, r *http.Request, status int, page web.ConsolePage, title string, d web.ConsoleData) {
	frame := p.consoleData(r, accountArea(), PathAccount)
	frame.Title, frame.Notice, frame.Error, frame.Page = title, d.Notice, d.Error, d.Page
	p.pages.Console(w, status, page, frame)
}

// accountWithdraw withdraws the user's consent to an app and ends the
// app's grants of the user.
func (p *Provider) accountWithdraw(w http.ResponseWriter, r *http.Request) {
	u := signedIn(r).user
	clientID := pathParam(r, "client")
	if err := p.dir.Users().WithdrawConsent(r.Context(), u.ID, clientID); err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), "account: consent withdrawn", "request_id", RequestID(r.Context()), "user_id", u.ID, "client_id", clientID)
	http.Redirect(w, r, PathAccount+"?done=consent-revoked", http.StatusSeeOther)
}

// accountEndSession signs one of the user's other sessions out.
func (p *Provider) accountEndSession(w http.ResponseWriter, r *http.Request) {
	s := signedIn(r)
	handle := pathParam(r, "handle")
	sessions, err := p.dir.Users().Sessions(r.Context(), s.user.ID)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	for _, bs := range sessions {
		if bs.ID == s.session.ID || !web.SameToken(handle, p.sessionHandle(bs.ID)) {
			continue
		}
		if err := p.dir.Users().EndSession(r.Context(), s.user.ID, bs.ID); err != nil {
			p.consoleRefusal(w, r, err)
			return
		}
		p.log.InfoContext(r.Context(), "account: session ended", "request_id", RequestID(r.Context()), "user_id", s.user.ID)
		http.Redirect(w, r, PathAccount+"?done=session-ended", http.StatusSeeOther)
		return
	}
	p.pageError(w, r, http.StatusNotFound, "That session is over", "It was signed out already, or it is not yours. Go back to your account page.")
}

// accountChangePassword changes the user's password: the current one is
// checked within the login limits (a stolen session cannot guess it any
// faster than the login page allows), the new one must obey the password
// rules, and the change ends every other session and grant (the
// directory's credential-change sweep). This browser stays signed in,
// with a new session.
func (p *Provider) accountChangePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := signedIn(r)
	current, next, confirm := r.PostForm.Get("current"), r.PostForm.Get("new"), r.PostForm.Get("confirm")
	switch {
	case current == "":
		p.showAccount(w, r, http.StatusBadRequest, "Enter your current password.", "current", "")
		return
	case next == "":
		p.showAccount(w, r, http.StatusBadRequest, "Enter a new password.", "new", "")
		return
	case !directory.SamePassword(next, confirm):
		// The same password in two spellings (NFD and NFC, full-width
		// and ASCII) is the same password: both sign in.
		p.showAccount(w, r, http.StatusBadRequest, "The two new passwords differ. Type the same new password twice.", "confirm", "")
		return
	case len(current) > directory.MaxPasswordInputLen:
		p.showAccount(w, r, http.StatusBadRequest, "The current password is incorrect.", "current", "")
		return
	}
	a := p.logins.attempt(s.user.Username, clientAddress(r, p.cfg.TrustedProxies))
	v, err := p.logins.peek(ctx, a, p.cfg.Now())
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	if v.allowed {
		var ok bool
		ok, v, err = p.checkCurrentPassword(r, a, s.user, current)
		switch {
		case errors.Is(err, errPasswordsBusy):
			w.Header().Set("Retry-After", p.passwords.retryAfter())
			p.showAccount(w, r, http.StatusServiceUnavailable, "Too many people are signing in right now. Try again in a few seconds.", "", "")
			return
		case err != nil:
			p.consoleFailure(w, r, err)
			return
		case v.allowed && !ok:
			p.loginFailed(r, nil, a, s.user, outcomeWrongPassword)
			p.showAccount(w, r, http.StatusBadRequest, "The current password is incorrect.", "current", "")
			return
		}
	}
	if !v.allowed {
		w.Header().Set("Retry-After", retryAfter(v.retryAfter))
		p.showAccount(w, r, http.StatusTooManyRequests, "Too many wrong passwords. Try again in "+humanWait(v.retryAfter)+".", "current", "")
		return
	}
	// Whether case variants of the username share its account count: the
	// account page knows its user, so this is the only read for it.
	if err := p.resetAfterPassword(ctx, a, s.user.Username); err != nil {
		p.logFailure(ctx, "password change: throttle reset failed", err)
	}
	if _, err := p.dir.Users().ChangePassword(ctx, s.user.ID, next); err != nil {
		var de *directory.Error
		switch {
		case errors.Is(err, errPasswordsBusy):
			w.Header().Set("Retry-After", p.passwords.retryAfter())
			p.showAccount(w, r, http.StatusServiceUnavailable, "Too many people are signing in right now. Try again in a few seconds.", "", "")
		case errors.As(err, &de) && !storeFailed(err) && errors.Is(de.Kind, directory.ErrInvalid):
			p.showAccount(w, r, http.StatusBadRequest, de.Message, "new", "")
		default:
			p.consoleFailure(w, r, err)
		}
		return
	}
	p.log.InfoContext(ctx, "account: password changed", "request_id", RequestID(ctx), "user_id", s.user.ID)
	// The sweep ended this browser's session too: it signs in afresh,
	// with the new password's standing.
	u, err := p.activeUser(ctx, s.user.ID)
	if err != nil || u == nil {
		if err == nil {
			err = errCredentialChanged
		}
		p.changedSignedOut(w, r, err)
		return
	}
	f := &flow{}
	now := p.cfg.Now().UTC()
	// The new session has proved what the one it replaces had (a second
	// factor above all) and the password, checked just now: recording
	// the password alone would send a user who needs a second factor
	// back to the code prompt at the next page or app. Only a recent
	// sign-in's factor is kept: the new session's sign-in is now, so an
	// old one's would become recent (requireRecentSignIn) on the password
	// alone, and a holder of a session left open who knows the password
	// could put in an authenticator or a passkey of their own. An older
	// sign-in's user proves the second factor again (requireSelf asks),
	// as a fresh sign-in would.
	amr := []string{amrPassword}
	if p.recentlySignedIn(s.session.AuthTime) {
		amr = withFactor(s.session.AMR, amrPassword)
	}
	if err := p.startSession(w, r, f, u, now, amr, nil); err != nil {
		if errors.Is(err, errCredentialChanged) {
			// Changed again meanwhile: sign in with whatever is current.
			p.cookies.ClearSelf(w)
			http.Redirect(w, r, PathAccount, http.StatusSeeOther)
			return
		}
		p.changedSignedOut(w, r, err)
		return
	}
	// The new sign-in keeps the old one's own-client token epoch: a
	// revocation of the own client's tokens ends it as it would have
	// ended the old one.
	p.cookies.SetSelf(w, p.selfCookie(f.sid, now.Add(p.cfg.SessionLifetime), s.epoch), p.cfg.SessionLifetime)
	http.Redirect(w, r, PathAccount+"?done=password", http.StatusSeeOther)
}

// changedSignedOut answers a password change that committed (the
// password changed and every session of the user ended, this browser's
// too) when signing this browser in again failed on our side: logged
// and a 5xx, as any failure of ours (consoleFailure), but saying what
// did change, so that the user signs in with the new password instead of
// believing that nothing changed.
func (p *Provider) changedSignedOut(w http.ResponseWriter, r *http.Request, err error) {
	p.cookies.ClearSelf(w)
	p.failurePage(w, r, "account: password changed, but this browser could not be signed in again", err, "Your password was changed",
		"You are signed out everywhere, and hallpass could not sign this browser in again because of a problem on our side. Wait a moment, then sign in with your new password.")
}

// checkCurrentPassword checks the user's current password within the
// login limits and the bound on password checks, as a login does.
func (p *Provider) checkCurrentPassword(r *http.Request, a *loginAttempt, u *storage.User, password string) (bool, loginVerdict, error) {
	ctx := r.Context()
	leave, err := p.passwords.enter(ctx)
	if err != nil {
		return false, loginVerdict{}, err
	}
	defer leave()
	v, err := p.logins.reserve(ctx, a, p.cfg.Now())
	if err != nil || !v.allowed {
		return false, v, err
	}
	ok, err := directory.CheckPassword(u.PasswordHash, password)
	if err != nil {
		return false, v, err
	}
	return ok, v, nil
}
