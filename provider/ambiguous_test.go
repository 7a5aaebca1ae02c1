package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestAmbiguousCredentials checks that a request whose credentials could
// be read two ways is refused with invalid_request, whatever the
// endpoint, and changes nothing: two Authorization headers (hallpass
// would read the first, a proxy may read the last; RFC 9110 §11.6.2), two
// Content-Type headers (the body read two ways; §8.3), and
// at userinfo a token in the header and the body, or twice in the body
// (RFC 6750 §2: one method per request).
func TestAmbiguousCredentials(t *testing.T) {
	withSSOEnv(t, "endpoints", func(t *testing.T, e *ssoEnv) {
		tok := e.signInTokens(t, e.newBrowser(t), e.Confidential.request("openid profile"), "alice", alicePassword)
		admin := "Bearer " + e.AdminToken
		bearer := "Bearer " + tok.AccessToken
		// The right credential first, the one hallpass would have taken.
		two := func(first string) http.Header {
			return http.Header{"Authorization": {first, "Bearer something-else"}}
		}
		scopesBefore := e.admin(t, http.MethodGet, "/admin/scopes", nil)
		clientsBefore := e.clients(t)

		for _, tc := range []struct {
			name string
			rq   req
		}{
			{"admin API, two Authorization headers", req{Method: http.MethodPost, Path: "/admin/scopes", Header: two(admin),
				ContentType: jsonType, Body: `{"name":"sneaky:write"}`}},
			{"admin API read, two Authorization headers", req{Path: "/admin/clients", Header: two(admin)}},
			{"registration, two Authorization headers", req{Method: http.MethodPost, Path: provider.PathRegistration, Header: two(admin),
				ContentType: jsonType, Body: `{"grant_types":["client_credentials"]}`}},
			{"userinfo, two Authorization headers", req{Path: provider.PathUserinfo, Header: two(bearer)}},
			{"userinfo, token in header and body", req{Method: http.MethodPost, Path: provider.PathUserinfo, Auth: bearer,
				ContentType: formType, Body: url.Values{"access_token": {tok.AccessToken}}.Encode()}},
			{"userinfo, token twice in body", req{Method: http.MethodPost, Path: provider.PathUserinfo,
				ContentType: formType, Body: url.Values{"access_token": {tok.AccessToken, tok.AccessToken}}.Encode()}},
			{"token endpoint, two Authorization headers", req{Method: http.MethodPost, Path: provider.PathToken,
				Header: two(basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret)), ContentType: formType, Body: "grant_type=client_credentials"}},
			{"token endpoint, two Content-Type headers", req{Method: http.MethodPost, Path: provider.PathToken,
				Auth: basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret), Header: http.Header{"Content-Type": {formType, jsonType}},
				Body: "grant_type=client_credentials"}},
			{"admin API, two Content-Type headers", req{Method: http.MethodPost, Path: "/admin/scopes", Auth: admin,
				Header: http.Header{"Content-Type": {jsonType, "text/plain"}}, Body: `{"name":"sneaky:write"}`}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.do(t, tc.rq)
				assertError(t, res, http.StatusBadRequest, "invalid_request")
				if strings.Contains(string(res.Body), "alice") || strings.Contains(string(res.Body), "client_secret") {
					t.Errorf("refusal carries data: %s", res.Body)
				}
			})
		}
		res := e.do(t, req{Method: http.MethodPost, Path: provider.PathUserinfo, Auth: bearer,
			ContentType: formType, Body: url.Values{"access_token": {tok.AccessToken}}.Encode()})
		if got := res.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_request"`) {
			t.Errorf("userinfo, token in header and body: WWW-Authenticate = %q, want an RFC 6750 §3 invalid_request challenge", got)
		}
		// The authorization endpoint answers a person: an HTML page.
		res = e.do(t, req{Path: e.Confidential.request("openid").URL, Header: two("Basic eDp5")})
		if res.Status != http.StatusBadRequest || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("authorize with two Authorization headers: %d %s, want a 400 page", res.Status, res.Header.Get("Content-Type"))
		}

		if after := e.admin(t, http.MethodGet, "/admin/scopes", nil); string(after.Body) != string(scopesBefore.Body) {
			t.Errorf("scopes changed by refused requests:\nbefore %s\nafter  %s", scopesBefore.Body, after.Body)
		}
		e.assertClientsUnchanged(t, clientsBefore)
	})
}
