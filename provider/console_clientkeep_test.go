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

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/net/html"

	"github.com/hallpass/hallpass/directory"
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

// Two admins (or two tabs) open one client's page and both save: the
// second save, made from a page the first has overtaken, is refused
// (409, the page shown again as the client now is) instead of silently
// undoing the first; saved again from that page, it goes through. A post
// without the page's version is refused alike.
func TestConsoleClientSaveRefusesStalePage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		m := directory.ClientMetadata{ClientID: "portal", ClientName: "Portal", RedirectURIs: []string{"https://portal.example/cb"}}
		if res := e.admin(t, http.MethodPost, "/admin/clients", m); res.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		const path = "/console/clients/portal"
		open := func() (*browser, url.Values) {
			b := e.newBrowser(t)
			e.consoleSignIn(t, b, path, adminUsername, adminPassword)
			return b, browserPost(t, b.get(t, e.URL+path), path)
		}
		name := func() string {
			c, err := e.Store.GetClient(context.Background(), "portal")
			if err != nil {
				t.Fatal(err)
			}
			return c.Name
		}
		ada, adaForm := open()
		bea, beaForm := open()

		adaForm.Set("client_name", "Ada's name")
		if p := ada.post(t, e.URL+path, adaForm); p.Status != http.StatusOK || name() != "Ada's name" {
			t.Fatalf("first save: %s; stored name %q", p, name())
		}
		beaForm.Set("client_name", "Bea's name")
		p := bea.post(t, e.URL+path, beaForm)
		if p.Status != http.StatusConflict || !strings.Contains(p.Body, "changed since you opened") || !strings.Contains(p.Body, "Ada&#39;s name") {
			t.Errorf("save from the overtaken page: %s, want 409 showing the client as Ada saved it", p)
		}
		if got := name(); got != "Ada's name" {
			t.Errorf("stored name %q after the refused save, want Ada's", got)
		}
		again := browserPost(t, p, path)
		again.Set("client_name", "Bea's name")
		if p := bea.post(t, e.URL+path, again); p.Status != http.StatusOK || name() != "Bea's name" {
			t.Errorf("save from the refreshed page: %s; stored name %q", p, name())
		}

		noVersion := browserPost(t, ada.get(t, e.URL+path), path)
		noVersion.Del("version")
		noVersion.Set("client_name", "Unversioned")
		if p := ada.post(t, e.URL+path, noVersion); p.Status != http.StatusConflict || name() != "Bea's name" {
			t.Errorf("save without a version: %s; stored name %q", p, name())
		}
	})
}
