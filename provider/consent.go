package provider

// The consent step of the browser flow (authflow.go): whether the user
// must be asked, the consent page, and its post, which records the
// user's answer and hands the flow back to the dispatcher.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// errAccessDenied is the user's "deny" on the consent page.
var errAccessDenied = fosite.ErrAccessDenied.WithHint("The user denied the request.")

// needsConsent reports whether the user must be asked to let f's client
// have granted: not for first-party clients, nor when an earlier consent
// covers every scope, unless prompt=consent. The consent is the one read
// with f's session when that read was of this user (flowUser).
func (p *Provider) needsConsent(ctx context.Context, f *flow, userID string, granted, prompts []string) (bool, error) {
	clientID := f.ar.GetClient().GetID()
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
	var consent *storage.Consent
	if si := f.signedIn; si != nil && si.User.ID == userID {
		consent = si.Consent
	} else {
		consent, err = p.cfg.Store.GetConsent(ctx, userID, clientID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return false, fmt.Errorf("load consent: %w", err)
		}
	}
	if consent == nil {
		return true, nil
	}
	for _, s := range granted {
		if !slices.Contains(consent.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

// handleConsentPage shows what the client asks for.
func (p *Provider) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	f := p.resumeStep(w, r)
	if f == nil {
		return
	}
	if !p.consentSubject(w, r, f) {
		return
	}
	items, err := p.scopeItems(r.Context(), f.granted)
	if err != nil {
		p.pendingGone(w, r, err)
		return
	}
	aud, err := p.grantAudience(r.Context(), f.ar.GetClient(), f.granted, requestedAudience(f.ar))
	if err != nil {
		p.authorizeError(w, r, f.ar, err)
		return
	}
	p.pages.Consent(w, http.StatusOK, web.ConsentData{Action: PathConsent, RequestID: f.handle, CSRF: p.formCSRF(r, csrfConsent, f.handle), Shown: shownGrant(f.granted, aud), ClientName: clientName(f), Username: f.user.Username, Scopes: items,
		Audiences: resourceServers(aud, p.cfg.Issuer), FormActionOrigins: redirectOrigin(f)})
}

// handleConsent records the user's answer and hands the flow to the
// dispatcher, which finishes the request either way.
func (p *Provider) handleConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := p.resumeStep(w, r)
	if f == nil {
		return
	}
	if !p.consentSubject(w, r, f) {
		return
	}
	switch r.PostForm.Get("decision") {
	case "allow":
	case "deny":
		// A denial consumes the request too: it cannot be answered twice.
		if err := p.cfg.Store.DeleteAuthRequest(ctx, f.pending.ID); err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				err = fmt.Errorf("consume pending request: %w", err)
			} else {
				err = errPendingGone
			}
			p.pendingGone(w, r, err)
			return
		}
		p.audit.Record(ctx, audit.Event{Action: "consent.denied", Actor: "user:" + f.user.ID, Object: "user:" + f.user.ID,
			ClientID: f.ar.GetClient().GetID(), Details: map[string]any{"scopes": f.granted}})
		f.answer = consentDenied
		p.advance(w, r, f)
		return
	default:
		p.pageError(w, r, http.StatusBadRequest, "No decision was made", "Choose Allow or Deny.")
		return
	}
	// The user allows what the page showed them, no more: when the grant
	// changed since (a role or the client's registration gained a scope,
	// or a scope moved to another resource server), the page is shown
	// again with it. A post without "shown" (a script keeping to
	// DESIGN.md's fields: request, csrf, decision) allows the grant as it
	// is now, as before, and costs no audience read.
	if r.PostForm.Has("shown") {
		aud, err := p.grantAudience(ctx, f.ar.GetClient(), f.granted, requestedAudience(f.ar))
		if err != nil {
			p.authorizeError(w, r, f.ar, err)
			return
		}
		if r.PostForm.Get("shown") != shownGrant(f.granted, aud) {
			p.toPage(w, r, f, PathConsent)
			return
		}
	}
	consent := &storage.Consent{UserID: f.user.ID, ClientID: f.ar.GetClient().GetID(), Scopes: f.granted, GrantedAt: p.cfg.Now().UTC()}
	old, err := p.cfg.Store.GetConsent(ctx, f.user.ID, consent.ClientID)
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
	p.audit.Record(ctx, audit.Event{Action: "consent.given", Actor: "user:" + f.user.ID, Object: "user:" + f.user.ID,
		ClientID: consent.ClientID, Details: map[string]any{"scopes": f.granted}})
	f.answer = consentAllowed
	p.advance(w, r, f)
}

// consentSubject establishes whom the consent page is for: the user who
// logged in for the request, still signed in in this browser, and the
// scopes they would grant, as the flow's user, authTime and granted. It
// answers the request itself and returns false when the request has no
// login yet, or the login no longer holds.
func (p *Provider) consentSubject(w http.ResponseWriter, r *http.Request, f *flow) bool {
	if f.pending.UserID == "" {
		p.pendingGone(w, r, errPendingGone)
		return false
	}
	// The consent is the signed-in user's: if this browser signed out, or
	// someone else signed in, since the login, the request is void.
	sess, err := p.browserSession(r.Context(), r)
	if err != nil {
		p.pendingGone(w, r, err)
		return false
	}
	if sess == nil || sess.UserID != f.pending.UserID {
		p.pendingGone(w, r, errPendingGone)
		return false
	}
	f.sid = sess.SID
	user, err := p.activeUser(r.Context(), f.pending.UserID)
	if err != nil {
		p.pendingGone(w, r, err)
		return false
	}
	if user == nil {
		p.pendingGone(w, r, errPendingGone)
		return false
	}
	allowed, err := userScopes(r.Context(), p.cfg.Store, user)
	if err != nil {
		p.pendingGone(w, r, err)
		return false
	}
	f.user, f.authTime, f.amr = user, f.pending.AuthTime, sessionAMR(f.pending.AMR)
	// Consent is asked only past the second factor: the consent page of
	// a sign-in that has not proved it (reached straight after the
	// password) sends the browser to that step instead, and records
	// nothing.
	if _, ok, err := p.factorStep(r.Context(), f); err != nil || !ok {
		if err != nil {
			p.pendingGone(w, r, err)
			return false
		}
		p.advance(w, r, f)
		return false
	}
	f.granted = grantedScopes(f.ar.GetRequestedScopes(), f.ar.GetClient().GetScopes(), allowed)
	return true
}

// shownGrant names a grant as the consent page shows it, scopes and
// resource servers, for the page's answer to be checked against the grant
// the request would have when it is answered.
func shownGrant(scopes, audience []string) string {
	s, a := slices.Clone(scopes), slices.Clone(audience)
	slices.Sort(s)
	slices.Sort(a)
	// A backslash is in no scope token (RFC 6749 §3.3) nor URI; no line
	// break, which a browser posts as CRLF.
	return strings.Join(s, " ") + ` \ ` + strings.Join(a, " ")
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
