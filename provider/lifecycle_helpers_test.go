package provider_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

var b64url = base64.RawURLEncoding

// cred is how a caller authenticates at the introspection and revocation
// endpoints (see oauthtest.Cred); the test server's embedded
// oauthtest.Client takes it.
type cred = oauthtest.Cred

func credOf(m directory.ClientMetadata) cred {
	return cred{ID: m.ClientID, Secret: m.ClientSecret, Method: m.TokenEndpointAuthMethod}
}

func (ts *testServer) adminCred() cred { return oauthtest.Admin(ts.AdminToken) }

// rowKey is the key under which storage keeps the row of a token of kind:
// the hex SHA-256 of fosite's signature of it (provider/fositestore digest).
// Access tokens are JWTs whose signature is the third segment; codes and
// refresh tokens are "prefix_key.signature"; OIDC rows are keyed by the raw
// code; PKCE rows by the code's signature.
func rowKey(kind storage.TokenKind, token string) string {
	sig := ""
	parts := strings.Split(token, ".")
	switch kind {
	case storage.KindAccessToken:
		if len(parts) == 3 {
			sig = parts[2]
		}
	case storage.KindOpenIDConnect:
		sig = token
	default:
		if len(parts) == 2 {
			sig = parts[1]
		}
	}
	sum := sha256.Sum256([]byte(sig))
	return hex.EncodeToString(sum[:])
}

// row reads the stored row of token.
func (ts *testServer) row(kind storage.TokenKind, token string) (*storage.Token, error) {
	return ts.Store.GetToken(context.Background(), kind, rowKey(kind, token))
}

// wantRow fails the test now unless token has a stored row. Tests that
// check a row is gone check first that it was there, so a wrong rowKey
// cannot make them pass.
func (ts *testServer) wantRow(t *testing.T, what string, kind storage.TokenKind, token string) *storage.Token {
	t.Helper()
	r, err := ts.row(kind, token)
	if err != nil {
		t.Fatalf("%s: %s row: %v, want it stored", what, kind, err)
	}
	return r
}

// wantNoRow fails unless token's row is gone.
func (ts *testServer) wantNoRow(t *testing.T, what string, kind storage.TokenKind, token string) {
	t.Helper()
	r, err := ts.row(kind, token)
	switch {
	case err == nil:
		t.Errorf("%s: %s row still stored (active %v, expires %v)", what, kind, r.Active, r.ExpiresAt)
	case !errors.Is(err, storage.ErrNotFound):
		t.Errorf("%s: %s row: %v, want ErrNotFound", what, kind, err)
	}
}

// grant is a user's authorization code grant, redeemed.
type grant struct {
	AR                        authRequest
	CB                        callback
	Code                      string
	Token                     *oauth2.Token
	Access, Refresh, IDToken  string
	ExpiresIn                 float64 // the token response's expires_in
	IssuedAfter, IssuedBefore time.Time
}

// grant runs a sign-in for user with b (logging in and consenting as
// needed) and redeems the code.
func (e *ssoEnv) grant(t *testing.T, b *browser, c *ssoClient, user, password, scope string) grant {
	t.Helper()
	g := grant{AR: c.request(scope)}
	g.CB, _ = b.signIn(t, g.AR, user, password)
	g.Code = g.CB.wantCode(t)
	g.IssuedAfter = time.Now()
	g.Token = e.exchange(t, g.AR, g.CB)
	g.IssuedBefore = time.Now()
	g.Access, g.Refresh = g.Token.AccessToken, g.Token.RefreshToken
	g.IDToken, _ = g.Token.Extra("id_token").(string)
	g.ExpiresIn, _ = g.Token.Extra("expires_in").(float64)
	if strings.Contains(scope, "offline_access") && g.Refresh == "" {
		t.Fatal("no refresh token although offline_access was granted")
	}
	return g
}

// code gets a fresh code for c in b, which must be signed in and have
// consented, without redeeming it.
func (e *ssoEnv) code(t *testing.T, b *browser, c *ssoClient, scope string) (authRequest, callback) {
	t.Helper()
	ar := c.request(scope)
	cb := e.callback(t, b.get(t, ar.URL), ar)
	cb.wantCode(t)
	return ar, cb
}

