package provider_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// The resource server the service clients below are registered for.
const schoolAPI = "https://api.school.example"

// discovery fetches the OpenID Provider metadata.
func (ts *testServer) discovery(t *testing.T) map[string]any {
	t.Helper()
	res := ts.do(t, req{Path: provider.PathDiscovery})
	if res.Status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", provider.PathDiscovery, res.Status, res.Body)
	}
	return res.JSON(t)
}

// endpoint returns the string value of key in the discovery document.
func endpoint(t *testing.T, doc map[string]any, key string) string {
	t.Helper()
	s, ok := doc[key].(string)
	if !ok || s == "" {
		t.Fatalf("discovery %s = %v, want a URL", key, doc[key])
	}
	return s
}

// fetchJWKS follows the discovery document's jwks_uri.
func (ts *testServer) fetchJWKS(t *testing.T) (jose.JSONWebKeySet, result) {
	t.Helper()
	res := ts.do(t, req{Path: endpoint(t, ts.discovery(t), "jwks_uri")})
	if res.Status != http.StatusOK {
		t.Fatalf("GET jwks_uri: status %d: %s", res.Status, res.Body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(res.Body, &set); err != nil {
		t.Fatalf("decode JWKS: %v\n%s", err, res.Body)
	}
	if len(set.Keys) == 0 {
		t.Fatal("JWKS has no keys")
	}
	return set, res
}

// accessClaims are the RFC 9068 claims hallpass puts in access tokens.
type accessClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// verifyAccessToken checks raw as a resource server would: RS256 only,
// header typ at+jwt and a kid naming a key of set, signature valid under
// that key. It returns the claims; the caller checks their values.
func verifyAccessToken(t *testing.T, raw string, set jose.JSONWebKeySet) accessClaims {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	if len(tok.Headers) != 1 {
		t.Fatalf("access token has %d signatures, want 1", len(tok.Headers))
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		t.Errorf("header typ = %q, want at+jwt (RFC 9068 §2.1)", typ)
	}
	if h.KeyID == "" {
		t.Fatal("access token header has no kid")
	}
	ks := set.Key(h.KeyID)
	if len(ks) != 1 {
		t.Fatalf("kid %q matches %d JWKS keys, want 1", h.KeyID, len(ks))
	}
	var c accessClaims
	if err := tok.Claims(ks[0].Key, &c); err != nil {
		t.Fatalf("verify access token with JWKS key %q: %v", h.KeyID, err)
	}
	return c
}

func sortedFields(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

func TestClientCredentialsEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		doc := ts.discovery(t)
		issuer := endpoint(t, doc, "issuer")
		if issuer != ts.URL {
			t.Fatalf("issuer = %q, want the server URL %q", issuer, ts.URL)
		}
		tokenURL := endpoint(t, doc, "token_endpoint")
		set, _ := ts.fetchJWKS(t)

		const registered = "results:read schedule:write"
		basicClient := ts.registerService(t, "client_secret_basic", registered, schoolAPI)
		postClient := ts.registerService(t, "client_secret_post", registered, schoolAPI)
		if basicClient.TokenEndpointAuthMethod != "client_secret_basic" || postClient.TokenEndpointAuthMethod != "client_secret_post" {
			t.Fatalf("registered auth methods = %q, %q", basicClient.TokenEndpointAuthMethod, postClient.TokenEndpointAuthMethod)
		}

		tests := []struct {
			name      string
			client    directory.ClientMetadata
			style     oauth2.AuthStyle
			scopes    []string
			wantScope string
		}{
			{"client_secret_basic one scope", basicClient, oauth2.AuthStyleInHeader, []string{"results:read"}, "results:read"},
			{"client_secret_basic other scope", basicClient, oauth2.AuthStyleInHeader, []string{"schedule:write"}, "schedule:write"},
			{"client_secret_basic every scope", basicClient, oauth2.AuthStyleInHeader, []string{"schedule:write", "results:read"}, registered},
			{"client_secret_basic no scope gets all registered", basicClient, oauth2.AuthStyleInHeader, nil, registered},
			{"client_secret_post one scope", postClient, oauth2.AuthStyleInParams, []string{"results:read"}, "results:read"},
			{"client_secret_post no scope gets all registered", postClient, oauth2.AuthStyleInParams, nil, registered},
		}
		jtis := map[string]string{}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				cc := ts.clientCredentials(tc.client.ClientID, tc.client.ClientSecret, tc.style, tc.scopes...)
				cc.TokenURL = tokenURL
				tok, err := cc.Token(ts.ctx())
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				if !strings.EqualFold(tok.TokenType, "bearer") {
					t.Errorf("token_type = %q, want bearer", tok.TokenType)
				}
				respScope, ok := tok.Extra("scope").(string)
				if !ok {
					t.Errorf("token response has no scope field (DESIGN.md: always carries scope)")
				} else if !slices.Equal(sortedFields(respScope), sortedFields(tc.wantScope)) {
					t.Errorf("token response scope = %q, want %q", respScope, tc.wantScope)
				}

				c := verifyAccessToken(t, tok.AccessToken, set)
				if c.Issuer != ts.URL {
					t.Errorf("iss = %q, want %q", c.Issuer, ts.URL)
				}
				if c.Subject != tc.client.ClientID || c.ClientID != tc.client.ClientID {
					t.Errorf("sub = %q, client_id = %q, want both %q", c.Subject, c.ClientID, tc.client.ClientID)
				}
				if !slices.Equal([]string(c.Audience), []string{schoolAPI}) {
					t.Errorf("aud = %v, want [%s]", c.Audience, schoolAPI)
				}
				if !slices.Equal(sortedFields(c.Scope), sortedFields(tc.wantScope)) {
					t.Errorf("scope claim = %q, want exactly %q", c.Scope, tc.wantScope)
				}
				if c.IssuedAt == nil || c.Expiry == nil {
					t.Fatalf("iat = %v, exp = %v; want both", c.IssuedAt, c.Expiry)
				}
				if life := c.Expiry.Time().Sub(c.IssuedAt.Time()); life < 10*time.Minute-time.Second || life > 10*time.Minute+time.Second {
					t.Errorf("exp - iat = %v, want the default 10m", life)
				}
				if err := c.ValidateWithLeeway(jwt.Expected{Issuer: ts.URL, AnyAudience: jwt.Audience{schoolAPI}}, time.Minute); err != nil {
					t.Errorf("claims do not validate now: %v", err)
				}
				if c.ID == "" {
					t.Error("jti is empty")
				} else if prev, dup := jtis[c.ID]; dup {
					t.Errorf("jti %q reused (first issued in %q)", c.ID, prev)
				}
				jtis[c.ID] = tc.name
			})
		}
	})
}

