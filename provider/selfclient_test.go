package provider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// selfRefusal is what the directory service says to a change of
// hallpass's own client, through every surface.
const selfRefusal = "hallpass-console is hallpass's own client; it cannot be changed or deleted"

// hallpass's own client cannot be replaced, deleted or have its secret
// rotated through the admin API or the console: each is refused, the
// stored client stays as it was, and the console and the account page
// still sign in with it afterwards. Reading it stays allowed.
func TestSelfClientUnchangeable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		self := "/admin/clients/" + provider.SelfClientID
		res := e.admin(t, http.MethodGet, self, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", self, res.Status, res.Body)
		}
		own := decodeClient(t, res)
		before := e.clients(t)

		hijack := directory.ClientMetadata{ClientID: provider.SelfClientID, RedirectURIs: []string{"https://evil.example/cb"},
			TokenEndpointAuthMethod: "none", Scope: "openid profile", SkipConsent: true}
		for _, tc := range []struct {
			name, method, path string
			body               any
			status             int
		}{
			{"PUT with other redirect URIs", http.MethodPut, self, hijack, http.StatusConflict},
			{"PUT of its own metadata", http.MethodPut, self, own, http.StatusConflict},
			{"DELETE", http.MethodDelete, self, nil, http.StatusConflict},
			{"POST of a client with its id", http.MethodPost, "/admin/clients", hijack, http.StatusConflict},
			// The admin API has no PATCH: refused before any change.
			{"PATCH", http.MethodPatch, self, map[string]any{"redirect_uris": []string{"https://evil.example/cb"}}, http.StatusMethodNotAllowed},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.admin(t, tc.method, tc.path, tc.body)
				code := "conflict"
				if tc.status == http.StatusMethodNotAllowed {
					code = "invalid_request"
				}
				assertError(t, res, tc.status, code)
				if tc.status == http.StatusConflict && !strings.Contains(string(res.Body), selfRefusal) {
					t.Errorf("body %s, want it to say %q", res.Body, selfRefusal)
				}
				e.assertClientsUnchanged(t, before)
			})
		}

		// Nor is a client created under its id but for case, which
		// people would take for it.
		for _, id := range []string{"Hallpass-Console", "HALLPASS-CONSOLE"} {
			t.Run("POST of a client with its id as "+id, func(t *testing.T) {
				m := hijack
				m.ClientID = id
				res := e.admin(t, http.MethodPost, "/admin/clients", m)
				assertError(t, res, http.StatusConflict, "conflict")
				if !strings.Contains(string(res.Body), "reserved") {
					t.Errorf("body %s, want it to say the id is reserved", res.Body)
				}
				e.assertClientsUnchanged(t, before)
			})
		}

		// The console refuses its pages that change it, rotating its
		// secret included, with a form token that works elsewhere.
		ada := e.newBrowser(t)
		if p := e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK {
			t.Fatalf("the admin on the console: %s", p)
		}
		csrf := ada.get(t, e.URL+"/console/clients/new").forms(t)[1].hidden().Get("csrf")
		for _, action := range []string{"/secret", "/delete", ""} {
			p := ada.post(t, e.URL+"/console/clients/"+provider.SelfClientID+action, url.Values{"csrf": {csrf},
				"redirect_uris": {"https://evil.example/cb"}, "grant_types": {"authorization_code"}, "token_endpoint_auth_method": {"none"}})
			if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "hallpass&#39;s own") {
				t.Errorf("console POST %s: %s, want the 403 page saying it is hallpass's own", action, p)
			}
		}
		// Registering a client under its id is refused beside the form.
		p := ada.post(t, e.URL+"/console/clients/new", url.Values{"csrf": {csrf}, "client_id": {provider.SelfClientID},
			"redirect_uris": {"https://evil.example/cb"}, "grant_types": {"authorization_code"}, "token_endpoint_auth_method": {"none"}, "require_pkce": {"yes"}})
		if p.Status != http.StatusConflict || !strings.Contains(p.Body, "hallpass&#39;s own client") {
			t.Errorf("console create of %s: %s, want 409 saying it is hallpass's own", provider.SelfClientID, p)
		}
		e.assertClientsUnchanged(t, before)

		// Listed and readable as before; and the console and the account
		// page still sign in through it.
		res = e.admin(t, http.MethodGet, "/admin/clients", nil)
		var list []directory.ClientMetadata
		if err := json.Unmarshal(res.Body, &list); err != nil || !slices.ContainsFunc(list, func(c directory.ClientMetadata) bool { return c.ClientID == provider.SelfClientID }) {
			t.Errorf("the client list (%v) misses %s: %s", err, provider.SelfClientID, res.Body)
		}
		for _, path := range []string{provider.PathConsole, provider.PathAccount} {
			if p := e.consoleSignIn(t, e.newBrowser(t), path, adminUsername, adminPassword); p.Status != http.StatusOK || p.URL.Path != path {
				t.Errorf("signing in to %s after the refused changes: %s", path, p)
			}
		}
	})
}

