package provider

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"maps"
	"testing"
	"time"
)

// hintKeys is a KeyManager of which verifyIDTokenHint uses one method.
type hintKeys struct {
	KeyManager
	k fakeKeys
}

func (h hintKeys) VerificationKey(kid string) (*rsa.PublicKey, bool) { return h.k.VerificationKey(kid) }

// TestVerifyIDTokenHint: the one check of id_token_hint, at authorization
// and at logout, takes an ID token hallpass signed and nothing else it
// signed with the same keys, nor anything forged.
func TestVerifyIDTokenHint(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const iss = "https://id.example"
	p := &Provider{cfg: Config{Keys: hintKeys{k: fakeKeys{key}}, Issuer: iss}}
	b64 := base64.RawURLEncoding
	now := time.Now().Unix()
	idClaims := map[string]any{"iss": iss, "sub": "alice", "aud": []string{"app"}, "exp": now + 3600, "iat": now, "sid": "s1"}
	// token is header and claims (changed by ch; nil deletes), signed by
	// sign over the signing input (nil: no signature).
	token := func(header, claims, ch map[string]any, sign func([]byte) []byte) string {
		c := maps.Clone(claims)
		for k, v := range ch {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		hb, _ := json.Marshal(header)
		pb, _ := json.Marshal(c)
		input := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb)
		var sig []byte
		if sign != nil {
			sig = sign([]byte(input))
		}
		return input + "." + b64.EncodeToString(sig)
	}
	rs256 := func(k *rsa.PrivateKey) func([]byte) []byte {
		return func(in []byte) []byte {
			sum := sha256.Sum256(in)
			s, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hs256 := func(in []byte) []byte { m := hmac.New(sha256.New, der); m.Write(in); return m.Sum(nil) }
	typed := func(typ string) map[string]any { return map[string]any{"alg": "RS256", "kid": "k1", "typ": typ} }
	ours := rs256(key)
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"an ID token", token(typed("JWT"), idClaims, nil, ours), true},
		{"typ in lower case", token(typed("jwt"), idClaims, nil, ours), true},
		{"expired (a hint about a past sign-in)", token(typed("JWT"), idClaims, map[string]any{"exp": now - 86400}, ours), true},
		{"no sid", token(typed("JWT"), idClaims, map[string]any{"sid": nil}, ours), true},

		// Every token hallpass signs is typed; one that is not is none
		// of its ID tokens (RFC 8725 §3.11).
		{"no typ", token(map[string]any{"alg": "RS256", "kid": "k1"}, idClaims, nil, ours), false},
		{"typ empty", token(typed(""), idClaims, nil, ours), false},
		{"typ null", token(map[string]any{"alg": "RS256", "kid": "k1", "typ": nil}, idClaims, nil, ours), false},
		{"typ not a string", token(map[string]any{"alg": "RS256", "kid": "k1", "typ": 1}, idClaims, nil, ours), false},
		{"an access token", token(typed("at+jwt"), idClaims, map[string]any{"client_id": "app", "scope": "openid"}, ours), false},
		{"an access token, application/at+jwt", token(typed("application/at+jwt"), idClaims, nil, ours), false},
		{"a logout token", token(typed("logout+jwt"), idClaims, map[string]any{"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}, ours), false},
		{"an audit checkpoint", token(typed("hallpass-audit-checkpoint+jws"), idClaims, nil, ours), false},

		{"another issuer", token(typed("JWT"), idClaims, map[string]any{"iss": "https://evil.example"}, ours), false},
		{"no sub", token(typed("JWT"), idClaims, map[string]any{"sub": nil}, ours), false},
		{"no aud", token(typed("JWT"), idClaims, map[string]any{"aud": nil}, ours), false},
		{"alg none", token(map[string]any{"alg": "none", "kid": "k1", "typ": "JWT"}, idClaims, nil, nil), false},
		{"HS256 keyed with the public key", token(map[string]any{"alg": "HS256", "kid": "k1", "typ": "JWT"}, idClaims, nil, hs256), false},
		{"unknown kid", token(map[string]any{"alg": "RS256", "kid": "k2", "typ": "JWT"}, idClaims, nil, rs256(other)), false},
		{"foreign key, our kid", token(typed("JWT"), idClaims, nil, rs256(other)), false},
		{"foreign key embedded (jwk), our kid", token(map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT", "jwk": map[string]any{
			"kty": "RSA", "n": b64.EncodeToString(other.N.Bytes()), "e": "AQAB"}}, idClaims, nil, rs256(other)), false},
		{"foreign key named by jku, our kid", token(map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT", "jku": "https://evil.example/jwks"}, idClaims, nil, rs256(other)), false},
		{"crit", token(map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT", "crit": []string{"x"}, "x": 1}, idClaims, nil, ours), false},
		{"JWE-shaped", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := p.verifyIDTokenHint(tc.token)
			if got := err == nil; got != tc.ok {
				t.Fatalf("verifyIDTokenHint = %+v, %v; want ok %v", h, err, tc.ok)
			}
			if tc.ok && (h.sub != "alice" || len(h.aud) != 1 || h.aud[0] != "app") {
				t.Errorf("hint = %+v", h)
			}
		})
	}
}