func TestAccessTokenLifespanConfigurable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn, func(c *provider.Config) { c.AccessTokenLifespan = 3 * time.Minute })
		cl := ts.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		set, _ := ts.fetchJWKS(t)
		c := verifyAccessToken(t, ts.token(t, cl.ClientID, cl.ClientSecret).AccessToken, set)
		if c.IssuedAt == nil || c.Expiry == nil {
			t.Fatalf("iat = %v, exp = %v; want both", c.IssuedAt, c.Expiry)
		}
		if life := c.Expiry.Time().Sub(c.IssuedAt.Time()); life < 3*time.Minute-time.Second || life > 3*time.Minute+time.Second {
			t.Errorf("exp - iat = %v, want the configured 3m", life)
		}
	})
}

func TestTokenEndpointErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		svc := ts.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		post := ts.registerService(t, "client_secret_post", "results:read", schoolAPI)
		codeOnly := ts.register(t, directory.ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}})

		tests := []struct {
			name       string
			id, secret string
			style      oauth2.AuthStyle
			scopes     []string
			params     url.Values
			wantStatus int
			wantCodes  []string
		}{
			{name: "unregistered scope", id: svc.ClientID, secret: svc.ClientSecret, style: oauth2.AuthStyleInHeader,
				scopes: []string{"results:write"}, wantStatus: 400, wantCodes: []string{"invalid_scope"}},
			{name: "registered and unregistered scope", id: svc.ClientID, secret: svc.ClientSecret, style: oauth2.AuthStyleInHeader,
				scopes: []string{"results:read", "openid"}, wantStatus: 400, wantCodes: []string{"invalid_scope"}},
			{name: "unregistered audience", id: svc.ClientID, secret: svc.ClientSecret, style: oauth2.AuthStyleInHeader,
				params: url.Values{"audience": {"https://other.example"}}, wantStatus: 400, wantCodes: []string{"invalid_request", "invalid_target"}},
			{name: "wrong secret", id: svc.ClientID, secret: svc.ClientSecret + "x", style: oauth2.AuthStyleInHeader,
				wantStatus: 401, wantCodes: []string{"invalid_client"}},
			{name: "wrong secret in params", id: post.ClientID, secret: "nope", style: oauth2.AuthStyleInParams,
				wantStatus: 401, wantCodes: []string{"invalid_client"}},
			{name: "unknown client", id: "no-such-client", secret: "whatever", style: oauth2.AuthStyleInHeader,
				wantStatus: 401, wantCodes: []string{"invalid_client"}},
			{name: "basic client authenticating in params", id: svc.ClientID, secret: svc.ClientSecret, style: oauth2.AuthStyleInParams,
				wantStatus: 401, wantCodes: []string{"invalid_client"}},
			{name: "post client authenticating with basic", id: post.ClientID, secret: post.ClientSecret, style: oauth2.AuthStyleInHeader,
				wantStatus: 401, wantCodes: []string{"invalid_client"}},
			{name: "code-only client", id: codeOnly.ClientID, secret: codeOnly.ClientSecret, style: oauth2.AuthStyleInHeader,
				wantStatus: 400, wantCodes: []string{"unauthorized_client"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				cc := ts.clientCredentials(tc.id, tc.secret, tc.style, tc.scopes...)
				cc.EndpointParams = tc.params
				tok, err := cc.Token(ts.ctx())
				if err == nil {
					t.Fatalf("got a token (scope %v), want %v", tok.Extra("scope"), tc.wantCodes)
				}
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) {
					t.Fatalf("error %v is not an *oauth2.RetrieveError", err)
				}
				assertError(t, result{Status: re.Response.StatusCode, Header: re.Response.Header, Body: re.Body}, tc.wantStatus, tc.wantCodes...)
				if re.ErrorCode == "" || !slices.Contains(tc.wantCodes, re.ErrorCode) {
					t.Errorf("RetrieveError.ErrorCode = %q, want one of %q", re.ErrorCode, tc.wantCodes)
				}
				if tc.wantStatus == http.StatusUnauthorized && re.Response.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate (RFC 6749 §5.2)")
				}
			})
		}

		t.Run("password grant", func(t *testing.T) {
			res := ts.do(t, req{
				Method: http.MethodPost, Path: provider.PathToken,
				ContentType: "application/x-www-form-urlencoded",
				Body:        url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"secret"}}.Encode(),
				Auth:        basic(svc.ClientID, svc.ClientSecret),
			})
			assertError(t, res, http.StatusBadRequest, "unsupported_grant_type")
		})

		if n, _ := ts.metric(t, "hallpass_tokens_issued_total", `grant_type="client_credentials"`); n != 0 {
			t.Errorf("refused requests counted %v issued tokens", n)
		}
	})
}

