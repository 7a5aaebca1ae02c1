package resource_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/resource"
)

// FuzzVerify feeds Verify arbitrary tokens, seeded with tokens hallpass
// would issue and with forgeries of every known kind. Whatever it accepts
// must be what no forger can make: an RS256 at+jwt whose signature, checked
// here independently of go-jose, verifies under the key of the JWKS that
// its kid names, issued by this issuer for this audience and not expired;
// and spelt as signed, canonically, so that no one else can make another
// spelling of it either.
func FuzzVerify(f *testing.F) {
	s := newStubIssuer(f)
	second, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	published := map[string]*rsa.PublicKey{"k1": &s.key.PublicKey, "k2": &second.PublicKey}
	s.set(func(s *stubIssuer) {
		s.jwks = jwksOf(f,
			jose.JSONWebKey{Key: published["k1"], KeyID: "k1", Use: "sig", Algorithm: "RS256"},
			jose.JSONWebKey{Key: published["k2"], KeyID: "k2", Use: "sig", Algorithm: "RS256"})
	})
	cfg := s.config(f)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	v, err := resource.NewVerifier(context.Background(), cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)

	now := time.Now()
	claims := map[string]any{"iss": s.URL, "sub": "svc", "aud": []string{schoolAPI}, "exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(), "jti": "j", "client_id": "svc", "scope": "results:read"}
	header := map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": "k1"}
	pkix, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	good := forge(f, header, claims, rs256(f, s.key))
	parts := strings.Split(good, ".")
	for _, seed := range []string{
		good,
		forge(f, with(header, map[string]any{"kid": "k2"}), claims, rs256(f, second)),
		forge(f, with(header, map[string]any{"kid": "k2"}), claims, rs256(f, s.key)),
		forge(f, header, with(claims, map[string]any{"aud": schoolAPI}), rs256(f, s.key)),
		forge(f, header, with(claims, map[string]any{"exp": now.Add(-time.Hour).Unix()}), rs256(f, s.key)),
		forge(f, header, with(claims, map[string]any{"aud": "https://other.example/api"}), rs256(f, s.key)),
		forge(f, header, with(claims, map[string]any{"iss": "https://evil.example"}), rs256(f, s.key)),
		forge(f, with(header, map[string]any{"typ": "JWT"}), claims, rs256(f, s.key)),
		forge(f, with(header, map[string]any{"typ": "logout+jwt"}), claims, rs256(f, s.key)),
		forge(f, with(header, map[string]any{"alg": "none"}), claims, nil),
		forge(f, with(header, map[string]any{"alg": "HS256"}), claims, hs256(pubPEM)),
		forge(f, with(header, map[string]any{"alg": "PS256"}), claims, ps256(f, s.key)),
		forge(f, with(header, map[string]any{"kid": "k3"}), claims, rs256(f, s.key)),
		forge(f, with(header, map[string]any{"crit": []string{"b64"}, "b64": false}), claims, rs256(f, s.key)),
		forge(f, with(header, map[string]any{"jku": s.URL + "/jwks", "jwk": map[string]any{"kty": "RSA"}}), claims, rs256(f, s.key)),
		`{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`,
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".\n" + parts[1] + "." + parts[2] + "\n",
		parts[0] + "." + parts[1] + "." + respell(f, parts[2]),
		parts[0] + "." + parts[1] + "." + parts[2] + "==",
		forge(f, with(header, map[string]any{"crit": []string{}}), claims, rs256(f, s.key)),
		"",
		"a.b.c",
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			if c != nil {
				t.Fatalf("claims %+v returned with error %v", c, err)
			}
			return
		}
		// One token, one spelling: three segments, each the one
		// base64url encoding of its bytes (so no whitespace, padding or
		// other alphabet), and no crit header.
		segs := strings.Split(token, ".")
		if len(segs) != 3 {
			t.Fatalf("accepted a token of %d segments", len(segs))
		}
		var h struct{ Alg, Typ, Kid string }
		var p struct {
			Iss string          `json:"iss"`
			Aud json.RawMessage `json:"aud"`
			Exp *float64        `json:"exp"`
		}
		hb, err1 := b64.DecodeString(segs[0])
		pb, err2 := b64.DecodeString(segs[1])
		sig, err3 := b64.DecodeString(segs[2])
		if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &h) != nil || json.Unmarshal(pb, &p) != nil {
			t.Fatalf("accepted a token that does not decode: %q", token)
		}
		if canonical := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb) + "." + b64.EncodeToString(sig); canonical != token {
			t.Fatalf("accepted %q, another spelling of %q", token, canonical)
		}
		var params map[string]json.RawMessage
		if json.Unmarshal(hb, &params) != nil {
			t.Fatalf("accepted header %s, not a JSON object", hb)
		}
		if _, ok := params["crit"]; ok {
			t.Fatalf("accepted header %s, with crit", hb)
		}
		key, ok := published[h.Kid]
		if h.Alg != "RS256" || !ok || !strings.EqualFold(strings.TrimPrefix(strings.ToLower(h.Typ), "application/"), "at+jwt") {
			t.Fatalf("accepted header %s", hb)
		}
		digest := sha256.Sum256([]byte(segs[0] + "." + segs[1]))
		if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("accepted a signature that does not verify under %s: %v", h.Kid, err)
		}
		var aud []string
		if json.Unmarshal(p.Aud, &aud) != nil {
			var one string
			if json.Unmarshal(p.Aud, &one) == nil {
				aud = []string{one}
			}
		}
		if p.Iss != s.URL || c.Issuer != s.URL || !slices.Contains(aud, schoolAPI) || p.Exp == nil || time.Unix(int64(*p.Exp), 0).Before(time.Now().Add(-resource.DefaultLeeway-time.Second)) {
			t.Fatalf("accepted claims %s", pb)
		}
	})
}
