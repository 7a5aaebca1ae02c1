package directory

import (
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/idna"
)

func TestCheckRedirectURI(t *testing.T) {
	const (
		confidential = false
		public       = true
	)
	tests := []struct {
		name   string
		uri    string
		use    uriUse
		public bool
		rule   string // a part of the error naming the rule; "" means accepted
	}{
		// Accepted.
		{name: "https with path and innocuous query", uri: "https://app.example/cb?tenant=a&lang=en"},
		{name: "https with port", uri: "https://app.example:8443/oauth/cb"},
		{name: "loopback IPv4 with port", uri: "http://127.0.0.1:8080/cb"},
		{name: "loopback IPv4 elsewhere in 127/8", uri: "http://127.1.2.3/cb"},
		{name: "localhost", uri: "http://localhost/cb"},
		{name: "subdomain of localhost", uri: "http://app.localhost:3000/cb"},
		// Host names are case-insensitive (RFC 4343): a browser goes to
		// http://localhost:8080/cb for either.
		{name: "localhost in capitals", uri: "http://LOCALHOST:8080/cb"},
		{name: "subdomain of localhost in mixed case", uri: "http://App.LocalHost:3000/cb"},
		{name: "loopback IPv6", uri: "http://[::1]/cb"},
		{name: "private-use scheme, public client", uri: "com.example.app:/cb", public: public},
		{name: "private-use scheme post-logout, public client", uri: "com.example.app:/bye", use: forPostLogout, public: public},
		{name: "post-logout may carry code", uri: "https://app.example/bye?code=1", use: forPostLogout},
		{name: "parameter merely containing a reserved name", uri: "https://app.example/cb?statement=1&codec=x"},
		{name: "lowest port", uri: "https://app.example:1/cb"},
		{name: "highest port", uri: "https://app.example:65535/cb"},
		{name: "loopback IPv6 with highest port", uri: "http://[::1]:65535/cb"},
		{name: "percent-encoded bidi override", uri: "https://app.example/c%E2%80%AEb"},
		{name: "visible non-ASCII path", uri: "https://app.example/bücher/cb"},
		{name: "internationalised host as its A-label", uri: "https://xn--bcher-kva.example/cb"},
		{name: "A-label in capitals", uri: "https://XN--BCHER-KVA.example/cb"},
		{name: "look-alike host as its A-label", uri: "https://xn--pple-43d.example/cb"},
		{name: "underscore in an ASCII host", uri: "https://app_x.example/cb"},
		{name: "percent-encoded backslash in path", uri: "https://app.example/c%5Cb"},
		{name: "percent-encoded backslash, lower case", uri: "https://app.example/c%5c..%5cb"},

		// Refused, one rule each.
		{name: "empty", uri: "", rule: "non-empty"},
		{name: "too long", uri: "https://app.example/" + strings.Repeat("a", maxURILength), rule: "at most"},
		{name: "wildcard host", uri: "https://*.app.example/cb", rule: "wildcard (*)"},
		{name: "wildcard path", uri: "https://app.example/cb/*", rule: "wildcard (*)"},
		{name: "wildcard in query", uri: "https://app.example/cb?x=*", rule: "wildcard (*)"},
		{name: "percent-encoded wildcard", uri: "https://app.example/cb%2A", rule: "wildcard (*)"},
		{name: "fragment", uri: "https://app.example/cb#x", rule: "fragment"},
		{name: "empty fragment", uri: "https://app.example/cb#", rule: "fragment"},
		{name: "relative path", uri: "/cb", rule: "absolute URI"},
		{name: "scheme-relative", uri: "//app.example/cb", rule: "absolute URI"},
		{name: "unparsable", uri: "https://app.example:port/cb", rule: "absolute URI"},
		{name: "userinfo", uri: "https://user:pass@app.example/cb", rule: "user information"},
		{name: "userinfo without password", uri: "https://app.example@evil.example/cb", rule: "user information"},
		{name: "javascript", uri: "javascript:alert(document.cookie)", public: public, rule: "javascript: scheme"},
		{name: "javascript, mixed case", uri: "JavaScript:alert(1)", public: public, rule: "javascript: scheme"},
		{name: "data", uri: "data:text/html;base64,PHNjcmlwdD4=", public: public, rule: "data: scheme"},
		{name: "file", uri: "file:///etc/passwd", public: public, rule: "file: scheme"},
		{name: "vbscript", uri: "VBScript:msgbox(1)", public: public, rule: "vbscript: scheme"},
		{name: "https without host", uri: "https:/cb", rule: "must name a host"},
		{name: "http to a public host", uri: "http://app.example/cb", rule: "must use https"},
		{name: "http to a private address", uri: "http://10.0.0.1/cb", rule: "must use https"},
		{name: "http to a name starting like loopback", uri: "http://127.0.0.1.evil.example/cb", rule: "must use https"},
		{name: "scheme without a dot", uri: "myapp:/cb", public: public, rule: "reverse-domain private-use scheme"},
		{name: "private-use scheme, confidential client", uri: "com.example.app:/cb", public: confidential, rule: "public clients"},
		{name: "private-use scheme post-logout, confidential client", uri: "com.example.app:/bye", use: forPostLogout, rule: "public clients"},
		{name: "query carries code", uri: "https://app.example/cb?code=x", rule: `"code"`},
		{name: "query carries state", uri: "https://app.example/cb?state=x", rule: `"state"`},
		{name: "query carries iss", uri: "https://app.example/cb?iss=https://evil.example", rule: `"iss"`},
		{name: "query carries error", uri: "https://app.example/cb?error=access_denied", rule: `"error"`},
		{name: "query carries error_description", uri: "https://app.example/cb?error_description=x", rule: `"error_description"`},
		{name: "query carries error_uri", uri: "https://app.example/cb?error_uri=x", rule: `"error_uri"`},
		{name: "reserved parameter in another case", uri: "https://app.example/cb?Code=x", rule: `"Code"`},
		{name: "reserved parameter percent-encoded", uri: "https://app.example/cb?c%6Fde=x", rule: `"code"`},
		{name: "reserved parameter without value", uri: "http://localhost/cb?state", rule: `"state"`},
		{name: "malformed query", uri: "https://app.example/cb?a=%zz", rule: "well-formed query"},
		{name: "post-logout carries state", uri: "https://app.example/bye?state=x", use: forPostLogout, rule: `"state"`},
		{name: "post-logout wildcard", uri: "https://app.example/*", use: forPostLogout, rule: "wildcard (*)"},
		{name: "post-logout fragment", uri: "https://app.example/bye#", use: forPostLogout, rule: "fragment"},
		{name: "post-logout userinfo", uri: "https://u@app.example/bye", use: forPostLogout, rule: "user information"},
		{name: "post-logout relative", uri: "bye", use: forPostLogout, rule: "absolute URI"},
		{name: "post-logout javascript", uri: "javascript:alert(1)", use: forPostLogout, public: public, rule: "javascript: scheme"},
		{name: "post-logout http to a public host", uri: "http://app.example/bye", use: forPostLogout, rule: "must use https"},

		// Ports a browser would not go to as written.
		{name: "port above 65535", uri: "https://app.example:99999/cb", rule: "port from 1 to 65535"},
		{name: "port just above 65535", uri: "https://app.example:65536/cb", rule: "port from 1 to 65535"},
		{name: "port overflowing an int", uri: "https://app.example:99999999999999999999/cb", rule: "port from 1 to 65535"},
		{name: "port 0", uri: "https://app.example:0/cb", rule: "port from 1 to 65535"},
		{name: "port 00000", uri: "https://app.example:00000/cb", rule: "port from 1 to 65535"},
		{name: "port with a leading zero", uri: "https://app.example:0443/cb", rule: "without leading zeros"},
		{name: "colon without port", uri: "https://app.example:/cb", rule: "no port after its host"},
		{name: "loopback port above 65535", uri: "http://127.0.0.1:70000/cb", rule: "port from 1 to 65535"},
		{name: "loopback IPv6 port above 65535", uri: "http://[::1]:99999/cb", rule: "port from 1 to 65535"},
		{name: "loopback IPv6 colon without port", uri: "http://[::1]:/cb", rule: "no port after its host"},
		{name: "private-use scheme with a host and port above 65535", uri: "com.example.app://host:99999/cb", public: public, rule: "port from 1 to 65535"},
		{name: "post-logout port above 65535", uri: "https://app.example:99999/bye", use: forPostLogout, rule: "port from 1 to 65535"},
		{name: "post-logout port 0", uri: "https://app.example:0/bye", use: forPostLogout, rule: "port from 1 to 65535"},

		// Characters that show as nothing, or reorder what follows.
		{name: "right-to-left override in path", uri: "https://app.example/c\u202Eb", rule: "U+202E"},
		{name: "right-to-left override in host", uri: "https://app\u202E.example/cb", rule: "U+202E"},
		{name: "left-to-right isolate", uri: "https://app.example/cb?x=\u2066y\u2069", rule: "U+2066"},
		{name: "pop directional isolate", uri: "https://app.example/cb\u2069", rule: "U+2069"},
		{name: "right-to-left mark", uri: "https://app.example/cb\u200F", rule: "U+200F"},
		{name: "zero-width space in host", uri: "https://app\u200B.example/cb", rule: "U+200B"},
		{name: "zero-width joiner", uri: "https://app.example/c\u200Db", rule: "U+200D"},
		{name: "zero-width non-joiner", uri: "https://app.example/c\u200Cb", rule: "U+200C"},
		{name: "word joiner", uri: "https://app.example/c\u2060b", rule: "U+2060"},
		{name: "byte order mark", uri: "\uFEFFhttps://app.example/cb", rule: "U+FEFF"},
		{name: "soft hyphen", uri: "https://app\u00AD.example/cb", rule: "U+00AD"},
		{name: "tag character", uri: "https://app.example/cb\U000E0041", rule: "U+E0041"},
		{name: "variation selector", uri: "https://app.example/c\uFE0Fb", rule: "U+FE0F"},
		{name: "Hangul filler", uri: "https://app.example/c\u3164b", rule: "U+3164"},
		{name: "C1 control", uri: "https://app.example/c\u0085b", rule: "U+0085"},
		{name: "no-break space", uri: "https://app.example/cb\u00A0", rule: "U+00A0"},
		{name: "line separator", uri: "https://app.example/c\u2028b", rule: "U+2028"},
		{name: "space", uri: "https://app.example/c b", rule: "U+0020"},
		{name: "bidi override, private-use scheme", uri: "com.example.app:/c\u202Eb", public: public, rule: "U+202E"},
		{name: "post-logout bidi override", uri: "https://app.example/by\u202Ee", use: forPostLogout, rule: "U+202E"},
		{name: "post-logout zero-width space", uri: "https://app.example/\u200Bbye", use: forPostLogout, rule: "U+200B"},

		// A backslash, which browsers read as a slash.
		{name: "backslash in path", uri: `https://app.example/cb\..\admin`, rule: "backslash"},
		{name: "backslash at the end", uri: `https://app.example/cb\`, rule: "backslash"},
		{name: "backslash in query", uri: `https://app.example/cb?next=\\evil.example`, rule: "backslash"},
		{name: "backslash before user information", uri: `https://app.example\@evil.example/cb`, rule: "backslash"},
		{name: "backslash after the scheme", uri: `https:\\evil.example/cb`, rule: "backslash"},
		{name: "backslash, loopback", uri: `http://127.0.0.1:8080\cb`, rule: "backslash"},
		{name: "backslash, private-use scheme", uri: `com.example.app:/c\b`, public: public, rule: "backslash"},
		{name: "post-logout backslash", uri: `https://app.example/\bye`, use: forPostLogout, rule: "backslash"},

		// A host not in ASCII, or an A-label that is none.
		{name: "internationalised host", uri: "https://bücher.example/cb", rule: `register "https://xn--bcher-kva.example/cb"`},
		{name: "look-alike host (Cyrillic a)", uri: "https://\u0430pple.example/cb", rule: `register "https://xn--pple-43d.example/cb"`},
		{name: "internationalised host with port and path", uri: "https://bücher.example:8443/bü?x=ü", rule: `register "https://xn--bcher-kva.example:8443/bü?x=ü"`},
		{name: "capitals mapped as browsers map them", uri: "https://Bücher.Example/cb", rule: `register "https://xn--bcher-kva.example/cb"`},
		{name: "full-width letters", uri: "https://\uFF41pp.example/cb", rule: `register "https://app.example/cb"`},
		{name: "percent-encoded internationalised host", uri: "https://b%C3%BCcher.example/cb", rule: `A-label (punycode) "xn--bcher-kva.example"`},
		{name: "host no valid internationalised name", uri: "https://\u0660\u0661.example/cb", rule: "nor a valid internationalised domain name"},
		// IDNA maps an xn-- label with nothing after it to an empty one,
		// without an error: the A-label offered would have named another
		// host (https://.example/cb, https://xn--bcher-kva..example/cb).
		{name: "empty A-label in full-width letters", uri: "https://\uFF58\uFF4E--.example/cb", rule: "nor a valid internationalised domain name"},
		{name: "empty A-label beside an internationalised label", uri: "https://bücher.xn--.example/cb", rule: "nor a valid internationalised domain name"},
		{name: "empty label between ideographic full stops", uri: "https://bücher\u3002\u3002example/cb", rule: "nor a valid internationalised domain name"},
		// idna encodes a byte that is not UTF-8 as an A-label no browser
		// decodes (xn--zn7c): no URI is offered with it.
		{name: "host not UTF-8", uri: "https://\xafapp.example/cb", rule: "nor a valid internationalised domain name"},
		{name: "invalid A-label", uri: "https://xn--zz.example/cb", rule: `"xn--zz", which starts with xn-- but is no valid A-label`},
		{name: "empty A-label", uri: "https://xn--.example/cb", rule: "no valid A-label"},
		{name: "A-label with a trailing hyphen", uri: "https://app.xn--abc-.example/cb", rule: "no valid A-label"},
		{name: "internationalised loopback name", uri: "http://bücher.localhost/cb", rule: `register "http://xn--bcher-kva.localhost/cb"`},
		{name: "post-logout internationalised host", uri: "https://bücher.example/bye", use: forPostLogout, rule: `register "https://xn--bcher-kva.example/bye"`},

		// An ASCII host a browser would not go to as written.
		{name: "percent-encoded percent sign in host", uri: "https://b%25.example/cb", rule: "must not percent-encode its host"},
		{name: "IPv6 zone", uri: "http://[fe80::1%25en0]/cb", rule: "without a zone"},
		{name: "IPv6 loopback zone", uri: "http://[::1%25lo]:8080/cb", rule: "without a zone"},
		{name: "IPv4 between brackets", uri: "https://[127.0.0.1]/cb", rule: "valid absolute URI"},
		{name: "empty label", uri: "https://app..example/cb", rule: "empty label"},
		{name: "leading dot", uri: "https://.app.example/cb", rule: "empty label"},
		{name: "host only a dot", uri: "https://./cb", rule: "empty label"},
		{name: "trailing dot", uri: "https://app.example./cb", rule: `another origin than "app.example", though the same to DNS; write the host without the trailing dot`},
		{name: "two trailing dots", uri: "https://app.example../cb", rule: "ending with a dot"},
		{name: "trailing dot with port", uri: "https://app.example.:8443/cb", rule: "ending with a dot"},
		// localhost. is not loopback (IsLoopback), and the rule says why
		// before the scheme rule would.
		{name: "localhost with a trailing dot", uri: "http://localhost./cb", rule: "ending with a dot"},
		{name: "LOCALHOST with a trailing dot", uri: "http://LOCALHOST.:8080/cb", rule: "ending with a dot"},
		{name: "loopback name with a trailing dot", uri: "http://app.localhost./cb", rule: "ending with a dot"},
		{name: "character no host name has", uri: "https://a<b.example/cb", rule: `has "<" in its host`},
		{name: "sub-delimiter in host", uri: "https://a!b.example/cb", rule: `has "!" in its host`},
		{name: "tilde in host", uri: "https://a~b.example/cb", rule: `has "~" in its host`},
		{name: "private-use scheme, empty label", uri: "com.example.app://host..x/cb", public: public, rule: "empty label"},
		{name: "post-logout trailing dot", uri: "https://app.example./bye", use: forPostLogout, rule: "ending with a dot"},
		{name: "post-logout percent in host", uri: "https://b%25.example/bye", use: forPostLogout, rule: "percent-encode"},

		// Dot segments, which browsers resolve away.
		{name: "double-dot segment", uri: "https://app.example/a/../cb", rule: `dot segment ".."`},
		{name: "single-dot segment", uri: "https://app.example/./cb", rule: `dot segment "."`},
		{name: "double-dot segment at the end", uri: "https://app.example/cb/..", rule: `dot segment ".."`},
		{name: "single-dot segment at the end", uri: "https://app.example/cb/.", rule: `dot segment "."`},
		{name: "double-dot segment above the root", uri: "https://app.example/../cb", rule: `dot segment ".."`},
		{name: "percent-encoded double-dot segment", uri: "https://app.example/a/%2e%2e/cb", rule: `dot segment "%2e%2e"`},
		{name: "percent-encoded double-dot segment in capitals", uri: "https://app.example/a/%2E%2E/cb", rule: `dot segment "%2E%2E"`},
		{name: "half-encoded double-dot segment", uri: "https://app.example/a/.%2e/cb", rule: "dot segment"},
		{name: "other half-encoded double-dot segment", uri: "https://app.example/a/%2E./cb", rule: "dot segment"},
		{name: "percent-encoded single-dot segment", uri: "https://app.example/%2e/cb", rule: "dot segment"},
		{name: "dot segment, loopback", uri: "http://127.0.0.1:8080/a/../cb", rule: "dot segment"},
		{name: "dot segment, private-use scheme", uri: "com.example.app:/a/../cb", public: public, rule: "dot segment"},
		{name: "post-logout dot segment", uri: "https://app.example/a/./bye", use: forPostLogout, rule: "dot segment"},

		// Dots that are no segment, and hosts browsers go to as written.
		{name: "dots inside a segment", uri: "https://app.example/a..b/cb.d/...", rule: ""},
		{name: "dot segment in the query", uri: "https://app.example/cb?next=/a/../b", rule: ""},
		{name: "percent-encoded slash beside dots", uri: "https://app.example/a%2F..%2Fcb", rule: ""},
		{name: "opaque private-use URI with dots", uri: "com.example.app:cb/../x", public: public, rule: ""},
		{name: "hyphen and digits in host", uri: "https://app-1.example-2.com/cb", rule: ""},
		{name: "IPv4 host", uri: "https://192.0.2.1/cb", rule: ""},
		{name: "numeric first label", uri: "https://123.example/cb", rule: ""},
		{name: "last label 0x and no hex digit after", uri: "https://app.0xg/cb", rule: ""},

		// A host ending with a number is an IPv4 address to a browser (the
		// URL Standard's "ends in a number"), read in forms url.Parse and
		// the eye do not: another address than written, or none.
		{name: "hexadecimal IPv4", uri: "https://0x7f.1/cb", rule: "ends with a number"},
		{name: "octal IPv4", uri: "https://010.0.0.1/cb", rule: "ends with a number"},
		{name: "IPv4 as one number", uri: "https://2130706433/cb", rule: "ends with a number"},
		{name: "IPv4 with three parts", uri: "https://192.0.513/cb", rule: "ends with a number"},
		{name: "five numbers", uri: "https://1.2.3.4.5/cb", rule: "ends with a number"},
		{name: "name ending with a numeric label", uri: "https://app.123/cb", rule: "ends with a number"},
		{name: "name ending with 0x", uri: "https://app.0X/cb", rule: "ends with a number"},
		{name: "post-logout octal IPv4", uri: "https://0300.0.2.1/bye", use: forPostLogout, rule: "ends with a number"},
		{name: "IPv6 host", uri: "https://[2001:db8::1]:8443/cb", rule: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRedirectURI(tc.uri, tc.use, tc.public)
			switch {
			case tc.rule == "" && err != nil:
				t.Errorf("checkRedirectURI(%q) = %v, want accepted", tc.uri, err)
			case tc.rule != "" && err == nil:
				t.Errorf("checkRedirectURI(%q) accepted it, want refused for %q", tc.uri, tc.rule)
			case tc.rule != "" && !strings.Contains(err.Error(), tc.rule):
				t.Errorf("checkRedirectURI(%q) = %q, want it to name the rule %q", tc.uri, err, tc.rule)
			}
		})
	}
	t.Run("an invisible character is quoted escaped", func(t *testing.T) {
		err := checkRedirectURI("https://app.example/c\u202Eb", forRedirect, false)
		if err == nil || strings.ContainsRune(err.Error(), '\u202E') || !strings.Contains(err.Error(), `c\u202eb`) {
			t.Errorf("checkRedirectURI = %v, want the URI quoted with U+202E escaped", err)
		}
	})
	// The URI a refusal tells the registrant to register instead is one
	// that is accepted: a host ending with a full stop a browser maps to a
	// dot (U+3002, U+FF0E, U+FF61) has an A-label ending with a dot, which
	// is refused as a trailing dot, so the one offered is without it.
	t.Run("the URI offered instead is accepted", func(t *testing.T) {
		for _, uri := range []string{
			"https://bücher.example/cb", "https://app\u3002example/cb", "https://app.example\u3002/cb",
			"https://bücher.example\uFF0E:8443/cb", "https://bücher.example\uFF61/cb", "http://bücher.localhost\u3002/cb",
		} {
			err := checkRedirectURI(uri, forRedirect, false)
			offered, ok := offeredURI(err)
			if !ok {
				t.Errorf("checkRedirectURI(%q) = %v, want a URI to register instead", uri, err)
				continue
			}
			if err := checkRedirectURI(offered, forRedirect, false); err != nil {
				t.Errorf("checkRedirectURI(%q) offers %q, which is refused: %v", uri, offered, err)
			}
		}
	})
	t.Run("a password is never echoed", func(t *testing.T) {
		for _, uri := range []string{`https://u:hunter2@app.example/c\b`, "https://u:hunter2@bücher.example/cb", "https://u:hunter2@app.example/cb", "https://u:hunter2@app.example/*", "http://u:hunter2@app.example/cb#", "https://u:hunter2@app.example:99999/cb", "https://u:hunter2@app.example/c\u202Eb"} {
			if err := checkRedirectURI(uri, forRedirect, false); err == nil || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("checkRedirectURI(%q) = %v, want refused without the password", uri, err)
			}
		}
	})
}

