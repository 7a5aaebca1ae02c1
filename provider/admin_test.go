package provider_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
)

// decodeClient decodes an admin API client body, failing the test on
// anything else.
func decodeClient(t *testing.T, res result) directory.ClientMetadata {
	t.Helper()
	var m directory.ClientMetadata
	if err := json.Unmarshal(res.Body, &m); err != nil {
		t.Fatalf("decode client (status %d): %v\n%s", res.Status, err, res.Body)
	}
	return m
}

// canGetToken reports whether client credentials (id, secret) get a token.
func (ts *testServer) canGetToken(t *testing.T, id, secret string) bool {
	t.Helper()
	_, err := ts.clientCredentials(id, secret, oauth2.AuthStyleInHeader).Token(ts.ctx())
	return err == nil
}

func TestAdminClientsCRUD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		// Another client, whose secret the list must not show either.
		rs := ts.registerService(t, "client_secret_basic", "introspect")

		create := map[string]any{
			"client_id":   "grades-sync",
			"client_name": "Grades sync",
			"grant_types": []string{"client_credentials"},
			"scope":       "results:read",
			"audience":    []string{schoolAPI},
		}
		res := ts.admin(t, http.MethodPost, "/admin/clients", create)
		if res.Status != http.StatusCreated {
			t.Fatalf("create: status %d: %s", res.Status, res.Body)
		}
		created := decodeClient(t, res)
		if created.ClientID != "grades-sync" {
			t.Errorf("client_id = %q, want the requested grades-sync", created.ClientID)
		}
		if created.ClientSecret == "" {
			t.Fatal("create returned no client_secret")
		}
		if created.ClientName != "Grades sync" || created.Scope != "results:read" || !slices.Equal(created.Audience, []string{schoolAPI}) {
			t.Errorf("created = %+v", created)
		}
		secret := created.ClientSecret
		if !ts.canGetToken(t, "grades-sync", secret) {
			t.Fatal("created client cannot get a token")
		}

		t.Run("create without client_id generates one", func(t *testing.T) {
			res := ts.admin(t, http.MethodPost, "/admin/clients", map[string]any{"grant_types": []string{"client_credentials"}, "scope": "x"})
			if res.Status != http.StatusCreated {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			if m := decodeClient(t, res); m.ClientID == "" || m.ClientSecret == "" {
				t.Errorf("generated client = %+v", m)
			}
		})

		t.Run("create existing id conflicts", func(t *testing.T) {
			before := ts.clients(t)
			res := ts.admin(t, http.MethodPost, "/admin/clients", map[string]any{
				"client_id": "grades-sync", "grant_types": []string{"client_credentials"}, "scope": "results:write",
			})
			assertError(t, res, http.StatusConflict, "conflict")
			ts.assertClientsUnchanged(t, before)
			if !ts.canGetToken(t, "grades-sync", secret) {
				t.Error("original secret stopped working after a conflicting create")
			}
		})

		t.Run("list shows no secrets", func(t *testing.T) {
			res := ts.admin(t, http.MethodGet, "/admin/clients", nil)
			if res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			var list []map[string]any
			if err := json.Unmarshal(res.Body, &list); err != nil {
				t.Fatalf("decode list: %v", err)
			}
			if len(list) != len(ts.clients(t)) {
				t.Errorf("list has %d clients, store %d", len(list), len(ts.clients(t)))
			}
			found := false
			for _, c := range list {
				if _, ok := c["client_secret"]; ok {
					t.Errorf("list shows client_secret of %v", c["client_id"])
				}
				found = found || c["client_id"] == "grades-sync"
			}
			if !found {
				t.Error("grades-sync not listed")
			}
			if strings.Contains(string(res.Body), secret) || strings.Contains(string(res.Body), rs.ClientSecret) {
				t.Error("list body contains a client secret")
			}
		})

		t.Run("get one", func(t *testing.T) {
			res := ts.admin(t, http.MethodGet, "/admin/clients/grades-sync", nil)
			if res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			if strings.Contains(string(res.Body), "client_secret\"") || strings.Contains(string(res.Body), secret) {
				t.Errorf("get shows the secret: %s", res.Body)
			}
			m := decodeClient(t, res)
			if m.ClientID != "grades-sync" || m.ClientName != "Grades sync" || m.Scope != "results:read" || !slices.Equal(m.GrantTypes, []string{"client_credentials"}) {
				t.Errorf("got %+v", m)
			}
		})

		t.Run("get unknown", func(t *testing.T) {
			assertError(t, ts.admin(t, http.MethodGet, "/admin/clients/no-such-client", nil), http.StatusNotFound, "not_found")
		})

		t.Run("put replaces metadata and keeps the secret", func(t *testing.T) {
			res := ts.admin(t, http.MethodPut, "/admin/clients/grades-sync", map[string]any{
				"client_name": "Grades sync v2",
				"grant_types": []string{"client_credentials"},
				"scope":       "results:read results:write",
			})
			if res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			m := decodeClient(t, res)
			if m.ClientSecret != "" {
				t.Error("update of a confidential client returned a new secret")
			}
			if m.ClientName != "Grades sync v2" || m.Scope != "results:read results:write" || len(m.Audience) != 0 {
				t.Errorf("updated = %+v; want the new name and scopes, audience replaced by none", m)
			}
			got := decodeClient(t, ts.admin(t, http.MethodGet, "/admin/clients/grades-sync", nil))
			if got.ClientName != "Grades sync v2" || got.Scope != "results:read results:write" {
				t.Errorf("stored after update = %+v", got)
			}
			tok, err := ts.clientCredentials("grades-sync", secret, oauth2.AuthStyleInHeader, "results:write").Token(ts.ctx())
			if err != nil {
				t.Fatalf("old secret with the newly allowed scope after PUT: %v", err)
			}
			if tok.Extra("scope") != "results:write" {
				t.Errorf("scope = %v", tok.Extra("scope"))
			}
		})

		t.Run("put unknown", func(t *testing.T) {
			res := ts.admin(t, http.MethodPut, "/admin/clients/no-such-client", map[string]any{"grant_types": []string{"client_credentials"}})
			assertError(t, res, http.StatusNotFound, "not_found")
			if _, err := ts.Store.GetClient(t.Context(), "no-such-client"); err == nil {
				t.Error("PUT of an unknown client created it")
			}
		})

		t.Run("put cannot change client_id", func(t *testing.T) {
			before := ts.clients(t)
			res := ts.admin(t, http.MethodPut, "/admin/clients/grades-sync", map[string]any{
				"client_id": "other", "grant_types": []string{"client_credentials"},
			})
			assertError(t, res, http.StatusBadRequest, "invalid_client_metadata")
			ts.assertClientsUnchanged(t, before)
		})

		t.Run("put to public and back issues a new secret", func(t *testing.T) {
			res := ts.admin(t, http.MethodPut, "/admin/clients/grades-sync", map[string]any{
				"grant_types":                []string{"authorization_code"},
				"redirect_uris":              []string{"https://app.example/cb"},
				"token_endpoint_auth_method": "none",
			})
			if res.Status != http.StatusOK {
				t.Fatalf("to public: status %d: %s", res.Status, res.Body)
			}
			if m := decodeClient(t, res); m.ClientSecret != "" || m.TokenEndpointAuthMethod != "none" {
				t.Errorf("to public = %+v", m)
			}
			if c, err := ts.Store.GetClient(t.Context(), "grades-sync"); err != nil || len(c.SecretHash) != 0 {
				t.Errorf("public client keeps a secret digest (%v)", err)
			}
			if res := ts.Introspect(t, oauthtest.Basic("grades-sync", secret), "x", ""); res.Status != http.StatusUnauthorized || res.JSON(t) == nil {
				t.Errorf("old secret still authenticates a public client: introspection status %d", res.Status)
			}

			res = ts.admin(t, http.MethodPut, "/admin/clients/grades-sync", map[string]any{
				"grant_types":                []string{"client_credentials"},
				"token_endpoint_auth_method": "client_secret_basic",
				"scope":                      "results:read",
			})
			if res.Status != http.StatusOK {
				t.Fatalf("back to confidential: status %d: %s", res.Status, res.Body)
			}
			m := decodeClient(t, res)
			if m.ClientSecret == "" {
				t.Fatal("back to confidential returned no secret")
			}
			if m.ClientSecret == secret {
				t.Error("the old secret came back")
			}
			if ts.canGetToken(t, "grades-sync", secret) {
				t.Error("the old secret works again")
			}
			if !ts.canGetToken(t, "grades-sync", m.ClientSecret) {
				t.Error("the new secret does not work")
			}
			secret = m.ClientSecret
		})

		t.Run("delete", func(t *testing.T) {
			tok := ts.token(t, "grades-sync", secret)
			if !ts.Active(t, ts.adminCred(), tok.AccessToken) {
				t.Fatal("token inactive before deletion")
			}
			res := ts.admin(t, http.MethodDelete, "/admin/clients/grades-sync", nil)
			if res.Status != http.StatusNoContent {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			assertError(t, ts.admin(t, http.MethodGet, "/admin/clients/grades-sync", nil), http.StatusNotFound, "not_found")
			if ts.canGetToken(t, "grades-sync", secret) {
				t.Error("deleted client still gets tokens")
			}
			if ts.Active(t, ts.adminCred(), tok.AccessToken) {
				t.Error("token of a deleted client is still active")
			}
		})

		t.Run("delete unknown", func(t *testing.T) {
			before := ts.clients(t)
			assertError(t, ts.admin(t, http.MethodDelete, "/admin/clients/grades-sync", nil), http.StatusNotFound, "not_found")
			ts.assertClientsUnchanged(t, before)
		})
	})
}

