package provider_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

// The single-page app of the CORS tests: a public client whose redirect
// URI is on its own origin.
const (
	spaID       = "school-spa"
	spaRedirect = "https://spa.school.example/callback"
	spaOrigin   = "https://spa.school.example"
	// evilOrigin is the origin of no client.
	evilOrigin = "https://evil.example"
	// portalOrigin is the origin of the confidential client's redirect URI.
	portalOrigin = "https://portal.school.example"
	// loopbackOrigin is the origin of the public client's loopback
	// redirect URI, as registered (no port).
	loopbackOrigin = "http://127.0.0.1"
)

// addSPA registers the single-page app on e through the admin API.
func addSPA(t *testing.T, e *ssoEnv) *ssoClient {
	t.Helper()
	res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
		ClientID: spaID, ClientName: "School SPA", RedirectURIs: []string{spaRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: "none", Scope: ssoClientScopes,
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create the SPA client: status %d: %s", res.Status, res.Body)
	}
	return &ssoClient{Meta: directory.ClientMetadata{ClientID: spaID, TokenEndpointAuthMethod: "none"}, Config: oauth2.Config{
		ClientID: spaID, RedirectURL: spaRedirect,
		Endpoint: oauth2.Endpoint{
			AuthURL:   endpoint(t, e.Discovery, "authorization_endpoint"),
			TokenURL:  endpoint(t, e.Discovery, "token_endpoint"),
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}}
}

// preflight sends a CORS preflight for method to path with the given
// Origin header values.
func preflight(t *testing.T, ts *testServer, path, method string, origins ...string) result {
	t.Helper()
	h := http.Header{"Access-Control-Request-Method": {method}, "Access-Control-Request-Headers": {"authorization, content-type"}}
	for _, o := range origins {
		h.Add("Origin", o)
	}
	return ts.do(t, req{Method: http.MethodOptions, Path: path, Header: h})
}

// wantCORS checks that res is readable from origin ("" for from none):
// Access-Control-Allow-Origin is exactly origin, with Vary: Origin, and
// never Access-Control-Allow-Credentials.
func wantCORS(t *testing.T, res result, origin string) {
	t.Helper()
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q (status %d, body %.200s)", got, origin, res.Status, res.Body)
	}
	if origin != "" && !slices.Contains(res.Header.Values("Vary"), "Origin") {
		t.Errorf("Vary = %q, want Origin among them", res.Header.Values("Vary"))
	}
	if _, ok := res.Header["Access-Control-Allow-Credentials"]; ok {
		t.Errorf("Access-Control-Allow-Credentials = %q: no response here is for credentialed calls", res.Header.Get("Access-Control-Allow-Credentials"))
	}
}

// originHeader is an Origin request header.
func originHeader(origin string) http.Header { return http.Header{"Origin": {origin}} }

// postFrom posts form to path on e as a script at origin does, with auth
// as its Authorization header (none when empty).
func postFrom(t *testing.T, e *ssoEnv, path string, form url.Values, auth, origin string) result {
	t.Helper()
	return e.do(t, req{Method: http.MethodPost, Path: path, ContentType: "application/x-www-form-urlencoded",
		Body: form.Encode(), Auth: auth, Header: originHeader(origin)})
}

