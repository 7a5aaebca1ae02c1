package provider

import (
	"cmp"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hallpass/hallpass/web"
)

// Handler returns the HTTP handler serving every hallpass endpoint, or,
// with Config.SeparateAdmin, every one but the admin API and /metrics
// (see listener.go).
func (p *Provider) Handler() http.Handler { return p.router }

// routes builds the router once, in New. This is the route table: each
// path leads to its handler in one hop.
func (p *Provider) routes() http.Handler {
	r := chi.NewRouter()
	// Browser apps (public clients in single-page apps) call these with
	// fetch() from their own origins: the origins of their redirect URIs
	// (cors.go). Not introspection (resource servers call it), not the
	// admin API, not the pages.
	cors := p.clientCORS(map[string]corsRoute{
		PathToken:    {methods: http.MethodPost},
		PathRevoke:   {methods: http.MethodPost},
		PathUserinfo: {methods: http.MethodGet + ", " + http.MethodPost, expose: "WWW-Authenticate"},
	})
	r.Use(p.observe, p.secureHeaders, p.limitBody, p.refuseContentCoding, p.refuseBadText, p.oneOfEach, withRequestScopes, p.listenerRoutes, cors, p.getHead)

	r.Get("/healthz", p.handleHealthz)
	r.Get("/readyz", p.handleReadyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(p.cfg.Gatherer, promhttp.HandlerOpts{}))

	// Public metadata is readable from browsers (single-page relying parties).
	r.With(allowAnyOrigin).Get(PathDiscovery, p.handleDiscovery)
	r.With(allowAnyOrigin).Get(PathOAuthMetadata, p.handleDiscovery)
	r.With(allowAnyOrigin).Method(http.MethodGet, PathJWKS, p.cfg.Keys.JWKSHandler())

	// Clients post to these (RFC 6749 §3.2, RFC 7662 §2.1, RFC 7009 §2.1,
	// RFC 9126 §2.1); any other method is 405 with Allow and an OAuth
	// error body (MethodNotAllowed below).
	r.Post(PathToken, p.handleToken)
	r.Post(PathIntrospect, p.handleIntrospect)
	r.Post(PathRevoke, p.handleRevoke)
	r.Post(PathRegistration, p.handleRegister)
	r.Post(PathPAR, p.handlePAR)

	// The browser flow: authorization, the pages it leads to (their
	// steps hand the flow back to one dispatcher, authflow.go), userinfo,
	// and logout.
	r.Get(PathAuthorize, p.handleAuthorize)
	r.Post(PathAuthorize, p.handleAuthorize)
	// Their form posts must come from hallpass's own pages: no other site
	// may post them (CrossOriginProtection), and the login and consent
	// forms carry a token bound to their request and this browser.
	// Consent is given only by POST.
	forms := p.crossOriginGuard(http.HandlerFunc(p.denyCrossOrigin)).Handler
	logoutForms := p.crossOriginGuard(http.HandlerFunc(p.endSessionCrossOrigin)).Handler
	r.Get(PathLogin, p.handleLoginPage)
	r.With(forms, p.requireFormCSRF(csrfLogin)).Post(PathLogin, p.handleLogin)
	r.Get(PathConsent, p.handleConsentPage)
	r.With(forms, p.requireFormCSRF(csrfConsent)).Post(PathConsent, p.handleConsent)
	// The second-factor steps (mfa_steps.go).
	r.Get(PathSecondFactor, p.handleSecondFactorPage)
	r.With(forms, p.requireFormCSRF(csrfFactor)).Post(PathSecondFactor, p.handleSecondFactor)
	r.Get(PathEnrol, p.handleEnrolPage)
	r.With(forms, p.requireFormCSRF(csrfFactor)).Post(PathEnrol, p.handleEnrol)
	r.With(forms, p.requireFormCSRF(csrfFactor)).Post(PathFactorContinue, p.handleFactorContinue)
	// The passkey steps (passkey_steps.go).
	r.With(forms, p.requireFormCSRF(csrfPasskey)).Post(PathLoginPasskey, p.handleLoginPasskey)
	r.With(forms, p.requireFormCSRF(csrfFactor)).Post(PathSecondFactorPasskey, p.handleSecondFactorPasskey)
	r.With(forms, p.requireFormCSRF(csrfFactor)).Post(PathEnrolPasskey, p.handleEnrolPasskey)
	r.Get(PathUserinfo, p.handleUserinfo)
	r.Post(PathUserinfo, p.handleUserinfo)
	r.Get(PathEndSession, p.handleEndSession)
	r.With(logoutForms).Post(PathEndSession, p.handleEndSession)
	r.Method(http.MethodGet, web.StaticPrefix+"*", p.pages.StaticHandler())
	if p.cfg.Dev {
		r.Get(PathDevCallback, p.handleDevCallback)
	}

	// The admin console and the account page (console*.go, account*.go).
	r.Route(PathConsole, p.mountConsole)
	r.Route(PathAccount, p.mountAccount)

	r.Route("/admin", func(r chi.Router) {
		r.Use(p.requireAdmin)
		// The one route that reads query parameters reads them through
		// adminQuery (auditQuery); every other refuses any (noQuery).
		r.Get("/audit", p.adminListAudit)
		r.Group(func(r chi.Router) {
			r.Use(p.noQuery)
			// Clients, users, roles and scopes: POST creates, GET lists, and
			// GET, PUT and DELETE /{id} read, replace and delete one (adminAPI).
			p.adminClients().mount(r, "/clients")
			// What takes no input refuses a body that gives some (noInput).
			r.With(p.noInput).Post("/clients/{id}/revoke-tokens", p.adminRevokeClientTokens)
			// {id} of a user is its id or its username.
			p.adminUsers().mount(r, "/users")
			r.With(p.noInput).Delete("/users/{id}/factors", p.adminResetFactors)
			p.adminRoles().mount(r, "/roles")
			p.adminScopes().mount(r, "/scopes")

			r.Get("/keys", p.adminListKeys)
			r.Post("/keys/rotate", p.adminRotateKeys)
			r.With(p.noInput).Post("/keys/{kid}/revoke", p.adminRevokeKey)
		})
	})

	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		p.writeError(w, r, errorf(http.StatusNotFound, "not_found", "no such endpoint"))
	})
	r.MethodNotAllowed(p.methodNotAllowed)
	return r
}

