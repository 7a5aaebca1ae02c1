package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// verifyWithJWKS verifies tok the way a resource server would: by the kid in
// its header, against the key set the Manager publishes.
func verifyWithJWKS(m *Manager, tok string) ([]byte, error) {
	body, _ := m.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, err
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	kid := jws.Signatures[0].Protected.KeyID
	found := set.Key(kid)
	if len(found) != 1 {
		return nil, fmt.Errorf("kid %q: %d keys in the JWKS", kid, len(found))
	}
	return jws.Verify(found[0])
}

// protectedHeader decodes the token's first segment as it is on the wire.
func protectedHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := b64.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSign(t *testing.T) {
	m, _ := loaded(t)
	payload := []byte(`{"iss":"https://id.example","sub":"alice","aud":["school-api"],"scope":"results:read"}`)
	tests := []struct {
		typ  string
		want map[string]any
	}{
		{typ: "at+jwt", want: map[string]any{"alg": "RS256", "kid": m.ActiveKeyID(), "typ": "at+jwt"}},
		{typ: "JWT", want: map[string]any{"alg": "RS256", "kid": m.ActiveKeyID(), "typ": "JWT"}},
		{typ: "", want: map[string]any{"alg": "RS256", "kid": m.ActiveKeyID()}},
	}
	// Twice: each Sign encodes its own header, so a second token of a typ
	// carries the same header as the first.
	for _, tt := range append(tests, tests...) {
		t.Run("typ="+tt.typ, func(t *testing.T) {
			tok, err := m.Sign(payload, tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(tok, ".") != 2 {
				t.Fatalf("not a compact JWS: %q", tok)
			}
			got, err := verifyWithJWKS(m, tok)
			if err != nil {
				t.Fatalf("verify against JWKS: %v", err)
			}
			if string(got) != string(payload) {
				t.Errorf("payload = %s", got)
			}
			h := protectedHeader(t, tok)
			if fmt.Sprint(h) != fmt.Sprint(tt.want) {
				t.Errorf("protected header = %v, want %v", h, tt.want)
			}

			pub, ok := m.VerificationKey(m.ActiveKeyID())
			if !ok {
				t.Fatal("no verification key for the active kid")
			}
			jws, _ := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
			if _, err := jws.Verify(pub); err != nil {
				t.Errorf("verify with VerificationKey: %v", err)
			}
		})
	}
	if _, ok := m.VerificationKey("unknown"); ok {
		t.Error("VerificationKey found an unknown kid")
	}
}

// TestSignHeaderFollowsKey checks that the header Sign writes names the
// key that signs, after a rotation too, whatever typ the caller gives.
func TestSignHeaderFollowsKey(t *testing.T) {
	clock := newFakeClock(testNow)
	m := newTestManager(t, newFakeStore(), 1, scheduleOptions(clock, newKeySupply(t, 4).generate))
	tick(t, m)
	payload := []byte(`{"sub":"alice"}`)
	signs := func(step, typ string) {
		t.Helper()
		tok, err := m.Sign(payload, typ)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"alg": "RS256", "kid": m.ActiveKeyID(), "typ": typ}
		if h := protectedHeader(t, tok); fmt.Sprint(h) != fmt.Sprint(want) {
			t.Errorf("%s: protected header = %v, want %v", step, h, want)
		}
		if _, err := verifyWithJWKS(m, tok); err != nil {
			t.Errorf("%s: verify against JWKS: %v", step, err)
		}
	}
	first := m.ActiveKeyID()
	signs("before rotation", "at+jwt")
	if _, err := m.RotateNow(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if m.ActiveKeyID() == first {
		t.Fatal("the rotation left the key that signs")
	}
	signs("after rotation", "at+jwt")
	for i := range 40 { // typ is the caller's, not one of a fixed few
		signs("many types", fmt.Sprintf("t%d+jwt", i))
	}
}

func TestNotLoaded(t *testing.T) {
	m := newTestManager(t, newFakeStore(), 1, Options{})
	if _, err := m.Sign([]byte("{}"), ""); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("Sign = %v, want ErrNotLoaded", err)
	}
	if body, etag := m.JWKS(); body != nil || etag != "" {
		t.Errorf("JWKS = %q, %q", body, etag)
	}
	if m.ActiveKeyID() != "" {
		t.Errorf("ActiveKeyID = %q", m.ActiveKeyID())
	}
	if _, ok := m.VerificationKey("x"); ok {
		t.Error("VerificationKey before Load")
	}
	if rec := serve(m.JWKSHandler(), "GET", nil); rec.Code != 503 {
		t.Errorf("JWKSHandler before Load: %d", rec.Code)
	}
}

// accessTokenPayload is the size and shape of a typical RFC 9068 access token.
var accessTokenPayload = []byte(`{"iss":"https://id.school.example","sub":"7f3c9a52-1d2e-4b8a-9c61-0e5f2d7b4a13",` +
	`"aud":["https://api.school.example"],"exp":1767225600,"iat":1767224700,"nbf":1767224700,` +
	`"jti":"c2b1a7e4-5f60-4d1b-8a3e-9b7c6d5e4f32","client_id":"demoapp","scope":"openid profile results:read schedule:read",` +
	`"roles":["student"]}`)

// BenchmarkSign measures a complete Sign: header, JWS assembly and the RS256
// signature. Compare with BenchmarkRSASign for the cost of the bare signature.
func BenchmarkSign(b *testing.B) {
	m := newTestManager(b, newFakeStore(), 1, Options{Logger: slog.New(slog.DiscardHandler)})
	if err := m.Load(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Sign(accessTokenPayload, "at+jwt"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkRSASign is the floor: one PKCS#1 v1.5 SHA-256 signature with the
// same 2048-bit key and nothing else.
func BenchmarkRSASign(b *testing.B) {
	pool, err := testKeys()
	if err != nil {
		b.Fatal(err)
	}
	key := pool[0]
	digest := sha256.Sum256(accessTokenPayload)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
}
