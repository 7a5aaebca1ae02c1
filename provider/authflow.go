package provider

// The browser flow: one authorization request, from the authorization
// endpoint (authorize.go) through the login step (login.go) and the
// consent step (consent.go) to the code. Its state is a flow; what happens
// next is decided in one place, next, and carried out by one dispatcher,
// advance, which the authorization endpoint and each page's POST call once
// they have done their own part. The pages never send the browser to one
// another: only the dispatcher does.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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

	// user is who is signed in for this request, authTime when they
	// authenticated, and granted the scopes the grant would carry: set by
	// next once it knows them, or by the consent step, which established
	// them itself.
	user     *storage.User
	authTime time.Time
	granted  []string
	// amr lists the authentication methods the user's sign-in proved
	// (RFC 8176), set with user.
	amr []string
	// answer is what the user chose on the consent page, in the request
	// that posted it.
	answer consentAnswer
	// signedIn is the browser's session as flowUser read it, with its
	// user's second factors and consent to ar's client, for the steps
	// after it to use instead of reading each again; nil when the user
	// did not come from the browser's session.
	signedIn *storage.SignedIn
	// touch, when not zero, is the last-seen time due (touchDue) to
	// the browser session touchID that flowUser read: written with the
	// code when one is issued (issueCode), in the same statement, else
	// alone (advance).
	touch   time.Time
	touchID string
}

// consentAnswer is the user's decision on the consent page.
type consentAnswer int

const (
	// notAnswered: the request being served is not a consent post.
	notAnswered consentAnswer = iota
	consentAllowed
	consentDenied
)

// step is what a flow does next.
type step int

const (
	// stepFail ends the request with its error: sent to the client's
	// validated redirect URI, or shown to the user (authorizeError).
	stepFail step = iota
	// stepLogin sends the browser to the login page.
	stepLogin
	// stepConsent sends the browser to the consent page.
	stepConsent
	// stepIssue sends the browser back to the client with a code.
	stepIssue
	// stepSecondFactor asks the signed-in user for a code.
	stepSecondFactor
	// stepEnrol has the signed-in user set up an authenticator.
	stepEnrol
)

// advance is the flow's dispatcher: it takes the step next decides. The
// authorization endpoint calls it with a new request; the login and
// consent posts call it once they recorded what the user did.
func (p *Provider) advance(w http.ResponseWriter, r *http.Request, f *flow) {
	st, err := p.next(r.Context(), r, f)
	if st != stepIssue {
		// No code to write the session touch with: it is written now,
		// and failing to write it fails the request, as reading the
		// session would have.
		if terr := p.touchAlone(r.Context(), f); terr != nil && st != stepFail {
			st, err = stepFail, terr
		}
	}
	switch st {
	case stepFail:
		p.dropPending(r.Context(), f)
		p.authorizeError(w, r, f.ar, err)
	case stepLogin:
		p.toPage(w, r, f, PathLogin)
	case stepConsent:
		p.askConsent(w, r, f)
	case stepIssue:
		p.issue(w, r, f)
		// issue writes the session touch with the code; one it did not
		// (it failed before the code's write, and answered so) is
		// written now.
		if terr := p.touchAlone(r.Context(), f); terr != nil {
			p.log.ErrorContext(r.Context(), "authorize: after a failed issue", "err", terr)
		}
	case stepSecondFactor:
		p.toFactorPage(w, r, f, PathSecondFactor)
	case stepEnrol:
		p.toFactorPage(w, r, f, PathEnrol)
	}
}

// dropPending deletes f's stored request, if any, when the flow failed:
// the error goes back to the client, and the request must not be taken
// on afterwards from its pages (a consent given, a code issued after the
// client was told login_required). A failure to delete is logged; the
// request then expires.
func (p *Provider) dropPending(ctx context.Context, f *flow) {
	if f.pending == nil {
		return
	}
	if err := p.cfg.Store.DeleteAuthRequest(ctx, f.pending.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.logFailure(ctx, "drop failed authorization request", err)
	}
}

