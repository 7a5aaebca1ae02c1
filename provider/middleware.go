package provider

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/bearer"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	// requestScopesKey holds the request's *requestScopes (audience.go).
	requestScopesKey
)

// RequestID returns the id of the request being served ("" outside one).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// observe gives each request an id, logs it and counts it. Only the path is
// logged, never the query or body: they can carry codes and tokens.
func (p *Provider) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := p.cfg.Now()
		id := r.Header.Get("X-Request-Id")
		// A caller's X-Request-Id is kept only when short and plain, so it
		// cannot forge log lines.
		if !directory.ValidName(id, "-_.", 64) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		client := "unknown"
		if a := clientAddress(r, p.cfg.TrustedProxies); a.IsValid() {
			client = a.String()
		}
		userAgent := r.UserAgent()
		ctx := audit.WithRequest(context.WithValue(r.Context(), requestIDKey, id), client, userAgent)
		// The request's span: a child of the caller's (W3C traceparent)
		// if it sent one, named by its route once routed.
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(r.Header))
		method := methodLabel(r.Method)
		ctx, span := p.tracer.Start(ctx, "HTTP "+method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("url.path", spanText(r.URL.Path)),
				attribute.String("client.address", client), attribute.String("user_agent.original", spanText(truncate(userAgent, maxLoggedUserAgent)))))
		defer span.End()
		note := &spanNote{}
		ctx = context.WithValue(ctx, spanNoteKey{}, note)
		ctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
		defer cancel()
		ww := &statusWriter{ResponseWriter: w}
		defer func() {
			if rec := recover(); rec != nil {
				p.log.ErrorContext(ctx, "panic serving request", "request_id", id, "path", r.URL.Path, "panic", rec)
				if ww.status == 0 {
					writeJSON(ww, http.StatusInternalServerError, map[string]string{"error": "server_error", "error_description": "internal error"})
				}
			}
			route := "unmatched"
			if rc := chi.RouteContext(ctx); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			status := ww.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := p.cfg.Now().Sub(start)
			p.metrics.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
			p.metrics.duration.WithLabelValues(route).Observe(elapsed.Seconds())
			if span.IsRecording() {
				user, _, hasBasic := r.BasicAuth()
				span.SetName(method + " " + route)
				span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status),
					attribute.String("client_id", spanText(spanClientID(note, user, hasBasic, r.URL.Query()))))
				if status >= 500 {
					span.SetStatus(codes.Error, http.StatusText(status))
				}
			}
			// The line InfoContext would write, built without its stack
			// walk for a source position (none is logged) and without
			// boxing each value: this runs for every request.
			if h := p.log.Handler(); h.Enabled(ctx, slog.LevelInfo) {
				rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
				rec.AddAttrs(slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", route),
					slog.String("client", client), slog.String("user_agent", truncate(userAgent, maxLoggedUserAgent)),
					slog.Int("status", status), slog.Int("bytes", ww.bytes), slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000))
				_ = h.Handle(ctx, rec)
			}
		}()
		next.ServeHTTP(ww, r.WithContext(ctx))
	})
}

// statusWriter records the status and size of an answer, for its
// request's log line, metrics and span. It is ours rather than chi's
// middleware.WrapResponseWriter because that package imports
// net/http/pprof, whose presence alone makes every hallpass process keep
// memory-profile samples nobody can read (hallpass serves no pprof).
type statusWriter struct {
	http.ResponseWriter
	status int // 0 until a final status is written
	bytes  int
}