func TestDiscoveryContract(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		res := ts.do(t, req{Path: provider.PathDiscovery})
		if res.Status != http.StatusOK {
			t.Fatalf("status %d", res.Status)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q", ct)
		}
		doc := res.JSON(t)
		if doc["issuer"] != ts.URL {
			t.Errorf("issuer = %v, want %q", doc["issuer"], ts.URL)
		}
		// DESIGN.md "The external contract": discovery names every endpoint.
		for _, key := range []string{
			"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
			"introspection_endpoint", "revocation_endpoint", "end_session_endpoint", "registration_endpoint",
		} {
			v, ok := doc[key].(string)
			if !ok || v == "" {
				t.Errorf("%s = %v, want a URL", key, doc[key])
				continue
			}
			u, err := url.Parse(v)
			if err != nil || !u.IsAbs() || !strings.HasPrefix(v, ts.URL+"/") {
				t.Errorf("%s = %q, want an absolute URL under the issuer %s", key, v, ts.URL)
			}
		}
		if got, ok := doc["code_challenge_methods_supported"].([]any); !ok || len(got) != 1 || got[0] != "S256" {
			t.Errorf("code_challenge_methods_supported = %v, want [S256]", doc["code_challenge_methods_supported"])
		}
		if doc["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("authorization_response_iss_parameter_supported = %v, want true", doc["authorization_response_iss_parameter_supported"])
		}
	})
}

