package provider_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// pushed is an authorization request pushed to the PAR endpoint: the
// request the browser is then sent with (client_id and request_uri only),
// and the values the client keeps to check the callback.
type pushed struct {
	authRequest
	RequestURI string
	ExpiresIn  float64
}

// push posts the parameters of an authorization request for scope to the
// PAR endpoint as client c (its registered authentication), and returns
// the response as it is.
func (e *ssoEnv) push(t *testing.T, c *ssoClient, scope string, edit func(url.Values)) (pushed, result) {
	t.Helper()
	ar := c.request(scope)
	u, err := url.Parse(ar.URL)
	if err != nil {
		t.Fatal(err)
	}
	form := u.Query()
	if edit != nil {
		edit(form)
	}
	res := e.Post(t, e.URL+provider.PathPAR, credOf(c.Meta), form)
	var p pushed
	p.authRequest = ar
	if res.Status == http.StatusCreated {
		body := res.JSON(t)
		p.RequestURI, _ = body["request_uri"].(string)
		p.ExpiresIn, _ = body["expires_in"].(float64)
		p.URL = c.Config.Endpoint.AuthURL + "?" + url.Values{"client_id": {c.Meta.ClientID}, "request_uri": {p.RequestURI}}.Encode()
	}
	return p, res
}