// TestCORSPreflight: a preflight to the token or revocation endpoint or
// userinfo is answered 204, without client authentication, when its
// origin is one of some client's redirect URIs, and refused without CORS
// headers otherwise; a client added or removed changes that at once.
// Introspection answers no preflight, and an OPTIONS that is no
// preflight is still 405 with Allow.
func TestCORSPreflight(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		addSPA(t, e)
		for _, tc := range []struct {
			name, path, method string
			origins            []string
			allowed            string // the Access-Control-Allow-Origin, "" when refused
			methods            string
		}{
			{"token from the SPA", provider.PathToken, "POST", []string{spaOrigin}, spaOrigin, "POST"},
			{"revocation from the SPA", provider.PathRevoke, "POST", []string{spaOrigin}, spaOrigin, "POST"},
			{"userinfo from the SPA", provider.PathUserinfo, "GET", []string{spaOrigin}, spaOrigin, "GET, POST"},
			{"token from the confidential client's origin", provider.PathToken, "POST", []string{portalOrigin}, portalOrigin, "POST"},
			{"token from the loopback origin as registered", provider.PathToken, "POST", []string{loopbackOrigin}, loopbackOrigin, "POST"},
			{"another spelling of the SPA's origin", provider.PathToken, "POST", []string{"HTTPS://Spa.School.Example:443"}, spaOrigin, "POST"},
			{"the loopback origin on another port", provider.PathToken, "POST", []string{"http://127.0.0.1:8080"}, "", ""},
			{"the SPA's host over http", provider.PathToken, "POST", []string{"http://spa.school.example"}, "", ""},
			{"another origin", provider.PathToken, "POST", []string{evilOrigin}, "", ""},
			{"a subdomain of the SPA's", provider.PathToken, "POST", []string{"https://x.spa.school.example"}, "", ""},
			{"the opaque origin", provider.PathToken, "POST", []string{"null"}, "", ""},
			{"an origin with a path", provider.PathToken, "POST", []string{spaOrigin + "/callback"}, "", ""},
			{"two Origin headers", provider.PathToken, "POST", []string{spaOrigin, spaOrigin}, "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := preflight(t, e.testServer, tc.path, tc.method, tc.origins...)
				wantCORS(t, res, tc.allowed)
				if tc.allowed == "" {
					if res.Status != http.StatusForbidden {
						t.Errorf("status = %d, want 403", res.Status)
					}
					for _, h := range []string{"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age"} {
						if v := res.Header.Get(h); v != "" {
							t.Errorf("a refused preflight answers %s: %q", h, v)
						}
					}
					return
				}
				if res.Status != http.StatusNoContent {
					t.Errorf("status = %d, want 204; body %s", res.Status, res.Body)
				}
				for h, want := range map[string]string{
					"Access-Control-Allow-Methods": tc.methods,
					"Access-Control-Allow-Headers": "Authorization, Content-Type",
					"Access-Control-Max-Age":       "600",
				} {
					if got := res.Header.Get(h); got != want {
						t.Errorf("%s = %q, want %q", h, got, want)
					}
				}
			})
		}

		t.Run("not at introspection", func(t *testing.T) {
			res := preflight(t, e.testServer, provider.PathIntrospect, "POST", spaOrigin)
			wantCORS(t, res, "")
			if res.Status != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" {
				t.Errorf("status %d, Allow %q; want 405 with Allow: POST", res.Status, res.Header.Get("Allow"))
			}
		})
		t.Run("OPTIONS that is no preflight", func(t *testing.T) {
			res := e.do(t, req{Method: http.MethodOptions, Path: provider.PathToken, Header: originHeader(spaOrigin)})
			assertError(t, res, http.StatusMethodNotAllowed, "invalid_request")
			if got := res.Header.Get("Allow"); got != "POST" {
				t.Errorf("Allow = %q, want POST", got)
			}
			wantCORS(t, res, "")
		})

		t.Run("counted under their route", func(t *testing.T) {
			for _, c := range []string{"204", "403"} {
				if _, ok := e.metric(t, "hallpass_http_requests_total", `code="`+c+`",method="OPTIONS",route="`+provider.PathToken+`"`); !ok {
					t.Errorf("no series of preflights answered %s at the token endpoint", c)
				}
			}
		})
		t.Run("an internationalised host name", func(t *testing.T) {
			// Registered as its A-label, the origin a browser there sends
			// (one registered as Unicode before that was the rule:
			// TestClientURIStoredBeforeRules).
			res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
				ClientID: "idn-spa", RedirectURIs: []string{"https://xn--bcher-kva.school.example/cb"}, GrantTypes: []string{"authorization_code"},
				ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", Scope: "openid",
			})
			if res.Status != http.StatusCreated {
				t.Fatalf("create client: %d %s", res.Status, res.Body)
			}
			const origin = "https://xn--bcher-kva.school.example"
			res = preflight(t, e.testServer, provider.PathToken, "POST", origin)
			wantCORS(t, res, origin)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {"https://xn--bcher-kva.school.example/cb"}, "client_id": {"idn-spa"}}
			res = postFrom(t, e, provider.PathToken, form, "", origin)
			assertError(t, res, http.StatusBadRequest, "invalid_grant")
			wantCORS(t, res, origin)
		})
		t.Run("a client added and removed", func(t *testing.T) {
			const origin = "https://new.school.example:8443"
			if res := preflight(t, e.testServer, provider.PathToken, "POST", origin); res.Status != http.StatusForbidden {
				t.Fatalf("before the client exists: status %d, want 403", res.Status)
			}
			res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
				ClientID: "new-spa", RedirectURIs: []string{origin + "/cb"}, GrantTypes: []string{"authorization_code"},
				ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", Scope: "openid",
			})
			if res.Status != http.StatusCreated {
				t.Fatalf("create client: %d %s", res.Status, res.Body)
			}
			res = preflight(t, e.testServer, provider.PathToken, "POST", origin)
			wantCORS(t, res, origin)
			if res = e.admin(t, http.MethodDelete, "/admin/clients/new-spa", nil); res.Status != http.StatusNoContent {
				t.Fatalf("delete client: %d %s", res.Status, res.Body)
			}
			res = preflight(t, e.testServer, provider.PathToken, "POST", origin)
			wantCORS(t, res, "")
		})
	})
}

