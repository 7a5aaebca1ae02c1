package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/resource"
)

// stubIssuer is a fake issuer for what a real hallpass cannot be made to
// do: odd discovery documents, JWK sets and introspection answers.
type stubIssuer struct {
	*httptest.Server
	key *rsa.PrivateKey

	mu         sync.Mutex
	discovery  map[string]any
	jwks       []byte
	introspect func(w http.ResponseWriter, r *http.Request)
}

var (
	stubKeyOnce sync.Once
	stubKey     *rsa.PrivateKey
)

func newStubIssuer(t testing.TB) *stubIssuer {
	t.Helper()
	stubKeyOnce.Do(func() {
		var err error
		if stubKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	s := &stubIssuer{key: stubKey}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		disc, jwks, intro := s.discovery, s.jwks, s.introspect
		s.mu.Unlock()
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(disc)
		case "/jwks":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "max-age=300")
			_, _ = w.Write(jwks)
		case "/introspect":
			intro(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	s.discovery = map[string]any{"issuer": s.URL, "jwks_uri": s.URL + "/jwks", "introspection_endpoint": s.URL + "/introspect"}
	s.jwks = jwksOf(t, jose.JSONWebKey{Key: &s.key.PublicKey, KeyID: "k1", Use: "sig", Algorithm: "RS256"})
	return s
}

func jwksOf(t testing.TB, ks ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (s *stubIssuer) set(f func(s *stubIssuer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *stubIssuer) token(t testing.TB, kid string, changes map[string]any) string {
	now := time.Now()
	return forge(t, map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": kid}, with(map[string]any{
		"iss": s.URL, "sub": "svc", "aud": []string{schoolAPI}, "exp": now.Add(5 * time.Minute).Unix(),
		"iat": now.Unix(), "jti": "j", "client_id": "svc", "scope": "results:read",
	}, changes), rs256(t, s.key))
}

func (s *stubIssuer) config(t testing.TB) resource.Config {
	return resource.Config{Issuer: s.URL, Audience: schoolAPI, HTTPClient: s.Client(), Logger: testLogger(t)}
}

func TestNewVerifierChecksConfigAndDiscovery(t *testing.T) {
	s := newStubIssuer(t)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name  string
		cfg   func(c *resource.Config)
		stub  func(s *stubIssuer)
		want  string
		isErr error
	}{
		{name: "no issuer", cfg: func(c *resource.Config) { c.Issuer = "" }, want: "Issuer is required"},
		{name: "issuer not a URL", cfg: func(c *resource.Config) { c.Issuer = "school" }, want: "not an http(s) URL"},
		{name: "no audience", cfg: func(c *resource.Config) { c.Audience = "" }, want: "Audience is required"},
		{name: "negative leeway", cfg: func(c *resource.Config) { c.Leeway = -time.Second }, want: "negative"},
		{name: "discovery names another issuer", stub: func(s *stubIssuer) { s.discovery["issuer"] = "https://evil.example" }, want: "names issuer"},
		{name: "issuer with a trailing slash", cfg: func(c *resource.Config) { c.Issuer += "/" }, want: "names issuer"},
		{name: "no jwks_uri", stub: func(s *stubIssuer) { delete(s.discovery, "jwks_uri") }, want: "jwks_uri"},
		{name: "JWKS missing", stub: func(s *stubIssuer) { s.discovery["jwks_uri"] = s.URL + "/nothing" }, want: "status 404"},
		{name: "JWKS not JSON", stub: func(s *stubIssuer) { s.jwks = []byte("<html>") }, want: "not a JWK set"},
		{name: "JWKS without usable keys", stub: func(s *stubIssuer) {
			s.jwks = jwksOf(t,
				jose.JSONWebKey{Key: &small.PublicKey, KeyID: "small", Use: "sig", Algorithm: "RS256"},
				jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "ec", Use: "sig", Algorithm: "ES256"},
				jose.JSONWebKey{Key: &s.key.PublicKey, KeyID: "enc", Use: "enc"},
				jose.JSONWebKey{Key: &s.key.PublicKey, KeyID: "ps", Algorithm: "PS256"},
				jose.JSONWebKey{Key: &s.key.PublicKey},
			)
		}, want: "no usable RS256 signing key"},
		{name: "JWKS with a duplicate kid", stub: func(s *stubIssuer) {
			other, _ := rsa.GenerateKey(rand.Reader, 2048)
			s.jwks = jwksOf(t, jose.JSONWebKey{Key: &s.key.PublicKey, KeyID: "k1"}, jose.JSONWebKey{Key: &other.PublicKey, KeyID: "k1"})
		}, want: "duplicate kid"},
		{name: "issuer unreachable", cfg: func(c *resource.Config) { c.Issuer = "http://127.0.0.1:1" }, isErr: resource.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStubIssuer(t)
			if tt.stub != nil {
				s.set(tt.stub)
			}
			cfg := s.config(t)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			v, err := resource.NewVerifier(context.Background(), cfg)
			if err == nil {
				v.Close()
				t.Fatal("NewVerifier succeeded")
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("error %v is not %v", err, tt.isErr)
			}
		})
	}

	// Keys of other kinds are skipped, not fatal.
	s.set(func(s *stubIssuer) {
		s.jwks = jwksOf(t,
			jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "ec", Use: "sig", Algorithm: "ES256"},
			jose.JSONWebKey{Key: &small.PublicKey, KeyID: "small"},
			jose.JSONWebKey{Key: &s.key.PublicKey, KeyID: "k1", Use: "sig", Algorithm: "RS256"},
		)
	})
	v, err := resource.NewVerifier(context.Background(), s.config(t))
	if err != nil {
		t.Fatalf("NewVerifier with mixed keys: %v", err)
	}
	defer v.Close()
	if _, err := v.Verify(context.Background(), s.token(t, "k1", nil)); err != nil {
		t.Errorf("Verify(k1) = %v", err)
	}
	smallTok := forge(t, map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": "small"}, map[string]any{
		"iss": s.URL, "aud": schoolAPI, "exp": time.Now().Add(time.Minute).Unix()}, rs256(t, small))
	if _, err := v.Verify(context.Background(), smallTok); !errors.Is(err, resource.ErrInvalidToken) {
		t.Errorf("Verify(token of a 1024-bit key) = %v, want ErrInvalidToken", err)
	}
}

