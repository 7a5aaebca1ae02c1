package provider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
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

// TestVerifyAccessToken holds the access-token verifier introspection
// uses to Decode's rules, plus the at+jwt type: every token Decode
// refuses it refuses, and a good token's claims come out as signed.
func TestVerifyAccessToken(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// With verified tokens remembered, so that each case below is checked
	// twice: verified, then from memory.
	s := &signer{keys: fakeKeys{key}, issuer: "https://id.example", verified: &verifiedTokens{}}
	now := time.Now().Unix()
	claims := func(edit func(map[string]any)) []byte {
		c := map[string]any{"iss": "https://id.example", "sub": "alice", "aud": "https://api.example", "exp": now + 3600, "iat": now,
			"client_id": "app", "scope": "a b", "grant_id": "g1", "client_epoch": 3, "user_epoch": 0, "roles": []string{"teacher"}}
		if edit != nil {
			edit(c)
		}
		b, _ := json.Marshal(c)
		return b
	}
	sign := func(k *rsa.PrivateKey, typ string, edit func(map[string]any)) string {
		tok, err := fakeKeys{k}.Sign(claims(edit), typ)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(key, "at+jwt", nil)
	// A header of another alg, with our valid signature kept.
	reheader := func(h string) string {
		_, rest, _ := strings.Cut(good, ".")
		return base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + rest
	}
	h64, rest, _ := strings.Cut(good, ".")
	p64, sig64, _ := strings.Cut(rest, ".")
	tampered := h64 + "." + base64.RawURLEncoding.EncodeToString(claims(func(c map[string]any) { c["scope"] = "a b admin" })) + "." + sig64
	// The same signature written otherwise: a 256-byte signature leaves 4
	// unused bits in its last character, which a lenient decoder ignores,
	// and decoders skip line breaks. A revocation names a token by its
	// signature segment as written, so these must not verify.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	otherBits := h64 + "." + p64 + "." + sig64[:len(sig64)-1] + string(alphabet[strings.IndexByte(alphabet, sig64[len(sig64)-1])^1])
	lineBreak := h64 + "." + p64 + "." + sig64[:100] + "\n" + sig64[100:]
	for name, tc := range map[string]struct {
		token string
		ok    bool
	}{
		"ours":                         {good, true},
		"an ID token (typ JWT)":        {sign(key, "JWT", nil), false},
		"our key, another issuer":      {sign(key, "at+jwt", func(c map[string]any) { c["iss"] = "https://evil.example" }), false},
		"foreign key, our kid":         {sign(other, "at+jwt", nil), false},
		"expired":                      {sign(key, "at+jwt", func(c map[string]any) { c["exp"] = now - 10 }), false},
		"issued in the future":         {sign(key, "at+jwt", func(c map[string]any) { c["iat"] = now + 600 }), false},
		"not yet valid":                {sign(key, "at+jwt", func(c map[string]any) { c["nbf"] = now + 600 }), false},
		"alg none":                     {reheader(`{"alg":"none","kid":"k1","typ":"at+jwt"}`), false},
		"alg HS256":                    {reheader(`{"alg":"HS256","kid":"k1","typ":"at+jwt"}`), false},
		"critical header":              {reheader(`{"alg":"RS256","crit":["x"],"kid":"k1","typ":"at+jwt","x":1}`), false},
		"unknown kid":                  {reheader(`{"alg":"RS256","kid":"k2","typ":"at+jwt"}`), false},
		"claims changed":               {tampered, false},
		"signature, other unused bits": {otherBits, false},
		"signature with a line break":  {lineBreak, false},
		"signature padded":             {h64 + "." + p64 + "." + sig64 + "==", false},
		"four segments":                {good + ".x", false},
		"garbage":                      {"a.b.c", false},
		"two segments":                 {h64 + "." + p64, false},
		// Signed by our key, time claims hallpass never writes: each is
		// refused, none taken as absent (a token that never expires).
		"time claim: no exp":            {sign(key, "at+jwt", func(c map[string]any) { delete(c, "exp") }), false},
		"time claim: exp null":          {sign(key, "at+jwt", func(c map[string]any) { c["exp"] = nil }), false},
		"time claim: exp a string":      {sign(key, "at+jwt", func(c map[string]any) { c["exp"] = strconv.FormatInt(now+3600, 10) }), false},
		"time claim: exp a fraction":    {sign(key, "at+jwt", func(c map[string]any) { c["exp"] = float64(now+3600) + 0.5 }), false},
		"time claim: exp beyond int64":  {sign(key, "at+jwt", func(c map[string]any) { c["exp"] = 1e19 }), false},
		"time claim: exp 0":             {sign(key, "at+jwt", func(c map[string]any) { c["exp"] = 0 }), false},
		"time claim: exp a list":        {sign(key, "at+jwt", func(c map[string]any) { c["exp"] = []int64{now + 3600} }), false},
		"time claim: iat a string":      {sign(key, "at+jwt", func(c map[string]any) { c["iat"] = strconv.FormatInt(now, 10) }), false},
		"time claim: nbf a fraction":    {sign(key, "at+jwt", func(c map[string]any) { c["nbf"] = float64(now) - 0.5 }), false},
		"time claim: nbf beyond int64":  {sign(key, "at+jwt", func(c map[string]any) { c["nbf"] = -1e19 }), false},
		"time claim: exp written 1.7e9": {sign(key, "at+jwt", func(c map[string]any) { c["exp"] = json.Number(strconv.FormatInt(now+3600, 10) + ".0") }), true},
		"time claim: no iat and no nbf": {sign(key, "at+jwt", func(c map[string]any) { delete(c, "iat") }), true},
		"time claim: nbf in the past":   {sign(key, "at+jwt", func(c map[string]any) { c["nbf"] = now - 10 }), true},
	} {
		for _, round := range []string{"verified", "remembered"} {
			c, err := s.verifyAccessToken(tc.token)
			if got := err == nil; got != tc.ok {
				t.Errorf("%s (%s): ok = %v (err %v), want %v", name, round, got, err, tc.ok)
				continue
			}
			if tc.ok {
				// The caller may change what it got; what is remembered stays.
				c.Roles[0], c.Aud[0] = "admin", "https://evil.example"
			}
		}
		c, err := s.verifyAccessToken(tc.token)
		if got := err == nil; got != tc.ok {
			t.Errorf("%s: ok = %v (err %v), want %v", name, got, err, tc.ok)
			continue
		}
		if !tc.ok {
			// Decode, fosite's generic path, checks neither typ nor how the
			// signature is written (go-jose decodes it leniently): every
			// access token it sees is also read by verifyAccessToken.
			// Nor does it read time claims strictly (absent, 0 or
			// unreadable: not checked).
			lenient := strings.Contains(name, "typ") || strings.HasPrefix(name, "signature") || strings.HasPrefix(name, "time claim")
			if tok, err := s.Decode(context.Background(), tc.token); err == nil && tok.Valid() && !lenient {
				t.Errorf("%s: Decode accepts what verifyAccessToken refuses", name)
			}
			continue
		}
		if c.Sub != "alice" || c.ClientID != "app" || c.GrantID != "g1" || c.Scope != "a b" || len(c.Aud) != 1 || c.Aud[0] != "https://api.example" ||
			c.ClientEpoch != "3" || c.UserEpoch == nil || *c.UserEpoch != "0" || len(c.Roles) != 1 || c.Roles[0] != "teacher" {
			t.Errorf("%s: claims = %+v", name, c)
		}
	}
}

// switchKeys is a keySource whose published key a test replaces.
type switchKeys struct{ pub *rsa.PublicKey }

func (k *switchKeys) Sign([]byte, string) (string, error) { return "", nil }

func (k *switchKeys) VerificationKey(kid string) (*rsa.PublicKey, bool) {
	if kid != "k1" || k.pub == nil {
		return nil, false
	}
	return k.pub, true
}

// TestVerifiedTokenNeedsItsKey: a remembered verification counts only
// while the key that made it is still published under the token's kid.
func TestVerifiedTokenNeedsItsKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	payload, _ := json.Marshal(map[string]any{"iss": "https://id.example", "sub": "alice", "exp": now + 3600, "iat": now,
		"client_id": "app", "grant_id": "g1", "client_epoch": 3})
	token, err := fakeKeys{key}.Sign(payload, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pub  *rsa.PublicKey
		ok   bool
	}{
		{"published", &key.PublicKey, true},
		{"withdrawn", nil, false},
		{"another key under its kid", &other.PublicKey, false},
		{"published again", &key.PublicKey, true},
	} {
		keys := &switchKeys{pub: &key.PublicKey}
		s := &signer{keys: keys, issuer: "https://id.example", verified: &verifiedTokens{}}
		if _, err := s.verifyAccessToken(token); err != nil {
			t.Fatalf("%s: first verification: %v", tc.name, err)
		}
		keys.pub = tc.pub
		if _, err := s.verifyAccessToken(token); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestVerifiedTokenKeyReloaded: what counts for a remembered verification
// is the key published under the token's kid, not its pointer: keys.Manager
// parses its keys afresh on each reload, and that must not forget every
// verification; another key or none under the kid still forgets it.
func TestVerifiedTokenKeyReloaded(t *testing.T) {
	// get compares keys only: these need not be able to verify anything.
	key := &rsa.PublicKey{N: big.NewInt(3233), E: 17}
	for _, tc := range []struct {
		name string
		pub  *rsa.PublicKey
		ok   bool
	}{
		{"the same key", key, true},
		{"the same key, parsed again", &rsa.PublicKey{N: new(big.Int).Set(key.N), E: key.E}, true},
		{"another modulus under its kid", &rsa.PublicKey{N: big.NewInt(3127), E: 17}, false},
		{"another exponent under its kid", &rsa.PublicKey{N: new(big.Int).Set(key.N), E: 65537}, false},
		{"withdrawn", nil, false},
	} {
		v := &verifiedTokens{}
		v.put("a.b.c", "k1", key, &accessClaims{Sub: "alice"})
		c, ok := v.get("a.b.c", &switchKeys{pub: tc.pub})
		if ok != tc.ok || (ok && c.Sub != "alice") {
			t.Errorf("%s: remembered = %v (%+v), want %v", tc.name, ok, c, tc.ok)
		}
	}
}

// TestVerifiedTokensBounded: however many tokens are verified, at most
// maxVerifiedTokens are remembered.
func TestVerifiedTokensBounded(t *testing.T) {
	v := &verifiedTokens{}
	for i := range maxVerifiedTokens + 10 {
		v.put(strconv.Itoa(i), "k1", nil, &accessClaims{})
	}
	if n := len(v.entries); n != maxVerifiedTokens {
		t.Errorf("%d tokens remembered, want %d", n, maxVerifiedTokens)
	}
}

// FuzzVerifyAccessToken: verifyAccessToken, which reads every bearer and
// introspected token, never panics, and accepts only the very tokens
// signed here: no other spelling of them, and nothing forged.
func FuzzVerifyAccessToken(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	s := &signer{keys: fakeKeys{key}, issuer: "https://id.example"}
	now := time.Now().Unix()
	signed := map[string]bool{}
	for _, typ := range []string{"at+jwt", "JWT", "logout+jwt"} {
		for _, exp := range []any{now + 3600, "9999999999", 1e19, nil} {
			c := map[string]any{"iss": "https://id.example", "sub": "alice", "aud": "https://api.example", "iat": now,
				"client_id": "app", "scope": "a b", "grant_id": "g1", "client_epoch": 3, "exp": exp}
			b, _ := json.Marshal(c)
			tok, err := fakeKeys{key}.Sign(b, typ)
			if err != nil {
				f.Fatal(err)
			}
			signed[tok] = true
			f.Add(tok)
		}
	}
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.verifyAccessToken(tok)
		if err != nil {
			return
		}
		if !signed[tok] {
			t.Fatalf("accepted %q, which was not signed here", tok)
		}
		if exp, ok := c.Exp.seconds(); !ok || exp < now {
			t.Fatalf("accepted %q with exp %q", tok, c.Exp)
		}
	})
}
