package provider_test

// PKCE for every client (RFC 9700 §2.1.1): a confidential client must send
// code_challenge too, unless an admin set require_pkce false for it; only
// the admin API can, and never for a public client. (The refusals of bad
// challenges, and the legacy client's flow, are in TestSSOPKCE.)

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
)

const legacyRedirect = "https://legacy.school.example/callback"

// legacyClient is a confidential SSO client an admin exempted from PKCE.
func (e *ssoEnv) legacyClient(t *testing.T) *ssoClient {
	t.Helper()
	off := false
	c := e.addClient(t, directory.ClientMetadata{
		ClientID: "legacy-portal", ClientName: "Legacy portal", RedirectURIs: []string{legacyRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "client_secret_basic",
		Scope: ssoClientScopes, RequirePKCE: &off,
	})
	t.Cleanup(func() { e.admin(t, http.MethodDelete, "/admin/clients/legacy-portal", nil) })
	if c.Meta.RequirePKCE == nil || *c.Meta.RequirePKCE {
		t.Fatalf("legacy client created with require_pkce %v, want false", c.Meta.RequirePKCE)
	}
	return c
}

// requirePKCEOf reads require_pkce from a client's JSON as the admin API
// shows it.
func requirePKCEOf(t *testing.T, res result) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(res.Body, &m); err != nil {
		t.Fatalf("decode client: %v: %s", err, res.Body)
	}
	return m["require_pkce"]
}

func TestPKCERequiredOfEveryClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		noPKCE := func(c *ssoClient) authRequest {
			return c.request("openid results:read").withParam(t, "code_challenge", "").withParam(t, "code_challenge_method", "")
		}

		t.Run("a confidential client without code_challenge is refused before login", func(t *testing.T) {
			if got := requirePKCEOf(t, e.admin(t, http.MethodGet, "/admin/clients/"+confidentialID, nil)); got != true {
				t.Errorf("require_pkce of a client created without it = %v, want true", got)
			}
			e.newBrowser(t).refusedUpFront(t, noPKCE(e.Confidential)).wantError(t, "invalid_request")
		})

		t.Run("require_pkce false lets a legacy confidential client go without", func(t *testing.T) {
			legacy := e.legacyClient(t)
			cb, _ := e.newBrowser(t).signIn(t, noPKCE(legacy), "alice", alicePassword)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.wantCode(t)}, "redirect_uri": {legacyRedirect}}
			oauthtest.DecodeToken(t, e.tokenRequest(t, legacy, form))
		})

		t.Run("a code issued while exempt is refused once the exemption ends", func(t *testing.T) {
			legacy := e.legacyClient(t)
			cb, _ := e.newBrowser(t).signIn(t, noPKCE(legacy), "alice", alicePassword)
			code := cb.wantCode(t)
			m := legacy.Meta
			m.ClientSecret, m.RequirePKCE = "", nil
			if res := e.admin(t, http.MethodPut, "/admin/clients/legacy-portal", m); res.Status != http.StatusOK || requirePKCEOf(t, res) != true {
				t.Fatalf("PUT without require_pkce: %d %s; want 200 and PKCE required again", res.Status, res.Body)
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {legacyRedirect}}
			assertError(t, e.tokenRequest(t, legacy, form), http.StatusBadRequest, "invalid_grant")
			e.newBrowser(t).refusedUpFront(t, noPKCE(legacy)).wantError(t, "invalid_request")
		})

		t.Run("a public client cannot be exempted", func(t *testing.T) {
			before := e.clients(t)
			public := map[string]any{
				"client_id": "native-app", "redirect_uris": []string{"http://127.0.0.1/cb"}, "token_endpoint_auth_method": "none",
				"require_pkce": false,
			}
			assertError(t, e.admin(t, http.MethodPost, "/admin/clients", public), http.StatusBadRequest, "invalid_client_metadata")
			e.assertClientsUnchanged(t, before)
			// Nor turned public while exempt.
			legacy := e.legacyClient(t)
			before = e.clients(t)
			m := legacy.Meta
			m.ClientSecret, m.TokenEndpointAuthMethod, m.RedirectURIs = "", "none", []string{"http://127.0.0.1/cb"}
			assertError(t, e.admin(t, http.MethodPut, "/admin/clients/legacy-portal", m), http.StatusBadRequest, "invalid_client_metadata")
			e.assertClientsUnchanged(t, before)
			if got := requirePKCEOf(t, e.admin(t, http.MethodGet, "/admin/clients/"+publicID, nil)); got != true {
				t.Errorf("require_pkce of the public client = %v, want true", got)
			}
		})

		t.Run("registration cannot exempt a client", func(t *testing.T) {
			before := e.clients(t)
			body := `{"redirect_uris":["https://reg.example/cb"],"require_pkce":false}`
			res := e.do(t, req{Method: http.MethodPost, Path: provider.PathRegistration, ContentType: "application/json", Body: body, Auth: "Bearer " + e.AdminToken})
			assertError(t, res, http.StatusBadRequest, "invalid_client_metadata")
			e.assertClientsUnchanged(t, before)
			// Asking for what is the default anyway is fine.
			res = e.do(t, req{Method: http.MethodPost, Path: provider.PathRegistration, ContentType: "application/json",
				Body: `{"redirect_uris":["https://reg.example/cb"],"require_pkce":true}`, Auth: "Bearer " + e.AdminToken})
			if res.Status != http.StatusCreated || requirePKCEOf(t, res) != true {
				t.Errorf("registration with require_pkce true: %d %s", res.Status, res.Body)
			}
		})
	})
}