// TestCORSTokenEndpoint: token responses, successes and errors, are
// readable from an origin of the client that authenticated, and from no
// other: not another client's, not one of no client.
func TestCORSTokenEndpoint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		spa := addSPA(t, e)
		b := e.newBrowser(t)
		exchange := func(t *testing.T, origin string) (result, url.Values) {
			t.Helper()
			ar := spa.request("openid profile offline_access")
			cb, _ := b.signIn(t, ar, "alice", alicePassword)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.wantCode(t)}, "redirect_uri": {spaRedirect},
				"client_id": {spaID}, "code_verifier": {ar.Verifier}}
			return postFrom(t, e, provider.PathToken, form, "", origin), form
		}

		t.Run("from the SPA's origin", func(t *testing.T) {
			res, form := exchange(t, spaOrigin)
			if res.Status != http.StatusOK {
				t.Fatalf("exchange: %d %s", res.Status, res.Body)
			}
			wantCORS(t, res, spaOrigin)
			// The code again: invalid_grant, which the SPA can read.
			res = postFrom(t, e, provider.PathToken, form, "", spaOrigin)
			assertError(t, res, http.StatusBadRequest, "invalid_grant")
			wantCORS(t, res, spaOrigin)
		})
		t.Run("from another origin", func(t *testing.T) {
			res, _ := exchange(t, evilOrigin)
			if res.Status != http.StatusOK {
				t.Fatalf("exchange: %d %s", res.Status, res.Body)
			}
			wantCORS(t, res, "")
		})
		t.Run("from another client's origin", func(t *testing.T) {
			res, _ := exchange(t, portalOrigin)
			wantCORS(t, res, "")
		})
		t.Run("an unknown client", func(t *testing.T) {
			form := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {spaRedirect}, "client_id": {"no-such-client"}}
			res := postFrom(t, e, provider.PathToken, form, "", spaOrigin)
			assertError(t, res, http.StatusUnauthorized, "invalid_client")
			wantCORS(t, res, "")
		})

		// The confidential client, authenticated, from its own origin and
		// from the SPA's.
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, "openid offline_access")
		refresh := func(rt, origin string) result {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			return postFrom(t, e, provider.PathToken, form, basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret), origin)
		}
		t.Run("a confidential client from the SPA's origin", func(t *testing.T) {
			res := refresh(g.Refresh, spaOrigin)
			if res.Status != http.StatusOK {
				t.Fatalf("refresh: %d %s", res.Status, res.Body)
			}
			wantCORS(t, res, "")
			t.Run("and from its own", func(t *testing.T) {
				var tok struct {
					RefreshToken string `json:"refresh_token"`
				}
				if err := json.Unmarshal(res.Body, &tok); err != nil {
					t.Fatal(err)
				}
				res := refresh(tok.RefreshToken, portalOrigin)
				if res.Status != http.StatusOK {
					t.Fatalf("refresh: %d %s", res.Status, res.Body)
				}
				wantCORS(t, res, portalOrigin)
			})
		})
		t.Run("a confidential client with a wrong secret from its own origin", func(t *testing.T) {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.Refresh}}
			res := postFrom(t, e, provider.PathToken, form, basic(e.Confidential.Meta.ClientID, "wrong"), portalOrigin)
			assertError(t, res, http.StatusUnauthorized, "invalid_client")
			wantCORS(t, res, "")
		})
	})
}