// sessionID is the stored id of b's SSO session, failing unless b has one.
func (b *browser) sessionID(t *testing.T) string {
	t.Helper()
	v, ok := b.cookie(web.SessionCookieName)
	if !ok {
		t.Fatal("the browser has no session cookie")
	}
	return web.Digest(v)
}

// wantLoginRefused submits username and password on a fresh login page
// and fails unless the login form comes back with exactly the message a
// wrong password gets (so nothing tells a disabled or deleted account from
// a typo), with no session cookie set.
func (e *ssoEnv) wantLoginRefused(t *testing.T, c *ssoClient, username, password string) {
	t.Helper()
	b := e.newBrowser(t)
	login := b.get(t, c.request("openid").URL).want(t, "login")
	wrong := alertText(t, b.login(t, login, "bob", "certainly-not-bobs-password"))
	if wrong == "" {
		t.Fatal("a wrong password shows no error message")
	}
	p := b.login(t, login, username, password)
	if p.kind() != "login" {
		t.Errorf("login as %s: want the login form again, got %s", username, p)
		return
	}
	if msg := alertText(t, p); msg != wrong {
		t.Errorf("login as %s: error %q, want the generic %q a wrong password gets", username, msg, wrong)
	}
	if _, ok := b.cookie(web.SessionCookieName); ok {
		t.Errorf("login as %s set a session cookie", username)
	}
}

// forgedClaims are the claims of an access token hallpass never issued.
func forgedClaims(issuer, clientID string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": issuer, "sub": clientID, "client_id": clientID, "aud": []string{schoolAPI},
		"scope": "results:read", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": "forged-" + rand.Text(),
	}
}

// signWithForeignKey signs claims as an RS256 at+jwt with a fresh RSA key
// that is not hallpass's, under kid.
func signWithForeignKey(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: "RS256"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signWithOurKey signs claims with the server's active key, as hallpass
// signs access tokens.
func (ts *testServer) signWithOurKey(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ts.Keys.Sign(payload, "at+jwt")
	if err != nil {
		t.Fatalf("sign with the server's key: %v", err)
	}
	return s
}

// replacePayload returns the JWT tok with its payload segment replaced by
// the encoding of claims, keeping its header and signature.
func replacePayload(t *testing.T, tok string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	raw, err := b64url.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	edit(claims)
	raw, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + b64url.EncodeToString(raw) + "." + parts[2]
}

// unixClaim returns a numeric claim of an introspection answer or JWT.
func unixClaim(t *testing.T, m map[string]any, name string) int64 {
	t.Helper()
	f, ok := m[name].(float64)
	if !ok {
		t.Fatalf("%s = %v (%T), want a number: %v", name, m[name], m[name], m)
	}
	return int64(f)
}

// rawClaims decodes the payload of a JWT without verifying it.
func rawClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	raw, err := b64url.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// within fails unless got is within slack of want.
func within(t *testing.T, what string, got, want time.Time, slack time.Duration) {
	t.Helper()
	if d := got.Sub(want); d < -slack || d > slack {
		t.Errorf("%s = %v, want %v (±%v): off by %v", what, got.UTC(), want.UTC(), slack, d)
	}
}

// raceN runs f n times at once and returns the results in no particular
// order. The goroutines start together: each waits at a barrier until all n
// are running, so the calls really overlap instead of trickling in as the
// goroutines get scheduled.
func raceN[T any](n int, f func() T) []T {
	var ready, done sync.WaitGroup
	out := make([]T, n)
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			out[i] = f()
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return out
}

// httpResult is a response read without a testing.T (from goroutines).
type httpResult struct {
	Status int
	Body   string
	Err    error
}

// postNoT posts form to target with an optional Authorization header.
func postNoT(c *http.Client, target, auth string, form url.Values) httpResult {
	hr, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return httpResult{Err: err}
	}
	hr.Header.Set("Content-Type", formType)
	if auth != "" {
		hr.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(hr)
	if err != nil {
		return httpResult{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return httpResult{Status: resp.StatusCode, Body: string(body), Err: err}
}
