package resource_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/resource"
)

var b64 = base64.RawURLEncoding

// forge builds a compact JWS from header and claims with the signature
// sign returns over the signing input (nil sign: an empty signature).
func forge(t testing.TB, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + b64.EncodeToString(sig)
}

func hs256(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

func rs256(t testing.TB, key *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		sum := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

func ps256(t testing.TB, key *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		sum := sha256.Sum256(in)
		sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], nil)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

// with returns a copy of m with the changes (nil deletes).
func with(m map[string]any, changes map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// segments splits a compact JWS.
func segments(t testing.TB, tok string) (header, payload map[string]any, sig string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d segments", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		raw, err := b64.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload, parts[2]
}

func TestVerifyAcceptsHallpassTokens(t *testing.T) {
	h := newSchool(t)
	v := newVerifier(t, h, newRecorder(h.HTTP.Transport))
	before := time.Now().Add(-time.Second)

	user := h.userTokens(t, "openid offline_access results:read results:write")
	svc := h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")
	now := time.Now()
	base := h.claims(now)
	kid := h.Keys.ActiveKeyID()

	type check func(t *testing.T, c *resource.Claims)
	tests := []struct {
		name  string
		token string
		check check
	}{
		{"user token from the code flow", user.AccessToken, func(t *testing.T, c *resource.Claims) {
			if c.Subject != h.AliceID || c.Username != "alice" || c.ClientID != portalID {
				t.Errorf("sub, username, client_id = %q, %q, %q; want %q, alice, %s", c.Subject, c.Username, c.ClientID, h.AliceID, portalID)
			}
			if !c.HasRole("teacher") || c.HasRole("student") || !slices.Equal(c.Roles, []string{"teacher"}) {
				t.Errorf("roles = %q, want [teacher]", c.Roles)
			}
			for _, s := range []string{"results:read", "results:write"} {
				if !c.HasScope(s) {
					t.Errorf("scopes %q lack %s", c.Scopes, s)
				}
			}
			if c.HasScope("results") || c.HasScope("") {
				t.Errorf("HasScope matches a non-scope: %q", c.Scopes)
			}
		}},
		{"client-credentials token", svc, func(t *testing.T, c *resource.Claims) {
			if c.ClientID != h.ServiceID || !slices.Equal(c.Scopes, []string{"results:read"}) || c.Username != "" || len(c.Roles) != 0 {
				t.Errorf("claims = %+v; want client %s, scopes [results:read], no user", c, h.ServiceID)
			}
			if c.HasScope("results:write") {
				t.Error("HasScope(results:write) on a results:read token")
			}
		}},
		{"typ application/at+jwt", h.sign(t, "application/at+jwt", base), nil},
		{"typ in upper case", h.sign(t, "AT+JWT", base), nil},
		{"aud as a single string", h.sign(t, "at+jwt", with(base, map[string]any{"aud": schoolAPI})), nil},
		{"aud among others", h.sign(t, "at+jwt", with(base, map[string]any{"aud": []string{"https://other.example", schoolAPI}})), nil},
		{"expired within the leeway", h.sign(t, "at+jwt", with(base, map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), nil},
		{"iat slightly ahead (clock skew)", h.sign(t, "at+jwt", with(base, map[string]any{"iat": now.Add(10 * time.Second).Unix(), "nbf": now.Add(10 * time.Second).Unix()})), nil},
		{"scope with extra spaces", h.sign(t, "at+jwt", with(base, map[string]any{"scope": " results:read  results:write "})), func(t *testing.T, c *resource.Claims) {
			if !slices.Equal(c.Scopes, []string{"results:read", "results:write"}) {
				t.Errorf("scopes = %q", c.Scopes)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tt.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			hdr, _, _ := segments(t, tt.token)
			if hdr["kid"] != kid {
				t.Errorf("token kid %v, want the active key %s", hdr["kid"], kid)
			}
			if c.Issuer != h.URL || !c.HasAudience(schoolAPI) || c.JTI == "" || c.Subject == "" {
				t.Errorf("iss, aud, jti, sub = %q, %q, %q, %q", c.Issuer, c.Audience, c.JTI, c.Subject)
			}
			if c.ExpiresAt.Before(now.Add(-time.Minute)) || c.ExpiresAt.After(now.Add(11*time.Minute)) {
				t.Errorf("exp = %s, want about now + 10 min", c.ExpiresAt)
			}
			if c.IssuedAt.Before(before.Add(-time.Second)) || c.IssuedAt.After(time.Now().Add(time.Minute)) {
				t.Errorf("iat = %s, want about now", c.IssuedAt)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestVerifyRejectsForgedTokens(t *testing.T) {
	h := newSchool(t)
	rec := newRecorder(h.HTTP.Transport)
	v := newVerifier(t, h, rec)
	ctx := context.Background()

	kid := h.Keys.ActiveKeyID()
	pub, ok := h.Keys.VerificationKey(kid)
	if !ok {
		t.Fatal("no public key for the active kid")
	}
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pkixPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
	jwks := h.do(t, nil, "GET", provider.PathJWKS, "", "", nil).Body
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}

	// A forger's own key set, which a token may name (jku, x5u) but the
	// Verifier must never fetch.
	var forgerHits atomic.Int32
	forger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forgerHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "kid": "forged", "use": "sig", "alg": "RS256", "n": b64.EncodeToString(foreign.N.Bytes()), "e": "AQAB"}}})
	}))
	t.Cleanup(forger.Close)

	now := time.Now()
	base := h.claims(now)
	header := map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": kid}
	real := h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")
	user := h.userTokens(t, "openid offline_access results:read")
	_, realPayload, realSig := segments(t, real)
	realParts := strings.Split(real, ".")

	// tamper replaces a real token's payload, keeping its signature.
	tamper := func(changes map[string]any) string {
		p, _ := json.Marshal(with(realPayload, changes))
		return realParts[0] + "." + b64.EncodeToString(p) + "." + realSig
	}

	tests := []struct {
		name  string
		token string
		want  string // in the error
	}{
		// Algorithms.
		{"alg none", forge(t, with(header, map[string]any{"alg": "none"}), base, nil), "not an RS256 JWS"},
		{"alg none with a signature", forge(t, with(header, map[string]any{"alg": "none"}), base, hs256([]byte("x"))), "not an RS256 JWS"},
		{"alg None", forge(t, with(header, map[string]any{"alg": "None"}), base, nil), "not an RS256 JWS"},
		{"HS256 keyed with the public key PEM (PKIX)", forge(t, with(header, map[string]any{"alg": "HS256"}), base, hs256(pkixPEM)), "not an RS256 JWS"},
		{"HS256 keyed with the public key PEM (PKCS#1)", forge(t, with(header, map[string]any{"alg": "HS256"}), base, hs256(pkcs1PEM)), "not an RS256 JWS"},
		{"HS256 keyed with the public key DER", forge(t, with(header, map[string]any{"alg": "HS256"}), base, hs256(pkix)), "not an RS256 JWS"},
		{"HS256 keyed with the JWKS", forge(t, with(header, map[string]any{"alg": "HS256"}), base, hs256(jwks)), "not an RS256 JWS"},
		{"PS256 by a foreign key with the known kid", forge(t, with(header, map[string]any{"alg": "PS256"}), base, ps256(t, foreign)), "not an RS256 JWS"},
		{"no alg", forge(t, with(header, map[string]any{"alg": nil}), base, rs256(t, foreign)), ""},

		// Keys.
		{"foreign key, unknown kid", forge(t, with(header, map[string]any{"kid": "forged-kid"}), base, rs256(t, foreign)), "unknown key"},
		{"foreign key, known kid", forge(t, header, base, rs256(t, foreign)), "signature is invalid"},
		{"foreign key, no kid", forge(t, with(header, map[string]any{"kid": nil}), base, rs256(t, foreign)), "unknown key"},
		{"foreign key embedded as jwk", forge(t, with(header, map[string]any{"kid": "embedded", "jwk": map[string]any{
			"kty": "RSA", "kid": "embedded", "n": b64.EncodeToString(foreign.N.Bytes()), "e": "AQAB"}}), base, rs256(t, foreign)), "unknown key"},
		{"foreign key named by jku", forge(t, with(header, map[string]any{"kid": "forged", "jku": forger.URL}), base, rs256(t, foreign)), "unknown key"},
		{"foreign key named by x5u, known kid", forge(t, with(header, map[string]any{"x5u": forger.URL}), base, rs256(t, foreign)), "signature is invalid"},
		{"foreign key embedded as jwk, known kid", forge(t, with(header, map[string]any{"jwk": map[string]any{
			"kty": "RSA", "kid": kid, "n": b64.EncodeToString(foreign.N.Bytes()), "e": "AQAB"}}), base, rs256(t, foreign)), "signature is invalid"},
		{"signature stripped", realParts[0] + "." + realParts[1] + ".", "signature is invalid"},

		// Tampering.
		{"tampered payload: scope raised", tamper(map[string]any{"scope": "results:read results:write"}), "signature is invalid"},
		{"tampered payload: exp extended", tamper(map[string]any{"exp": now.Add(time.Hour).Unix()}), "signature is invalid"},
		{"tampered header", b64.EncodeToString([]byte(`{"alg":"RS256","kid":"`+kid+`","typ":"at+jwt","x":1}`)) + "." + realParts[1] + "." + realSig, "signature is invalid"},

		// typ.
		{"typ missing", h.sign(t, "", base), "typ at+jwt"},
		{"typ JWT", h.sign(t, "JWT", base), "typ at+jwt"},
		{"typ jwt+at", h.sign(t, "jwt+at", base), "typ at+jwt"},
		{"an ID token", user.IDToken, "typ at+jwt"},
		{"a logout token", h.sign(t, "logout+jwt", with(base, map[string]any{"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}})), "typ at+jwt"},
		{"an audit checkpoint", h.sign(t, "hallpass-audit-checkpoint+jws", base), "typ at+jwt"},

		// Claims, signed by hallpass's own key.
		{"expired", h.sign(t, "at+jwt", with(base, map[string]any{"exp": now.Add(-time.Minute).Unix(), "iat": now.Add(-11 * time.Minute).Unix()})), "expired"},
		{"no exp", h.sign(t, "at+jwt", with(base, map[string]any{"exp": nil})), "no expiry"},
		{"exp not a number", h.sign(t, "at+jwt", with(base, map[string]any{"exp": "tomorrow"})), "malformed"},
		{"nbf in the future", h.sign(t, "at+jwt", with(base, map[string]any{"nbf": now.Add(5 * time.Minute).Unix()})), "not valid yet"},
		{"iat in the future", h.sign(t, "at+jwt", with(base, map[string]any{"iat": now.Add(5 * time.Minute).Unix()})), "not valid yet"},
		{"wrong aud", h.sign(t, "at+jwt", with(base, map[string]any{"aud": []string{"https://other.example/api"}})), "not meant for this resource"},
		{"aud missing", h.sign(t, "at+jwt", with(base, map[string]any{"aud": nil})), "not meant for this resource"},
		{"aud a prefix", h.sign(t, "at+jwt", with(base, map[string]any{"aud": []string{schoolAPI + "/admin"}})), "not meant for this resource"},
		{"wrong iss", h.sign(t, "at+jwt", with(base, map[string]any{"iss": "https://evil.example"})), "another issuer"},
		{"iss with a trailing slash", h.sign(t, "at+jwt", with(base, map[string]any{"iss": h.URL + "/"})), "another issuer"},
		{"iss missing", h.sign(t, "at+jwt", with(base, map[string]any{"iss": nil})), "another issuer"},
		{"scope not a string", h.sign(t, "at+jwt", with(base, map[string]any{"scope": []string{"results:read"}})), "malformed"},

		// Not JWTs at all.
		{"empty", "", "No access token"},
		{"garbage", "not-a-token", "malformed"},
		{"two segments", realParts[0] + "." + realParts[1], "malformed"},
		{"a refresh token", user.RefreshToken, "malformed"},
		{"JWS JSON serialization of a real token", `{"payload":"` + realParts[1] + `","protected":"` + realParts[0] + `","signature":"` + realSig + `"}`, "malformed"},
		{"JWE-shaped", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", "malformed"},
		{"huge", strings.Repeat("a", 20000) + "." + realParts[1] + "." + realSig, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(ctx, tt.token)
			if err == nil {
				t.Fatalf("Verify accepted a forged token: %+v", c)
			}
			if !errors.Is(err, resource.ErrInvalidToken) {
				t.Errorf("error %v does not wrap ErrInvalidToken", err)
			}
			if c != nil {
				t.Errorf("claims %+v returned with an error", c)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	if n := forgerHits.Load(); n != 0 {
		t.Errorf("the key set a token named (jku, x5u) was fetched %d times", n)
	}
	// Every forgery above was judged offline except the first unknown kid:
	// one JWKS refetch at most.
	if n := rec.count(provider.PathJWKS); n > 2 {
		t.Errorf("%d JWKS fetches, want at most 2 (startup + one unknown-kid refetch)", n)
	}
	// And the real tokens still pass.
	for _, tok := range []string{real, user.AccessToken} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Errorf("Verify(real token) = %v", err)
		}
	}
}

func TestUnknownKidRefetchIsThrottled(t *testing.T) {
	h := newSchool(t)
	rec := newRecorder(h.HTTP.Transport)
	clk := &clock{}
	const interval = 10 * time.Second
	v := newVerifier(t, h, rec, func(c *resource.Config) { c.Now = clk.Now; c.MinRefreshInterval = interval })
	ctx := context.Background()
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := func() string {
		return forge(t, map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": "forged-" + rand.Text()}, h.claims(clk.Now()), rs256(t, foreign))
	}
	burst := func(n int) {
		t.Helper()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if _, err := v.Verify(ctx, forged()); !errors.Is(err, resource.ErrInvalidToken) {
					t.Errorf("forged kid: Verify = %v, want ErrInvalidToken", err)
				}
			})
		}
		wg.Wait()
	}
	steps := []struct {
		name    string
		advance time.Duration
		burst   int
		want    int // JWKS fetches in all
	}{
		{"startup", 0, 0, 1},
		{"a burst of 50 forged kids", 0, 50, 2},
		{"another burst within the interval", interval / 2, 50, 2},
		{"just before the interval ends", interval/2 - time.Second, 20, 2},
		{"after the interval", 2 * time.Second, 50, 3},
		{"and again only once per interval", interval, 50, 4},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		burst(s.burst)
		if n := rec.count(provider.PathJWKS); n != s.want {
			t.Errorf("%s: %d JWKS fetches, want %d", s.name, n, s.want)
		}
	}
	// Known kids never wait for the throttle.
	if _, err := v.Verify(ctx, h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")); err != nil {
		t.Errorf("Verify(real token) = %v", err)
	}
}

func TestKeyRotationIsPickedUpWithoutRestart(t *testing.T) {
	h := newSchool(t)
	rec := newRecorder(h.HTTP.Transport)
	v := newVerifier(t, h, rec)
	ctx := context.Background()

	oldKid := h.Keys.ActiveKeyID()
	old := h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("Verify(token before rotation) = %v", err)
	}
	if n := rec.count(provider.PathJWKS); n != 1 {
		t.Fatalf("%d JWKS fetches before rotation, want 1", n)
	}

	// An immediate rotation: the next key, published since the start and
	// so already in the verifier's cache, signs at once.
	info, err := h.Keys.RotateNow(ctx, true)
	if err != nil {
		t.Fatalf("RotateNow: %v", err)
	}
	if info.ID == oldKid || h.Keys.ActiveKeyID() != info.ID {
		t.Fatalf("rotation: active key %s, answer %s, old %s", h.Keys.ActiveKeyID(), info.ID, oldKid)
	}
	fresh := h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")
	if hdr, _, _ := segments(t, fresh); hdr["kid"] != info.ID {
		t.Fatalf("new token's kid %v, want %s", hdr["kid"], info.ID)
	}
	c, err := v.Verify(ctx, fresh)
	if err != nil {
		t.Fatalf("Verify(token of the new key) = %v", err)
	}
	if c.ClientID != h.ServiceID {
		t.Errorf("client_id = %q", c.ClientID)
	}
	if n := rec.count(provider.PathJWKS); n != 1 {
		t.Errorf("%d JWKS fetches, want 1 (the new kid was cached before it signed)", n)
	}
	// The retired key stays published, so its tokens still verify; no
	// fetch is needed for either key.
	for i := range 3 {
		if _, err := v.Verify(ctx, old); err != nil {
			t.Errorf("Verify(token of the retired key) #%d = %v", i, err)
		}
		if _, err := v.Verify(ctx, fresh); err != nil {
			t.Errorf("Verify(token of the new key) #%d = %v", i, err)
		}
	}
	if n := rec.count(provider.PathJWKS); n != 1 {
		t.Errorf("%d JWKS fetches, want still 1", n)
	}

	// A revoked key disappears on the next fetch (Refresh forces one).
	if _, err := h.Keys.Revoke(ctx, oldKid); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if err := v.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if _, err := v.Verify(ctx, old); !errors.Is(err, resource.ErrInvalidToken) {
		t.Errorf("Verify(token of a revoked key) = %v, want ErrInvalidToken", err)
	}
}

func TestBackgroundRefreshUsesETag(t *testing.T) {
	// hallpass says max-age=1; the Verifier's cache is bounded to
	// [300ms, 2s] here instead of [1m, 1h], so it refreshes every ~0.7s.
	h := newSchool(t, func(o *keys.Options) { o.JWKSMaxAge = time.Second })
	rec := newRecorder(h.HTTP.Transport)
	v, err := resource.NewVerifierWithCacheBounds(context.Background(), resource.Config{
		Issuer: h.URL, Audience: schoolAPI, HTTPClient: &http.Client{Transport: rec},
		MinRefreshInterval: time.Hour, Logger: testLogger(t),
	}, 300*time.Millisecond, 2*time.Second)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(v.Close)
	ctx := context.Background()
	jwks := func() []exchange { return rec.exchanges(provider.PathJWKS) }
	first := jwks()[0]
	if first.Status != http.StatusOK || first.ETag == "" || first.IfNoneMatch != "" {
		t.Fatalf("first JWKS fetch %+v, want an unconditional 200 with an ETag", first)
	}

	// Unchanged keys: conditional requests answered 304.
	waitFor(t, 5*time.Second, "two background 304s", func() bool {
		n := 0
		for _, e := range jwks()[1:] {
			if e.IfNoneMatch != first.ETag || e.Status != http.StatusNotModified {
				t.Fatalf("background fetch %+v, want If-None-Match %s answered 304", e, first.ETag)
			}
			n++
		}
		return n >= 2
	})
	token := h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("Verify after 304s = %v", err)
	}

	// Use up the unknown-kid refetch (MinRefreshInterval is an hour), so
	// that only the background refresh can bring a new key.
	foreign, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := v.Verify(ctx, forge(t, map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": "forged"}, h.claims(time.Now()), rs256(t, foreign))); err == nil {
		t.Fatal("forged kid accepted")
	}

	// A rotation promotes the next key and publishes the following one:
	// the JWKS changes, the background refresh gets a 200 with a new ETag.
	if _, err := h.Keys.RotateNow(ctx, true); err != nil {
		t.Fatalf("RotateNow: %v", err)
	}
	var next keys.KeyInfo
	infos, err := h.Keys.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range infos {
		if k.State == "next" {
			next = k
		}
	}
	mark := len(jwks())
	var changed exchange
	waitFor(t, 5*time.Second, "a background 200 with the new key set", func() bool {
		for _, e := range jwks()[mark:] {
			if e.Status == http.StatusOK {
				changed = e
				return true
			}
		}
		return false
	})
	if changed.IfNoneMatch != first.ETag || changed.ETag == first.ETag || changed.ETag == "" {
		t.Errorf("refresh after rotation %+v, want If-None-Match %s and a new ETag", changed, first.ETag)
	}
	// Then the next key starts signing; its token verifies from the cache.
	if _, err := h.Keys.RotateNow(ctx, true); err != nil {
		t.Fatalf("RotateNow(immediate): %v", err)
	}
	if h.Keys.ActiveKeyID() != next.ID {
		t.Fatalf("active key %s, want the published next key %s", h.Keys.ActiveKeyID(), next.ID)
	}
	if _, err := v.Verify(ctx, h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")); err != nil {
		t.Errorf("Verify(token of the key published in the background) = %v", err)
	}

	// hallpass unreachable: refreshes fail, the cached keys stay in use.
	rec.setFail(provider.PathJWKS, true)
	mark = len(jwks())
	waitFor(t, 10*time.Second, "two failed background refreshes", func() bool {
		n := 0
		for _, e := range jwks()[mark:] {
			if e.Status == 0 {
				n++
			}
		}
		return n >= 2
	})
	if _, err := v.Verify(ctx, token); err != nil {
		t.Errorf("Verify while the JWKS is unreachable = %v", err)
	}
	rec.setFail(provider.PathJWKS, false)
	mark = len(jwks())
	waitFor(t, 10*time.Second, "a refresh after recovery", func() bool {
		for _, e := range jwks()[mark:] {
			if e.Status == http.StatusNotModified {
				return true
			}
		}
		return false
	})

	// Close stops the background refresh.
	v.Close()
	v.Close() // idempotent
	mark = len(jwks())
	time.Sleep(time.Second)
	if n := len(jwks()); n != mark {
		t.Errorf("%d JWKS fetches after Close", n-mark)
	}
	if _, err := v.Verify(ctx, token); err != nil {
		t.Errorf("Verify after Close = %v", err)
	}
}

func TestCacheTTL(t *testing.T) {
	h := newHallpass(t)
	v, err := resource.NewVerifier(context.Background(), resource.Config{Issuer: h.URL, Audience: schoolAPI, HTTPClient: h.HTTP, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tests := []struct {
		cacheControl, age string
		want              time.Duration
	}{
		{"public, max-age=300", "", 5 * time.Minute},
		{"max-age=600", "120", 8 * time.Minute},
		{"max-age=10", "", resource.MinCacheTTL},
		{"max-age=0", "", resource.MinCacheTTL},
		{"max-age=86400", "", resource.MaxCacheTTL},
		{"max-age=99999999999999999999", "", resource.DefaultCacheTTL},
		{"no-store", "", resource.MinCacheTTL},
		{"no-cache, max-age=600", "", resource.MinCacheTTL},
		{"", "", resource.DefaultCacheTTL},
		{"MAX-AGE=900", "", 15 * time.Minute},
		{`max-age="120"`, "", 2 * time.Minute},
	}
	for _, tt := range tests {
		hdr := http.Header{}
		if tt.cacheControl != "" {
			hdr.Set("Cache-Control", tt.cacheControl)
		}
		if tt.age != "" {
			hdr.Set("Age", tt.age)
		}
		if got := resource.CacheTTL(v, hdr); got != tt.want {
			t.Errorf("Cache-Control %q, Age %q: TTL %s, want %s", tt.cacheControl, tt.age, got, tt.want)
		}
	}
}
