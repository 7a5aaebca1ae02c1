package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// Paths of the pages the authorization flow sends the browser to.
const (
	PathLogin   = "/login"
	PathConsent = "/consent"
)

// flow is what is known about one authorization request as it moves
// through login and consent.
type flow struct {
	ar fosite.AuthorizeRequester
	// pending is the stored request, once the browser had to leave the
	// authorization endpoint; handle is the browser's reference to it.
	pending *storage.AuthRequest
	handle  string
	// requestedAt is when the authorization request first arrived.
	requestedAt time.Time
	// sid is the public id of the browser session the user is signed in
	// with, for the ID token's sid claim; empty if that session has none.
	sid string
}

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1, OIDC Core
// §3.1.2); GET and POST.
func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	repeated, err := parseOAuthParams(r)
	if err != nil {
		if repeated == "" || repeated == "client_id" || repeated == "redirect_uri" {
			// Which client, or which of its redirect URIs, is in doubt:
			// the error goes to the user, never to an address.
			p.authorizeError(w, r, nil, err)
			return
		}
		ar, aerr := p.oauth2.NewAuthorizeRequest(ctx, r)
		if aerr != nil {
			err = aerr
		}
		p.authorizeError(w, r, ar, err)
		return
	}
	ar, err := p.oauth2.NewAuthorizeRequest(ctx, r)
	if err == nil {
		err = checkAuthorizeParams(ar)
	}
	if err == nil {
		// An audience that no scope of this request could reach is refused
		// before the user is asked anything; whether the user's roles reach
		// it is known only once they signed in (proceed).
		_, err = p.grantAudience(ctx, ar.GetClient(), ar.GetRequestedScopes(), requestedAudience(ar))
	}
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	p.proceed(w, r, &flow{ar: ar, requestedAt: p.cfg.Now().UTC()})
}

// checkAuthorizeParams refuses, before the user is asked anything, what
// fosite would only refuse when the code is issued (its PKCE and prompt
// checks run in NewAuthorizeResponse): a user should never log in and
// consent to a request that then fails.
func checkAuthorizeParams(ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method was sent without code_challenge.")
	case challenge == "" && ar.GetClient().IsPublic():
		return fosite.ErrInvalidRequest.WithHint("Public clients must use PKCE: send code_challenge with code_challenge_method=S256.")
	case challenge == "" && requiresPKCE(ar.GetClient()):
		return fosite.ErrInvalidRequest.WithHint("This client must use PKCE (RFC 9700 §2.1.1): send code_challenge with code_challenge_method=S256.")
	case challenge != "" && method != "S256":
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method must be S256; plain is not allowed.")
	case challenge != "" && (len(challenge) < 43 || len(challenge) > 128):
		return fosite.ErrInvalidRequest.WithHint("code_challenge must be 43 to 128 characters (RFC 7636 §4.2).")
	}
	prompts := strings.Fields(form.Get("prompt"))
	for _, pr := range prompts {
		if !slices.Contains([]string{"none", "login", "consent", "select_account"}, pr) {
			return fosite.ErrInvalidRequest.WithHintf("Unknown prompt value %q.", pr)
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	if v := form.Get("max_age"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative number of seconds.")
		}
	}
	return nil
}

