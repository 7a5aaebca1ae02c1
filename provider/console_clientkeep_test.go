package provider_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/net/html"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
)

// browserPost returns what a browser would post from the form of page p
// whose action is action, left as the page shows it: text and hidden
// inputs, checked checkboxes and radio buttons, textareas.
func browserPost(t *testing.T, p page, action string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{}
	found := false
	var walk func(n *html.Node, in bool)
	walk = func(n *html.Node, in bool) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				in = attr(n, "action") == action
				found = found || in
			case "input":
				if !in || attr(n, "name") == "" {
					break
				}
				_, checked := func() (string, bool) {
					for _, a := range n.Attr {
						if a.Key == "checked" {
							return a.Val, true
						}
					}
					return "", false
				}()
				switch attr(n, "type") {
				case "checkbox", "radio":
					if checked {
						v.Add(attr(n, "name"), attr(n, "value"))
					}
				case "submit", "button":
				default:
					v.Add(attr(n, "name"), attr(n, "value"))
				}
			case "textarea":
				if in {
					v.Add(attr(n, "name"), textOf(n))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, in)
		}
	}
	walk(doc, false)
	if !found {
		t.Fatalf("no form with action %s: %s", action, p)
	}
	return v
}

// Saving a client's page in the console, changing only its name, keeps
// what the page does not show: a private_key_jwt client's keys and
// method (not turned into a client with a generated secret), the
// requirement of pushed authorization requests, the back-channel logout
// URI. Before, the post replaced the whole client, and these were
// silently dropped.
func TestConsoleClientSaveKeepsUnshownFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []directory.ClientMetadata{
			{ClientID: "signer", ClientName: "Signer", RedirectURIs: []string{"https://signer.example/cb"},
				TokenEndpointAuthMethod: "private_key_jwt", JWKS: jwks, TokenEndpointAuthSigningAlg: "RS256",
				RequirePushedAuthorizationRequests: true, BackchannelLogoutURI: "https://signer.example/logout", BackchannelLogoutSessionRequired: true},
			{ClientID: "web", ClientName: "Web", RedirectURIs: []string{"https://web.example/cb"},
				RequirePushedAuthorizationRequests: true, BackchannelLogoutURI: "https://web.example/logout"},
		} {
			t.Run(m.ClientID, func(t *testing.T) {
				if res := e.admin(t, http.MethodPost, "/admin/clients", m); res.Status != http.StatusCreated {
					t.Fatalf("create: %d %s", res.Status, res.Body)
				}
				before, err := e.Store.GetClient(context.Background(), m.ClientID)
				if err != nil {
					t.Fatal(err)
				}
				ada := e.newBrowser(t)
				e.consoleSignIn(t, ada, "/console/clients/"+m.ClientID, adminUsername, adminPassword)
				page := ada.get(t, e.URL+"/console/clients/"+m.ClientID)
				post := browserPost(t, page, "/console/clients/"+m.ClientID)
				post.Set("client_name", m.ClientName+" renamed")
				if p := ada.post(t, e.URL+"/console/clients/"+m.ClientID, post); p.Status != http.StatusOK || strings.Contains(p.Body, "Save the client secret") {
					t.Fatalf("save: %s", p)
				}
				after, err := e.Store.GetClient(context.Background(), m.ClientID)
				if err != nil {
					t.Fatal(err)
				}
				if after.Name != m.ClientName+" renamed" {
					t.Errorf("name %q, want the new one", after.Name)
				}
				if after.TokenEndpointAuthMethod != before.TokenEndpointAuthMethod || after.JWKS != before.JWKS ||
					after.TokenEndpointAuthSigningAlg != before.TokenEndpointAuthSigningAlg || string(after.SecretHash) != string(before.SecretHash) {
					t.Errorf("authentication changed: method %q jwks %v alg %q secret changed %v; was %q, %v, %q",
						after.TokenEndpointAuthMethod, after.JWKS != "", after.TokenEndpointAuthSigningAlg, string(after.SecretHash) != string(before.SecretHash),
						before.TokenEndpointAuthMethod, before.JWKS != "", before.TokenEndpointAuthSigningAlg)
				}
				if !after.RequirePAR || after.BackchannelLogoutURI != before.BackchannelLogoutURI || after.BackchannelLogoutSessionRequired != before.BackchannelLogoutSessionRequired {
					t.Errorf("protocol fields dropped: PAR %v logout %q session %v", after.RequirePAR, after.BackchannelLogoutURI, after.BackchannelLogoutSessionRequired)
				}
			})
		}
	})
}

