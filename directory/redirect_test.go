package directory

import (
	"strings"
	"testing"
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
		{name: "loopback IPv6", uri: "http://[::1]/cb"},
		{name: "private-use scheme, public client", uri: "com.example.app:/cb", public: public},
		{name: "private-use scheme post-logout, public client", uri: "com.example.app:/bye", use: forPostLogout, public: public},
		{name: "post-logout may carry code", uri: "https://app.example/bye?code=1", use: forPostLogout},
		{name: "parameter merely containing a reserved name", uri: "https://app.example/cb?statement=1&codec=x"},

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
	t.Run("a password is never echoed", func(t *testing.T) {
		for _, uri := range []string{"https://u:hunter2@app.example/cb", "https://u:hunter2@app.example/*", "http://u:hunter2@app.example/cb#"} {
			if err := checkRedirectURI(uri, forRedirect, false); err == nil || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("checkRedirectURI(%q) = %v, want refused without the password", uri, err)
			}
		}
	})
}