// WriteHeader passes informational (1xx) answers on, and of the final
// status only the first: a second would be logged by net/http as
// superfluous and change nothing.
func (w *statusWriter) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.status == 0 {
		w.status = code
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer
// (flushing, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// methodLabel is the method of a request as metrics and spans name it:
// the client chooses the method, and every name it invents would be a
// series (or span name) of its own, kept for the process's life. Methods
// outside RFC 9110 and PATCH are _OTHER, as OpenTelemetry's HTTP
// conventions say.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// maxLoggedUserAgent bounds the user agent in a request's log line: the
// client chooses it.
const maxLoggedUserAgent = 256

// truncate returns s cut to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// defaultCSP is the policy of every response that sets none of its own:
// nothing may load, frame, post or set a base URL. Pages replace it with
// theirs, which allows their stylesheet and form targets.
const defaultCSP = "default-src 'none'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"

// secureHeaders gives every response, JSON, HTML, redirect or plain text,
// the same safety headers before its handler runs: no sniffing, no
// framing, no referrer (authorization responses carry codes in URLs), a
// deny-all CSP, and no caching (responses carry tokens and user data).
// Handlers override only to loosen on purpose, e.g. public caching of
// discovery and JWKS; pages set their own CSP. Under an https issuer,
// HSTS too. One place, so no endpoint can forget them.
func (p *Provider) secureHeaders(next http.Handler) http.Handler {
	https := p.issuer.Scheme == "https"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", defaultCSP)
		h.Set("Cache-Control", "no-store")
		if https {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body so no endpoint can be made to read
// unbounded input. A body whose Content-Length already says it is over
// the cap fails its first read, as the cap would, without a byte of it
// being read: so a client that asked whether to send it (Expect:
// 100-continue, RFC 9110 §10.1.1) gets the refusal instead of the
// "100 Continue" net/http sends on the first read of the connection,
// which invited it to upload what was then cut off at the cap. Each
// handler still refuses the body in its own terms.
func (p *Provider) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > p.cfg.MaxBodyBytes {
			r.Body = overCap{Closer: r.Body, limit: p.cfg.MaxBodyBytes}
		} else {
			r.Body = http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// overCap is the body of a request announced larger than limit: every
// read fails as http.MaxBytesReader's does past the limit.
type overCap struct {
	io.Closer
	limit int64
}

func (b overCap) Read([]byte) (int, error) { return 0, &http.MaxBytesError{Limit: b.limit} }

// refuseBadText refuses a request whose path, query, URL-encoded form body
// or HTTP Basic credentials, once decoded, hold a NUL character or invalid
// UTF-8. No legitimate client sends either; PostgreSQL refuses both in
// text columns (a 500) where SQLite would store them, so without this the
// two backends would answer the same request differently. JSON bodies get
// the same check in decodeJSON. The authorization endpoint checks its
// parameters itself (parseAuthorizeForm): once its client and redirect URI
// are established, its errors go back to the client (RFC 6749 §4.1.2.1),
// not on a page.
func (p *Provider) refuseBadText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The authorization endpoint's query and form are checked once,
		// by parseAuthorizeForm, not also here.
		query, form := r.URL.RawQuery, cleanForm
		if r.URL.Path == PathAuthorize {
			query, form = "", func(*http.Request) (string, bool) { return "", true }
		}
		where := ""
		if !directory.CleanText(r.URL.Path) {
			where = "the request path"
		} else if name, ok := cleanValues(query); !ok {
			where = "query parameter " + name
		} else if !cleanBasicAuth(r) {
			where = "the HTTP Basic credentials"
		} else if name, ok := form(r); !ok {
			where = "form parameter " + name
		}
		if where != "" {
			msg := where + " must not contain a NUL character or invalid UTF-8"
			p.refuseUnreadable(w, r, http.StatusBadRequest, msg, msg+". Go back to the application and try again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuseUnreadable answers status (a 4xx) to a request the middleware
// cannot read unambiguously: to a person (browserPage) an HTML page
// saying pageMsg, like every other answer of those routes; to a client
// the invalid_request error described by msg; at userinfo, a protected
// resource, a 400 is a malformed request of RFC 6750 §3.1 and comes with
// its Bearer challenge, as userinfo's own refusals do.
func (p *Provider) refuseUnreadable(w http.ResponseWriter, r *http.Request, status int, msg, pageMsg string) {
	if browserPage(r.URL.Path) {
		p.pageError(w, r, status, "This request cannot be read", pageMsg)
		return
	}
	if r.URL.Path == PathUserinfo && status == http.StatusBadRequest {
		p.bearerError(w, status, "invalid_request", msg)
		return
	}
	p.writeError(w, r, errorf(status, "invalid_request", "%s", msg))
}

// refuseContentCoding answers 415 to a request whose body comes with a
// content coding (Content-Encoding: gzip, say), and names in
// Accept-Encoding the one hallpass reads, none (RFC 9110 §8.4, RFC 7694
// §3). hallpass decodes no body, so it would read the compressed bytes as
// the form or JSON itself, where a proxy that decodes them reads another
// request; and it never inflates one, so no small body can become a large
// one. A request without a body may carry the header.
func (p *Provider) refuseContentCoding(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, v := range r.Header.Values("Content-Encoding") {
			for coding := range strings.SplitSeq(v, ",") {
				if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") && hasBody(r) {
					w.Header().Set("Accept-Encoding", "identity")
					msg := "The request body must not be compressed (Content-Encoding " + strconv.Quote(c) + "); send it as it is."
					p.refuseUnreadable(w, r, http.StatusUnsupportedMediaType, msg, msg)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// oneOfEach refuses a request carrying more than one Authorization or
// Content-Type header, whatever the endpoint. Each holds one value (RFC
// 9110 §11.6.2, §8.3): with two, hallpass (which reads the first) and a
// proxy or resource server in front of it (which may read the last) would
// disagree on who is asking, or on how the body reads.
func (p *Provider) oneOfEach(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, name := range [...]string{"Authorization", "Content-Type"} {
			if len(r.Header.Values(name)) > 1 {
				msg := "The request carries more than one " + name + " header; send exactly one."
				p.refuseUnreadable(w, r, http.StatusBadRequest, msg, msg)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// cleanValues reports whether every name and value of the URL-encoded
// form or query q is clean text, and if not, names the parameter (quoted,
// or "name" when the name itself is at fault). Malformed pairs are left to
// the handler, which reports them in its own terms.
func cleanValues(q string) (name string, ok bool) {
	vs, _ := url.ParseQuery(q)
	return cleanParsed(vs)
}

// cleanParsed is cleanValues of parsed values.
func cleanParsed(vs url.Values) (name string, ok bool) {
	for k, v := range vs {
		if !directory.CleanText(k) {
			return "name", false
		}
		for _, s := range v {
			if !directory.CleanText(s) {
				return strconv.Quote(k), false
			}
		}
	}
	return "", true
}

// cleanForm is cleanValues of r's URL-encoded form body (peekForm). A
// clean body that parses is also left as r.PostForm, exactly what
// Request.ParseForm would make of it, so that the handler does not read
// and parse it a second time.
func cleanForm(r *http.Request) (name string, ok bool) {
	body, read := peekForm(r)
	if body == "" {
		return "", true
	}
	vs, err := url.ParseQuery(body)
	if name, ok := cleanParsed(vs); !ok {
		return name, false
	}
	if err == nil && read && r.PostForm == nil && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		r.PostForm = vs
	}
	return "", true
}

// cleanBasicAuth checks HTTP Basic credentials both as sent and decoded as
// RFC 6749 §2.3.1 has the token endpoint decode them.
func cleanBasicAuth(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return true
	}
	for _, s := range []string{user, pass} {
		if !directory.CleanText(s) {
			return false
		}
		if dec, err := url.QueryUnescape(s); err == nil && !directory.CleanText(dec) {
			return false
		}
	}
	return true
}

// peekForm returns the raw URL-encoded form body of r, if it has one, and
// puts the body back so that the handler reads exactly what was sent,
// including a read error such as the limitBody cap (the form is then what
// was read before it, and the handler reports the error in its terms).
// read is false when reading the body failed.
func peekForm(r *http.Request) (body string, read bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return "", true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", true
	}
	var b []byte
	if n := r.ContentLength; n > 0 && n <= maxPeekPrealloc {
		// One allocation of the announced size, where ReadAll would
		// grow its buffer from 512 bytes.
		b = make([]byte, 0, n+1)
	}
	b, err = readAll(r.Body, b)
	var rest io.Reader = bytes.NewReader(b)
	if err != nil {
		rest = io.MultiReader(rest, errReader{err})
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{rest, r.Body}
	return string(b), err == nil
}

// maxPeekPrealloc bounds what peekForm allocates ahead on the word of a
// Content-Length header (the body is capped by limitBody anyway).
const maxPeekPrealloc = 64 << 10

// readAll is io.ReadAll into b's spare capacity.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// adminBearerToken returns the token of an "Authorization: Bearer"
// header as the admin token is read: everything after the scheme, trimmed.
// It is lenient on purpose, unlike the access tokens' parser
// (bearer.Token, RFC 6750's b64token): an operator may have set
// HALLPASS_ADMIN_TOKEN to any text of at least MinAdminTokenLen bytes,
// spaces, quotes or other characters outside b64token included
// (CheckAdminToken asks no more), and such a token must keep working.
// Only the admin token is read with it (the admin API, registration's
// initial access token, introspection by the admin); whatever it reads is
// only ever compared with the admin token's digest (isAdmin).
func adminBearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !bearer.IsScheme(scheme) {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// missingBearer is the refusal of a request whose Authorization header
// holds no bearer token (adminBearerToken found none). The Bearer scheme with
// nothing after it is a malformed request: 400 invalid_request. Anything
// else (no header, or credentials of another scheme, such as Basic) is a
// request without any authentication information, which RFC 6750 §3.1
// answers with the bare challenge and no error code: the client may not
// know that the endpoint needs a token.
func missingBearer(r *http.Request) *apiError {
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); bearer.IsScheme(scheme) {
		return &apiError{status: http.StatusBadRequest, code: "invalid_request", bearer: true,
			description: "The Authorization header names the Bearer scheme but carries no access token."}
	}
	return &apiError{status: http.StatusUnauthorized, bearer: true}
}

// adminRefusal returns nil when r carries the admin token, and otherwise
// what to answer it with: missingBearer's refusal without a bearer
// token, 401 invalid_token saying description with another token, or the
// failure of ours that kept the token from being checked.
func (p *Provider) adminRefusal(r *http.Request, description string) error {
	if _, ok := adminBearerToken(r); !ok {
		return missingBearer(r)
	}
	ok, err := p.isAdmin(r)
	if err != nil {
		return fmt.Errorf("check the admin token: %w", err)
	}
	if !ok {
		return &apiError{status: http.StatusUnauthorized, code: "invalid_token", description: description, bearer: true}
	}
	return nil
}

// isAdmin reports whether r carries the admin token; compared as digests in
// constant time so neither length nor content leaks through timing. With
// Config.AdminTokenStored the digest is read from the store on each call,
// so that `hallpass admin-token rotate` takes effect on every replica at
// once; an error is then a failure of ours.
func (p *Provider) isAdmin(r *http.Request) (bool, error) {
	tok, ok := adminBearerToken(r)
	if !ok {
		return false, nil
	}
	want := p.cfg.AdminTokenDigest
	if p.cfg.AdminTokenStored {
		d, err := StoredAdminTokenDigest(r.Context(), p.cfg.Store)
		if err != nil {
			return false, err
		}
		want = d
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], want) == 1, nil
}

// requireAdmin answers 401 unless the request carries the admin token.
func (p *Provider) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.adminRefusal(r, "a valid admin bearer token is required"); err != nil {
			p.writeError(w, r, err)
			return
		}
		// Whatever the admin API changes is recorded as the admin
		// token's doing.
		next.ServeHTTP(w, r.WithContext(audit.WithActor(r.Context(), "admin-token")))
	})
}

// allowAnyOrigin marks a response readable cross-origin; only for public,
// credential-free documents.
func allowAnyOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		next.ServeHTTP(w, r)
	})
}

// browserPage reports whether path is one a browser shows to a person,
// whose answers are HTML pages rather than JSON: the authorization
// endpoint and the steps it leads to (sign-in, second factor, enrolment,
// passkeys, consent), logout, the development callback, and the console
// and account pages.
func browserPage(path string) bool {
	switch path {
	case PathAuthorize, PathLogin, PathConsent, PathEndSession, PathDevCallback, PathConsole, PathAccount:
		return true
	}
	for _, tree := range []string{PathLogin, PathConsole, PathAccount} {
		if strings.HasPrefix(path, tree+"/") {
			return true
		}
	}
	return false
}