func TestJWKS(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		set, res := ts.fetchJWKS(t)

		var raw struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(res.Body, &raw); err != nil {
			t.Fatalf("decode JWKS: %v", err)
		}
		if len(raw.Keys) != len(set.Keys) {
			t.Fatalf("raw JWKS has %d keys, parsed %d", len(raw.Keys), len(set.Keys))
		}
		kids := map[string]bool{}
		for i, k := range raw.Keys {
			kid, _ := k["kid"].(string)
			if kid == "" || kids[kid] {
				t.Errorf("key %d: kid %q is empty or not unique", i, kid)
			}
			kids[kid] = true
			if k["kty"] != "RSA" || k["use"] != "sig" || k["alg"] != "RS256" {
				t.Errorf("key %q: kty %v use %v alg %v, want RSA sig RS256", kid, k["kty"], k["use"], k["alg"])
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
				if _, ok := k[private]; ok {
					t.Errorf("key %q publishes private member %q", kid, private)
				}
			}
			jk := set.Keys[i]
			if !jk.IsPublic() {
				t.Errorf("key %q is not a public key", kid)
			}
			pub, ok := jk.Key.(*rsa.PublicKey)
			if !ok {
				t.Errorf("key %q is %T, want *rsa.PublicKey", kid, jk.Key)
				continue
			}
			if pub.N.BitLen() < 2048 {
				t.Errorf("key %q has %d bits, want at least 2048", kid, pub.N.BitLen())
			}
		}
		if active := ts.Keys.ActiveKeyID(); !kids[active] {
			t.Errorf("active key %q is not published", active)
		}

		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || strings.Contains(cc, "max-age=0") {
			t.Errorf("Cache-Control = %q, want a positive max-age", cc)
		}
		jwksURI := endpoint(t, ts.discovery(t), "jwks_uri")
		res304 := ts.do(t, req{Path: jwksURI, Header: http.Header{"If-None-Match": {etag}}})
		if res304.Status != http.StatusNotModified || len(res304.Body) != 0 {
			t.Errorf("If-None-Match with the ETag: status %d, %d body bytes; want 304 and no body", res304.Status, len(res304.Body))
		}
		res200 := ts.do(t, req{Path: jwksURI, Header: http.Header{"If-None-Match": {`"something-else"`}}})
		if res200.Status != http.StatusOK || string(res200.Body) != string(res.Body) {
			t.Errorf("If-None-Match with another ETag: status %d; want 200 and the same key set", res200.Status)
		}
	})
}

