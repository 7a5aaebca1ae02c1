package provider_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

// BenchmarkClientCredentialsToken measures the whole token endpoint
// in-process (client authentication from the client cache, fosite, RS256
// signing; no row is written: access tokens are self-contained), without
// network. Compare with
// keys.BenchmarkRSASign in the same run for the share RSA takes.
//
//	go test -run '^$' -bench 'ClientCredentialsToken|RSASign' ./provider/ ./keys/
func BenchmarkClientCredentialsToken(b *testing.B) {
	ts := newTestServer(b, testdb.SQLite(b))
	c := ts.registerService(b, "client_secret_basic", "results:read")
	h := ts.Provider.Handler()
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"results:read"}}.Encode()
	auth := basic(c.ClientID, c.ClientSecret)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, provider.PathToken, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("token: %d %s", w.Code, w.Body)
		}
	}
}

// benchToken sets up a server, a resource-server client allowed to
// introspect, and one access token to check.
func benchToken(b *testing.B) (ts *testServer, rsID, rsSecret, token string) {
	ts = newTestServer(b, testdb.SQLite(b))
	app := ts.registerService(b, "client_secret_basic", "results:read", "https://school.example/api")
	rs := ts.registerResourceServer(b, "client_secret_basic", "", "https://school.example/api")
	r := httptest.NewRequest(http.MethodPost, provider.PathToken, strings.NewReader("grant_type=client_credentials&scope=results:read"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", basic(app.ClientID, app.ClientSecret))
	w := httptest.NewRecorder()
	ts.Provider.Handler().ServeHTTP(w, r)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: %d %s", w.Code, w.Body)
	}
	return ts, rs.ClientID, rs.ClientSecret, tok.AccessToken
}

// BenchmarkIntrospect is the stateful check a resource server pays for
// seeing revocation at once: one introspection request, in-process
// (client authentication, one JWT verification, the one query for the
// token's revocation records and its user's token epoch).
//
//	go test -run '^$' -bench 'Introspect|VerifyOffline|ClientCredentialsToken' ./provider/
func BenchmarkIntrospect(b *testing.B) {
	ts, id, secret, token := benchToken(b)
	h := ts.Provider.Handler()
	body := url.Values{"token": {token}}.Encode()
	auth := basic(id, secret)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, provider.PathIntrospect, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"active":true`) {
			b.Fatalf("introspect: %d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkVerifyOffline is the stateless check: what a resource server
// does with a cached JWKS — parse, verify the RS256 signature, check the
// claims — without asking hallpass.
func BenchmarkVerifyOffline(b *testing.B) {
	ts, _, _, token := benchToken(b)
	body, _ := ts.Keys.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			b.Fatal(err)
		}
		keys := set.Key(tok.Headers[0].KeyID)
		if len(keys) != 1 {
			b.Fatal("kid not in JWKS")
		}
		var claims josejwt.Claims
		if err := tok.Claims(keys[0].Key, &claims); err != nil {
			b.Fatal(err)
		}
		if err := claims.Validate(josejwt.Expected{Issuer: ts.URL, AnyAudience: []string{"https://school.example/api"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWKS measures GET /.well-known/jwks.json in-process and
// without network, as cmd/loadtest's jwks scenario sends it (no
// If-None-Match): the middleware and the prebuilt key set, no query on
// either backend. Compare with BenchmarkDiscovery, the same walk through
// the middleware with another prebuilt document.
//
//	go test -run '^$' -bench 'JWKS|Discovery' ./provider/
func BenchmarkJWKS(b *testing.B) { benchGet(b, provider.PathJWKS) }

// BenchmarkDiscovery measures GET /.well-known/openid-configuration
// in-process and without network, as cmd/loadtest's discovery scenario
// sends it: the middleware and a prebuilt document. Compare with
// BenchmarkRequestLogging (log=off) for the share of the request log.
//
//	go test -run '^$' -bench 'Discovery|RequestLogging' ./provider/
func BenchmarkDiscovery(b *testing.B) { benchGet(b, provider.PathDiscovery) }

// benchGet measures GET path on every backend; an answer other than 200
// with a body fails the benchmark.
func benchGet(b *testing.B, path string) {
	for _, be := range testdb.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			h := newTestServer(b, be.DSN(b)).Provider.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
				if w.Code != http.StatusOK || w.Body.Len() == 0 {
					b.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkRequestLogging measures what the per-request log line and
// metrics cost, on the cheapest endpoint (discovery, a prebuilt
// document): "log=info" writes the JSON request line hallpass writes by
// default (to io.Discard), "log=off" raises the level so no line is built.
// Metrics are always on in both.
//
//	go test -run '^$' -bench RequestLogging ./provider/
func BenchmarkRequestLogging(b *testing.B) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelError + 1} {
		name := "log=info"
		if level > slog.LevelError {
			name = "log=off"
		}
		b.Run(name, func(b *testing.B) {
			ts := newTestServer(b, testdb.SQLite(b), func(c *provider.Config) {
				c.Logger = slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))
			})
			h := ts.Provider.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, provider.PathDiscovery, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("discovery: %d", w.Code)
				}
			}
		})
	}
}