func TestAdminAuthentication(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		victim := ts.registerService(t, "client_secret_basic", "results:read", schoolAPI).ClientID

		body := `{"client_id":"intruder","grant_types":["client_credentials"],"scope":"results:read"}`
		routes := []struct{ method, path, body string }{
			{http.MethodPost, "/admin/clients", body},
			{http.MethodGet, "/admin/clients", ""},
			{http.MethodGet, "/admin/clients/" + victim, ""},
			{http.MethodPut, "/admin/clients/" + victim, body},
			{http.MethodDelete, "/admin/clients/" + victim, ""},
			{http.MethodPost, provider.PathRegistration, body},
		}
		// code "" is a request without any authentication information:
		// the bare challenge (RFC 6750 §3.1).
		auths := []struct {
			name, header string
			status       int
			code         string
		}{
			{"no token", "", http.StatusUnauthorized, ""},
			{"wrong token", "Bearer " + ts.AdminToken + "x", http.StatusUnauthorized, "invalid_token"},
			{"token prefix", "Bearer " + ts.AdminToken[:len(ts.AdminToken)-1], http.StatusUnauthorized, "invalid_token"},
			{"empty bearer", "Bearer ", http.StatusBadRequest, "invalid_request"},
			{"basic scheme", "Basic " + b64("admin:"+ts.AdminToken), http.StatusUnauthorized, ""},
			{"basic scheme with the raw token", "Basic " + ts.AdminToken, http.StatusUnauthorized, ""},
			{"token without scheme", ts.AdminToken, http.StatusUnauthorized, ""},
		}
		for _, rt := range routes {
			for _, a := range auths {
				t.Run(rt.method+" "+rt.path+" "+a.name, func(t *testing.T) {
					before := ts.clients(t)
					res := ts.do(t, req{Method: rt.method, Path: rt.path, ContentType: "application/json", Body: rt.body, Auth: a.header})
					if a.code == "" {
						assertBareChallenge(t, res)
					} else {
						assertError(t, res, a.status, a.code)
						assertChallenge(t, res, a.code)
					}
					if strings.Contains(string(res.Body), victim) && rt.method == http.MethodGet {
						t.Errorf("unauthenticated response reveals the client: %s", res.Body)
					}
					ts.assertClientsUnchanged(t, before)
				})
			}
		}

		t.Run("list unchanged via admin API", func(t *testing.T) {
			res := ts.admin(t, http.MethodGet, "/admin/clients", nil)
			var list []directory.ClientMetadata
			if err := json.Unmarshal(res.Body, &list); err != nil || res.Status != http.StatusOK {
				t.Fatalf("list: %d %v", res.Status, err)
			}
			// Besides the victim, only hallpass's own client (the console's).
			if len(list) != 2 || !slices.ContainsFunc(list, func(c directory.ClientMetadata) bool { return c.ClientID == victim }) ||
				!slices.ContainsFunc(list, func(c directory.ClientMetadata) bool { return c.ClientID == provider.SelfClientID }) {
				t.Errorf("clients after refused requests = %+v, want only %s and %s", list, victim, provider.SelfClientID)
			}
		})
	})
}

