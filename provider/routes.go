package provider

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the HTTP handler serving every hallpass endpoint. This is
// the route table: each path leads to its handler in one hop.
func (p *Provider) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(p.observe, p.limitBody)

	r.Get("/healthz", p.handleHealthz)
	r.Get("/readyz", p.handleReadyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(p.cfg.Gatherer, promhttp.HandlerOpts{}))

	// Public metadata is readable from browsers (single-page relying parties).
	r.With(allowAnyOrigin).Get(PathDiscovery, p.handleDiscovery)
	r.With(allowAnyOrigin).Method(http.MethodGet, PathJWKS, p.cfg.Keys.JWKSHandler())
	r.With(allowAnyOrigin).Method(http.MethodHead, PathJWKS, p.cfg.Keys.JWKSHandler())

	// fosite answers non-POST token, introspection and revocation requests
	// with the RFC error itself, so these take every method.
	r.HandleFunc(PathToken, p.handleToken)
	r.HandleFunc(PathIntrospect, p.handleIntrospect)
	r.HandleFunc(PathRevoke, p.handleRevoke)
	r.Post(PathRegistration, p.handleRegister)

	r.Route("/admin", func(r chi.Router) {
		r.Use(p.requireAdmin)
		r.Post("/clients", p.adminCreateClient)
		r.Get("/clients", p.adminListClients)
		r.Get("/clients/{id}", p.adminGetClient)
		r.Put("/clients/{id}", p.adminUpdateClient)
		r.Delete("/clients/{id}", p.adminDeleteClient)
	})

	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		p.writeError(w, r, errorf(http.StatusNotFound, "not_found", "no such endpoint"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		p.writeError(w, r, errorf(http.StatusMethodNotAllowed, "invalid_request", "method %s not allowed here", r.Method))
	})
	return r
}