// offeredURI returns the URI err tells the registrant to register
// instead (register "…"); false when it offers none.
func offeredURI(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	m := regexp.MustCompile(`register ("(?:[^"\\]|\\.)*")`).FindStringSubmatch(err.Error())
	if m == nil {
		return "", false
	}
	s, uerr := strconv.Unquote(m[1])
	return s, uerr == nil
}

// FuzzClientURI feeds arbitrary text to the checks of the URIs a client
// registers, which dynamic registration takes from anyone holding the
// initial access token: they must never panic, and whatever they accept
// parses, names a real port as written, and holds no character that
// shows as nothing or reorders the rest (uriTextProblem), no backslash, a
// host in ASCII whose A-labels decode, written as a browser goes to it
// (an IPv6 address without a zone, or non-empty labels of letters,
// digits, hyphens and underscores: no percent sign, no trailing dot,
// and, ending with a number, an IPv4 address in four decimal parts), a
// path without dot segments, no user information and no fragment; and
// the URI a refusal offers in its place is accepted.
func FuzzClientURI(f *testing.F) {
	hostNameRE := regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	numericLabelRE := regexp.MustCompile(`^([0-9]+|0[xX][0-9A-Fa-f]*)$`)
	for _, seed := range []string{
		"https://app.example/cb", "https://app.example:8443/cb?tenant=a", "http://127.0.0.1:8080/cb", "http://[::1]/cb",
		"com.example.app:/cb", "com.example.app://host:99999/cb", "https://bücher.example/cb",
		"https://app.example:99999/cb", "https://app.example:65536/cb", "https://app.example:0/cb", "https://app.example:0443/cb",
		"https://app.example:/cb", "http://[::1]:/cb", "http://[::1]:99999/cb", "https://app.example:99999999999999999999/cb",
		"https://app.example/c\u202Eb", "https://app\u200B.example/cb", "https://app.example/cb?x=\u2066y\u2069",
		"https://app.example/c\u200Db", "https://app.example/c\uFE0Fb", "https://app.example/cb\U000E0041",
		"https://app.example/c%E2%80%AEb", "https://u:pw@app.example/cb", "https://app.example/cb#x", "javascript:alert(1)",
		`https://app.example/cb\..\admin`, `https://app.example\@evil.example/cb`, "https://app.example/c%5Cb",
		"https://\u0430pple.example/cb", "https://b%C3%BCcher.example/cb", "https://xn--pple-43d.example/cb", "https://xn--zz.example/cb",
		"https://b%25.example/cb", "https://app..example/cb", "https://app.example./cb", "http://localhost./cb", "http://LOCALHOST.:8080/cb",
		"http://[fe80::1%25en0]/cb", "https://a<b.example/cb", "https://app.example/a/../cb", "https://app.example/./cb",
		"https://app.example/a/%2e%2E/cb", "https://app.example/.%2e", "com.example.app:/a/../cb", "https://app.example/a..b/cb",
		"https://app.example\u3002/cb", "https://bücher.example\uFF0E/cb", "https://0x7f.1/cb", "https://010.0.0.1/cb", "https://app.123/cb", "//\xaf", "//0ü",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// The offer fixes the host; what else is wrong is said in turn.
		if offered, ok := offeredURI(checkRedirectURI(raw, forRedirect, true)); ok {
			if err := hostNameProblem(offered, offered); err != nil {
				t.Fatalf("refused %q offering %q, whose host is refused too: %v", raw, offered, err)
			}
			if err := asciiHostProblem(offered, offered); err != nil {
				t.Fatalf("refused %q offering %q, whose host is refused too: %v", raw, offered, err)
			}
		}
		accepted := checkServerURL(raw) == nil
		for _, use := range []uriUse{forRedirect, forPostLogout} {
			for _, public := range []bool{false, true} {
				accepted = accepted || checkRedirectURI(raw, use, public) == nil
			}
		}
		if !accepted {
			return
		}
		if i := strings.IndexFunc(raw, invisibleInURI); i >= 0 {
			t.Fatalf("accepted %q, with an invisible character at byte %d", raw, i)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, err)
		}
		if u.User != nil || strings.Contains(raw, "#") {
			t.Fatalf("accepted %q, with user information or a fragment", raw)
		}
		if u.Host != "" && (strings.HasSuffix(u.Host, ":") || u.Port() != "" && !validPort(u.Port())) {
			t.Fatalf("accepted %q, whose port is not 1 to 65535 as written", raw)
		}
		if strings.Contains(raw, `\`) {
			t.Fatalf("accepted %q, with a backslash", raw)
		}
		if host := u.Hostname(); !isASCII(host) {
			t.Fatalf("accepted %q, whose host %q is not ASCII", raw, host)
		}
		for _, label := range strings.Split(u.Hostname(), ".") {
			if strings.HasPrefix(strings.ToLower(label), "xn--") {
				if name, err := idna.Lookup.ToUnicode(label); err != nil || name == "" {
					t.Fatalf("accepted %q, whose host label %q is no A-label", raw, label)
				}
			}
		}
		if host := u.Hostname(); strings.HasPrefix(u.Host, "[") {
			if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" {
				t.Fatalf("accepted %q, whose IPv6 host %q is no address without a zone", raw, host)
			}
		} else if host != "" && !hostNameRE.MatchString(host) {
			t.Fatalf("accepted %q, whose host %q is not non-empty labels of letters, digits, - and _ between dots", raw, host)
		} else if labels := strings.Split(host, "."); numericLabelRE.MatchString(labels[len(labels)-1]) {
			if a, err := netip.ParseAddr(host); err != nil || !a.Is4() {
				t.Fatalf("accepted %q, whose host %q ends with a number but is no IPv4 address in four decimal parts", raw, host)
			}
		}
		if u.Opaque == "" {
			path := strings.ReplaceAll(strings.ToLower(u.EscapedPath()), "%2e", ".")
			for _, seg := range strings.Split(path, "/") {
				if seg == "." || seg == ".." {
					t.Fatalf("accepted %q, whose path has a dot segment, which a browser resolves away", raw)
				}
			}
		}
	})
}

// FuzzIssuerURL: an issuer CheckIssuerURL accepts, of the shape
// provider.New takes besides (https, or http on a loopback host; a host;
// no user, query, fragment or trailing slash), is one hallpass's own
// client's redirect URIs, the issuer followed by a path, can be
// registered with: otherwise a server starts with the console and the
// account page off.
func FuzzIssuerURL(f *testing.F) {
	for _, seed := range []string{
		"https://id.example.com", "http://localhost:8080", "http://[::1]:8080", "https://Auth.Example.COM/realms/a.b",
		"HTTPS://id.example.com/~user/a%2Fb", "https://my_host.internal:8443/..foo", "https://id.example.com/a*b",
		"https://例え.jp", "https://id.example.com./x", "https://0x7f.1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckIssuerURL(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
			strings.ContainsAny(raw, "?#") || strings.HasSuffix(raw, "/") {
			return
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && IsLoopback(u.Hostname())) {
			return
		}
		for _, path := range []string{"/console/callback", "/account/callback"} {
			if err := checkRedirectURI(raw+path, forRedirect, true); err != nil {
				t.Fatalf("CheckIssuerURL accepted %q, but its own client's redirect URI is refused: %v", raw, err)
			}
		}
	})
}