// touchAlone writes the session touch f still holds, if any, alone.
func (p *Provider) touchAlone(ctx context.Context, f *flow) error {
	if f.touch.IsZero() {
		return nil
	}
	at := f.touch
	f.touch = time.Time{}
	return p.touchSession(ctx, f.touchID, at)
}

// next decides a flow's next step from its state: the user's answer on
// the consent page, if this request carries one; else whether someone is
// signed in for the request (and is the user its id_token_hint names),
// then whether the grant could be issued to them, then whether they must
// be asked. prompt=none turns every step that would show a page into an
// error. The error is non-nil exactly when the step is stepFail.
func (p *Provider) next(ctx context.Context, r *http.Request, f *flow) (step, error) {
	switch f.answer {
	case consentDenied:
		return stepFail, errAccessDenied
	case consentAllowed:
		// The consent page is reached only past the second factor; a
		// consent posted without it (straight after the password) is
		// refused.
		if _, ok, err := p.factorStep(ctx, f); err != nil || !ok {
			if err == nil {
				err = errAccessDenied
			}
			return stepFail, err
		}
		return stepIssue, nil
	}
	prompts := promptValues(f.ar)
	silent := slices.Contains(prompts, "none")
	hintSub, err := p.idTokenHintSubject(f.ar)
	if err != nil {
		return stepFail, err
	}

	user, authTime, amr, err := p.flowUser(ctx, r, f, prompts)
	if err != nil {
		return stepFail, err
	}
	if user == nil {
		if silent {
			return stepFail, fosite.ErrLoginRequired.WithHint("The user is not signed in and prompt=none forbids asking.")
		}
		return stepLogin, nil
	}
	if hintSub != "" && user.ID != hintSub {
		return hintMismatch(f, silent)
	}
	f.user, f.authTime, f.amr = user, authTime, sessionAMR(amr)

	// A second factor, when one is needed, comes before anything else:
	// no scope, audience or consent decision is made, and no code
	// issued, for a sign-in that has not completed.
	if st, ok, err := p.factorStep(ctx, f); err != nil {
		return stepFail, err
	} else if !ok {
		if silent {
			return stepFail, fosite.ErrLoginRequired.WithHint("A second factor is required and prompt=none forbids asking for it.")
		}
		return st, nil
	}

	allowed, err := userScopes(ctx, p.cfg.Store, user)
	if err != nil {
		return stepFail, err
	}
	f.granted = grantedScopes(f.ar.GetRequestedScopes(), f.ar.GetClient().GetScopes(), allowed)
	if _, err := p.grantAudience(ctx, f.ar.GetClient(), f.granted, requestedAudience(f.ar)); err != nil {
		// The user's roles do not reach the requested resource server:
		// refused before consent to a grant that could not be issued.
		return stepFail, err
	}

	ask, err := p.needsConsent(ctx, f, user.ID, f.granted, prompts)
	if err != nil {
		return stepFail, err
	}
	if ask {
		if silent {
			return stepFail, fosite.ErrConsentRequired.WithHint("The user has not consented and prompt=none forbids asking.")
		}
		return stepConsent, nil
	}
	return stepIssue, nil
}