// proceed takes a valid authorization request as far as it can go: to the
// login page, the consent page, or back to the client with a code.
func (p *Provider) proceed(w http.ResponseWriter, r *http.Request, f *flow) {
	ctx := r.Context()
	prompts := strings.Fields(f.ar.GetRequestForm().Get("prompt"))

	user, authTime, err := p.flowUser(ctx, r, f, prompts)
	if err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	if user == nil {
		if slices.Contains(prompts, "none") {
			p.authorizeError(w, r, f.ar, fosite.ErrLoginRequired.WithHint("The user is not signed in and prompt=none forbids asking."))
			return
		}
		p.redirectToPage(w, r, f, PathLogin)
		return
	}

	allowed, err := userScopes(ctx, p.cfg.Store, user)
	if err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	granted := grantedScopes(f.ar.GetRequestedScopes(), f.ar.GetClient().GetScopes(), allowed)
	if _, err := p.grantAudience(ctx, f.ar.GetClient(), granted, requestedAudience(f.ar)); err != nil {
		// The user's roles do not reach the requested resource server:
		// refused before consent to a grant that could not be issued.
		p.authorizeError(w, r, f.ar, err)
		return
	}

	needConsent, err := p.needsConsent(ctx, f.ar.GetClient().GetID(), user.ID, granted, prompts)
	if err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	if needConsent {
		if slices.Contains(prompts, "none") {
			p.authorizeError(w, r, f.ar, fosite.ErrConsentRequired.WithHint("The user has not consented and prompt=none forbids asking."))
			return
		}
		if f.pending == nil || f.pending.UserID == "" {
			// Consent is given by the user who logged in for this request.
			if err := p.savePending(w, r, f); err != nil {
				p.authorizeError(w, r, f.ar, err)
				return
			}
			if err := p.cfg.Store.SetAuthRequestLogin(ctx, f.pending.ID, user.ID, authTime); err != nil {
				p.authorizeError(w, r, f.ar, err)
				return
			}
		}
		p.redirectToPage(w, r, f, PathConsent)
		return
	}
	p.issue(w, r, f, user, authTime, granted)
}

// flowUser returns who is signed in for this request, or nil when the user
// must log in (no session, prompt=login, max_age exceeded).
func (p *Provider) flowUser(ctx context.Context, r *http.Request, f *flow, prompts []string) (*storage.User, time.Time, error) {
	if f.pending != nil && f.pending.UserID != "" {
		u, err := p.activeUser(ctx, f.pending.UserID)
		if err != nil || u == nil {
			return nil, time.Time{}, err
		}
		return u, f.pending.AuthTime, nil
	}
	if slices.Contains(prompts, "login") {
		return nil, time.Time{}, nil
	}
	sess, err := p.browserSession(ctx, r)
	if err != nil || sess == nil {
		return nil, time.Time{}, err
	}
	if maxAge := f.ar.GetRequestForm().Get("max_age"); maxAge != "" {
		secs, err := strconv.ParseInt(maxAge, 10, 64)
		if err != nil || secs < 0 {
			return nil, time.Time{}, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative number of seconds.")
		}
		if p.cfg.Now().Sub(sess.AuthTime) > time.Duration(secs)*time.Second {
			return nil, time.Time{}, nil
		}
	}
	u, err := p.activeUser(ctx, sess.UserID)
	if err != nil || u == nil {
		return nil, time.Time{}, err
	}
	f.sid = sess.SID
	return u, sess.AuthTime, nil
}

