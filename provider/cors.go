package provider

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/ory/fosite"
	"golang.org/x/net/idna"

	"github.com/hallpass/hallpass/storage"
)

// Cross-origin calls from browser apps (Fetch standard, CORS protocol).
// A single-page app, a public client running in the browser, calls the
// token and revocation endpoints and userinfo with fetch() from its own
// origin. The origins a client may call from are those of its registered
// redirect URIs (scheme, host and port, as Keycloak's "+" web origins):
// the app already runs there to receive its codes. A response is readable
// from an origin only when it is one of the origins of the client the
// request turned out to be for; never with credentials (no cookie is read
// here), never for "*".

// corsRoute is how a path answers cross-origin calls.
type corsRoute struct {
	// methods is the preflight's Access-Control-Allow-Methods.
	methods string
	// expose is the Access-Control-Expose-Headers of its responses, if any.
	expose string
}

// Answers of a preflight that are the same for every route.
const (
	// corsAllowHeaders are the request headers an app may send: its
	// access token or client credentials, and a form's content type.
	corsAllowHeaders = "Authorization, Content-Type"
	// corsMaxAge is how long, in seconds, a browser may keep a preflight's
	// answer.
	corsMaxAge = "600"
)

// clientCORS answers cross-origin calls to the paths of routes. A
// preflight (OPTIONS with Origin and Access-Control-Request-Method) is
// answered here, before routing, so it never meets the 405 of a POST-only
// endpoint nor its client authentication: 204 with the route's methods
// when the origin is one of some registered client (originSet), 403
// without CORS headers otherwise. Any other request with one well-formed
// Origin is handed on with a corsNote, which the client authentication
// (authenticateClient) or the handler fills in once it knows the
// request's client (allowClientOrigin), and with a writer that makes a
// failure of ours before then readable (allowFailure). An OPTIONS that
// is no preflight goes on to the router, which answers 405 with Allow.
func (p *Provider) clientCORS(routes map[string]corsRoute) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			path := routedPath(r)
			route, ok := routes[path]
			values := r.Header.Values("Origin")
			if !ok || len(values) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				// Counted and traced under the route it asks about, not
				// as unmatched (observe).
				if rctx := chi.RouteContext(r.Context()); rctx != nil {
					rctx.RoutePatterns = append(rctx.RoutePatterns, path)
				}
				p.preflight(w, r, values, route)
				return
			}
			origin, ok := requestOrigin(values)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			note := &corsNote{origin: origin, header: w.Header(), expose: route.expose}
			ctx := context.WithValue(r.Context(), corsNoteKey{}, note)
			cw := &corsWriter{ResponseWriter: w, fail: func() { p.allowFailure(ctx, note) }}
			defer func() {
				if rec := recover(); rec != nil {
					// observe answers a panic with a 500 through the
					// writer it holds, outside this one: the headers
					// go on now, before it writes.
					cw.failing()
					panic(rec)
				}
			}()
			next.ServeHTTP(cw, r.WithContext(ctx))
		})
	}
}

// corsWriter is the response writer of a request clientCORS handed on
// with a corsNote: fail runs before the first final status it writes
// when that is a 5xx.
type corsWriter struct {
	http.ResponseWriter
	fail  func()
	wrote bool
}

