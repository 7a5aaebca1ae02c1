package provider

import (
	"net/http"
	"strconv"

	"github.com/hallpass/hallpass/web"
)

// Purposes of the form CSRF tokens: a login form's token is no good for
// the consent form of the same request, and the other way round.
const (
	csrfLogin   = "login"
	csrfConsent = "consent"
)

// crossOriginGuard returns the header half of the browser forms' CSRF
// defence: Go's CrossOriginProtection refuses a POST whose Sec-Fetch-Site
// is cross-site or same-site, or, from browsers too old to send that, whose
// Origin is another host. Requests with neither header (server-side
// callers) pass; the form token is what stops those. deny answers a
// refused request.
func (p *Provider) crossOriginGuard(deny http.Handler) *http.CrossOriginProtection {
	c := http.NewCrossOriginProtection()
	// The issuer's own origin, for when a proxy in front of hallpass
	// rewrites Host: CrossOriginProtection compares Origin with Host.
	// scheme://host from a parsed issuer is always a valid origin.
	if err := c.AddTrustedOrigin(p.issuer.Scheme + "://" + p.issuer.Host); err != nil {
		p.log.Error("trust the issuer's origin for browser forms", "err", err)
	}
	c.SetDenyHandler(deny)
	return c
}

// refuseForeignForm answers a browser form post that did not come from
// hallpass's own page in this browser: 403 with an HTML page, before any
// handler could change anything (no login, no session, no consent, no
// throttle charge).
func (p *Provider) refuseForeignForm(w http.ResponseWriter, r *http.Request, reason string) {
	p.log.InfoContext(r.Context(), "form post refused", "request_id", RequestID(r.Context()), "path", r.URL.Path, "reason", reason)
	p.pageError(w, r, http.StatusForbidden, "This form was not sent from hallpass",
		"hallpass accepts this form only from its own page, in the browser that opened it, so that no other site can act in your name. "+
			"If you waited a long time or signed out meanwhile, go back to the application and start again.")
}

// denyCrossOrigin is crossOriginGuard's deny handler for the login and
// consent forms.
func (p *Provider) denyCrossOrigin(w http.ResponseWriter, r *http.Request) {
	p.refuseForeignForm(w, r, "cross-origin request")
}

// requireFormCSRF refuses a login or consent post whose csrf field is not
// the token of that form (purpose) for the pending request it names and
// this browser's binding cookie. The token needs no lookup, so a forged
// post is refused before the handler loads anything; whether the handle
// names a live request of this browser is still the handler's check
// (resume). The form is read by readBrowserForm, which refuses a field
// sent twice (decision=allow and decision=deny).
func (p *Provider) requireFormCSRF(purpose string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !p.readBrowserForm(w, r) {
				return
			}
			if !web.SameToken(r.PostForm.Get("csrf"), p.formCSRF(r, purpose, r.PostForm.Get("request"))) {
				p.refuseForeignForm(w, r, "csrf token missing or invalid")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// formCSRF is the token the purpose form of the pending request handle
// carries in this browser: bound to the handle and to the binding cookie
// that ties the request to the browser, so neither another site nor
// another browser holding the handle can produce it. Empty, and so valid
// for nothing, when the browser has no binding cookie.
func (p *Provider) formCSRF(r *http.Request, purpose, handle string) string {
	binding, _ := p.cookies.Binding(r)
	return web.CSRFToken(p.cfg.TokenSecret, "form-"+purpose, handle, binding)
}

// browserListFields are the fields of hallpass's browser forms that hold
// a list, one value per box checked (the "checkboxes" fields of
// web/templates: the console's client form's grant_types, its role
// form's scopes, its user form's roles). Every other field of every
// browser form is single-valued; lists typed into a textarea (a client's
// redirect URIs) are one value, a line each.
func browserListFields() []string { return []string{"grant_types", "roles", "scopes"} }

// readBrowserForm parses the post of a browser form (login, consent, the
// second-factor and passkey steps, the console, the account page: every
// one reaches it through requireFormCSRF or requireSelfCSRF) and refuses,
// 400 with the error page, one that cannot be read or that holds a
// single-valued field more than once (role=a and role=b, two new
// passwords), rather than let its handler read the first copy, as at the
// OAuth endpoints (parseOAuthParams). It reports whether the handler may
// go on; false means it answered.
func (p *Provider) readBrowserForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		p.pageError(w, r, http.StatusBadRequest, "The form could not be read", "Go back and try again.")
		return false
	}
	if name := repeatedField(r.PostForm, browserListFields()); name != "" {
		p.log.InfoContext(r.Context(), "form post refused", "request_id", RequestID(r.Context()), "path", r.URL.Path, "reason", "field sent more than once", "field", name)
		p.pageError(w, r, http.StatusBadRequest, "The form could not be read", "The field "+strconv.Quote(name)+" was sent more than once. Go back and try again.")
		return false
	}
	return true
}