// TestCORSRevoke: a revocation answer is readable from an origin of the
// client that revoked, and from no other.
func TestCORSRevoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		spa := addSPA(t, e)
		b := e.newBrowser(t)
		revoke := func(token, origin string) result {
			form := url.Values{"token": {token}, "client_id": {spaID}}
			return postFrom(t, e, provider.PathRevoke, form, "", origin)
		}
		g := e.grant(t, b, spa, "alice", alicePassword, "openid offline_access")
		res := revoke(g.Refresh, evilOrigin)
		if res.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
		wantCORS(t, res, "")
		g = e.grant(t, b, spa, "alice", alicePassword, "openid offline_access")
		res = revoke(g.Refresh, spaOrigin)
		if res.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
		wantCORS(t, res, spaOrigin)
		// A request refused before its client authenticated (no token)
		// is no client's: its answer is readable from no origin.
		res = revoke("", spaOrigin)
		assertError(t, res, http.StatusBadRequest, "invalid_request")
		wantCORS(t, res, "")
	})
}

// TestCORSUserinfo: a userinfo answer, claims or a bearer error about
// the token, is readable from an origin of the client the access token
// was issued to, with WWW-Authenticate exposed, and from no other.
func TestCORSUserinfo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		spa := addSPA(t, e)
		b := e.newBrowser(t)
		userinfo := func(token, origin string) result {
			return e.do(t, req{Path: provider.PathUserinfo, Auth: "Bearer " + token, Header: originHeader(origin)})
		}
		spaToken := e.grant(t, b, spa, "alice", alicePassword, "openid profile").Access
		publicToken := e.grant(t, b, e.Public, "alice", alicePassword, "openid profile").Access
		for _, tc := range []struct {
			name, token, origin, allowed string
		}{
			{"the SPA's token from its origin", spaToken, spaOrigin, spaOrigin},
			{"the SPA's token from the loopback client's origin", spaToken, loopbackOrigin, ""},
			{"the loopback client's token from its origin", publicToken, loopbackOrigin, loopbackOrigin},
			{"the loopback client's token from the SPA's origin", publicToken, spaOrigin, ""},
			{"the SPA's token from another origin", spaToken, evilOrigin, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := userinfo(tc.token, tc.origin)
				if res.Status != http.StatusOK {
					t.Fatalf("userinfo: %d %s", res.Status, res.Body)
				}
				wantCORS(t, res, tc.allowed)
				if tc.allowed != "" && res.Header.Get("Access-Control-Expose-Headers") != "WWW-Authenticate" {
					t.Errorf("Access-Control-Expose-Headers = %q, want WWW-Authenticate", res.Header.Get("Access-Control-Expose-Headers"))
				}
			})
		}
		t.Run("a bearer error", func(t *testing.T) {
			// A token without openid: insufficient_scope, readable with
			// its challenge.
			tok := e.grant(t, b, spa, "alice", alicePassword, "profile").Access
			res := userinfo(tok, spaOrigin)
			assertError(t, res, http.StatusForbidden, "insufficient_scope")
			assertChallenge(t, res, "insufficient_scope")
			wantCORS(t, res, spaOrigin)
			if !strings.Contains(res.Header.Get("WWW-Authenticate"), "insufficient_scope") ||
				res.Header.Get("Access-Control-Expose-Headers") != "WWW-Authenticate" {
				t.Errorf("WWW-Authenticate %q exposed as %q", res.Header.Get("WWW-Authenticate"), res.Header.Get("Access-Control-Expose-Headers"))
			}
		})
	})
}

