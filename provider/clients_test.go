package provider

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestClientMetadataValidate(t *testing.T) {
	tests := []struct {
		name     string
		in       ClientMetadata
		wantCode string // "" means valid
		check    func(t *testing.T, m ClientMetadata)
	}{
		{
			name: "code client gets RFC 7591 defaults",
			in:   ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}},
			check: func(t *testing.T, m ClientMetadata) {
				if !slices.Equal(m.GrantTypes, []string{"authorization_code"}) || !slices.Equal(m.ResponseTypes, []string{"code"}) {
					t.Errorf("grant/response types = %v %v", m.GrantTypes, m.ResponseTypes)
				}
				if m.TokenEndpointAuthMethod != "client_secret_basic" {
					t.Errorf("auth method = %q", m.TokenEndpointAuthMethod)
				}
				if m.Scope != "openid profile email" {
					t.Errorf("scope = %q", m.Scope)
				}
			},
		},
		{
			name: "service client keeps exactly its scopes",
			in:   ClientMetadata{GrantTypes: []string{"client_credentials"}, Scope: "results:read results:read schedule:write"},
			check: func(t *testing.T, m ClientMetadata) {
				if m.Scope != "results:read schedule:write" || len(m.ResponseTypes) != 0 {
					t.Errorf("scope = %q, response types = %v", m.Scope, m.ResponseTypes)
				}
			},
		},
		{name: "loopback http allowed", in: ClientMetadata{RedirectURIs: []string{"http://127.0.0.1:9000/cb", "http://localhost/cb", "http://[::1]/cb"}}},
		{name: "native private-use scheme allowed for a public client", in: ClientMetadata{RedirectURIs: []string{"com.example.app:/oauth"}, TokenEndpointAuthMethod: "none"}},
		{name: "private-use scheme refused for a confidential client", in: ClientMetadata{RedirectURIs: []string{"com.example.app:/oauth"}}, wantCode: "invalid_redirect_uri"},
		{name: "private-use post-logout URI refused for a confidential client", in: ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, PostLogoutRedirectURIs: []string{"com.example.app:/bye"}}, wantCode: "invalid_redirect_uri"},
		{name: "post-logout URI with state", in: ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, PostLogoutRedirectURIs: []string{"https://app.example/?state=x"}}, wantCode: "invalid_redirect_uri"},
		{name: "http to a public host", in: ClientMetadata{RedirectURIs: []string{"http://app.example/cb"}}, wantCode: "invalid_redirect_uri"},
		{name: "fragment", in: ClientMetadata{RedirectURIs: []string{"https://app.example/cb#x"}}, wantCode: "invalid_redirect_uri"},
		{name: "relative", in: ClientMetadata{RedirectURIs: []string{"/cb"}}, wantCode: "invalid_redirect_uri"},
		{name: "javascript scheme", in: ClientMetadata{RedirectURIs: []string{"javascript:alert(1)"}}, wantCode: "invalid_redirect_uri"},
		{name: "userinfo", in: ClientMetadata{RedirectURIs: []string{"https://a:b@app.example/cb"}}, wantCode: "invalid_redirect_uri"},
		{name: "code without redirect", in: ClientMetadata{}, wantCode: "invalid_redirect_uri"},
		{name: "bad post-logout URI", in: ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, PostLogoutRedirectURIs: []string{"ftp://x"}}, wantCode: "invalid_redirect_uri"},
		{name: "unknown grant", in: ClientMetadata{GrantTypes: []string{"password"}}, wantCode: "invalid_client_metadata"},
		{name: "implicit response type", in: ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, ResponseTypes: []string{"token"}}, wantCode: "invalid_client_metadata"},
		{name: "empty grant list", in: ClientMetadata{GrantTypes: []string{}}, wantCode: "invalid_client_metadata"},
		{name: "refresh without code", in: ClientMetadata{GrantTypes: []string{"client_credentials", "refresh_token"}}, wantCode: "invalid_client_metadata"},
		{name: "public service client", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "none"}, wantCode: "invalid_client_metadata"},
		{name: "private_key_jwt unsupported", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "private_key_jwt"}, wantCode: "invalid_client_metadata"},
		{name: "code response without code grant", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{"code"}}, wantCode: "invalid_client_metadata"},
		{name: "scope with quote", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, Scope: `a"b`}, wantCode: "invalid_client_metadata"},
		{name: "control char in name", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, ClientName: "a\nb"}, wantCode: "invalid_client_metadata"},
		{name: "audience with space", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, Audience: []string{"a b"}}, wantCode: "invalid_client_metadata"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			c, err := in.validate()
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				if tc.check != nil {
					tc.check(t, metadataFor(c, ""))
				}
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.code != tc.wantCode || ae.status != http.StatusBadRequest {
				t.Fatalf("validate error = %v, want %s (400)", err, tc.wantCode)
			}
			if ae.description == "" {
				t.Error("error has no description")
			}
		})
	}
}

func TestValidScopeToken(t *testing.T) {
	for s, want := range map[string]bool{
		"results:read": true, "openid": true, "a.b/c": true, "": false, "a b": false, `a\b`: false, "é": false,
	} {
		if got := validScopeToken(s); got != want {
			t.Errorf("validScopeToken(%q) = %v, want %v", s, got, want)
		}
	}
}

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
