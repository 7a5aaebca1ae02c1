// Package bearer reads an access token from an HTTP Authorization header
// as RFC 6750 §2.1 has a client send it: the Bearer scheme and a single
// b64token. It is the one parser of access tokens in headers, for the
// provider's userinfo endpoint and for the resource package's
// middlewares, so that both refuse the same malformed requests.
package bearer

import (
	"net/http"
	"strings"
)

// Token returns the bearer token of r's Authorization header: "" with no
// problem when r carries no bearer credentials (no header, or another
// scheme, such as Basic: RFC 6750 §3.1, a request without authentication
// information), or a description of what makes the request malformed
// (§3.1 invalid_request): more than one Authorization header, the Bearer
// scheme without a token, or credentials that are not a single b64token.
func Token(r *http.Request) (token, problem string) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ""
	case 1:
	default:
		return "", "The request has more than one Authorization header"
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !IsScheme(scheme) {
		return "", ""
	}
	token = strings.TrimLeft(rest, " ")
	if token == "" {
		return "", "The Bearer credentials are empty"
	}
	if !IsB64Token(token) {
		return "", "The Bearer credentials are not a single b64token"
	}
	return token, ""
}

// IsScheme reports whether scheme names the Bearer scheme; auth schemes
// are case-insensitive (RFC 9110 §11.1).
func IsScheme(scheme string) bool { return strings.EqualFold(scheme, "Bearer") }

// IsB64Token matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func IsB64Token(s string) bool {
	t := strings.TrimRight(s, "=")
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
