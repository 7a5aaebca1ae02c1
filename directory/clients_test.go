package directory

import (
	"errors"
	"slices"
	"testing"
)

func TestClientMetadataValidate(t *testing.T) {
	tests := []struct {
		name      string
		in        ClientMetadata
		wantField string // the field an error names; "" means valid
		check     func(t *testing.T, m ClientMetadata)
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
		{name: "private-use scheme refused for a confidential client", in: ClientMetadata{RedirectURIs: []string{"com.example.app:/oauth"}}, wantField: "redirect_uris"},
		{name: "private-use post-logout URI refused for a confidential client", in: ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, PostLogoutRedirectURIs: []string{"com.example.app:/bye"}}, wantField: "post_logout_redirect_uris"},
		{name: "post-logout URI with state", in: ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, PostLogoutRedirectURIs: []string{"https://app.example/?state=x"}}, wantField: "post_logout_redirect_uris"},
		{name: "http to a public host", in: ClientMetadata{RedirectURIs: []string{"http://app.example/cb"}}, wantField: "redirect_uris"},
		{name: "fragment", in: ClientMetadata{RedirectURIs: []string{"https://app.example/cb#x"}}, wantField: "redirect_uris"},
		{name: "relative", in: ClientMetadata{RedirectURIs: []string{"/cb"}}, wantField: "redirect_uris"},
		{name: "javascript scheme", in: ClientMetadata{RedirectURIs: []string{"javascript:alert(1)"}}, wantField: "redirect_uris"},
		{name: "userinfo", in: ClientMetadata{RedirectURIs: []string{"https://a:b@app.example/cb"}}, wantField: "redirect_uris"},
		{name: "code without redirect", in: ClientMetadata{}, wantField: "redirect_uris"},
		{name: "bad post-logout URI", in: ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, PostLogoutRedirectURIs: []string{"ftp://x"}}, wantField: "post_logout_redirect_uris"},
		{name: "unknown grant", in: ClientMetadata{GrantTypes: []string{"password"}}, wantField: "grant_types"},
		{name: "implicit response type", in: ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, ResponseTypes: []string{"token"}}, wantField: "response_types"},
		{name: "empty grant list", in: ClientMetadata{GrantTypes: []string{}}, wantField: "grant_types"},
		{name: "refresh without code", in: ClientMetadata{GrantTypes: []string{"client_credentials", "refresh_token"}}, wantField: "grant_types"},
		{name: "public service client", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "none"}, wantField: "grant_types"},
		{name: "private_key_jwt without keys", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "private_key_jwt"}, wantField: "jwks"},
		{name: "client_secret_jwt unsupported", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_jwt"}, wantField: "token_endpoint_auth_method"},
		{name: "code response without code grant", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{"code"}}, wantField: "response_types"},
		{name: "scope with quote", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, Scope: `a"b`}, wantField: "scope"},
		{name: "control char in name", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, ClientName: "a\nb"}, wantField: "client_name"},
		{name: "direction override in name", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, ClientName: "Gradebook \u202Elanretni"}, wantField: "client_name"},
		{name: "audience with space", in: ClientMetadata{GrantTypes: []string{"client_credentials"}, Audience: []string{"a b"}}, wantField: "audience"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			c, err := in.validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				if tc.check != nil {
					tc.check(t, metadataFor(c, ""))
				}
				return
			}
			var de *Error
			if !errors.As(err, &de) || de.Kind != ErrInvalid || de.Object != ObjectClient || de.Field != tc.wantField {
				t.Fatalf("validate error = %#v, want invalid client metadata in %s", err, tc.wantField)
			}
			if de.Message == "" {
				t.Error("error has no message")
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