// Two admins (or two tabs) open one record's page in the console and
// both save: the second save, made from a page the first has overtaken,
// is refused (409, the page shown again as the record now is) instead of
// silently undoing the first; saved again from that page, it goes
// through. A post without the page's version is refused alike. For each
// of the console's edit pages: client, role, scope, user.
func TestConsoleSaveRefusesStalePage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		for path, body := range map[string]any{
			"/admin/clients": directory.ClientMetadata{ClientID: "portal", ClientName: "Portal", RedirectURIs: []string{"https://portal.example/cb"}},
			"/admin/roles":   map[string]any{"name": "tutor", "description": "Tutors"},
			"/admin/scopes":  map[string]any{"name": "notes", "description": "Notes"},
		} {
			if res := e.admin(t, http.MethodPost, path, body); res.Status != http.StatusCreated {
				t.Fatalf("create %s: %d %s", path, res.Status, res.Body)
			}
		}
		for _, tc := range []struct {
			page, field string
			stored      func() string
		}{
			{"/console/clients/portal", "client_name", func() string {
				c, err := e.Store.GetClient(context.Background(), "portal")
				if err != nil {
					t.Fatal(err)
				}
				return c.Name
			}},
			{"/console/roles/tutor", "description", func() string {
				r, err := e.Store.GetRole(context.Background(), "tutor")
				if err != nil {
					t.Fatal(err)
				}
				return r.Description
			}},
			{"/console/scopes/notes", "description", func() string {
				sc, err := e.Store.GetScope(context.Background(), "notes")
				if err != nil {
					t.Fatal(err)
				}
				return sc.Description
			}},
			{"/console/users/" + e.BobID, "name", func() string {
				u, err := e.Store.GetUser(context.Background(), e.BobID)
				if err != nil {
					t.Fatal(err)
				}
				return u.Name
			}},
		} {
			t.Run(tc.page, func(t *testing.T) {
				path := tc.page
				open := func() (*browser, url.Values) {
					b := e.newBrowser(t)
					e.consoleSignIn(t, b, path, adminUsername, adminPassword)
					return b, browserPost(t, b.get(t, e.URL+path), path)
				}
				ada, adaForm := open()
				bea, beaForm := open()

				adaForm.Set(tc.field, "Ada's text")
				if p := ada.post(t, e.URL+path, adaForm); p.Status != http.StatusOK || tc.stored() != "Ada's text" {
					t.Fatalf("first save: %s; stored %q", p, tc.stored())
				}
				beaForm.Set(tc.field, "Bea's text")
				p := bea.post(t, e.URL+path, beaForm)
				if p.Status != http.StatusConflict || !strings.Contains(p.Body, "changed since you opened") || !strings.Contains(p.Body, "Ada&#39;s text") {
					t.Errorf("save from the overtaken page: %s, want 409 showing the record as Ada saved it", p)
				}
				if got := tc.stored(); got != "Ada's text" {
					t.Errorf("stored %q after the refused save, want Ada's", got)
				}
				again := browserPost(t, p, path)
				again.Set(tc.field, "Bea's text")
				if p := bea.post(t, e.URL+path, again); p.Status != http.StatusOK || tc.stored() != "Bea's text" {
					t.Errorf("save from the refreshed page: %s; stored %q", p, tc.stored())
				}

				noVersion := browserPost(t, ada.get(t, e.URL+path), path)
				noVersion.Del("version")
				noVersion.Set(tc.field, "Unversioned")
				if p := ada.post(t, e.URL+path, noVersion); p.Status != http.StatusConflict || tc.stored() != "Bea's text" {
					t.Errorf("save without a version: %s; stored %q", p, tc.stored())
				}
			})
		}
	})
}

// A save from a console page is checked against the record as the
// database holds it, never against the replica's cache of clients, roles
// and scopes, which may be an interval behind a change made elsewhere
// (another replica, the CLI): the page made before that change was saved
// over it, on the replica that had cached the record.
func TestConsoleSaveChecksTheDatabase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) { c.DirectoryCacheInterval = time.Hour })
		e.withConsoleAdmin(t)
		ctx := context.Background()
		for path, body := range map[string]any{
			"/admin/clients": directory.ClientMetadata{ClientID: "portal", ClientName: "Portal", RedirectURIs: []string{"https://portal.example/cb"}},
			"/admin/roles":   map[string]any{"name": "tutor", "description": "Tutors"},
			"/admin/scopes":  map[string]any{"name": "notes", "description": "Notes"},
		} {
			if res := e.admin(t, http.MethodPost, path, body); res.Status != http.StatusCreated {
				t.Fatalf("create %s: %d %s", path, res.Status, res.Body)
			}
		}
		later := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
		for _, tc := range []struct {
			page, field string
			elsewhere   func() // the change made elsewhere, straight to the database
			stored      func() string
		}{
			{"/console/clients/portal", "client_name", func() {
				c, _ := e.Store.GetClient(ctx, "portal")
				c.Name, c.UpdatedAt = "Elsewhere", later
				if err := e.Store.UpdateClient(ctx, c); err != nil {
					t.Fatal(err)
				}
			}, func() string { c, _ := e.Store.GetClient(ctx, "portal"); return c.Name }},
			{"/console/roles/tutor", "description", func() {
				r, _ := e.Store.GetRole(ctx, "tutor")
				r.Description, r.UpdatedAt = "Elsewhere", later
				if err := e.Store.UpdateRole(ctx, r); err != nil {
					t.Fatal(err)
				}
			}, func() string { r, _ := e.Store.GetRole(ctx, "tutor"); return r.Description }},
			{"/console/scopes/notes", "description", func() {
				sc, _ := e.Store.GetScope(ctx, "notes")
				sc.Description, sc.UpdatedAt = "Elsewhere", later
				if err := e.Store.UpdateScope(ctx, sc); err != nil {
					t.Fatal(err)
				}
			}, func() string { sc, _ := e.Store.GetScope(ctx, "notes"); return sc.Description }},
		} {
			t.Run(tc.page, func(t *testing.T) {
				b := e.newBrowser(t)
				e.consoleSignIn(t, b, tc.page, adminUsername, adminPassword)
				form := browserPost(t, b.get(t, e.URL+tc.page), tc.page) // the replica caches the record
				tc.elsewhere()
				form.Set(tc.field, "From the old page")
				p := b.post(t, e.URL+tc.page, form)
				if p.Status != http.StatusConflict || !strings.Contains(p.Body, "changed since you opened") || !strings.Contains(p.Body, "Elsewhere") {
					t.Errorf("save from a page the change elsewhere overtook: %s, want 409 showing that change", p)
				}
				if got := tc.stored(); got != "Elsewhere" {
					t.Errorf("stored %q after the save from the old page, want the change made elsewhere kept", got)
				}
			})
		}
	})
}