func TestDynamicRegistration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)

		t.Run("first-party status refused, not dropped", func(t *testing.T) {
			before := ts.clients(t)
			res := ts.do(t, req{
				Method: http.MethodPost, Path: provider.PathRegistration, ContentType: "application/json",
				Body: `{"skip_consent":true,"redirect_uris":["https://app.example/cb"],"client_name":"App"}`,
				Auth: "Bearer " + ts.AdminToken,
			})
			if res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), `"invalid_client_metadata"`) || !strings.Contains(string(res.Body), "skip_consent") {
				t.Errorf("registration with skip_consent: %d %s, want 400 invalid_client_metadata naming skip_consent", res.Status, res.Body)
			}
			ts.assertClientsUnchanged(t, before)
		})

		t.Run("client does not choose its id", func(t *testing.T) {
			res := ts.do(t, req{
				Method: http.MethodPost, Path: provider.PathRegistration, ContentType: "application/json",
				Body: `{"client_id":"chosen-id","skip_consent":false,"redirect_uris":["https://app.example/cb"],"client_name":"App"}`,
				Auth: "Bearer " + ts.AdminToken,
			})
			if res.Status != http.StatusCreated {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			m := decodeClient(t, res)
			if m.ClientID == "chosen-id" || m.ClientID == "" {
				t.Errorf("client_id = %q; registration must generate it", m.ClientID)
			}
			if m.SkipConsent {
				t.Error("self-registered client marked first-party")
			}
			c, err := ts.Store.GetClient(t.Context(), m.ClientID)
			if err != nil {
				t.Fatalf("registered client not stored: %v", err)
			}
			if c.SkipConsent {
				t.Error("stored self-registered client skips consent")
			}
			// RFC 7591 §3.2.1 defaults and response fields.
			if m.ClientSecret == "" || m.ClientIDIssuedAt == 0 || m.ClientSecretExpiresAt == nil || *m.ClientSecretExpiresAt != 0 {
				t.Errorf("response = %+v; want client_secret, client_id_issued_at and client_secret_expires_at 0", m)
			}
			if m.TokenEndpointAuthMethod != "client_secret_basic" || !slices.Equal(m.GrantTypes, []string{"authorization_code"}) || !slices.Equal(m.ResponseTypes, []string{"code"}) {
				t.Errorf("defaults = %q %v %v", m.TokenEndpointAuthMethod, m.GrantTypes, m.ResponseTypes)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store (the response carries a secret)", cc)
			}
		})

		t.Run("public client gets no secret", func(t *testing.T) {
			m := ts.register(t, directory.ClientMetadata{
				RedirectURIs:            []string{"http://127.0.0.1:8765/cb"},
				TokenEndpointAuthMethod: "none",
			})
			if m.ClientSecret != "" || m.ClientSecretExpiresAt != nil {
				t.Errorf("public client = %+v", m)
			}
		})
	})
}
