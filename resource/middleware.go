package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hallpass/hallpass/internal/bearer"
)

type claimsKey struct{}

// verified is what the verifying middlewares leave in the context: the
// token's claims, and the challenger of the Verifier that accepted it, so
// that RequireScope, RequireACR and RequireAMR, which are not given the
// Verifier, challenge with its realm and resource_metadata.
type verified struct {
	claims *Claims
	ch     challenger
}

// FromContext returns the claims Middleware or IntrospectMiddleware
// accepted for the request whose context ctx is.
func FromContext(ctx context.Context) (*Claims, bool) {
	vd, ok := ctx.Value(claimsKey{}).(*verified)
	if !ok || vd.claims == nil {
		return nil, false
	}
	return vd.claims, true
}

// NewContext returns a copy of ctx carrying c, as the middlewares do; it
// lets handlers be tested without a token, and a middleware behind
// Middleware or IntrospectMiddleware put claims of its own in place of
// the token's. The challenges of RequireScope, RequireACR and RequireAMR
// keep the realm and resource_metadata of the Verifier that accepted the
// request ctx is of; without one they carry neither.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, &verified{claims: c, ch: challengerFrom(ctx)})
}

// challengerFrom returns the challenger of the Verifier whose middleware
// accepted the request whose context ctx is.
func challengerFrom(ctx context.Context) challenger {
	vd, _ := ctx.Value(claimsKey{}).(*verified)
	if vd == nil {
		return challenger{}
	}
	return vd.ch
}

// Middleware accepts requests whose Authorization header carries a bearer
// token that Verify accepts, putting its claims in the request context
// (see FromContext). Other requests get an RFC 6750 challenge: 401 with
// no error code and an empty body when they carry no authentication
// information (no Authorization header, or credentials of another
// scheme; §3.1), and otherwise a JSON error as well, 401 invalid_token
// when the token is rejected, 400 invalid_request when the header is
// malformed (such as the Bearer scheme with no token). Tokens are only
// taken from the Authorization header, never from the query string or a
// form.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return v.protect(next, v.Verify)
}

// IntrospectMiddleware is Middleware checking tokens with Introspect, so
// that a token revoked at hallpass fails at once. When hallpass cannot be
// asked it answers 503 temporarily_unavailable; without introspection
// configured, 500.
func (v *Verifier) IntrospectMiddleware(next http.Handler) http.Handler {
	return v.protect(next, v.Introspect)
}

func (v *Verifier) protect(next http.Handler, check func(context.Context, string) (*Claims, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		token, problem := bearer.Token(r)
		switch {
		case problem != "":
			v.ch.write(w, http.StatusBadRequest, "invalid_request", problem)
			return
		case token == "":
			v.ch.write(w, http.StatusUnauthorized, "", "")
			return
		}
		c, err := check(ctx, token)
		if err != nil {
			var te *tokenError
			switch {
			case errors.As(err, &te):
				v.log.DebugContext(ctx, "resource: access token rejected", "reason", err.Error(), "method", r.Method, "path", r.URL.Path)
				v.ch.write(w, http.StatusUnauthorized, "invalid_token", te.desc)
			case errors.Is(err, ErrInvalidToken):
				v.log.DebugContext(ctx, "resource: access token rejected", "reason", err.Error(), "method", r.Method, "path", r.URL.Path)
				v.ch.write(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid")
			case errors.Is(err, ErrNoIntrospection):
				v.log.ErrorContext(ctx, "resource: IntrospectMiddleware cannot introspect", "err", err.Error())
				writeError(w, http.StatusInternalServerError, "server_error", "The access token cannot be checked: introspection is not configured")
			default:
				v.log.WarnContext(ctx, "resource: access token could not be checked", "err", err.Error(), "method", r.Method, "path", r.URL.Path)
				writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The access token could not be checked; retry later")
			}
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, claimsKey{}, &verified{claims: c, ch: v.ch})))
	})
}

// challenger writes the package's WWW-Authenticate Bearer challenges (RFC
// 6750 §3): those of the verifying middlewares and, through the context
// they leave (verified), those of RequireScope, RequireACR and RequireAMR,
// so that every one names the same realm and resource_metadata (RFC 9728
// §5.1) and a client refused for want of a scope or a second factor can
// find the authorization server as one refused for want of a token can.
// The zero challenger (NewContext without a Verifier) names neither.
type challenger struct {
	realm, resourceMetadata string
}

// param is an auth-param a challenge adds after the error description,
// and a member of the JSON body.
type param struct{ name, value string }

