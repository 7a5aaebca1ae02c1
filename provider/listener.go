package provider

import (
	"context"
	"net/http"
	"strings"
)

// With Config.SeparateAdmin, hallpass listens twice: the public listener
// (Handler) for everything the internet reaches, and the admin listener
// (AdminHandler) for the admin API and /metrics, on a private network.
// One route table serves both; listenerRoutes answers 404 on a listener
// for what belongs to the other, so a route added under /admin is on the
// admin listener only without further code.

// listener says which listener a request arrived on; a request marked
// with none arrived on the public one (Handler is the router itself).
type listener int

const (
	listenerPublic listener = iota
	listenerAdmin
)

type listenerKey struct{}

// onListener marks the requests h serves as arriving on l.
func onListener(l listener, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), listenerKey{}, l)))
	})
}

// AdminHandler returns the handler of the admin listener: the admin API,
// /metrics, /healthz and /readyz, and 404 for everything else. Serve it
// when Config.SeparateAdmin is set; otherwise Handler serves these too.
func (p *Provider) AdminHandler() http.Handler { return onListener(listenerAdmin, p.router) }

// adminPath reports whether the request's path belongs on the admin
// listener, in its decoded or its raw form (chi routes on the raw one
// when there is one).
func adminPath(r *http.Request) bool {
	for _, path := range []string{r.URL.Path, r.URL.RawPath} {
		if path == "/metrics" || path == "/admin" || strings.HasPrefix(path, "/admin/") {
			return true
		}
	}
	return false
}

// listenerRoutes answers 404, as for an unknown path, what the listener
// of the request does not serve.
func (p *Provider) listenerRoutes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, _ := r.Context().Value(listenerKey{}).(listener)
		var served bool
		switch {
		case l == listenerAdmin:
			served = adminPath(r) || r.URL.Path == "/healthz" || r.URL.Path == "/readyz"
		case p.cfg.SeparateAdmin:
			served = !adminPath(r)
		default:
			served = true
		}
		if !served {
			p.writeError(w, r, errorf(http.StatusNotFound, "not_found", "no such endpoint"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
