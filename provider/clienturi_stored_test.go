package provider_test

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/cached"
)

// storeBehindService stores c as it stands, past the service's checks,
// as a client registered before a rule it breaks was made, and writes a
// new change stamp, as another replica's change does, so that the
// provider's copies of clients (read with DirectoryCacheInterval -1)
// are dropped at once.
func storeBehindService(t *testing.T, e *ssoEnv, c *storage.Client) {
	t.Helper()
	c.CreatedAt = time.Now()
	if err := e.Store.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("store client %s: %v", c.ID, err)
	}
	if err := e.Store.PutSetting(t.Context(), cached.StampSetting, []byte(rand.Text())); err != nil {
		t.Fatalf("write the change stamp: %v", err)
	}
}

// TestClientURIStoredBeforeRules: a client whose redirect URI was stored
// before hallpass refused a backslash, a host not in ASCII, a host with a
// trailing dot or an empty label, or a dot segment in the path still signs
// users in (login, consent, code, token), its consent page lets the
// browser go on to the host as the browser names it (the A-label in the
// CSP form-action), and an internationalised host's origin may still call
// the token endpoint; only writing the client again is refused, with the
// form to register instead. A client registered with the A-label keeps it
// as registered, on the consent page and in the redirect.
func TestClientURIStoredBeforeRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) { c.DirectoryCacheInterval = -1 })
		legacy := func(id, redirect string) *ssoClient {
			storeBehindService(t, e, &storage.Client{ID: id, Name: "Legacy " + id, RedirectURIs: []string{redirect},
				GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"openid", "profile"},
				TokenEndpointAuthMethod: "none"})
			return publicSSOClient(t, e, id, redirect)
		}
		const aLabel = "https://xn--pple-43d.school.example/cb"
		res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
			ClientID: "a-label", RedirectURIs: []string{aLabel}, GrantTypes: []string{"authorization_code"},
			ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", Scope: "openid profile",
		})
		wantStatus(t, "register the A-label", res, http.StatusCreated)

		for _, tc := range []struct {
			name string
			c    *ssoClient
			// formAction is the CSP form-action source of the consent
			// page: where the browser goes, as it names the host.
			formAction string
			// register is what the refusal of a write says to register.
			register string
		}{
			{"internationalised host", legacy("idn-legacy", "https://bücher.school.example/cb"),
				"https://xn--bcher-kva.school.example", `register "https://xn--bcher-kva.school.example/cb"`},
			{"look-alike host", legacy("lookalike-legacy", "https://\u0430pple.school.example/cb"),
				"https://xn--pple-43d.school.example", `register "https://xn--pple-43d.school.example/cb"`},
			{"backslash", legacy("backslash-legacy", `https://app.school.example/cb\x`), "https://app.school.example", "backslash"},
			{"dot segment", legacy("dotsegment-legacy", "https://app.school.example/a/../cb"), "https://app.school.example", `dot segment ".."`},
			{"percent-encoded dot segment", legacy("encdot-legacy", "https://app.school.example/a/%2e/cb"), "https://app.school.example", `dot segment "%2e"`},
			{"trailing dot", legacy("trailingdot-legacy", "https://app.school.example./cb"), "https://app.school.example.", "ending with a dot"},
			{"empty label", legacy("emptylabel-legacy", "https://app..school.example/cb"), "https://app..school.example", "empty label"},
			{"registered as its A-label", publicSSOClient(t, e, "a-label", aLabel), "https://xn--pple-43d.school.example", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ar := tc.c.request("openid profile")
				b := e.newBrowser(t)
				p := b.login(t, b.get(t, ar.URL), "alice", alicePassword).want(t, "consent")
				csp := p.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "form-action 'self' "+tc.formAction+";") {
					t.Errorf("consent page CSP = %q, want form-action to name %s", csp, tc.formAction)
				}
				if strings.Contains(p.Body, "\u0430pple") || strings.Contains(p.Body, "bücher") {
					t.Errorf("the consent page shows a Unicode host: %s", p.Body)
				}
				p = b.decide(t, p, "allow")
				if p.Redirect == nil {
					t.Fatalf("want a redirect to %s, got %s", ar.RedirectURI, p)
				}
				want, err := url.Parse(ar.RedirectURI)
				if err != nil {
					t.Fatal(err)
				}
				// Where a browser goes: with dot segments resolved away,
				// as the test browser resolves Location (url.ResolveReference).
				want = want.ResolveReference(&url.URL{})
				if got := p.Redirect; got.Scheme != want.Scheme || got.Host != want.Host || got.Path != want.Path {
					t.Fatalf("redirected to %s, want %s", got, ar.RedirectURI)
				}
				code := p.Redirect.Query().Get("code")
				if code == "" || p.Redirect.Query().Get("state") != ar.State {
					t.Fatalf("no code or another state: %s", p.Redirect)
				}
				if _, err := e.tryExchange(ar, callback{Code: code}); err != nil {
					t.Errorf("exchange the code: %v", err)
				}
				if tc.register == "" {
					return
				}
				res := e.admin(t, http.MethodGet, "/admin/clients/"+tc.c.Meta.ClientID, nil)
				wantStatus(t, "read the stored client", res, http.StatusOK)
				stored := decodeClient(t, res)
				res = e.admin(t, http.MethodPut, "/admin/clients/"+tc.c.Meta.ClientID, stored)
				assertError(t, res, http.StatusBadRequest, "invalid_redirect_uri")
				assertPlainDescription(t, res, "redirect_uris: ")
				assertPlainDescription(t, res, tc.register)
			})
		}
		t.Run("an internationalised host's origin at the token endpoint", func(t *testing.T) {
			const origin = "https://xn--bcher-kva.school.example"
			wantCORS(t, preflight(t, e.testServer, provider.PathToken, "POST", origin), origin)
		})
	})
}

// publicSSOClient is the public client id of e, which redirects to
// redirect, as its relying party sees it.
func publicSSOClient(t *testing.T, e *ssoEnv, id, redirect string) *ssoClient {
	t.Helper()
	return &ssoClient{Meta: directory.ClientMetadata{ClientID: id, TokenEndpointAuthMethod: "none"}, Config: oauth2.Config{
		ClientID: id, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{
			AuthURL:   endpoint(t, e.Discovery, "authorization_endpoint"),
			TokenURL:  endpoint(t, e.Discovery, "token_endpoint"),
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}}
}
