package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// loginFailed is the one message for every failed login: it must not tell
// whether the username exists.
const loginFailed = "The username or password is incorrect."

// dummyHash is checked against when the username is unknown, so a failed
// login costs the same time whether or not the user exists.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZHVtbXlkdW1teWR1bW15ZHVtbXlkdW1teWR1bW15ZHU"

// handleLoginPage shows the login form for a pending authorization request.
func (p *Provider) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	f, err := p.resume(r, r.URL.Query().Get("request"))
	if err != nil {
		p.resumeFailed(w, r, f, err)
		return
	}
	p.loginPage(w, r, http.StatusOK, web.LoginData{Action: PathLogin, RequestID: f.handle, ClientName: clientName(f), FormActionOrigins: redirectOrigin(f)})
}

// loginPage renders the login form with its CSRF token. Every rendering
// of the form goes through here: a form without the token could not be
// posted.
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request, status int, d web.LoginData) {
	d.CSRF = p.formCSRF(r, csrfLogin, d.RequestID)
	p.pages.Login(w, status, d)
}

// handleLogin checks the credentials, starts the browser session and
// continues the authorization request. A failure re-shows the form.
func (p *Provider) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		p.pageError(w, r, http.StatusBadRequest, "The form could not be read", "Go back and try again.")
		return
	}
	f, err := p.resume(r, r.PostForm.Get("request"))
	if err != nil {
		p.resumeFailed(w, r, f, err)
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
	if err := p.startSession(w, r, f, user, authTime); err != nil {
		if errors.Is(err, errCredentialChanged) {
			// The password was reset (or the user disabled) during the
			// check: the old password no longer signs in.
			p.loginForm(w, r, f, http.StatusOK, username, loginFailed)
			return
		}
		p.pendingGone(w, r, err)
		return
	}
	if err := p.cfg.Store.SetAuthRequestLogin(ctx, f.pending.ID, user.ID, authTime); err != nil {
		p.pendingGone(w, r, err)
		return
	}
	f.pending.UserID, f.pending.AuthTime = user.ID, authTime
	p.log.InfoContext(ctx, "login", "request_id", RequestID(ctx), "user_id", user.ID, "client_id", f.ar.GetClient().GetID())
	p.proceed(w, r, f)
}

// authenticate returns the user whose credentials these are, or nil.
func (p *Provider) authenticate(ctx context.Context, username, password string) (*storage.User, error) {
	if !plausibleCredentials(username, password) {
		return nil, nil
	}
	u, err := p.cfg.Store.GetUserByUsername(ctx, username)
	hash := dummyHash
	switch {
	case err == nil:
		hash = u.PasswordHash
	case !errors.Is(err, storage.ErrNotFound):
		return nil, fmt.Errorf("load user: %w", err)
	}
	ok, err := directory.CheckPassword(hash, password)
	if err != nil && u != nil {
		return nil, fmt.Errorf("check password of user %s: %w", u.ID, err)
	}
	if !ok || u == nil || u.Disabled {
		return nil, nil
	}
	return u, nil
}

// handleConsentPage shows what the client asks for.
func (p *Provider) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	f, err := p.resume(r, r.URL.Query().Get("request"))
	if err != nil {
		p.resumeFailed(w, r, f, err)
		return
	}
	user, granted, ok := p.consentSubject(w, r, f)
	if !ok {
		return
	}
	items, err := p.scopeItems(r.Context(), granted)
	if err != nil {
		p.pendingGone(w, r, err)
		return
	}
	aud, err := p.grantAudience(r.Context(), f.ar.GetClient(), granted, requestedAudience(f.ar))
	if err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	p.pages.Consent(w, http.StatusOK, web.ConsentData{Action: PathConsent, RequestID: f.handle, CSRF: p.formCSRF(r, csrfConsent, f.handle), ClientName: clientName(f), Username: user.Username, Scopes: items,
		Audiences: resourceServers(aud, p.cfg.Issuer), FormActionOrigins: redirectOrigin(f)})
}