// flowUser returns who is signed in for this request, when and with
// which methods, or nil when the user must log in (no session,
// prompt=login or select_account, max_age exceeded).
func (p *Provider) flowUser(ctx context.Context, r *http.Request, f *flow, prompts []string) (*storage.User, time.Time, []string, error) {
	if f.pending != nil && f.pending.UserID != "" {
		if f.user != nil && f.user.ID == f.pending.UserID {
			// Signed in by this very request (the login step read and
			// checked the user): no second read.
			return f.user, f.pending.AuthTime, f.pending.AMR, nil
		}
		u, err := p.activeUser(ctx, f.pending.UserID)
		if err != nil || u == nil {
			return nil, time.Time{}, nil, err
		}
		return u, f.pending.AuthTime, f.pending.AMR, nil
	}
	if slices.Contains(prompts, "login") || slices.Contains(prompts, "select_account") {
		// select_account: one account per browser, chosen by signing in
		// (loginPrefill).
		return nil, time.Time{}, nil, nil
	}
	si, touch, err := p.signedIn(ctx, r, f.ar.GetClient().GetID())
	if err != nil || si == nil {
		return nil, time.Time{}, nil, err
	}
	// The session was used, whatever comes of the request: advance
	// writes the touch (with the code, if one is issued).
	f.touch, f.touchID = touch, si.Session.ID
	sess := &si.Session
	if maxAge := f.ar.GetRequestForm().Get("max_age"); maxAge != "" {
		secs, err := strconv.ParseInt(maxAge, 10, 64)
		if err != nil || secs < 0 {
			return nil, time.Time{}, nil, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative number of seconds.")
		}
		if p.cfg.Now().Sub(sess.AuthTime) > time.Duration(secs)*time.Second {
			return nil, time.Time{}, nil, nil
		}
	}
	if si.User.Disabled {
		// As activeUser: a disabled user is signed in no more.
		return nil, time.Time{}, nil, nil
	}
	f.signedIn = si
	f.sid = sess.SID
	return &si.User, sess.AuthTime, sess.AMR, nil
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

// askConsent sends the browser to the consent page. Consent is given by
// the user who is signed in now, so the request is stored with their
// login unless it already carries one.
func (p *Provider) askConsent(w http.ResponseWriter, r *http.Request, f *flow) {
	if f.pending == nil || f.pending.UserID == "" {
		if err := p.savePending(w, r, f); err != nil {
			p.authorizeError(w, r, f.ar, err)
			return
		}
		if err := p.recordLogin(r.Context(), f); err != nil {
			p.authorizeError(w, r, f.ar, err)
			return
		}
	}
	p.toPage(w, r, f, PathConsent)
}

// recordLogin records on the pending request who is signed in for it,
// when, and with which methods, for the steps that follow.
func (p *Provider) recordLogin(ctx context.Context, f *flow) error {
	// One write: a request never records who signed in without how.
	if err := p.cfg.Store.SetAuthRequestLogin(ctx, f.pending.ID, f.user.ID, f.authTime, f.amr); err != nil {
		return err
	}
	f.pending.UserID, f.pending.AuthTime, f.pending.AMR = f.user.ID, f.authTime, f.amr
	return nil
}

// issue grants the scopes, mints the code and sends the browser back to the
// client with it, and with iss (RFC 9207).
func (p *Provider) issue(w http.ResponseWriter, r *http.Request, f *flow) {
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
	aud, err := p.grantAudience(ctx, f.ar.GetClient(), f.granted, requested)
	if err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	for _, s := range f.granted {
		f.ar.GrantScope(s)
	}
	// RFC 8707 resource values count as requested audiences, so a refresh
	// keeps to them too.
	f.ar.SetRequestedAudience(requested)
	grantAudienceTo(f.ar, aud)
	sess := NewSession()
	sess.Subject = f.user.ID
	sess.Username = f.user.Username
	sess.ClientID = f.ar.GetClient().GetID()
	sess.Roles = f.user.Roles
	// The code carries its user's token epoch as read now (codeUser).
	sess.UserGrant, sess.UserEpoch = true, f.user.TokenEpoch
	amr := sessionAMR(f.amr)
	sess.AMR, sess.ACR = amr, acrOf(amr)
	sess.Claims = &jwt.IDTokenClaims{
		Subject:                             f.user.ID,
		AuthTime:                            f.authTime.UTC(),
		RequestedAt:                         f.requestedAt.UTC(),
		AuthenticationContextClassReference: sess.ACR,
		AuthenticationMethodsReferences:     amr,
		Extra:                               idTokenExtra(f.user, f.granted, f.sid),
	}
	resp, err := p.issueCode(ctx, f, sess)
	if err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	resp.AddParameter("iss", p.cfg.Issuer)
	p.oauth2.WriteAuthorizeResponse(ctx, w, f.ar, resp)
}

// issueCode has fosite issue the code of ar with one write: fosite stores
// the code, its OpenID Connect request and its PKCE challenge as three
// rows, which are kept back and then written in one statement, all or
// none, with the session touch f holds, if any (f.touch, then cleared:
// the touch was written, or failed with the code).
func (p *Provider) issueCode(ctx context.Context, f *flow, sess *Session) (fosite.AuthorizeResponder, error) {
	batch := p.fstore.BatchCreates(ctx)
	resp, err := p.oauth2.NewAuthorizeResponse(batch, f.ar, sess)
	if err != nil {
		return nil, err
	}
	if !f.touch.IsZero() && p.fstore.TouchWithBatch(batch, f.touchID, f.touch) {
		f.touch = time.Time{}
	}
	if err := p.fstore.WriteBatch(batch); err != nil {
		return nil, fmt.Errorf("issue authorization code: %w", err)
	}
	if c := registration(f.ar.GetClient()); c != nil && !c.SkipConsent {
		// The consent next read may have been withdrawn since (the
		// account page), which ended the user's grants to the client as
		// they were then, not this code. Read again now that the code is
		// written, waiting for a withdrawal under way to commit: one
		// that committed before this read ended the consent, and the
		// code is not handed out (its row, which nobody else knows of,
		// expires); one that comes after finds the code and revokes it
		// with the rest.
		err := p.cfg.Store.ConfirmConsent(ctx, f.user.ID, c.ID, f.granted)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fosite.ErrAccessDenied.WithHint("The user withdrew their consent to this application while it was being signed in to; start again.")
		}
		if err != nil {
			return nil, fmt.Errorf("issue authorization code: %w", err)
		}
	}
	return resp, nil
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

// toPage sends the browser to the login or consent page for this request,
// storing it first if needed.
func (p *Provider) toPage(w http.ResponseWriter, r *http.Request, f *flow, page string) {
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
	if err == nil {
		// fosite matches a loopback redirect URI on any port for every
		// client; the exact match (checkRedirectExact) is against the
		// client as it is now, not as it was when the request came: a
		// client made confidential since, or whose redirect URIs were
		// edited, gets no code at a redirect URI it may no longer use.
		// authorizeError refuses it on a page.
		err = p.checkRedirectExact(ar)
	}
	// With an error, the client changed (or was deleted) since the
	// request was stored.
	return &flow{ar: ar, pending: pending, handle: handle, requestedAt: pending.RequestedAt, amr: pending.AMR}, err
}

// resumeStep resumes the pending request a login or consent step names:
// in the query of the page, in the form of its POST (which
// requireFormCSRF has already parsed). When the request cannot continue
// it answers itself, with an error page, or the client's redirect URI
// when the stored request itself became invalid, and returns nil.
func (p *Provider) resumeStep(w http.ResponseWriter, r *http.Request) *flow {
	handle := r.URL.Query().Get("request")
	if r.Method == http.MethodPost {
		handle = r.PostForm.Get("request")
	}
	f, err := p.resume(r, handle)
	switch {
	case err == nil:
		return f
	case f != nil && f.ar != nil:
		p.authorizeError(w, r, f.ar, err)
	default:
		p.pendingGone(w, r, err)
	}
	return nil
}

// pendingGone answers a login or consent step whose request is unusable.
func (p *Provider) pendingGone(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errPendingGone) {
		p.pageError(w, r, http.StatusBadRequest, "This sign-in request has expired",
			"Sign-in requests are valid for a few minutes, in the browser that started them. Go back to the application and start again.")
		return
	}
	p.failurePage(w, r, "sign-in step failed", err, "hallpass cannot complete this sign-in right now",
		"Something went wrong on our side, not yours. Wait a moment, then try again.")
}

// redirectOrigin lets the page's form post end in a redirect to the
// client: browsers check that redirect against CSP form-action.
func redirectOrigin(f *flow) []string {
	if u := f.ar.GetRedirectURI(); u != nil {
		return []string{u.String()}
	}
	return nil
}

// clientName is how the pages name the client: its registered name, or
// its id when it has none.
func clientName(f *flow) string {
	if f == nil || f.ar == nil {
		return ""
	}
	if c := registration(f.ar.GetClient()); c != nil && c.Name != "" {
		return shownAsIs(c.Name)
	}
	return f.ar.GetClient().GetID()
}