// TestCORSClientAuthentication: at the token endpoint the answer is
// readable from an origin of the client that authenticated, however it
// authenticated, and from no origin when authentication failed: a
// private_key_jwt client from its origin and from another, an assertion
// signed with a key the client does not have, another client's Basic
// credentials sent with the SPA's client_id from the SPA's origin, and
// another client's refresh token redeemed or revoked by the SPA.
func TestCORSClientAuthentication(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		addSPA(t, e)
		const keyedOrigin = "https://keyed.school.example"
		key := newKeyPair(t, jose.ES256)
		m := e.registerKeyed(t, directory.ClientMetadata{
			ClientName: "keyed web app", RedirectURIs: []string{keyedOrigin + "/cb"},
			GrantTypes: []string{"authorization_code", "client_credentials"}, ResponseTypes: []string{"code"},
			TokenEndpointAuthSigningAlg: "ES256", JWKS: publicJWKS(t, key, "k", jose.ES256), Scope: "results:read",
		})
		keyed := keyedClient{id: m.ClientID, key: key, kid: "k", alg: jose.ES256}
		impostor := keyedClient{id: m.ClientID, key: newKeyPair(t, jose.ES256), kid: "k", alg: jose.ES256}
		grant := url.Values{"grant_type": {"client_credentials"}}
		post := func(form url.Values, auth, origin string) result {
			return postFrom(t, e, provider.PathToken, form, auth, origin)
		}

		t.Run("private_key_jwt from its origin", func(t *testing.T) {
			res := post(assertionForm(keyed.assertion(t, e.testServer, nil), grant), "", keyedOrigin)
			if res.Status != http.StatusOK {
				t.Fatalf("token: %d %s", res.Status, res.Body)
			}
			wantCORS(t, res, keyedOrigin)
		})
		t.Run("private_key_jwt from the SPA's origin", func(t *testing.T) {
			res := post(assertionForm(keyed.assertion(t, e.testServer, nil), grant), "", spaOrigin)
			if res.Status != http.StatusOK {
				t.Fatalf("token: %d %s", res.Status, res.Body)
			}
			wantCORS(t, res, "")
		})
		t.Run("an assertion signed with another key", func(t *testing.T) {
			res := post(assertionForm(impostor.assertion(t, e.testServer, nil), grant), "", keyedOrigin)
			assertError(t, res, http.StatusUnauthorized, "invalid_client")
			wantCORS(t, res, "")
		})
		t.Run("the SPA's client_id with the confidential client's credentials", func(t *testing.T) {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {spaID}}
			res := post(form, basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret), spaOrigin)
			if res.Status == http.StatusOK {
				t.Fatalf("a made-up refresh token was redeemed: %s", res.Body)
			}
			wantCORS(t, res, "")
		})
		// Another client's grant, presented by the SPA from its origin:
		// the refusal is the SPA's own answer, and the grant is left
		// alone.
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, "openid offline_access")
		t.Run("the SPA redeems another client's refresh token", func(t *testing.T) {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.Refresh}, "client_id": {spaID}}
			res := post(form, "", spaOrigin)
			assertError(t, res, http.StatusBadRequest, "invalid_grant")
			wantCORS(t, res, spaOrigin)
		})
		t.Run("the SPA revokes another client's token", func(t *testing.T) {
			form := url.Values{"token": {g.Refresh}, "client_id": {spaID}}
			res := postFrom(t, e, provider.PathRevoke, form, "", spaOrigin)
			assertError(t, res, http.StatusBadRequest, "unauthorized_client") // RFC 7009 §2.1
			wantCORS(t, res, spaOrigin)
			form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.Refresh}}
			res = post(form, basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret), portalOrigin)
			if res.Status != http.StatusOK {
				t.Fatalf("the confidential client's refresh token after the SPA revoked it: %d %s", res.Status, res.Body)
			}
			wantCORS(t, res, portalOrigin)
		})
		t.Run("the SPA's client_id in Basic with a made-up secret", func(t *testing.T) {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}
			res := post(form, basic(spaID, "made-up"), portalOrigin)
			wantCORS(t, res, "")
		})
	})
}