// handleConsent records the user's decision and finishes the request.
func (p *Provider) handleConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		p.pageError(w, r, http.StatusBadRequest, "The form could not be read", "Go back and try again.")
		return
	}
	f, err := p.resume(r, r.PostForm.Get("request"))
	if err != nil {
		p.resumeFailed(w, r, f, err)
		return
	}
	user, granted, ok := p.consentSubject(w, r, f)
	if !ok {
		return
	}
	switch r.PostForm.Get("decision") {
	case "allow":
	case "deny":
		if err := p.cfg.Store.DeleteAuthRequest(ctx, f.pending.ID); err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				err = fmt.Errorf("consume pending request: %w", err)
			} else {
				err = errPendingGone
			}
			p.pendingGone(w, r, err)
			return
		}
		p.authorizeError(w, r, f.ar, errAccessDenied)
		return
	default:
		p.pageError(w, r, http.StatusBadRequest, "No decision was made", "Choose Allow or Deny.")
		return
	}
	consent := &storage.Consent{UserID: user.ID, ClientID: f.ar.GetClient().GetID(), Scopes: granted, GrantedAt: p.cfg.Now().UTC()}
	old, err := p.cfg.Store.GetConsent(ctx, user.ID, consent.ClientID)
	switch {
	case err == nil:
		for _, s := range old.Scopes {
			if !slices.Contains(consent.Scopes, s) {
				consent.Scopes = append(consent.Scopes, s)
			}
		}
	case !errors.Is(err, storage.ErrNotFound):
		// Writing over a consent that could not be read would drop what
		// the user allowed before.
		p.pendingGone(w, r, fmt.Errorf("load consent: %w", err))
		return
	}
	if err := p.cfg.Store.PutConsent(ctx, consent); err != nil {
		p.pendingGone(w, r, err)
		return
	}
	p.issue(w, r, f, user, f.pending.AuthTime, granted)
}

// consentSubject returns the user who logged in for the request and the
// scopes they would grant; false when the request has no login yet.
func (p *Provider) consentSubject(w http.ResponseWriter, r *http.Request, f *flow) (*storage.User, []string, bool) {
	if f.pending.UserID == "" {
		p.pendingGone(w, r, errPendingGone)
		return nil, nil, false
	}
	// The consent is the signed-in user's: if this browser signed out, or
	// someone else signed in, since the login, the request is void.
	sess, err := p.browserSession(r.Context(), r)
	if err != nil {
		p.pendingGone(w, r, err)
		return nil, nil, false
	}
	if sess == nil || sess.UserID != f.pending.UserID {
		p.pendingGone(w, r, errPendingGone)
		return nil, nil, false
	}
	f.sid = sess.SID
	user, err := p.activeUser(r.Context(), f.pending.UserID)
	if err != nil {
		p.pendingGone(w, r, err)
		return nil, nil, false
	}
	if user == nil {
		p.pendingGone(w, r, errPendingGone)
		return nil, nil, false
	}
	allowed, err := userScopes(r.Context(), p.cfg.Store, user)
	if err != nil {
		p.pendingGone(w, r, err)
		return nil, nil, false
	}
	return user, grantedScopes(f.ar.GetRequestedScopes(), f.ar.GetClient().GetScopes(), allowed), true
}

// scopeItems describes scopes for the consent page; an unregistered scope
// is shown by its name.
func (p *Provider) scopeItems(ctx context.Context, scopes []string) ([]web.ScopeItem, error) {
	items := make([]web.ScopeItem, 0, len(scopes))
	for _, s := range scopes {
		item := web.ScopeItem{Name: s, Description: builtinScopeDescriptions[s]}
		reg, err := p.cfg.Store.GetScope(ctx, s)
		switch {
		case err == nil && reg.Description != "":
			item.Description = reg.Description
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("load scope %q: %w", s, err)
		}
		items = append(items, item)
	}
	return items, nil
}

// builtinScopeDescriptions describe the OpenID Connect scopes until an
// admin registers descriptions of their own.
var builtinScopeDescriptions = map[string]string{
	"openid":         "Sign you in with your hallpass account",
	"profile":        "See your name and username",
	"email":          "See your email address",
	"offline_access": "Stay signed in when you are not using it",
}

// redirectOrigin lets the page's form post end in a redirect to the
// client: browsers check that redirect against CSP form-action.
func redirectOrigin(f *flow) []string {
	if u := f.ar.GetRedirectURI(); u != nil {
		return []string{u.String()}
	}
	return nil
}

func clientName(f *flow) string {
	if f == nil || f.ar == nil {
		return ""
	}
	if c := registration(f.ar.GetClient()); c != nil && c.Name != "" {
		return c.Name
	}
	return f.ar.GetClient().GetID()
}

// resumeFailed answers a login or consent request whose pending request
// cannot continue: an error page, or the client's redirect URI when the
// stored request itself became invalid.
func (p *Provider) resumeFailed(w http.ResponseWriter, r *http.Request, f *flow, err error) {
	if f != nil && f.ar != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	p.pendingGone(w, r, err)
}
