package directory

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
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
// returns it without repeats. httpOrigin, when not empty, is an origin
// (http://host[:port]) on which plain http is accepted
// (Options.BuiltinHTTPOrigin).
func redirectURIs(field string, uris []string, use uriUse, public bool, httpOrigin string) ([]string, error) {
	if len(uris) > maxURIs {
		return nil, badMetadata(field, "at most %d redirect URIs may be registered", maxURIs)
	}
	for _, u := range uris {
		if err := checkRedirectURIOn(u, use, public, httpOrigin); err != nil {
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
// with what hallpass appends; nor anything uriTextProblem refuses. Each
// error names the rule it breaks.
func checkRedirectURI(raw string, use uriUse, public bool) error {
	return checkRedirectURIOn(raw, use, public, "")
}

// checkRedirectURIOn is checkRedirectURI, but accepting plain http on
// httpOrigin too when it is not empty: every other rule holds.
func checkRedirectURIOn(raw string, use uriUse, public bool, httpOrigin string) error {
	if raw == "" || len(raw) > maxURILength {
		return fmt.Errorf("a redirect URI must be non-empty and at most %d characters", maxURILength)
	}
	shown := shownURI(raw)
	// Before uriTextProblem, which would refuse a wildcard host as a
	// character no host name has: this says what the registrant meant.
	if err := wildcardProblem(raw, shown); err != nil {
		return err
	}
	if err := uriTextProblem(raw, shown); err != nil {
		return err
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
		if !IsLoopback(u.Hostname()) && !onOrigin(u, httpOrigin) {
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

// onOrigin reports whether u is on origin, an http://host[:port] origin
// (empty: none), scheme and host compared without regard to case as a
// browser does; the port as written.
func onOrigin(u *url.URL, origin string) bool {
	if origin == "" {
		return false
	}
	o, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Scheme, o.Scheme) && strings.EqualFold(u.Host, o.Host)
}

// wildcardProblem refuses a wildcard (*, or %2A) anywhere in raw, a
// redirect URI or the issuer its own client's are on: redirect URIs are
// matched exactly, and one that looks like a pattern misleads whoever
// registers or reads it.
func wildcardProblem(raw, shown string) error {
	if strings.Contains(raw, "*") || strings.Contains(strings.ToLower(raw), "%2a") {
		return fmt.Errorf("%q must not contain a wildcard (*): redirect URIs are matched exactly", shown)
	}
	return nil
}

// shownURI is raw as errors quote it: without any password it carries.
func shownURI(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// uriTextProblem refuses, in a URI a client registers (raw, quoted in
// errors as shown), what url.Parse lets through though no client needs
// it. It is the one check of the text of every registered URI
// (checkRedirectURI, checkServerURL):
//
//   - a control, space or invisible character (invisibleInURI) anywhere:
//     a bidirectional override or isolate (U+202E, U+2066) makes the URI
//     show reordered, as another ("Trojan Source", CVE-2021-42574), and a
//     zero-width one (U+200B) makes two URIs show alike, to the admin
//     reading the client in the console, the audit log or the CLI. A URI
//     that needs one percent-encodes it (RFC 3987 §4.1 keeps bidi
//     controls out of IRIs altogether).
//   - a port a browser or an HTTP client would not go to as written
//     (validPort): url.Parse takes any digits, so :99999 was registered,
//     and :0443 too, which a browser turns into :443.
//   - a backslash (backslashProblem), which a browser reads as a slash.
//   - a host that is not ASCII, or an A-label no browser accepts
//     (hostNameProblem).
//   - a host no browser goes to as written (asciiHostProblem): one
//     percent-encoded, with an empty label (app..example), ending with a
//     dot, with a character no host name has, or ending with a number
//     without being an IPv4 address in four decimal parts (0x7f.1).
//   - a dot segment in the path (dotSegmentProblem), which a browser
//     resolves away before it goes there.
//
// Stored URIs are not held to the last four when read: a client
// registered before them keeps working, and is refused only when written
// again.
func uriTextProblem(raw, shown string) error {
	if err := storedURITextProblem(raw, shown); err != nil {
		return err
	}
	if err := backslashProblem(raw, shown); err != nil {
		return err
	}
	if err := hostNameProblem(raw, shown); err != nil {
		return err
	}
	if err := asciiHostProblem(raw, shown); err != nil {
		return err
	}
	return dotSegmentProblem(raw, shown)
}

// maxIssuerLength is the longest issuer: it leaves room, below
// maxURILength, for the path hallpass's own client appends to the issuer
// in its redirect URIs (/console/callback, /account/callback).
const maxIssuerLength = maxURILength - 64

// CheckIssuerURL refuses an issuer that is not written as the URIs
// registered with hallpass must be (uriTextProblem), so that a server is
// refused at start-up, with the reason, rather than started without the
// console and the account page: hallpass's own client, which they sign
// in with, redirects to URIs on the issuer, registered by the same rules
// as every client's. A host not in ASCII is refused with the issuer to
// set instead, the host's A-label: clients compare the issuer as a
// string (OpenID Connect Discovery §4.3), so https://例え.jp and
// https://xn--r8jz45g.jp are two issuers to them, and the A-label is the
// one a browser goes to, sends as its origin and names in passkeys. A
// wildcard is refused as in a redirect URI (wildcardProblem), since the
// own client's are the issuer followed by a path, and so is an issuer
// longer than maxIssuerLength.
func CheckIssuerURL(raw string) error {
	shown := shownURI(raw)
	if len(raw) > maxIssuerLength {
		return fmt.Errorf("the issuer must be at most %d characters, so that hallpass's own client's redirect URIs, the issuer followed by a path, are at most the %d a redirect URI may have; it has %d", maxIssuerLength, maxURILength, len(raw))
	}
	if u, err := url.Parse(raw); err == nil && !isASCII(u.Hostname()) {
		host := u.Hostname()
		ascii, ok := hostALabel(host)
		if !ok {
			return fmt.Errorf("%q has the host %q, which is not ASCII, nor a valid internationalised domain name that browsers would go to: set an issuer whose host is in ASCII", shown, host)
		}
		if fixed, ok := withHost(shown, host, ascii); ok {
			return fmt.Errorf("%q must name its host in ASCII: set the issuer as %q, with the host's A-label (punycode), which is where browsers and clients go; clients compare the issuer as a string, so the two are different issuers to them", shown, fixed)
		}
		return fmt.Errorf("%q must name its host in ASCII: set the issuer with the host's A-label (punycode) %q in place of %q, which is where browsers and clients go; clients compare the issuer as a string, so the two are different issuers to them", shown, ascii, host)
	}
	if err := wildcardProblem(raw, shown); err != nil {
		return err
	}
	return uriTextProblem(raw, shown)
}

// asciiHostProblem refuses an ASCII host that a browser would not go to
// as written, though url.Parse takes it: a percent-escape (b%25.example,
// an IPv6 zone), which browsers refuse in a host or decode; an empty
// label (app..example, .app.example), which names no host; a trailing
// dot (app.example.), which names the same host as without to DNS but
// another to a browser's origin, cookies and a string comparison of
// redirect URIs, and makes localhost. pass for no loopback name
// (IsLoopback); and any character but letters, digits, hyphen and
// underscore in a name (a<b.example), which no DNS name has; and a host
// whose last label is a number (isNumericLabel) but that is not an IPv4
// address in four decimal parts without leading zeros, which a browser
// reads as another address (0x7f.1, 010.0.0.1, 2130706433) or refuses
// (app.123). An IPv6 literal must be an address, without a zone.
func asciiHostProblem(raw, shown string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil // no host; what else is wrong the callers say
	}
	host := u.Hostname()
	if !isASCII(host) {
		return nil // hostNameProblem's
	}
	switch {
	case strings.HasPrefix(u.Host, "["):
		// A zone (fe80::1%25en0) names a network interface of the
		// machine the URI is read on; browsers refuse one.
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("%q must have an IPv6 address, without a zone, between its brackets", shown)
		}
		return nil
	case strings.Contains(host, "%"):
		return fmt.Errorf("%q must not percent-encode its host (%q): browsers refuse or decode a percent sign there, so they would not go where the URI registered says; write the host as it is named", shown, host)
	case host == "":
		return nil // a port alone; the callers say the host is missing
	case strings.HasSuffix(host, ".") && strings.TrimRight(host, ".") != "":
		return fmt.Errorf("%q has a host ending with a dot (%q): to a browser that is another origin than %q, though the same to DNS; write the host without the trailing dot", shown, host, strings.TrimRight(host, "."))
	}
	labels := strings.Split(host, ".")
	for _, label := range labels {
		if label == "" {
			return fmt.Errorf("%q has an empty label in its host (%q), which names no host: write each label between dots", shown, host)
		}
		if i := strings.IndexFunc(label, func(r rune) bool { return !isHostNameChar(r) }); i >= 0 {
			return fmt.Errorf("%q has %q in its host, which no host name has: a host name is letters, digits, hyphens and underscores between dots", shown, label[i:i+1])
		}
	}
	if isNumericLabel(labels[len(labels)-1]) {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is4() {
			return fmt.Errorf("%q has the host %q, which ends with a number, so a browser reads it as an IPv4 address, in forms the eye does not (0x7f.1 is 127.0.0.1, 010.0.0.1 is 8.0.0.1), or refuses it: write an IPv4 address as four decimal numbers without leading zeros, or a host name whose last label is not a number", shown, host)
		}
	}
	return nil
}

// isNumericLabel reports whether label, a host's last, makes the URL
// Standard read the host as an IPv4 address ("ends in a number"): all
// decimal digits, or 0x followed by hexadecimal digits or nothing. Such
// a host is an address to a browser, in decimal, octal (a leading zero)
// or hexadecimal parts, one to four of them; only four decimal parts
// without leading zeros read the same to the eye, url.Parse and Go's
// dialer.
func isNumericLabel(label string) bool {
	if l := strings.ToLower(label); strings.HasPrefix(l, "0x") {
		return strings.Trim(l[2:], "0123456789abcdef") == ""
	}
	return label != "" && strings.Trim(label, "0123456789") == ""
}

// isHostNameChar reports whether r may be part of an ASCII host name:
// a letter, a digit, a hyphen, or an underscore (which DNS allows, and
// some services' names have).
func isHostNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// dotSegmentProblem refuses a dot segment ("." or "..", written with
// dots or percent-encoded as %2e, RFC 3986 §5.2.4) in the path of raw. A
// browser removes them before it goes anywhere (the URL Standard, for
// every path that starts with a slash), so https://app.example/a/../cb
// takes it to https://app.example/cb: the URI registered and matched is
// not where the code is delivered, and a path an operator allowed can
// lead out of itself. No client needs one: it registers the path the
// browser goes to.
func dotSegmentProblem(raw, shown string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return nil // an opaque path (com.example.app:cb) has no segments
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		switch strings.ToLower(seg) {
		case ".", "..", "%2e", ".%2e", "%2e.", "%2e%2e":
			return fmt.Errorf("%q has the dot segment %q in its path, which browsers resolve away (https://app.example/a/../cb goes to https://app.example/cb), so they would not go where the URI registered says: register the path without dot segments", shown, seg)
		}
	}
	return nil
}

// storedURITextProblem is the part of uriTextProblem a stored URL
// hallpass itself fetches (CheckServerURL) is still held to.
func storedURITextProblem(raw, shown string) error {
	if i := strings.IndexFunc(raw, invisibleInURI); i >= 0 {
		r, _ := utf8.DecodeRuneInString(raw[i:])
		return fmt.Errorf("%q must not contain %U, a control, space or invisible character (such as a bidirectional override or a zero-width space), which makes a URI show as another; percent-encode it if it belongs there", shown, r)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil // no port; what else is wrong the callers say
	}
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("%q has a colon but no port after its host: write the port (1 to 65535) or leave the colon out", shown)
	}
	if port := u.Port(); port != "" && !validPort(port) {
		return fmt.Errorf("%q must have a port from 1 to 65535, written without leading zeros", shown)
	}
	return nil
}

// backslashProblem refuses a raw backslash anywhere in raw. The URL
// Standard (WHATWG), which browsers follow, reads "\" as "/" in an http(s)
// URL, so a browser would not go where hallpass matched:
// https://app.example/cb\..\admin is, to a browser, /admin, and one in
// the authority can move the host. RFC 3986 has no raw
// backslash anywhere, so no URI needs one (RFC 9700 §4.1 wants redirect
// URIs compared exactly and unambiguously); it is refused in query and
// user information too, and for every scheme, so that the rule is one to
// state. A percent-encoded backslash (%5C) is left alone: a browser
// neither decodes it nor splits a path on it (%5C.. is no dot segment),
// and hallpass compares the text as registered, so both go to the same
// place; in a host, url.Parse already refuses it.
func backslashProblem(raw, shown string) error {
	if strings.Contains(raw, `\`) {
		return fmt.Errorf("%q must not contain a backslash (\\): browsers read it as a slash (/), so they would not go where the URI registered says; write / if a slash is meant, or percent-encode it as %%5C", shown)
	}
	return nil
}

// hostNameProblem refuses a host that is not ASCII, and an A-label
// (xn--…) that is not one. An internationalised host (IDN) is shown as
// Unicode where a person reads the client (console, audit log, CLI), and
// there https://аpple.example/cb, with a Cyrillic а, is apple.example to
// the eye: registered as its A-label (https://xn--pple-43d.example/cb) it
// shows for what it is, and it is the form the browser goes to and sends
// as its origin. The A-label to register is computed as the URL Standard
// computes a domain's (UTS #46 non-transitional, idna.Lookup), so that it
// names the host the browser would have gone to. A host url.Parse decoded
// from percent-escapes (b%C3%BCcher.example) is an IDN to a browser too.
func hostNameProblem(raw, shown string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil // no host; what else is wrong the callers say
	}
	host := u.Hostname()
	if !isASCII(host) {
		ascii, ok := hostALabel(host)
		if !ok {
			// err speaks idna's words (labels, runes), not the registrant's.
			return fmt.Errorf("%q has the host %q, which is not ASCII, nor a valid internationalised domain name that browsers would go to: register a host in ASCII", shown, host)
		}
		if fixed, ok := withHost(shown, host, ascii); ok {
			return fmt.Errorf("%q must name its host in ASCII, so that no look-alike of another host passes for it: register %q, with the host's A-label (punycode), which is where browsers go", shown, fixed)
		}
		return fmt.Errorf("%q must name its host in ASCII, so that no look-alike of another host passes for it: register the host's A-label (punycode) %q in place of %q, which is where browsers go", shown, ascii, host)
	}
	for _, label := range strings.Split(host, ".") {
		if !validALabel(label) {
			return fmt.Errorf("%q has the host label %q, which starts with xn-- but is no valid A-label (punycode), so browsers refuse the host: register the A-label that IDNA's ToASCII (UTS #46) gives for the name meant", shown, label)
		}
	}
	return nil
}

// hostALabel returns host, not in ASCII, as the URL Standard computes a
// domain's ASCII form (UTS #46 non-transitional, idna.Lookup), to be
// offered in its place; false when it is not a valid internationalised
// domain name. A trailing dot is left out: a full stop a browser maps to
// a dot (U+3002, U+FF0E, U+FF61) at the end of host would otherwise
// offer a host that asciiHostProblem refuses as ending with a dot, and
// its rule is to write the host without it.
func hostALabel(host string) (string, bool) {
	ascii, err := idna.Lookup.ToASCII(host)
	// idna turns a label that maps to "xn--" (ｘｎ--) into an empty one,
	// without an error, as it does two dots in a row: an empty label
	// before the last names no host, and offered as the A-label it would
	// name another than the one written.
	emptyLabel := strings.HasPrefix(ascii, ".") || strings.Contains(ascii, "..")
	ascii = strings.TrimSuffix(ascii, ".")
	if err != nil || emptyLabel || ascii == "" {
		return "", false
	}
	// What is offered is held to the A-label rule of hostNameProblem:
	// idna encodes a byte that is not UTF-8 (\xaf) as an A-label
	// (xn--zn7c) that no browser decodes.
	for _, label := range strings.Split(ascii, ".") {
		if !validALabel(label) {
			return "", false
		}
	}
	return ascii, true
}

// validALabel reports whether label, if it starts with xn--, decodes as a
// browser decodes it (idna.Lookup); "xn--" alone decodes to nothing,
// with no error, and is no A-label either.
func validALabel(label string) bool {
	if !strings.HasPrefix(strings.ToLower(label), "xn--") {
		return true
	}
	name, err := idna.Lookup.ToUnicode(label)
	return err == nil && name != ""
}

// withHost returns uri with host, the host of its authority as written,
// replaced by ascii; false when the host is not written as it was parsed
// (percent-encoded).
func withHost(uri, host, ascii string) (string, bool) {
	i := strings.Index(uri, "//")
	if i < 0 {
		return "", false
	}
	start := i + 2
	end := len(uri)
	if j := strings.IndexAny(uri[start:], "/?#"); j >= 0 {
		end = start + j
	}
	if at := strings.LastIndex(uri[start:end], "@"); at >= 0 {
		start += at + 1
	}
	if !strings.HasPrefix(uri[start:end], host) {
		return "", false
	}
	return uri[:start] + ascii + uri[start+len(host):], true
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// invisibleInURI reports whether r has no place, as itself, in a URI a
// person registers and reads: a control or space character (RFC 3986
// allows neither), or a default-ignorable one, which Unicode tells
// renderers to draw as nothing: the format characters (bidirectional
// embeddings, overrides, isolates and marks, zero-width space, joiner and
// non-joiner, word joiner, BOM, tags…), the variation selectors and the
// Hangul fillers. Unlike in a name (DisplayUnsafe), the zero-width joiners
// are refused too: no URI needs one raw.
func invisibleInURI(r rune) bool {
	return unicode.IsControl(r) || unicode.IsSpace(r) || DisplayUnsafe(r) ||
		unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// validPort reports whether port, the digits after a URI's host, names a
// port as written: 1 to 65535 and without leading zeros. Port 0 is no
// port to connect to (browsers refuse it); above 65535 a browser's URL
// parser fails; a leading zero is read away (:0443 is :443), so the URI
// registered is not the one a browser would show or send back.
func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == port
}

// ValidPort is validPort, for the provider's own reading of a loopback
// redirect URI's port (RFC 8252 §7.3), which must hold the same rule.
func ValidPort(port string) bool { return validPort(port) }

// IsLoopback reports whether host names this machine (localhost, a name
// under .localhost, a loopback address), where plain http never crosses a
// network (RFC 8252 §7.3). A name is compared without regard to case
// (RFC 4343), as a browser lowercases it: http://LOCALHOST:8080/cb goes
// to localhost. A name ending with a dot (localhost.) is not loopback:
// no redirect URI or issuer is registered with one (asciiHostProblem), so
// none reaches fosite's RedirectSecureChecker, which asks this function,
// and a stored one is not given plain http by a reading more lenient than
// its registration's.
func IsLoopback(host string) bool {
	if host = strings.ToLower(host); host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