// TestCORSServerErrors: a failure of ours at the token or revocation
// endpoint or userinfo that comes before the request's client is known
// is readable from an origin of a registered client, as its 2xx and 4xx
// answers are, so that the app sees the 5xx (and its Retry-After) rather
// than an opaque network error: a request that ran out of
// RequestTimeout waiting for the database, one that panicked, and every
// request while the database is gone. From an origin of no client it is
// not. A preflight during the outage is answered from the origins last
// read, as the browser's cached preflight would have been.
func TestCORSServerErrors(t *testing.T) {
	forEachOutage(t, func(t *testing.T, dsn string, cut func(*ssoEnv)) {
		st := &nthStore{failOn: []string{"AccessTokenState"}}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
			// Short, for the timeout case, but not so short that the
			// set-up's sign-in (an argon2id check) runs out of it on a
			// busy machine or under -race.
			c.RequestTimeout = 1500 * time.Millisecond
			// Every client read asks the database, so the outage shows
			// at once.
			c.DirectoryCacheInterval = -1
		})
		spa := addSPA(t, e)
		g := e.grant(t, e.newBrowser(t), spa, "alice", alicePassword, "openid offline_access")
		userinfo := func() result {
			return e.do(t, req{Path: provider.PathUserinfo, Auth: "Bearer " + g.Access, Header: originHeader(spaOrigin)})
		}
		wantFailureCORS := func(t *testing.T, res result, origin string) {
			t.Helper()
			if res.Status < 500 {
				t.Fatalf("status %d, want a 5xx: %s", res.Status, res.Body)
			}
			wantCORS(t, res, origin)
		}

		// Checking the access token, before its client is known. The
		// timeout first: nothing has read the origins yet, and the
		// request's own context has ended.
		t.Run("a timeout", func(t *testing.T) {
			st.hangs.Store(true)
			defer st.hangs.Store(false)
			st.fail.Store(1)
			wantFailureCORS(t, userinfo(), spaOrigin)
		})
		t.Run("a panic", func(t *testing.T) {
			st.panics.Store(true)
			defer st.panics.Store(false)
			st.fail.Store(1)
			res := userinfo()
			wantFailureCORS(t, res, spaOrigin)
			if got := res.Header.Get("Access-Control-Expose-Headers"); got != "WWW-Authenticate" {
				t.Errorf("Access-Control-Expose-Headers = %q, want WWW-Authenticate", got)
			}
		})

		// The database gone. The SPA's userinfo call was preflighted
		// (Authorization) before.
		if res := preflight(t, e.testServer, provider.PathUserinfo, "GET", spaOrigin); res.Status != http.StatusNoContent {
			t.Fatalf("preflight before the outage: %d %s", res.Status, res.Body)
		}
		cut(e)
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.Refresh}, "client_id": {spaID}}
		for _, tc := range []struct {
			name    string
			do      func() result
			allowed string
		}{
			{"token", func() result { return postFrom(t, e, provider.PathToken, refresh, "", spaOrigin) }, spaOrigin},
			{"revocation", func() result {
				return postFrom(t, e, provider.PathRevoke, url.Values{"token": {g.Refresh}, "client_id": {spaID}}, "", spaOrigin)
			}, spaOrigin},
			{"userinfo", userinfo, spaOrigin},
			{"token from an origin of no client", func() result { return postFrom(t, e, provider.PathToken, refresh, "", evilOrigin) }, ""},
		} {
			t.Run("outage: "+tc.name, func(t *testing.T) { wantFailureCORS(t, tc.do(), tc.allowed) })
		}
		t.Run("outage: preflight", func(t *testing.T) {
			res := preflight(t, e.testServer, provider.PathUserinfo, "GET", spaOrigin)
			if res.Status != http.StatusNoContent {
				t.Errorf("preflight of a known origin: %d, want 204: %s", res.Status, res.Body)
			}
			wantCORS(t, res, spaOrigin)
			res = preflight(t, e.testServer, provider.PathUserinfo, "GET", evilOrigin)
			if res.Status < 500 {
				t.Errorf("preflight of an unknown origin: %d, want a 5xx (the origins cannot be read): %s", res.Status, res.Body)
			}
			wantCORS(t, res, "")
		})
	})
}

// forEachOutage runs f on every backend with the DSN of a fresh database
// that cut makes fail under e, the server on it: on PostgreSQL by
// cutting the line to it (faultproxy), on SQLite by closing it under the
// running server.
func forEachOutage(t *testing.T, f func(t *testing.T, dsn string, cut func(e *ssoEnv))) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, testdb.SQLite(t), func(e *ssoEnv) {
			if err := e.Store.Close(); err != nil {
				t.Fatalf("close the store: %v", err)
			}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, px := postgresBehindProxy(t)
		f(t, dsn, func(*ssoEnv) { px.Cut() })
	})
}
