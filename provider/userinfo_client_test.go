package provider_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
)

// TestUserinfoRefusesClientTokens checks that userinfo describes only the
// user a token was issued for: a client's token for itself (client
// credentials) has the client as sub, and must not read the user whose id
// happens to be that client id, whatever scopes it carries.
func TestUserinfoRefusesClientTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		userinfo := endpoint(t, e.Discovery, "userinfo_endpoint")
		// An admin may choose client ids; this one is alice's user id.
		res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
			ClientID: e.AliceID, ClientName: "service", GrantTypes: []string{"client_credentials"},
			TokenEndpointAuthMethod: "client_secret_basic", Scope: "openid profile email results:read",
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("create client: %d %s", res.Status, res.Body)
		}
		var svc directory.ClientMetadata
		if err := json.Unmarshal(res.Body, &svc); err != nil {
			t.Fatal(err)
		}
		// No scope parameter: every scope the client may get.
		tok := oauthtest.DecodeToken(t, e.Post(t, endpoint(t, e.Discovery, "token_endpoint"), credOf(svc), url.Values{"grant_type": {"client_credentials"}}))
		// Without openid too: a client's token is refused as one, not
		// for want of a scope it could never use here.
		noOpenID := oauthtest.DecodeToken(t, e.Post(t, endpoint(t, e.Discovery, "token_endpoint"), credOf(svc), url.Values{"grant_type": {"client_credentials"}, "scope": {"results:read"}}))
		for _, tc := range []struct {
			name string
			rq   req
		}{
			{"GET bearer", req{Path: userinfo, Auth: "Bearer " + tok.AccessToken}},
			{"POST bearer", req{Method: http.MethodPost, Path: userinfo, Auth: "Bearer " + tok.AccessToken}},
			{"POST form", req{Method: http.MethodPost, Path: userinfo, ContentType: formType, Body: url.Values{"access_token": {tok.AccessToken}}.Encode()}},
			{"GET bearer without openid", req{Path: userinfo, Auth: "Bearer " + noOpenID.AccessToken}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.do(t, tc.rq)
				if res.Status != http.StatusUnauthorized {
					t.Errorf("userinfo with a client's own token: status %d, want 401: %s", res.Status, res.Body)
				}
				if strings.Contains(string(res.Body), "alice") {
					t.Errorf("userinfo with a client's own token tells of the user of that id: %s", res.Body)
				}
				if got := res.JSON(t)["error"]; got != "invalid_token" {
					t.Errorf("error = %v, want invalid_token", got)
				}
			})
		}
	})
}