// wantPushed fails the test now unless res is RFC 9126 §2.2's answer.
func wantPushed(t *testing.T, p pushed, res result) {
	t.Helper()
	if res.Status != http.StatusCreated {
		t.Fatalf("PAR: status %d, want 201: %s", res.Status, res.Body)
	}
	if !strings.HasPrefix(p.RequestURI, "urn:ietf:params:oauth:request_uri:") || len(p.RequestURI) < 40 {
		t.Errorf("request_uri = %q, want an unguessable urn:ietf:params:oauth:request_uri: value", p.RequestURI)
	}
	if p.ExpiresIn != 60 {
		t.Errorf("expires_in = %v, want 60", p.ExpiresIn)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

// TestPAR runs the code flow through a pushed authorization request
// (RFC 9126) with golang.org/x/oauth2 and go-oidc, then checks that a
// request_uri is single-use, bound to its client and short-lived, and
// that nothing of the client's credentials is stored with it.
func TestPAR(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		var skew atomic.Int64
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		})
		if got := endpoint(t, e.Discovery, "pushed_authorization_request_endpoint"); got != e.URL+provider.PathPAR {
			t.Errorf("pushed_authorization_request_endpoint = %q", got)
		}
		if e.Discovery["require_pushed_authorization_requests"] != false {
			t.Errorf("require_pushed_authorization_requests = %v, want false", e.Discovery["require_pushed_authorization_requests"])
		}

		t.Run("round trip", func(t *testing.T) {
			p, res := e.push(t, e.Confidential, "openid profile results:read", nil)
			wantPushed(t, p, res)
			b := e.newBrowser(t)
			cb, _ := b.signIn(t, p.authRequest, "alice", alicePassword)
			tok := e.exchange(t, p.authRequest, cb)
			claims := e.idToken(t, e.Confidential, tok, p.Nonce)
			if claims.Sub != e.AliceID {
				t.Errorf("sub = %q, want alice", claims.Sub)
			}
			if got := grantedScope(t, tok); strings.Join(got, " ") != "openid profile results:read" {
				t.Errorf("scope = %v", got)
			}
			// go-oidc's own verifier on the ID token, again, through the
			// provider it discovered.
			if _, err := e.OIDC.Verifier(&oidc.Config{ClientID: confidentialID}).Verify(e.ctx(), tok.Extra("id_token").(string)); err != nil {
				t.Errorf("verify: %v", err)
			}
			// Spent: the same request_uri again is refused, and the user
			// is told so rather than sent anywhere.
			e.newBrowser(t).get(t, p.URL).wantErrorPage(t, http.StatusBadRequest)
		})

		t.Run("single use under concurrency", func(t *testing.T) {
			p, res := e.push(t, e.Confidential, "openid", nil)
			wantPushed(t, p, res)
			pages := raceN(4, func() page { return e.newBrowser(t).get(t, p.URL) })
			logins := 0
			for _, pg := range pages {
				switch {
				case pg.kind() == "login":
					logins++
				case pg.Status != http.StatusBadRequest || pg.Redirect != nil:
					t.Errorf("a losing request got %s, want the 400 error page", pg)
				}
			}
			if logins != 1 {
				t.Errorf("%d of 4 concurrent uses of one request_uri reached the login page, want exactly 1", logins)
			}
		})

		t.Run("public client pushes with PKCE", func(t *testing.T) {
			p, res := e.push(t, e.Public, "openid", nil)
			wantPushed(t, p, res)
			cb, _ := e.newBrowser(t).signIn(t, p.authRequest, "bob", bobPassword)
			e.exchange(t, p.authRequest, cb)
		})

		t.Run("bound to the client", func(t *testing.T) {
			p, res := e.push(t, e.Confidential, "openid", nil)
			wantPushed(t, p, res)
			other := e.Public.Config.Endpoint.AuthURL + "?" + url.Values{"client_id": {publicID}, "request_uri": {p.RequestURI}}.Encode()
			pg := e.newBrowser(t).get(t, other)
			if pg.Redirect != nil && pg.Redirect.Query().Get("code") != "" {
				t.Fatalf("another client's request_uri gave a code: %s", pg)
			}
			if pg.Status < 400 && (pg.Redirect == nil || pg.Redirect.Query().Get("error") == "") {
				t.Fatalf("another client's request_uri was accepted: %s", pg)
			}
		})

		t.Run("expires", func(t *testing.T) {
			p, res := e.push(t, e.Confidential, "openid", nil)
			wantPushed(t, p, res)
			skew.Store(int64(61 * time.Second))
			defer skew.Store(0)
			e.newBrowser(t).get(t, p.URL).wantErrorPage(t, http.StatusBadRequest)
		})

		t.Run("row holds no credentials", func(t *testing.T) {
			p, res := e.push(t, e.Confidential, "openid", nil)
			wantPushed(t, p, res)
			sum := sha256.Sum256([]byte(p.RequestURI))
			row, err := e.Store.GetToken(t.Context(), storage.KindPAR, hex.EncodeToString(sum[:]))
			if err != nil {
				t.Fatalf("PAR row: %v", err)
			}
			if row.ClientID != confidentialID || !strings.Contains(row.Form, "code_challenge") {
				t.Errorf("row = client %q form %q", row.ClientID, row.Form)
			}
			if strings.Contains(row.Form, "client_secret") || strings.Contains(row.Form, e.Confidential.Meta.ClientSecret) {
				t.Errorf("row form holds the client's secret: %q", row.Form)
			}
		})

		bad := []struct {
			name   string
			client *ssoClient
			cred   cred
			edit   func(url.Values)
			status int
			code   string
		}{
			{"no client authentication", e.Confidential, cred{}, nil, http.StatusUnauthorized, "invalid_client"},
			{"wrong secret", e.Confidential, cred{ID: confidentialID, Secret: "wrong", Method: "client_secret_basic"}, nil, http.StatusUnauthorized, "invalid_client"},
			// What hallpass takes out of the form before fosite reads it
			// is refused only once the client authenticated.
			{"wrong secret, response_mode", e.Confidential, cred{ID: confidentialID, Secret: "wrong", Method: "client_secret_basic"}, func(f url.Values) { f.Set("response_mode", "fragment") }, http.StatusUnauthorized, "invalid_client"},
			{"wrong secret, request object", e.Confidential, cred{ID: confidentialID, Secret: "wrong", Method: "client_secret_basic"}, func(f url.Values) { f.Set("request", "e30.e30.") }, http.StatusUnauthorized, "invalid_client"},
			{"response_mode", e.Confidential, credOf(e.Confidential.Meta), func(f url.Values) { f.Set("response_mode", "fragment") }, http.StatusBadRequest, "unsupported_response_mode"},
			{"request_uri inside", e.Confidential, credOf(e.Confidential.Meta), func(f url.Values) { f.Set("request_uri", "urn:ietf:params:oauth:request_uri:x") }, http.StatusBadRequest, "invalid_request"},
			{"unregistered redirect_uri", e.Confidential, credOf(e.Confidential.Meta), func(f url.Values) { f.Set("redirect_uri", "https://evil.example/cb") }, http.StatusBadRequest, "invalid_request"},
			{"no PKCE", e.Public, credOf(e.Public.Meta), func(f url.Values) { f.Del("code_challenge"); f.Del("code_challenge_method") }, http.StatusBadRequest, "invalid_request"},
			{"scope not allowed", e.Confidential, credOf(e.Confidential.Meta), func(f url.Values) { f.Set("scope", "openid payroll:write") }, http.StatusBadRequest, "invalid_scope"},
			{"unknown resource", e.Confidential, credOf(e.Confidential.Meta), func(f url.Values) { f.Set("resource", "https://payroll.example") }, http.StatusBadRequest, "invalid_target"},
			{"repeated parameter", e.Confidential, credOf(e.Confidential.Meta), func(f url.Values) { f.Add("scope", "openid") }, http.StatusBadRequest, "invalid_request"},
		}
		for _, tc := range bad {
			t.Run("refused "+tc.name, func(t *testing.T) {
				ar := tc.client.request("openid")
				u, _ := url.Parse(ar.URL)
				form := u.Query()
				if tc.edit != nil {
					tc.edit(form)
				}
				assertError(t, e.Post(t, e.URL+provider.PathPAR, tc.cred, form), tc.status, tc.code)
			})
		}
		t.Run("refused GET", func(t *testing.T) {
			assertError(t, e.do(t, req{Path: provider.PathPAR}), http.StatusMethodNotAllowed, "invalid_request")
		})
	})
}