// Start-up registers hallpass's own client on a new database, and a later
// start puts back a registration that differs from what it must be (the
// issuer changed, or someone edited the row behind the service's back),
// so the console signs in again.
func TestSelfClientRegisteredAtStart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		first := newTestServer(t, dsn)
		ctx := context.Background()
		c, err := first.Store.GetClient(ctx, provider.SelfClientID)
		if err != nil {
			t.Fatalf("the first start did not register %s: %v", provider.SelfClientID, err)
		}
		if want := first.URL + provider.PathConsole + "/callback"; !slices.Contains(c.RedirectURIs, want) || c.TokenEndpointAuthMethod != "none" || !c.SkipConsent {
			t.Fatalf("registered %+v, want a public first-party client returning to %s", c, want)
		}
		// Broken behind the service's back.
		c.RedirectURIs, c.SkipConsent = []string{"https://evil.example/cb"}, false
		if err := first.Store.UpdateClient(ctx, c); err != nil {
			t.Fatal(err)
		}

		// A second server on the same database, with another issuer.
		e := ssoEnvOn(t, newTestServer(t, dsn))
		e.withConsoleAdmin(t)
		c, err = e.Store.GetClient(ctx, provider.SelfClientID)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{e.URL + provider.PathConsole + "/callback", e.URL + provider.PathAccount + "/callback"}
		if !slices.Equal(c.RedirectURIs, want) || !c.SkipConsent {
			t.Errorf("after the second start: redirect URIs %q skip consent %v, want %q and true", c.RedirectURIs, c.SkipConsent, want)
		}
		if p := e.consoleSignIn(t, e.newBrowser(t), provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK {
			t.Errorf("console sign-in after the second start: %s", p)
		}
	})
}

// A start on the same issuer puts back every field of the own client's
// registration, not only those a changed issuer would change: edited
// behind the service's back, a post-logout redirect, a back-channel
// URI, optional PKCE or an allowed implicit response would otherwise
// stay on a public client that skips consent.
func TestSelfClientRestoredEveryField(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ctx := context.Background()
		want, err := ts.Store.GetClient(ctx, provider.SelfClientID)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			tamper func(c *storage.Client)
		}{
			{"post-logout redirect", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{"https://evil.example/bye"} }},
			{"back-channel logout", func(c *storage.Client) { c.BackchannelLogoutURI = "https://evil.example/bc" }},
			{"PKCE optional", func(c *storage.Client) { c.PKCEOptional = true }},
			{"response types", func(c *storage.Client) { c.ResponseTypes = []string{"code", "token"} }},
			{"PAR required", func(c *storage.Client) { c.RequirePAR = true }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, err := ts.Store.GetClient(ctx, provider.SelfClientID)
				if err != nil {
					t.Fatal(err)
				}
				tc.tamper(c)
				if err := ts.Store.UpdateClient(ctx, c); err != nil {
					t.Fatal(err)
				}
				// What a start of the same server does.
				if err := ts.Provider.EnsureSelfClient(ctx); err != nil {
					t.Fatal(err)
				}
				got, err := ts.Store.GetClient(ctx, provider.SelfClientID)
				if err != nil {
					t.Fatal(err)
				}
				got.UpdatedAt, got.TokenEpoch = want.UpdatedAt, want.TokenEpoch
				if !reflect.DeepEqual(got, want) {
					t.Errorf("after EnsureSelfClient:\n got %+v\nwant %+v", got, want)
				}
			})
		}
	})
}