// activeUser loads a user who may sign in; nil when deleted or disabled.
func (p *Provider) activeUser(ctx context.Context, id string) (*storage.User, error) {
	u, err := p.cfg.Store.GetUser(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	if u.Disabled {
		return nil, nil
	}
	return u, nil
}

// needsConsent reports whether the user must be asked: not for first-party
// clients, nor when an earlier consent covers every scope, unless
// prompt=consent.
func (p *Provider) needsConsent(ctx context.Context, clientID, userID string, granted, prompts []string) (bool, error) {
	if slices.Contains(prompts, "consent") {
		return true, nil
	}
	c, err := p.cfg.Store.GetClient(ctx, clientID)
	if err != nil {
		return false, fmt.Errorf("load client: %w", err)
	}
	if c.SkipConsent {
		return false, nil
	}
	consent, err := p.cfg.Store.GetConsent(ctx, userID, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("load consent: %w", err)
	}
	for _, s := range granted {
		if !slices.Contains(consent.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

// issue grants the scopes, mints the code and sends the browser back to the
// client with it, and with iss (RFC 9207).
func (p *Provider) issue(w http.ResponseWriter, r *http.Request, f *flow, user *storage.User, authTime time.Time, granted []string) {
	ctx := r.Context()
	if f.pending != nil {
		// Completing a stored request consumes it, so a replayed login or
		// consent post cannot mint a second code.
		if err := p.cfg.Store.DeleteAuthRequest(ctx, f.pending.ID); err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				p.pendingGone(w, r, fmt.Errorf("consume pending request: %w", err))
				return
			}
			p.pageError(w, r, http.StatusBadRequest, "This sign-in request was already completed", "Go back to the application and start again.")
			return
		}
	}
	requested := requestedAudience(f.ar)
	aud, err := p.grantAudience(ctx, f.ar.GetClient(), granted, requested)
	if err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	for _, s := range granted {
		f.ar.GrantScope(s)
	}
	// RFC 8707 resource values count as requested audiences, so a refresh
	// keeps to them too.
	f.ar.SetRequestedAudience(requested)
	grantAudienceTo(f.ar, aud)
	sess := NewSession()
	sess.Subject = user.ID
	sess.Username = user.Username
	sess.ClientID = f.ar.GetClient().GetID()
	sess.Roles = user.Roles
	sess.Claims = &jwt.IDTokenClaims{
		Subject:     user.ID,
		AuthTime:    authTime.UTC(),
		RequestedAt: f.requestedAt.UTC(),
		Extra:       idTokenExtra(user, granted, f.sid),
	}
	resp, err := p.oauth2.NewAuthorizeResponse(ctx, f.ar, sess)
	if err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	resp.AddParameter("iss", p.cfg.Issuer)
	p.oauth2.WriteAuthorizeResponse(ctx, w, f.ar, resp)
}

// authorizeError answers a failed authorization request. The error goes
// back to the client only when its redirect URI was validated; otherwise
// the user sees an error page, so hallpass never redirects to an
// unvalidated address (RFC 6749 §4.1.2.1). A failure of ours is logged at
// error level and answered server_error, or temporarily_unavailable (503
// with Retry-After) when the store failed, never as the client's fault:
// fosite reports a client it could not load as one that does not exist.
func (p *Provider) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	var clientID, redirectURI string
	if ar != nil && ar.GetClient() != nil && ar.GetClient().GetID() != "" {
		clientID = ar.GetClient().GetID()
	} else {
		clientID = r.Form.Get("client_id")
	}
	if ar != nil && ar.GetRedirectURI() != nil {
		redirectURI = ar.GetRedirectURI().String()
	} else {
		redirectURI = r.Form.Get("redirect_uri")
	}
	fault := ourFault(err)
	if fault {
		p.logFailure(r.Context(), "authorization request failed", err)
		setRetryAfter(w, err)
		err = serverError(err, true)
	} else {
		p.logRefusal(r, "authorization request refused", clientID, redirectURI, err)
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if ar == nil || !ar.IsRedirectURIValid() || ar.GetRedirectURI() == nil {
		if fault {
			p.pageError(w, r, rfc.CodeField, "hallpass cannot complete this sign-in right now",
				"Something went wrong on our side, not yours. Wait a moment, then try again.")
			return
		}
		p.pageError(w, r, http.StatusBadRequest, "This sign-in request cannot be completed",
			causeFirst(rfc)+" The application sent an invalid request; go back to it and try again.")
		return
	}
	// fosite builds error redirects itself without iss; RFC 9207 wants iss
	// on every authorization response, errors included.
	q := rfc.ToValues()
	if s := ar.GetState(); s != "" {
		q.Set("state", s)
	}
	q.Set("iss", p.cfg.Issuer)
	target := *ar.GetRedirectURI()
	existing := target.Query()
	for k, vs := range q {
		existing[k] = vs
	}
	target.RawQuery = existing.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

// causeFirst says what was wrong with a refused request in one sentence,
// the specific cause before fosite's generic boilerplate: "redirect_uri
// does not match …" rather than "The request is missing a required
// parameter, includes an invalid parameter value …".
func causeFirst(rfc *fosite.RFC6749Error) string {
	cause := rfc.HintField
	if cause == "" {
		cause = rfc.DescriptionField
	}
	return cause + " (" + rfc.ErrorField + ")"
}

// pageError renders the HTML error page.
func (p *Provider) pageError(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	p.pages.Error(w, status, web.ErrorData{Title: title, Message: message, RequestID: RequestID(r.Context())})
}

// savePending stores the authorization request, bound to this browser, so
// login and consent can continue it with its original parameters.
func (p *Provider) savePending(w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.pending != nil {
		return nil
	}
	binding, ok := p.cookies.Binding(r)
	if !ok {
		binding = web.RandomToken()
	}
	// Refreshed on each new request, so it outlives the request it binds.
	p.cookies.SetBinding(w, binding, p.cfg.AuthRequestLifespan)
	handle := web.RandomToken()
	now := p.cfg.Now().UTC()
	pending := &storage.AuthRequest{
		ID:             web.Digest(handle),
		Query:          f.ar.GetRequestForm().Encode(),
		RequestedAt:    f.requestedAt,
		BrowserBinding: []byte(web.Digest(binding)),
		ExpiresAt:      now.Add(p.cfg.AuthRequestLifespan),
	}
	if err := p.cfg.Store.CreateAuthRequest(r.Context(), pending); err != nil {
		return fmt.Errorf("store pending authorization request: %w", err)
	}
	f.pending, f.handle = pending, handle
	return nil
}

// redirectToPage sends the browser to the login or consent page for this
// request, storing it first if needed.
func (p *Provider) redirectToPage(w http.ResponseWriter, r *http.Request, f *flow, page string) {
	if err := p.savePending(w, r, f); err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, page+"?"+url.Values{"request": {f.handle}}.Encode(), http.StatusSeeOther)
}

// errPendingGone explains every way a pending request can be unusable
// without saying which (expired, unknown, or another browser's).
var errPendingGone = errors.New("pending request not found")

// resume loads the pending request the browser refers to and rebuilds the
// authorization request from its stored parameters. Only the browser that
// started the request may continue it.
func (p *Provider) resume(r *http.Request, handle string) (*flow, error) {
	ctx := r.Context()
	if handle == "" || len(handle) > 256 {
		return nil, errPendingGone
	}
	pending, err := p.cfg.Store.GetAuthRequest(ctx, web.Digest(handle))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errPendingGone
	}
	if err != nil {
		return nil, fmt.Errorf("load pending request: %w", err)
	}
	binding, ok := p.cookies.Binding(r)
	if !ok || !web.SameToken(web.Digest(binding), string(pending.BrowserBinding)) || !p.cfg.Now().Before(pending.ExpiresAt) {
		return nil, errPendingGone
	}
	orig, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url(PathAuthorize)+"?"+pending.Query, nil)
	if err != nil {
		return nil, fmt.Errorf("rebuild authorization request: %w", err)
	}
	ar, err := p.oauth2.NewAuthorizeRequest(ctx, orig)
	if err != nil {
		// The client changed (or was deleted) since the request was stored.
		return &flow{ar: ar, pending: pending, handle: handle, requestedAt: pending.RequestedAt}, err
	}
	return &flow{ar: ar, pending: pending, handle: handle, requestedAt: pending.RequestedAt}, nil
}

// pendingGone answers a login or consent step whose request is unusable.
func (p *Provider) pendingGone(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errPendingGone) {
		p.pageError(w, r, http.StatusBadRequest, "This sign-in request has expired",
			"Sign-in requests are valid for a few minutes, in the browser that started them. Go back to the application and start again.")
		return
	}
	p.logFailure(r.Context(), "sign-in step failed", err)
	status := http.StatusInternalServerError
	if storeFailed(err) {
		status = http.StatusServiceUnavailable
		setRetryAfter(w, err)
	}
	p.pageError(w, r, status, "hallpass cannot complete this sign-in right now",
		"Something went wrong on our side, not yours. Wait a moment, then try again.")
}