// WriteHeader runs fail before a 5xx, unless a final status went out
// already (net/http ignores a second one).
func (w *corsWriter) WriteHeader(code int) {
	if code >= http.StatusInternalServerError {
		w.failing()
	}
	if code >= 200 {
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *corsWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// failing runs fail if no final status was written yet.
func (w *corsWriter) failing() {
	if !w.wrote {
		w.wrote = true
		w.fail()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *corsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// failureLookupTimeout bounds the read of the origins that a failed
// request may make (hasAlone), on a context of its own.
const failureLookupTimeout = time.Second

// allowFailure makes a failure of ours (a 5xx, a panic) readable from
// the request's origin when its client is not known yet (the database
// failed or ran out of time before it was, or the code that would have
// found it panicked) and the origin is one of some registered client's.
// Without it the browser hides the 503 and its Retry-After from the app,
// which sees a network error. The answer says only that hallpass failed,
// so the origins last read decide when they have the origin: no query
// for a database that is likely what failed. Otherwise they are read
// as a preflight reads them, but by one failure at a time (hasAlone).
// Once the client is known (allowClientOrigin), its origins alone may
// read the failure, as any other answer.
func (p *Provider) allowFailure(ctx context.Context, n *corsNote) {
	if n.decided {
		return
	}
	if p.origins.last(n.origin) || p.origins.hasAlone(ctx, n.origin) {
		n.allow()
	}
}

// preflight answers a CORS preflight of route from the Origin header
// values. While the store cannot be read, an origin of the last listing
// read is still allowed (hasLast): refused, the preflight would hide the
// actual request's 503 from the app (allowFailure), as a network error.
func (p *Provider) preflight(w http.ResponseWriter, r *http.Request, values []string, route corsRoute) {
	origin, ok := requestOrigin(values)
	if ok {
		var err error
		if ok, err = p.origins.hasLast(r.Context(), origin); err != nil {
			p.writeError(w, r, fmt.Errorf("preflight: %w", err))
			return
		}
	}
	if !ok {
		p.writeError(w, r, errorf(http.StatusForbidden, "invalid_request", "cross-origin requests from this origin are not allowed"))
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", route.methods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	h.Add("Vary", "Origin")
	w.WriteHeader(http.StatusNoContent)
}

// requestOrigin is the origin of a request's Origin header values: one
// value, a well-formed http(s) origin (parseOrigin). Two Origin headers
// name no origin: which one would the browser have meant?
func requestOrigin(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	return parseOrigin(values[0])
}

type corsNoteKey struct{}

// corsNote is what clientCORS hands a request with an Origin: the
// normalised origin and the response's headers, which
// allowClientOrigin completes before the response is written.
type corsNote struct {
	origin string
	header http.Header
	expose string
	// decided is set once the request's client is known.
	decided bool
}

// allow makes the response readable from the note's origin.
func (n *corsNote) allow() {
	n.header.Set("Access-Control-Allow-Origin", n.origin)
	n.header.Add("Vary", "Origin")
	if n.expose != "" {
		n.header.Set("Access-Control-Expose-Headers", n.expose)
	}
}

// allowClientOrigin makes the response to the request of ctx readable
// from its origin if that is an origin of client c, the client the
// request turned out to be for: the one that authenticated at the token
// or revocation endpoint, the one an access token was issued to at
// userinfo. Called before the response is written; the answer, success
// or error, is then readable by the app. Without a corsNote (no Origin,
// or a route that answers no cross-origin calls) it does nothing.
func allowClientOrigin(ctx context.Context, c fosite.Client) {
	n, ok := ctx.Value(corsNoteKey{}).(*corsNote)
	if !ok || c == nil {
		return
	}
	n.decided = true
	for _, u := range c.GetRedirectURIs() {
		if o, ok := redirectURIOrigin(u); ok && o == n.origin {
			n.allow()
			return
		}
	}
}

// parseOrigin normalises an origin as a browser serialises it (RFC 6454
// §6.2, Fetch "ASCII serialisation of an origin"): scheme "://" host
// [":" port], and nothing else. Only http and https are origins here;
// "null" (an opaque origin) and anything malformed is not. Scheme and
// host are lowercased and a port that is the scheme's default dropped,
// so two spellings of one origin compare equal.
func parseOrigin(s string) (string, bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", false
	}
	scheme = strings.ToLower(scheme)
	var defaultPort string
	switch scheme {
	case "http":
		defaultPort = "80"
	case "https":
		defaultPort = "443"
	default:
		return "", false
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", false
		}
		host, port = rest[:end+1], rest[end+1:]
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", false
		}
		host = "[" + ipv6Origin(a) + "]"
	} else {
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			host, port = rest[:i], rest[i:]
		}
		if !validHost(host) {
			return "", false
		}
		host = strings.ToLower(host)
	}
	if port != "" {
		digits, ok := strings.CutPrefix(port, ":")
		if !ok || digits == "" || len(digits) > 5 || strings.Trim(digits, "0123456789") != "" {
			return "", false
		}
		n, err := strconv.ParseUint(digits, 10, 16)
		if err != nil || n == 0 {
			return "", false
		}
		if port = strconv.FormatUint(n, 10); port == defaultPort {
			port = ""
		} else {
			port = ":" + port
		}
	}
	return scheme + "://" + host + port, true
}

// ipv6Origin is an IPv6 address as a browser serialises it in an
// origin (URL Standard, IPv6 serializer): hexadecimal pieces, the first
// longest run of zeros compressed, as netip writes them, except that
// netip writes an IPv4-mapped address with a dotted quad
// (::ffff:127.0.0.1) where a browser sends ::ffff:7f00:1; echoed back
// in the other spelling, Access-Control-Allow-Origin would not match.
func ipv6Origin(a netip.Addr) string {
	if !a.Is4In6() {
		return a.String()
	}
	b := a.As16()
	// The five zero pieces before ffff are the longest run.
	return "::ffff:" + strconv.FormatUint(uint64(b[12])<<8|uint64(b[13]), 16) + ":" + strconv.FormatUint(uint64(b[14])<<8|uint64(b[15]), 16)
}

// validHost reports whether h is a host name or IPv4 address as an
// origin carries it: ASCII letters, digits, '-', '_' and '.' (browsers
// send internationalised names as punycode), not empty.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// redirectURIOrigin is the origin of a registered redirect URI, if it has
// an http(s) one (a native app's custom scheme has none). A client
// registered before hallpass required the A-label of an
// internationalised host may hold it as the user reads it
// (bücher.example); the browser at that URI sends its origin in
// ASCII (xn--bcher-kva.example), so it is converted as the URL Standard
// converts a domain (UTS #46, non-transitional, as idna.Lookup).
func redirectURIOrigin(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Opaque != "" {
		return "", false
	}
	host := u.Host
	if name := u.Hostname(); !isASCII(name) {
		ascii, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return "", false
		}
		port, _ := strings.CutPrefix(u.Host, name)
		host = ascii + port
	}
	return parseOrigin(u.Scheme + "://" + host)
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// cacheGeneration is the store's count of dropped copies of clients
// (cached.Store.Generation).
type cacheGeneration interface {
	Generation(ctx context.Context) (uint64, error)
	ListClients(ctx context.Context) ([]storage.Client, error)
}

// originSet answers whether an origin is one of some registered client,
// for preflights, which name no client. It keeps the origins of every
// client's redirect URIs, derived from one listing of the clients, while
// the store's cached copies of clients stand (their generation): a
// preflight costs a map lookup, and a change of any client, here or on
// another replica, is honoured as soon as it is for the copies.
type originSet struct {
	store cacheGeneration

	// reading is set while a failed request reads the origins
	// (hasAlone).
	reading atomic.Bool

	mu      sync.Mutex
	valid   bool
	gen     uint64
	origins map[string]struct{}
}

// has reports whether origin (normalised, parseOrigin) is an origin of
// some registered client.
func (s *originSet) has(ctx context.Context, origin string) (bool, error) {
	gen, err := s.store.Generation(ctx)
	if err != nil {
		return false, fmt.Errorf("read client origins: %w", err)
	}
	s.mu.Lock()
	if s.valid && s.gen == gen {
		_, ok := s.origins[origin]
		s.mu.Unlock()
		return ok, nil
	}
	s.mu.Unlock()
	clients, err := s.store.ListClients(ctx)
	if err != nil {
		return false, fmt.Errorf("read client origins: %w", err)
	}
	origins := map[string]struct{}{}
	for _, c := range clients {
		for _, u := range c.RedirectURIs {
			if o, ok := redirectURIOrigin(u); ok {
				origins[o] = struct{}{}
			}
		}
	}
	// Kept under the generation read before the listing: if the copies
	// were dropped since, the next preflight lists again.
	s.mu.Lock()
	s.valid, s.gen, s.origins = true, gen, origins
	s.mu.Unlock()
	_, ok := origins[origin]
	return ok, nil
}

// hasLast is has, except that when the store cannot be read, an origin
// of the last listing read still counts: what it decides then (whether
// a preflight lets the browser send a request that will meet the same
// failure) only lets an app see that hallpass failed. An origin that
// listing lacks, or any origin when there was none, is has's error.
func (s *originSet) hasLast(ctx context.Context, origin string) (bool, error) {
	ok, err := s.has(ctx, origin)
	if err == nil {
		return ok, nil
	}
	if s.last(origin) {
		return true, nil
	}
	return false, err
}

// hasAlone is has for a request that failed, on a context of its own
// (the request's may be what ran out) bounded by failureLookupTimeout,
// unless another such read is under way: then false at once. During an
// outage every request fails, and any Origin can be sent; each reading
// the origins would cost the database a query more per failure, and the
// failure a second's wait.
func (s *originSet) hasAlone(ctx context.Context, origin string) bool {
	if !s.reading.CompareAndSwap(false, true) {
		return false
	}
	defer s.reading.Store(false)
	lookup, cancel := context.WithTimeout(context.WithoutCancel(ctx), failureLookupTimeout)
	defer cancel()
	ok, _ := s.has(lookup, origin)
	return ok
}

// last reports whether origin was in the last listing read, however
// old; false when none was read.
func (s *originSet) last(origin string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.origins[origin]
	return ok
}