// TestRequirePAR checks both switches that make the authorization
// endpoint take only pushed requests: a client's registration
// (require_pushed_authorization_requests) and the server's (RequirePAR).
func TestRequirePAR(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		res := e.admin(t, http.MethodPost, "/admin/clients", map[string]any{
			"client_id": "par-only", "redirect_uris": []string{confidentialRedirect}, "grant_types": []string{"authorization_code"},
			"scope": "openid", "require_pushed_authorization_requests": true,
		})
		if res.Status != http.StatusCreated || res.JSON(t)["require_pushed_authorization_requests"] != true {
			t.Fatalf("create PAR-only client: %d %s", res.Status, res.Body)
		}
		c := &ssoClient{Meta: e.Confidential.Meta, Config: e.Confidential.Config}
		c.Meta.ClientID, c.Config.ClientID = "par-only", "par-only"
		c.Meta.ClientSecret, c.Config.ClientSecret = res.JSON(t)["client_secret"].(string), res.JSON(t)["client_secret"].(string)
		plain := c.request("openid")
		cb := e.callback(t, e.newBrowser(t).get(t, plain.URL), plain)
		cb.wantError(t, "invalid_request")
		// Other clients are not affected.
		cb, _ = e.newBrowser(t).signIn(t, e.Confidential.request("openid"), "alice", alicePassword)
		cb.wantCode(t)
		// Pushed, the PAR-only client signs in.
		p, pres := e.push(t, c, "openid", nil)
		wantPushed(t, p, pres)
		cb, _ = e.newBrowser(t).signIn(t, p.authRequest, "alice", alicePassword)
		e.exchange(t, p.authRequest, cb)
	})
	t.Run("server-wide", func(t *testing.T) {
		e := newSSOEnv(t, testdb.SQLite(t), func(c *provider.Config) { c.RequirePAR = true })
		if e.Discovery["require_pushed_authorization_requests"] != true {
			t.Errorf("require_pushed_authorization_requests = %v, want true", e.Discovery["require_pushed_authorization_requests"])
		}
		plain := e.Public.request("openid")
		e.callback(t, e.newBrowser(t).get(t, plain.URL), plain).wantError(t, "invalid_request")
		p, res := e.push(t, e.Public, "openid", nil)
		wantPushed(t, p, res)
		cb, _ := e.newBrowser(t).signIn(t, p.authRequest, "bob", bobPassword)
		if _, err := e.tryExchange(p.authRequest, cb); err != nil {
			t.Fatalf("exchange: %v", err)
		}
		// hallpass's own client, which builds its requests itself, still
		// signs users in to the account page (and the console).
		if pg := e.consoleSignIn(t, e.newBrowser(t), provider.PathAccount, "bob", bobPassword); pg.Status != http.StatusOK || pg.URL.Path != provider.PathAccount {
			t.Errorf("the account page under RequirePAR: %s", pg)
		}
	})
}

// TestPARIgnoresParametersOutsideThePush checks RFC 9126 §4 with RFC
// 9101 §6.3: an authorization request that carries a request_uri from the
// PAR endpoint is the pushed request, whatever else its URL says. The
// browser carries the URL, so anyone who can edit it (another site
// sending the user there, an extension) could otherwise add what the
// client did not push: force a new login, or put their nonce in the ID
// token.
func TestPARIgnoresParametersOutsideThePush(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		e.grant(t, b, e.Confidential, "alice", alicePassword, "openid results:read")
		tests := []struct {
			name  string
			extra url.Values
		}{
			{"prompt", url.Values{"prompt": {"login"}}},
			{"max_age", url.Values{"max_age": {"0"}}},
			{"nonce", url.Values{"nonce": {"chosen-by-someone-else"}}},
			{"redirect_uri, state and scope", url.Values{"redirect_uri": {"https://evil.example/cb"}, "state": {"chosen-by-someone-else"}, "scope": {"openid results:write"}}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				// Pushed without a nonce, which OIDC Core §3.1.2.1 leaves
				// optional in the code flow.
				p, res := e.push(t, e.Confidential, "openid results:read", func(f url.Values) { f.Del("nonce") })
				wantPushed(t, p, res)
				pg := b.get(t, p.URL+"&"+tc.extra.Encode())
				if pg.kind() != "redirect" {
					t.Fatalf("the signed-in browser got %s, want the pushed request answered at once", pg)
				}
				cb := e.callback(t, pg, p.authRequest)
				tok := e.exchange(t, p.authRequest, cb)
				if got := strings.Join(grantedScope(t, tok), " "); got != "openid results:read" {
					t.Errorf("scope = %q, want the pushed one", got)
				}
				raw, _ := tok.Extra("id_token").(string)
				if nonce, ok := rawClaims(t, raw)["nonce"]; ok {
					t.Errorf("ID token nonce = %v, want none: none was pushed", nonce)
				}
			})
		}
	})
}