func TestRevocationAndIntrospection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		a := ts.registerService(t, "client_secret_basic", "results:read schedule:write", schoolAPI)
		b := ts.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		p := ts.registerService(t, "client_secret_post", "results:read", schoolAPI)

		t.Run("fresh token is active", func(t *testing.T) {
			tok := ts.token(t, a.ClientID, a.ClientSecret, "results:read")
			res := ts.Introspect(t, oauthtest.Basic(a.ClientID, a.ClientSecret), tok.AccessToken, "")
			status, m := res.Status, res.JSON(t)
			if status != http.StatusOK || m["active"] != true {
				t.Fatalf("introspect: status %d, %v; want 200 active", status, m)
			}
			if m["client_id"] != a.ClientID {
				t.Errorf("client_id = %v, want %q", m["client_id"], a.ClientID)
			}
			if m["scope"] != "results:read" {
				t.Errorf("scope = %v, want results:read", m["scope"])
			}
		})

		t.Run("garbage token is inactive", func(t *testing.T) {
			if ts.Active(t, oauthtest.Basic(a.ClientID, a.ClientSecret), "not-a-token") {
				t.Error("garbage token reported active")
			}
		})

		t.Run("revoked by its client", func(t *testing.T) {
			tok := ts.token(t, a.ClientID, a.ClientSecret)
			if !ts.Active(t, oauthtest.Basic(a.ClientID, a.ClientSecret), tok.AccessToken) {
				t.Fatal("fresh token inactive")
			}
			res := ts.do(t, req{
				Method: http.MethodPost, Path: provider.PathRevoke,
				ContentType: "application/x-www-form-urlencoded",
				Body:        url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}.Encode(),
				Auth:        basic(a.ClientID, a.ClientSecret),
			})
			if res.Status != http.StatusOK {
				t.Fatalf("revoke: status %d: %s", res.Status, res.Body)
			}
			if ts.Active(t, oauthtest.Basic(a.ClientID, a.ClientSecret), tok.AccessToken) {
				t.Error("revoked token still active for its client")
			}
			if ts.Active(t, ts.adminCred(), tok.AccessToken) {
				t.Error("revoked token still active for the admin")
			}
		})

		t.Run("revoked by a client_secret_post client", func(t *testing.T) {
			cc := ts.clientCredentials(p.ClientID, p.ClientSecret, oauth2.AuthStyleInParams)
			tok, err := cc.Token(ts.ctx())
			if err != nil {
				t.Fatal(err)
			}
			res := ts.do(t, req{
				Method: http.MethodPost, Path: provider.PathRevoke,
				ContentType: "application/x-www-form-urlencoded",
				Body:        url.Values{"token": {tok.AccessToken}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret}}.Encode(),
			})
			if res.Status != http.StatusOK {
				t.Fatalf("revoke: status %d: %s", res.Status, res.Body)
			}
			if ts.Active(t, oauthtest.Basic(a.ClientID, a.ClientSecret), tok.AccessToken) {
				t.Error("revoked token still active")
			}
		})

		t.Run("another client cannot revoke it", func(t *testing.T) {
			tok := ts.token(t, a.ClientID, a.ClientSecret)
			res := ts.do(t, req{
				Method: http.MethodPost, Path: provider.PathRevoke,
				ContentType: "application/x-www-form-urlencoded",
				Body:        url.Values{"token": {tok.AccessToken}}.Encode(),
				Auth:        basic(b.ClientID, b.ClientSecret),
			})
			if res.Status >= 500 {
				t.Fatalf("revoke by another client: status %d: %s", res.Status, res.Body)
			}
			if !ts.Active(t, oauthtest.Basic(a.ClientID, a.ClientSecret), tok.AccessToken) {
				t.Error("another client revoked the token")
			}
		})

		t.Run("revocation needs client authentication", func(t *testing.T) {
			tok := ts.token(t, a.ClientID, a.ClientSecret)
			res := ts.do(t, req{
				Method: http.MethodPost, Path: provider.PathRevoke,
				ContentType: "application/x-www-form-urlencoded",
				Body:        url.Values{"token": {tok.AccessToken}}.Encode(),
				Auth:        basic(a.ClientID, "wrong"),
			})
			assertError(t, res, http.StatusUnauthorized, "invalid_client")
			if res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate (RFC 6749 §5.2)")
			}
			if !ts.Active(t, oauthtest.Basic(a.ClientID, a.ClientSecret), tok.AccessToken) {
				t.Error("unauthenticated revocation revoked the token")
			}
		})

		tok := ts.token(t, a.ClientID, a.ClientSecret)
		introspectionRefused := []struct {
			name string
			auth string
		}{
			{"bearer access token", "Bearer " + ts.token(t, b.ClientID, b.ClientSecret).AccessToken},
			{"bearer of a wrong admin token", "Bearer " + ts.AdminToken + "x"},
			{"no authentication", ""},
			{"wrong secret", basic(a.ClientID, "wrong")},
			{"unknown client", basic("nobody", "x")},
		}
		// The admin token is a valid introspection credential (an operator
		// checking a token by hand).
		t.Run("introspection by the admin token", func(t *testing.T) {
			res := ts.do(t, req{
				Method: http.MethodPost, Path: provider.PathIntrospect,
				ContentType: "application/x-www-form-urlencoded",
				Body:        url.Values{"token": {tok.AccessToken}}.Encode(),
				Auth:        "Bearer " + ts.AdminToken,
			})
			if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"active":true`) {
				t.Errorf("admin introspection: %d %s", res.Status, res.Body)
			}
		})
		for _, tc := range introspectionRefused {
			t.Run("introspection refused: "+tc.name, func(t *testing.T) {
				res := ts.do(t, req{
					Method: http.MethodPost, Path: provider.PathIntrospect,
					ContentType: "application/x-www-form-urlencoded",
					Body:        url.Values{"token": {tok.AccessToken}}.Encode(),
					Auth:        tc.auth,
				})
				if res.Status != http.StatusUnauthorized {
					t.Errorf("status = %d, want 401: %s", res.Status, res.Body)
				}
				// RFC 7662 §2.1: bad client credentials are answered as in
				// RFC 6749 §5.2; RFC 9110 §15.5.2: every 401 has a challenge.
				if res.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if strings.Contains(string(res.Body), `"active":true`) {
					t.Errorf("refused introspection leaked the token's state: %s", res.Body)
				}
			})
		}
	})
}

// failingRevocationStore is a store whose token deletion fails, as when
// the database goes away in the middle of a revocation.
type failingRevocationStore struct{ storage.Store }

func (failingRevocationStore) DeleteTokensByRequest(context.Context, storage.TokenKind, string) error {
	return errors.New("injected: database unavailable")
}

// RevokeAccess fails too: it is how a self-contained access token is revoked.
func (failingRevocationStore) RevokeAccess(context.Context, []string, time.Time) error {
	return errors.New("injected: database unavailable")
}

// TestRevocationStorageFailure checks RFC 7009 §2.2.1: when a token could
// not be revoked, the client must be told (503) so it retries, never 200.
func TestRevocationStorageFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn, func(c *provider.Config) { c.Store = failingRevocationStore{c.Store} })
		cl := ts.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		tok := ts.token(t, cl.ClientID, cl.ClientSecret)
		res := ts.do(t, req{
			Method: http.MethodPost, Path: provider.PathRevoke,
			ContentType: "application/x-www-form-urlencoded",
			Body:        url.Values{"token": {tok.AccessToken}}.Encode(),
			Auth:        basic(cl.ClientID, cl.ClientSecret),
		})
		if !ts.Active(t, oauthtest.Basic(cl.ClientID, cl.ClientSecret), tok.AccessToken) {
			t.Fatal("token inactive although its deletion failed")
		}
		if res.Status != http.StatusServiceUnavailable {
			t.Errorf("revocation that did not revoke: status %d, want 503 so the client retries: %s", res.Status, res.Body)
		}
	})
}

// TestIntrospectionAuthMethodsAdvertised checks that every client
// authentication method discovery advertises for introspection works.
func TestIntrospectionAuthMethodsAdvertised(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		doc := ts.discovery(t)
		methods, ok := doc["introspection_endpoint_auth_methods_supported"].([]any)
		if !ok || len(methods) == 0 {
			t.Fatalf("introspection_endpoint_auth_methods_supported = %v", doc["introspection_endpoint_auth_methods_supported"])
		}
		for _, m := range methods {
			method, _ := m.(string)
			t.Run(method, func(t *testing.T) {
				if method == "private_key_jwt" {
					introspectWithAssertion(t, ts, endpoint(t, doc, "introspection_endpoint"))
					return
				}
				cl := ts.registerService(t, method, "results:read", schoolAPI)
				style := oauth2.AuthStyleInHeader
				if method == "client_secret_post" {
					style = oauth2.AuthStyleInParams
				}
				tok, err := ts.clientCredentials(cl.ClientID, cl.ClientSecret, style).Token(ts.ctx())
				if err != nil {
					t.Fatal(err)
				}
				rq := req{
					Method: http.MethodPost, Path: endpoint(t, doc, "introspection_endpoint"),
					ContentType: "application/x-www-form-urlencoded",
				}
				form := url.Values{"token": {tok.AccessToken}}
				switch method {
				case "client_secret_basic":
					rq.Auth = basic(cl.ClientID, cl.ClientSecret)
				case "client_secret_post":
					form.Set("client_id", cl.ClientID)
					form.Set("client_secret", cl.ClientSecret)
				default:
					t.Skipf("no test for method %q", method)
				}
				rq.Body = form.Encode()
				res := ts.do(t, rq)
				if res.Status != http.StatusOK || res.JSON(t)["active"] != true {
					t.Errorf("introspection with advertised method %s: status %d: %s; want 200 active", method, res.Status, res.Body)
				}
			})
		}
	})
}

func TestHealthAndMetrics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		for _, path := range []string{"/healthz", "/readyz"} {
			if res := ts.do(t, req{Path: path}); res.Status != http.StatusOK {
				t.Errorf("GET %s: status %d: %s", path, res.Status, res.Body)
			}
		}

		const issued = 3
		if n, _ := ts.metric(t, "hallpass_tokens_issued_total", `grant_type="client_credentials"`); n != 0 {
			t.Fatalf("tokens counted before any was issued: %v", n)
		}
		cl := ts.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		for range issued {
			ts.token(t, cl.ClientID, cl.ClientSecret)
		}
		if _, err := ts.clientCredentials(cl.ClientID, "wrong", oauth2.AuthStyleInHeader).Token(ts.ctx()); err == nil {
			t.Fatal("token with a wrong secret")
		}

		n, ok := ts.metric(t, "hallpass_tokens_issued_total", `grant_type="client_credentials"`)
		if !ok || n != issued {
			t.Errorf("hallpass_tokens_issued_total{grant_type=\"client_credentials\"} = %v (present %v), want %d", n, ok, issued)
		}
		if n, ok := ts.metric(t, "hallpass_http_requests_total", `code="200",method="POST",route="/oauth2/token"`); !ok || n != issued {
			t.Errorf("hallpass_http_requests_total for successful token requests = %v (present %v), want %d", n, ok, issued)
		}
		if n, ok := ts.metric(t, "hallpass_http_requests_total", `code="401",method="POST",route="/oauth2/token"`); !ok || n != 1 {
			t.Errorf("hallpass_http_requests_total for refused token requests = %v (present %v), want 1", n, ok)
		}
		if n, ok := ts.metric(t, "hallpass_http_requests_total", `code="200",method="GET",route="/healthz"`); !ok || n != 1 {
			t.Errorf("hallpass_http_requests_total for /healthz = %v (present %v), want 1", n, ok)
		}
	})
}

// TestReadyzWithoutSigningKey checks that a replica that cannot sign says
// it is not ready, and serves no empty key set: a 503 that a browser app
// can read.
func TestReadyzWithoutSigningKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn, func(c *provider.Config) {
			sealer, err := keys.NewSealer([]byte(strings.Repeat("u", keys.MinSecretLen)))
			if err != nil {
				t.Fatal(err)
			}
			unloaded, err := keys.NewManager(c.Store, sealer, keys.Options{})
			if err != nil {
				t.Fatal(err)
			}
			c.Keys = unloaded
		})
		if res := ts.do(t, req{Path: "/readyz"}); res.Status != http.StatusServiceUnavailable {
			t.Errorf("/readyz without a signing key: status %d, want 503", res.Status)
		}
		if res := ts.do(t, req{Path: "/healthz"}); res.Status != http.StatusOK {
			t.Errorf("/healthz: status %d, want 200 (liveness does not depend on keys)", res.Status)
		}
		// Still readable from any origin, as the JWKS always is, so a
		// browser app sees the 503 rather than a network error.
		res := ts.do(t, req{Path: provider.PathJWKS, Header: http.Header{"Origin": {"https://spa.school.example"}}})
		if res.Status != http.StatusServiceUnavailable {
			t.Errorf("JWKS without keys: status %d, want 503", res.Status)
		}
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("JWKS without keys: Access-Control-Allow-Origin = %q, want *", got)
		}
	})
}