func TestIntrospectionRequest(t *testing.T) {
	s := newStubIssuer(t)
	// RFC 6749 §2.3.1: both halves form-urlencoded before Basic.
	const id, secret = "school api:1", "p@ss:w+rd/%é"
	var answer map[string]any
	var status = http.StatusOK
	s.set(func(s *stubIssuer) {
		s.introspect = func(w http.ResponseWriter, r *http.Request) {
			raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
			dec, _ := base64.StdEncoding.DecodeString(raw)
			if want := url.QueryEscape(id) + ":" + url.QueryEscape(secret); string(dec) != want {
				t.Errorf("Basic credentials %q, want %q", dec, want)
			}
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				t.Errorf("introspection request %s %s", r.Method, r.Header.Get("Content-Type"))
			}
			if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" || r.URL.RawQuery != "" {
				t.Errorf("token not in the form body: %v %q %q", err, r.PostForm, r.URL.RawQuery)
			}
			s.mu.Lock()
			a, st := answer, status
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(st)
			_ = json.NewEncoder(w).Encode(a)
		}
	})
	cfg := s.config(t)
	cfg.ClientID, cfg.ClientSecret = id, secret
	v, err := resource.NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	active := func(changes map[string]any) map[string]any {
		return with(map[string]any{
			"active": true, "iss": s.URL, "aud": []string{schoolAPI}, "sub": "svc", "client_id": "svc",
			"scope": "results:read", "token_type": "Bearer", "exp": time.Now().Add(time.Minute).Unix(),
		}, changes)
	}
	tests := []struct {
		name   string
		status int
		answer map[string]any
		want   error // nil: accepted
	}{
		{"active", 200, active(nil), nil},
		{"active, aud as a string", 200, active(map[string]any{"aud": schoolAPI}), nil},
		{"active, no iss, no token_type", 200, active(map[string]any{"iss": nil, "token_type": nil}), nil},
		{"inactive", 200, map[string]any{"active": false}, resource.ErrInvalidToken},
		{"active as a string", 200, active(map[string]any{"active": "true"}), errors.New("")},
		{"a refresh token", 200, active(map[string]any{"token_type": "refresh_token"}), resource.ErrInvalidToken},
		{"another issuer", 200, active(map[string]any{"iss": "https://evil.example"}), resource.ErrInvalidToken},
		{"another audience", 200, active(map[string]any{"aud": []string{"https://other.example"}}), resource.ErrInvalidToken},
		{"no audience", 200, active(map[string]any{"aud": nil}), resource.ErrInvalidToken},
		{"another subject", 200, active(map[string]any{"sub": "someone-else"}), resource.ErrInvalidToken},
		{"expired by the answer", 200, active(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), resource.ErrInvalidToken},
		{"client authentication failed", 401, map[string]any{"error": "invalid_client"}, errors.New("")},
		{"server error", 500, map[string]any{"error": "server_error"}, resource.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.set(func(*stubIssuer) { answer, status = tt.answer, tt.status })
			c, err := v.Introspect(context.Background(), s.token(t, "k1", nil))
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("Introspect = %v", err)
			case tt.want == nil:
				if c.Subject != "svc" || !c.HasScope("results:read") {
					t.Errorf("claims %+v", c)
				}
			case err == nil:
				t.Fatalf("Introspect accepted: %+v", c)
			case tt.want.Error() == "":
				if errors.Is(err, resource.ErrInvalidToken) {
					t.Errorf("Introspect = %v, want an error about the exchange, not the token", err)
				}
			case !errors.Is(err, tt.want):
				t.Errorf("Introspect = %v, want %v", err, tt.want)
			}
		})
	}

	// No introspection endpoint in discovery.
	s.set(func(s *stubIssuer) { delete(s.discovery, "introspection_endpoint") })
	v2, err := resource.NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if _, err := v2.Introspect(context.Background(), s.token(t, "k1", nil)); !errors.Is(err, resource.ErrNoIntrospection) {
		t.Errorf("Introspect without an endpoint = %v, want ErrNoIntrospection", err)
	}
}
