package provider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// fakeKeys signs with one RSA key under kid "k1".
type fakeKeys struct{ key *rsa.PrivateKey }

func (f fakeKeys) Sign(payload []byte, typ string) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: f.key, KeyID: "k1", Algorithm: "RS256"}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func (f fakeKeys) VerificationKey(kid string) (*rsa.PublicKey, bool) {
	if kid != "k1" {
		return nil, false
	}
	return &f.key.PublicKey, true
}

func TestSignerDecode(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &signer{keys: fakeKeys{key}, issuer: "https://id.example"}
	claims := func(iss string) []byte {
		b, _ := json.Marshal(map[string]any{"iss": iss, "sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
		return b
	}
	ours, _ := fakeKeys{key}.Sign(claims("https://id.example"), "at+jwt")
	otherIssuer, _ := fakeKeys{key}.Sign(claims("https://evil.example"), "at+jwt")
	foreignKey, _ := fakeKeys{other}.Sign(claims("https://id.example"), "at+jwt")
	for name, tc := range map[string]struct {
		token string
		ok    bool
	}{
		"ours":                    {ours, true},
		"our key, another issuer": {otherIssuer, false},
		"foreign key, our kid":    {foreignKey, false},
		"garbage":                 {"a.b.c", false},
	} {
		tok, err := s.Decode(context.Background(), tc.token)
		if got := err == nil && tok.Valid(); got != tc.ok {
			t.Errorf("%s: valid = %v (err %v), want %v", name, got, err, tc.ok)
		}
	}
	if sig, err := s.Validate(context.Background(), ours); err != nil || sig == "" {
		t.Errorf("Validate(ours) = %q, %v", sig, err)
	}
}