// write answers status with c's challenge and a JSON body of the error,
// its description and params. code "" is the challenge to a request
// without any authentication information, which carries no error code
// nor other error information (§3.1): the realm (and resource_metadata)
// only, and an empty body; clients go by the 401 alone.
func (c challenger) write(w http.ResponseWriter, status int, code, desc string, params ...param) {
	var parts []string
	if c.realm != "" {
		parts = append(parts, `realm="`+quote(c.realm)+`"`)
	}
	if c.resourceMetadata != "" {
		parts = append(parts, `resource_metadata="`+quote(c.resourceMetadata)+`"`)
	}
	if code == "" {
		w.Header().Set("WWW-Authenticate", bearerChallenge(parts))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		return
	}
	parts = append(parts, `error="`+code+`"`, `error_description="`+quote(desc)+`"`)
	body := map[string]string{"error": code, "error_description": desc}
	for _, p := range params {
		parts = append(parts, p.name+`="`+quote(p.value)+`"`)
		body[p.name] = p.value
	}
	w.Header().Set("WWW-Authenticate", bearerChallenge(parts))
	writeJSON(w, status, body)
}

// bearerChallenge is the Bearer challenge with the auth-params parts.
func bearerChallenge(parts []string) string {
	if len(parts) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(parts, ", ")
}

// RequireScope returns middleware answering 403 insufficient_scope (RFC
// 6750 §3.1) unless the request's token grants scope; the challenge
// carries the realm and resource_metadata of the Verifier whose
// middleware accepted the token, as its 401s do. It must run after
// Middleware or IntrospectMiddleware; without their claims in the context
// it answers 500. It panics if scope is not a valid scope token (RFC 6749
// §3.3), a programming error.
func RequireScope(scope string) func(http.Handler) http.Handler {
	if !isScopeToken(scope) {
		panic(fmt.Sprintf("resource.RequireScope: %q is not a scope token", scope))
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := FromContext(r.Context())
			if !ok {
				writeError(w, http.StatusInternalServerError, "server_error", "RequireScope runs without a verified token: put Middleware or IntrospectMiddleware before it")
				return
			}
			if !c.HasScope(scope) {
				challengerFrom(r.Context()).write(w, http.StatusForbidden, "insufficient_scope",
					"The access token does not grant the scope "+scope, param{"scope", scope})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// RequireACR returns middleware answering 403
// insufficient_user_authentication (RFC 9470 §3) unless the request's
// token's acr is one of acrs; the challenge names them in acr_values, for
// the client to send the user back through hallpass with them (hallpass
// then asks for what is missing, such as a second factor). Like
// RequireScope it must run after Middleware or IntrospectMiddleware, and
// its challenge carries the same realm and resource_metadata. It
// panics without an acceptable value, a programming error.
func RequireACR(acrs ...string) func(http.Handler) http.Handler {
	if len(acrs) == 0 || slices.ContainsFunc(acrs, func(a string) bool { return !isScopeToken(a) }) {
		panic(fmt.Sprintf("resource.RequireACR: %q is not a list of acr values", acrs))
	}
	return requireAuthentication("RequireACR", func(c *Claims) bool { return slices.Contains(acrs, c.ACR) },
		"The user did not sign in strongly enough for this request", param{"acr_values", strings.Join(acrs, " ")})
}

// RequireAMR returns middleware answering 403
// insufficient_user_authentication (RFC 9470 §3) unless the request's
// token's amr includes every one of methods (RFC 8176, e.g. "mfa"; with
// hallpass, acr_values=urn:hallpass:acr:mfa at sign-in yields it). Like
// RequireScope it must run after Middleware or IntrospectMiddleware, and
// its challenge carries the same realm and resource_metadata. It
// panics without methods, a programming error.
func RequireAMR(methods ...string) func(http.Handler) http.Handler {
	if len(methods) == 0 {
		panic("resource.RequireAMR: no methods")
	}
	return requireAuthentication("RequireAMR", func(c *Claims) bool {
		return !slices.ContainsFunc(methods, func(m string) bool { return !slices.Contains(c.AMR, m) })
	}, "The user did not sign in with the methods this request needs")
}

// requireAuthentication is RequireACR and RequireAMR: ok judges the
// token's claims, params are added to the challenge.
func requireAuthentication(name string, ok func(*Claims) bool, desc string, params ...param) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, found := FromContext(r.Context())
			if !found {
				writeError(w, http.StatusInternalServerError, "server_error", name+" runs without a verified token: put Middleware or IntrospectMiddleware before it")
				return
			}
			if !ok(c) {
				challengerFrom(r.Context()).write(w, http.StatusForbidden, "insufficient_user_authentication", desc, params...)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// isScopeToken matches RFC 6749's scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// quote makes s safe inside an auth-param quoted-string: RFC 6750 allows
// %x20-21 / %x23-5B / %x5D-7E in error_description, so anything else is
// replaced.
func quote(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, s)
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	enc, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(enc, '\n'))
}
