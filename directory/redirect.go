package directory

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// uriUse is what a URI is registered for; it decides which query
// parameters would collide with what hallpass appends to it.
type uriUse int

const (
	// forRedirect is a redirect_uris entry: the authorization response
	// (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207) is appended to it.
	forRedirect uriUse = iota
	// forPostLogout is a post_logout_redirect_uris entry: OpenID
	// RP-Initiated Logout 1.0 §3 appends state to it.
	forPostLogout
)

// redirectURIs checks the list of URIs registered in field for use, and
// returns it without repeats.
func redirectURIs(field string, uris []string, use uriUse, public bool) ([]string, error) {
	if len(uris) > maxURIs {
		return nil, badMetadata(field, "at most %d redirect URIs may be registered", maxURIs)
	}
	for _, u := range uris {
		if err := checkRedirectURI(u, use, public); err != nil {
			return nil, badMetadata(field, "%s: %v", field, err)
		}
	}
	return dedupe(uris), nil
}

// reservedParams lists, per use, the query parameters hallpass appends.
// A URI that already carries one leaves the client to guess which of two
// values is the real one, which is how codes and errors get forged.
func reservedParams(use uriUse) []string {
	if use == forPostLogout {
		return []string{"state"}
	}
	return []string{"code", "state", "iss", "error", "error_description", "error_uri"}
}

// isScriptScheme reports whether scheme runs or reads content in place
// instead of taking the user to an application.
func isScriptScheme(scheme string) bool {
	switch scheme {
	case "javascript", "data", "file", "vbscript":
		return true
	}
	return false
}

// checkRedirectURI enforces RFC 6749 §3.1.2 and RFC 9700 §2.1, §4.1: an
// absolute URI matched exactly, so no wildcard, no fragment, no user
// information; https, or http only to loopback (RFC 8252 §7.3); a
// private-use scheme in reverse-domain form (RFC 8252 §7.1) only for a
// public client, since native apps are public clients (RFC 8252 §8.4) and
// a web server has no use for one; and no query parameter that collides
// with what hallpass appends. Each error names the rule it breaks.
func checkRedirectURI(raw string, use uriUse, public bool) error {
	if raw == "" || len(raw) > maxURILength {
		return fmt.Errorf("a redirect URI must be non-empty and at most %d characters", maxURILength)
	}
	// Errors quote the URI without any password it carries.
	shown := raw
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		shown = u.Redacted()
	}
	if strings.Contains(raw, "*") || strings.Contains(strings.ToLower(raw), "%2a") {
		return fmt.Errorf("%q must not contain a wildcard (*): redirect URIs are matched exactly", shown)
	}
	if strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not contain a fragment (#)", shown)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%q must be a valid absolute URI", shown)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not contain user information (user@)", shown)
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case isScriptScheme(scheme):
		return fmt.Errorf("%q must not use the %s: scheme", shown, scheme)
	case scheme == "https":
		if u.Host == "" {
			return fmt.Errorf("%q must name a host", shown)
		}
	case scheme == "http":
		if !IsLoopback(u.Hostname()) {
			return fmt.Errorf("%q must use https: http is allowed only for localhost or a loopback address", shown)
		}
	case !strings.Contains(scheme, "."):
		return fmt.Errorf("%q must use https, loopback http, or a reverse-domain private-use scheme such as com.example.app: (RFC 8252 §7.1)", shown)
	case !public:
		return fmt.Errorf("%q must use https or loopback http: a private-use scheme is for native apps, which are public clients (token_endpoint_auth_method none)", shown)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("%q must have a well-formed query", shown)
	}
	for name := range q {
		for _, reserved := range reservedParams(use) {
			if strings.EqualFold(name, reserved) {
				return fmt.Errorf("%q must not carry the query parameter %q: hallpass adds it to the response", shown, name)
			}
		}
	}
	return nil
}

// IsLoopback reports whether host names this machine (localhost, a name
// under .localhost, a loopback address), where plain http never crosses a
// network (RFC 8252 §7.3).
func IsLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
