package provider

import (
	"errors"
	"net/http"
	"slices"
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
		{name: "native private-use scheme allowed", in: ClientMetadata{RedirectURIs: []string{"com.example.app:/oauth"}}},
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