// methodNotAllowed answers 405, naming the methods the resource takes in
// Allow (RFC 9110 §15.5.6). chi calls it for a method it does not know
// whatever the path; where no method is served, there is no resource:
// 404, as for any method it knows.
func (p *Provider) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	allowed := allowedMethods(r)
	if allowed == "" {
		p.writeError(w, r, errorf(http.StatusNotFound, "not_found", "no such endpoint"))
		return
	}
	w.Header().Set("Allow", allowed)
	p.writeError(w, r, errorf(http.StatusMethodNotAllowed, "invalid_request", "method %s not allowed here", r.Method))
}

// allowedMethods lists, for the Allow header of a 405, the methods served
// at the path of the request chi just failed to route. It asks the router
// chi was in when it gave up (the mounted sub-router of /admin, /console
// or /account, reached through the mount patterns rctx went through):
// asking the root about a mount point would answer "any method". HEAD is
// allowed wherever GET is, except where GET acts (getHead).
func allowedMethods(r *http.Request) string {
	rctx := chi.RouteContext(r.Context())
	routes := rctx.Routes
	for _, mount := range rctx.RoutePatterns {
		sub := subRoutes(routes, mount)
		if sub == nil {
			break
		}
		routes = sub
	}
	// The path as the router chi gave up in saw it: what is left after
	// the mounts, or, outside them, the request's.
	path := cmp.Or(rctx.RoutePath, routedPath(r))
	acts := getActs(routedPath(r))
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		probe := m
		if m == http.MethodHead {
			if acts {
				continue
			}
			probe = http.MethodGet
		}
		if routes.Match(chi.NewRouteContext(), probe, path) {
			allowed = append(allowed, m)
		}
	}
	return strings.Join(allowed, ", ")
}

// subRoutes returns the router mounted at pattern in routes, or nil. chi
// records a mount at /x under three patterns (/x, /x/ and /x/*), only the
// last with the router.
func subRoutes(routes chi.Routes, pattern string) chi.Routes {
	mount := strings.TrimSuffix(strings.TrimSuffix(pattern, "*"), "/")
	for _, rt := range routes.Routes() {
		if rt.SubRoutes != nil && strings.TrimSuffix(rt.Pattern, "/*") == mount {
			return rt.SubRoutes
		}
	}
	return nil
}

// getHead routes a HEAD request as a GET, which net/http answers without
// the body (RFC 9110 §9.3.2: HEAD is GET without content, and a
// general-purpose server supports both, §9.1). chi's GetHead asks the
// root router whether HEAD is routed, which a mount point always answers
// yes. Where a GET acts (getActs), HEAD is 405: HEAD is a safe method
// (§9.2.1), sent by link checkers and prefetchers that expect nothing to
// happen, and answered as a GET it would issue an authorization code to
// a signed-in browser, redeem one, or sign a user out.
func (p *Provider) getHead(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			rctx := chi.RouteContext(r.Context())
			if path := routedPath(r); rctx != nil && getActs(path) && rctx.Routes.Match(chi.NewRouteContext(), http.MethodGet, path) {
				p.methodNotAllowed(w, r)
				return
			}
			if rctx != nil {
				rctx.RouteMethod = http.MethodGet
			}
		}
		next.ServeHTTP(w, r)
	})
}

// getActs reports whether a GET of path (as chi routes it) does more
// than read: the authorization endpoint issues a code to a signed-in
// browser, the callbacks of the console, the account page and --dev
// redeem one, and end_session with an id_token_hint signs out.
func getActs(path string) bool {
	switch path {
	case PathAuthorize, PathEndSession, PathDevCallback, consoleArea().callback(), accountArea().callback():
		return true
	}
	return false
}

// routedPath is r's path as chi routes it: the escaped form when the
// request had one (so %2F stays inside a segment), else the decoded path.
// CORS (clientCORS) and the 405's Allow (allowedMethods) look routes up
// by it, and must see the path as the router will.
func routedPath(r *http.Request) string {
	return cmp.Or(r.URL.RawPath, r.URL.Path)
}

// pathParam is the URL parameter key of r's route, decoded. chi routes on
// the raw path when the request has one (a name holding an escaped "/",
// such as the scope "https://api.example/read"), and then hands over the
// segment still escaped; on the decoded path otherwise. Every handler
// reads its parameters here, so a name reaches it as it was stored,
// however the client had to escape it.
func pathParam(r *http.Request, key string) string {
	v := chi.URLParam(r, key)
	if r.URL.RawPath == "" {
		return v
	}
	// net/http refuses a request line with a malformed escape, so this
	// only fails on a path set by hand; the segment is then left as is.
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}
