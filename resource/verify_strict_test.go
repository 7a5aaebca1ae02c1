package resource_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/resource"
)

// base64url is RFC 4648 §5's alphabet, in order: a character's index is
// the six bits it stands for.
const base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// respell returns seg's second spelling: the same bytes, but with an
// unused low bit of its last character set, which a lenient decoder
// ignores (RFC 4648 §3.5 says those bits are zero). seg must have unused
// bits: its length is not a multiple of 4.
func respell(t testing.TB, seg string) string {
	t.Helper()
	if len(seg)%4 == 0 {
		t.Fatalf("segment of %d characters has no unused bits", len(seg))
	}
	i := strings.IndexByte(base64url, seg[len(seg)-1])
	if i < 0 || i&1 != 0 {
		t.Fatalf("segment does not end in a canonical character: %q", seg[len(seg)-1:])
	}
	return seg[:len(seg)-1] + string(base64url[i|1])
}

// padded returns m with a "pad" entry whose length makes m's base64url
// JSON encoding have unused bits, so that respell applies.
func padded(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	for n := range 4 {
		p := with(m, map[string]any{"pad": strings.Repeat("x", n)})
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b64.EncodeToString(b))%4 != 0 {
			return p
		}
	}
	t.Fatal("no padding gives unused bits")
	return nil
}

// TestVerifyRejectsNonCanonicalTokens: a token has one spelling, the one
// hallpass signed. Whitespace anywhere, a segment that is not the one
// base64url encoding of its bytes, and a crit header (hallpass sets none;
// RFC 7515 §4.1.11) are malformed, refused before any key is looked up,
// even though the signature, checked over the canonical form, would
// verify.
func TestVerifyRejectsNonCanonicalTokens(t *testing.T) {
	h := newSchool(t)
	rec := newRecorder(h.HTTP.Transport)
	v := newVerifier(t, h, rec)
	ctx := context.Background()

	real := h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")
	p := strings.Split(real, ".")
	// A token whose payload has unused bits, signed by hallpass's key.
	pad := h.sign(t, "at+jwt", padded(t, h.claims(time.Now())))
	pp := strings.Split(pad, ".")
	for _, tok := range []string{real, pad} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("Verify(canonical token) = %v", err)
		}
	}

	// A trusted issuer whose key this test holds, for headers hallpass
	// never writes.
	s := newStubIssuer(t)
	sv, err := resource.NewVerifier(ctx, s.config(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sv.Close)
	now := time.Now()
	claims := map[string]any{"iss": s.URL, "sub": "svc", "aud": []string{schoolAPI}, "exp": now.Add(5 * time.Minute).Unix(),
		"iat": now.Unix(), "jti": "j", "client_id": "svc", "scope": "results:read"}
	header := map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": "k1"}
	padHeader := forge(t, padded(t, header), claims, rs256(t, s.key))
	ph := strings.Split(padHeader, ".")
	// b64 false (RFC 7797): the payload is signed as it is, unencoded.
	unencoded := with(header, map[string]any{"crit": []string{"b64"}, "b64": false})
	hb, _ := json.Marshal(unencoded)
	cb, _ := json.Marshal(claims)
	h64 := b64.EncodeToString(hb)
	b64False := h64 + "." + b64.EncodeToString(cb) + "." + b64.EncodeToString(rs256(t, s.key)([]byte(h64+"."+string(cb))))
	// JSON reads "cr\u0069t" as crit.
	e64 := b64.EncodeToString([]byte(`{"alg":"RS256","typ":"at+jwt","kid":"k1","cr\u0069t":["urn:x"],"urn:x":1}`)) + "." + b64.EncodeToString(cb)
	escapedCrit := e64 + "." + b64.EncodeToString(rs256(t, s.key)([]byte(e64)))
	if _, err := sv.Verify(ctx, padHeader); err != nil {
		t.Fatalf("Verify(canonical token of the stub issuer) = %v", err)
	}

	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	unknownKid := strings.Split(forge(t, map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": "forged-kid"}, h.claims(now), rs256(t, foreign)), ".")

	tests := []struct {
		name  string
		v     *resource.Verifier
		token string
	}{
		// Whitespace, which go-jose strips before parsing.
		{"space in the header", v, p[0][:5] + " " + p[0][5:] + "." + p[1] + "." + p[2]},
		{"newline in the payload", v, p[0] + "." + p[1][:10] + "\n" + p[1][10:] + "." + p[2]},
		{"tab in the signature", v, p[0] + "." + p[1] + "." + p[2][:20] + "\t" + p[2][20:]},
		{"CRLF after a dot", v, p[0] + ".\r\n" + p[1] + "." + p[2]},
		{"trailing newline", v, real + "\n"},
		{"leading space", v, " " + real},
		{"no-break space", v, p[0] + "." + p[1] + "\u00a0." + p[2]},
		// Other spellings of the same bytes.
		{"signature with unused bits set", v, p[0] + "." + p[1] + "." + respell(t, p[2])},
		{"payload with unused bits set", v, pp[0] + "." + respell(t, pp[1]) + "." + pp[2]},
		{"header with unused bits set", sv, respell(t, ph[0]) + "." + ph[1] + "." + ph[2]},
		{"padded signature", v, real + "=="},
		{"standard alphabet", v, p[0] + "." + p[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(p[2])},
		// crit, which hallpass never sets.
		{"crit b64 false", sv, b64False},
		{"crit b64 true", sv, forge(t, with(header, map[string]any{"crit": []string{"b64"}, "b64": true}), claims, rs256(t, s.key))},
		{"crit empty", sv, forge(t, with(header, map[string]any{"crit": []string{}}), claims, rs256(t, s.key))},
		{"crit null", sv, forge(t, with(header, map[string]any{"crit": json.RawMessage("null")}), claims, rs256(t, s.key))},
		{"crit naming an unknown header", sv, forge(t, with(header, map[string]any{"crit": []string{"urn:x"}, "urn:x": 1}), claims, rs256(t, s.key))},
		{"crit spelt with an escape", sv, escapedCrit},
		// Refused before the key lookup: an unknown kid would refetch the
		// JWKS and be refused as an unknown key.
		{"unknown kid, whitespace", v, unknownKid[0] + ".\n" + unknownKid[1] + "." + unknownKid[2]},
		{"unknown kid, signature respelt", v, unknownKid[0] + "." + unknownKid[1] + "." + respell(t, unknownKid[2])},
		{"unknown kid, crit", v, forge(t, map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": "forged-kid", "crit": []string{"urn:x"}, "urn:x": 1}, h.claims(now), rs256(t, foreign))},
		{"unknown kid, crit in the stub issuer", sv, forge(t, with(header, map[string]any{"kid": "k9", "crit": []string{"urn:x"}, "urn:x": 1}), claims, rs256(t, s.key))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.v.Verify(ctx, tt.token)
			if err == nil {
				t.Fatalf("Verify accepted a non-canonical token: %+v", c)
			}
			if !errors.Is(err, resource.ErrInvalidToken) || c != nil {
				t.Errorf("Verify = %+v, %v; want nil and ErrInvalidToken", c, err)
			}
			if !strings.Contains(err.Error(), "malformed") {
				t.Errorf("error %q does not say malformed", err)
			}
		})
	}
	if n := rec.count(provider.PathJWKS); n != 1 {
		t.Errorf("%d JWKS fetches, want 1: a malformed token must not make the Verifier look its key up", n)
	}
}
