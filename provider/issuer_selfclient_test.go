package provider_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// TestIssuerAcceptedOwnClientRegisters: every issuer New accepts is one
// hallpass's own client can be registered with, its redirect URIs on the
// issuer: New refuses at start-up (refused) what would otherwise start a
// server whose console and account page nobody can sign in to. Each
// shape an operator may have started hallpass with before (upper case,
// ports, underscores, escapes, dots in path segments that are no dot
// segments) keeps starting, console included.
func TestIssuerAcceptedOwnClientRegisters(t *testing.T) {
	ts := newTestServer(t, "sqlite:"+t.TempDir()+"/x.db")
	ctx := context.Background()
	for _, tc := range []struct {
		issuer  string
		refused string // in New's error; "" means it starts
	}{
		{issuer: "http://localhost:8080"},
		{issuer: "http://127.0.0.1:18473"},
		{issuer: "http://[::1]:8080"},
		{issuer: "https://auth.example.com/path/sub"},
		{issuer: "https://Auth.Example.COM"},
		{issuer: "HTTPS://auth.example.com"},
		{issuer: "https://auth.example.com:8443"},
		{issuer: "https://auth.example.com:443"},
		{issuer: "https://my_host.internal"},
		{issuer: "https://auth.example.com/a%2Fb"},
		{issuer: "https://auth.example.com/a%20b"},
		{issuer: "https://auth.example.com/~user"},
		{issuer: "https://auth.example.com/realms/a.b"},
		{issuer: "https://auth.example.com/..foo"},
		{issuer: "https://auth.example.com/.well-known"},
		{issuer: "https://auth.example.com/a."},
		{issuer: "https://auth.example.com/r\u00e9alm"},
		{issuer: "https://xn--r8jz45g.jp"},
		{issuer: "https://10.0.0.5"},
		{"https://auth.example.com/a*b", "wildcard"},
		{"https://auth.example.com/a%2Ab", "wildcard"},
	} {
		t.Run(tc.issuer, func(t *testing.T) {
			p, err := provider.New(provider.Config{
				Issuer: tc.issuer, Store: ts.Store, Keys: ts.Keys,
				AdminTokenDigest: make([]byte, 32), TokenSecret: make([]byte, 32),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("New(%q): %v; want it refused, saying %q", tc.issuer, err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("New refused %q: %v", tc.issuer, err)
			}
			t.Cleanup(p.Close)
			if err := p.EnsureSelfClient(ctx); err != nil {
				t.Fatalf("New accepted the issuer, but its own client was refused: %v", err)
			}
			c, err := ts.Store.GetClient(ctx, provider.SelfClientID)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.issuer + provider.PathConsole + "/callback"; !slices.Contains(c.RedirectURIs, want) {
				t.Errorf("own client's redirect URIs %q, want %q among them", c.RedirectURIs, want)
			}
		})
	}
}

// TestLongestIssuerOwnClientRegisters: the longest issuer New accepts is
// one hallpass's own client, whose redirect URIs are the issuer and a
// path, can be registered with; an issuer a character longer is refused
// at start-up, saying why.
func TestLongestIssuerOwnClientRegisters(t *testing.T) {
	ts := newTestServer(t, "sqlite:"+t.TempDir()+"/x.db")
	ctx := context.Background()
	newProvider := func(issuer string) (*provider.Provider, error) {
		p, err := provider.New(provider.Config{
			Issuer: issuer, Store: ts.Store, Keys: ts.Keys,
			AdminTokenDigest: make([]byte, 32), TokenSecret: make([]byte, 32),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if p != nil {
			t.Cleanup(p.Close)
		}
		return p, err
	}
	issuerOf := func(n int) string { return "https://id.example.com/" + strings.Repeat("a", n) }
	// The longest accepted, searched for: New refuses longer ones only.
	lo, hi := 0, 8192
	if _, err := newProvider(issuerOf(hi)); err == nil {
		t.Fatalf("New accepted an issuer of %d characters", len(issuerOf(hi)))
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if _, err := newProvider(issuerOf(mid)); err == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	p, err := newProvider(issuerOf(lo))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.EnsureSelfClient(ctx); err != nil {
		t.Fatalf("New accepted an issuer of %d characters, but its own client was refused: %v", len(issuerOf(lo)), err)
	}
	if _, err := newProvider(issuerOf(hi)); err == nil || !strings.Contains(err.Error(), "characters") {
		t.Errorf("New(issuer of %d characters) = %v, want it to say how long an issuer may be", len(issuerOf(hi)), err)
	}
}

// TestInsecureIssuerConsoleSignIn: with an http issuer on a network host
// (--insecure-http-issuer, the operator's choice for a test network),
// hallpass's start registers its own client on the issuer's origin, and
// the console and the account page sign people in through it, code and
// all; no other client may register plain http to that host.
func TestInsecureIssuerConsoleSignIn(t *testing.T) {
	ts := startTestServer(t, "sqlite:"+t.TempDir()+"/x.db", hallpasstest.Options{InsecureHost: "hallpass.test"})
	if !strings.HasPrefix(ts.URL, "http://hallpass.test:") {
		t.Fatalf("issuer %s, want one on http://hallpass.test", ts.URL)
	}
	e := ssoEnvOn(t, ts)
	e.withConsoleAdmin(t)
	for _, path := range []string{provider.PathConsole, provider.PathAccount} {
		p := e.consoleSignIn(t, e.newBrowser(t), path, adminUsername, adminPassword)
		if p.Status != http.StatusOK || p.URL.Path != path {
			t.Errorf("the admin signing in to %s: %s", path, p)
		}
	}
	res := ts.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
		ClientID: "on-the-issuer", RedirectURIs: []string{ts.URL + "/cb"}, TokenEndpointAuthMethod: "none",
	})
	if res.Status != http.StatusBadRequest {
		t.Errorf("another client with an http redirect URI on the issuer's host: status %d %s, want 400", res.Status, res.Body)
	}
}

// TestInsecureIssuerOtherClientNoHTTPCode: redirectSecure lets plain http
// on the issuer's origin through for hallpass's own client alone (it is
// asked the URL, not the client). Another client whose http redirect URI
// on a network host was stored behind the service (an older hallpass, an
// edited row) is refused before the user is asked anything, on a page,
// and gets no code, whatever the case of the host, named in the request
// or not, directly or pushed (PAR): on the issuer's origin with an http
// issuer (where fosite's check alone let the code through), and elsewhere
// with an https one (where fosite refused only once the user had signed
// in).
func TestInsecureIssuerOtherClientNoHTTPCode(t *testing.T) {
	noCache := func(c *provider.Config) { c.DirectoryCacheInterval = -1 }
	insecure := startTestServer(t, "sqlite:"+t.TempDir()+"/x.db", hallpasstest.Options{InsecureHost: "hallpass.test"}, noCache)
	secure := newTestServer(t, "sqlite:"+t.TempDir()+"/y.db", noCache)
	envs := map[*testServer]*ssoEnv{insecure: ssoEnvOn(t, insecure), secure: ssoEnvOn(t, secure)}
	for _, tc := range []struct {
		ts       *testServer
		redirect string
	}{
		{insecure, insecure.URL + "/cb"},
		{insecure, strings.Replace(insecure.URL, "hallpass.test", "HALLPASS.Test", 1) + "/cb"},
		{secure, "http://app.example/cb"},
	} {
		e := envs[tc.ts]
		id := "legacy-http"
		storeBehindService(t, e, &storage.Client{ID: id, Name: "Legacy", RedirectURIs: []string{tc.redirect},
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"openid", "profile"},
			TokenEndpointAuthMethod: "none"})
		c := publicSSOClient(t, e, id, tc.redirect)
		for _, ar := range []authRequest{c.request("openid"), c.request("profile").withParam(t, "redirect_uri", "")} {
			b := e.newBrowser(t)
			p := b.get(t, ar.URL)
			if p.kind() == "login" {
				t.Errorf("%s: the login page is shown for a request that cannot get a code", tc.redirect)
				p = b.login(t, p, "alice", alicePassword)
				if p.kind() == "consent" {
					p = b.decide(t, p, "allow")
				}
			}
			for _, h := range p.Hops {
				if strings.Contains(h.Location, "code=") {
					t.Errorf("%s: a code went to %s over http", tc.redirect, h.Location)
				}
			}
			if p.Redirect != nil || p.Status != http.StatusBadRequest {
				t.Errorf("%s: %s, want a 400 page", tc.redirect, p)
			}
		}
		sum := sha256.Sum256([]byte("a-verifier-long-enough-for-pkce-0123456789"))
		res := tc.ts.do(t, req{Method: http.MethodPost, Path: provider.PathPAR, ContentType: "application/x-www-form-urlencoded", Body: url.Values{
			"client_id": {id}, "redirect_uri": {tc.redirect}, "response_type": {"code"}, "scope": {"openid"}, "nonce": {"a-nonce-for-the-request"},
			"state": {"state-of-the-request"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		}.Encode()})
		if res.Status != http.StatusBadRequest {
			t.Errorf("%s: PAR: status %d %s, want 400", tc.redirect, res.Status, res.Body)
		}
		if err := tc.ts.Store.DeleteClient(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
}
