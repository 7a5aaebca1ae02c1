package jws_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/jws"
)

var b64 = base64.RawURLEncoding

// compact spells header, payload and signature canonically.
func compact(header string, payload, sig []byte) string {
	return b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(payload) + "." + b64.EncodeToString(sig)
}

func TestParse(t *testing.T) {
	const header = `{"alg":"RS256","kid":"k1","typ":"at+jwt"}`
	payload := []byte(`{"sub":"alice"}`)
	// 256 bytes: 342 characters, the last one with 4 unused bits.
	sig := []byte(strings.Repeat("\xfb", 256))
	good := compact(header, payload, sig)
	p := strings.Split(good, ".")

	c, err := jws.Parse(good)
	if err != nil {
		t.Fatalf("Parse(canonical) = %v", err)
	}
	if string(c.Header) != header || string(c.Payload) != string(payload) || string(c.Signature) != string(sig) || c.SigningInput != p[0]+"."+p[1] {
		t.Errorf("Parse = %+v", c)
	}
	if _, err := jws.Parse(compact(" \n{\"alg\":\"RS256\"}", payload, sig)); err != nil {
		t.Errorf("Parse(header with JSON whitespace) = %v", err)
	}
	if c, err := jws.Parse(p[0] + "." + p[1] + "."); err != nil || len(c.Signature) != 0 {
		t.Errorf("Parse(empty signature) = %+v, %v; want an empty signature (no other spelling of it)", c, err)
	}

	// lastBitSet spells s's last character with its lowest unused bit set.
	lastBitSet := func(s string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + string(alphabet[i|1])
	}
	bad := map[string]string{
		"empty":                  "",
		"one segment":            p[0],
		"two segments":           p[0] + "." + p[1],
		"four segments":          good + ".",
		"JWE (five segments)":    good + ".a.b",
		"JSON serialization":     `{"payload":"` + p[1] + `","protected":"` + p[0] + `","signature":"` + p[2] + `"}`,
		"space":                  p[0] + ". " + p[1] + "." + p[2],
		"line feed":              p[0] + "." + p[1][:4] + "\n" + p[1][4:] + "." + p[2],
		"carriage return":        p[0] + "\r." + p[1] + "." + p[2],
		"tab":                    "\t" + good,
		"trailing newline":       good + "\n",
		"no-break space":         good + "\u00a0",
		"padding":                good + "==",
		"padded header":          p[0] + "=." + p[1] + "." + p[2],
		"standard alphabet":      strings.NewReplacer("-", "+", "_", "/").Replace(good),
		"signature bits set":     p[0] + "." + p[1] + "." + lastBitSet(p[2]),
		"impossible length":      p[0] + "." + p[1] + "." + p[2] + "AAA",
		"header not JSON":        compact(`alg=RS256`, payload, sig),
		"header null":            compact(`null`, payload, sig),
		"header an array":        compact(`["alg"]`, payload, sig),
		"crit":                   compact(`{"alg":"RS256","crit":["exp"],"exp":1}`, payload, sig),
		"crit b64":               compact(`{"alg":"RS256","crit":["b64"],"b64":false}`, payload, sig),
		"crit empty":             compact(`{"alg":"RS256","crit":[]}`, payload, sig),
		"crit null":              compact(`{"alg":"RS256","crit":null}`, payload, sig),
		"crit spelt with escape": compact(`{"alg":"RS256","cr\u0069t":["exp"]}`, payload, sig),
		"crit in capitals":       compact(`{"alg":"RS256","CRIT":["exp"]}`, payload, sig),
	}
	// Headers and payloads with unused bits, respelt.
	for _, n := range []int{1, 2} {
		h := header[:len(header)-1] + `,"x":"` + strings.Repeat("x", n) + `"}`
		pl := `{"sub":"alice","x":"` + strings.Repeat("x", n) + `"}`
		q := strings.Split(compact(h, []byte(pl), sig), ".")
		if len(q[0])%4 != 0 {
			bad["header bits set"] = lastBitSet(q[0]) + "." + q[1] + "." + q[2]
		}
		if len(q[1])%4 != 0 {
			bad["payload bits set"] = q[0] + "." + lastBitSet(q[1]) + "." + q[2]
		}
	}
	if len(bad) != 28 {
		t.Fatalf("%d cases, want 28: no header or payload with unused bits", len(bad))
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			c, err := jws.Parse(tok)
			if !errors.Is(err, jws.ErrMalformed) || c != nil {
				t.Fatalf("Parse = %+v, %v; want ErrMalformed", c, err)
			}
			if len(tok) > 20 && strings.Contains(err.Error(), tok[:20]) {
				t.Errorf("error %q quotes the token", err)
			}
		})
	}
}

// FuzzParse: whatever Parse accepts is the one spelling of its segments,
// and its header has no crit.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		compact(`{"alg":"RS256"}`, []byte("{}"), []byte("sig")),
		compact(`{"alg":"RS256","crit":[]}`, []byte("{}"), []byte("sig")),
		"eyJhbGciOiJSUzI1NiJ9.e30.c2lo",
		"eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
		"eyJhbGciOiJSUzI1NiJ9.e30\n.c2lo",
		"a.b.c",
		"..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := jws.Parse(tok)
		if err != nil {
			if !errors.Is(err, jws.ErrMalformed) || c != nil {
				t.Fatalf("Parse = %+v, %v", c, err)
			}
			return
		}
		again := b64.EncodeToString(c.Header) + "." + b64.EncodeToString(c.Payload) + "." + b64.EncodeToString(c.Signature)
		if again != tok {
			t.Fatalf("accepted %q, another spelling of %q", tok, again)
		}
		if !strings.HasPrefix(tok, c.SigningInput+".") || strings.Count(c.SigningInput, ".") != 1 {
			t.Fatalf("signing input %q of %q", c.SigningInput, tok)
		}
		var h map[string]json.RawMessage
		if json.Unmarshal(c.Header, &h) != nil || h == nil {
			t.Fatalf("accepted header %q, not a JSON object", c.Header)
		}
		if _, ok := h["crit"]; ok {
			t.Fatalf("accepted header %s, with crit", c.Header)
		}
	})
}

// BenchmarkParse is the cost Parse adds to each token read: about an
// access token's size (RS256, 2048-bit key).
func BenchmarkParse(b *testing.B) {
	tok := compact(`{"alg":"RS256","kid":"Hk3bQ8m1pX0","typ":"at+jwt"}`,
		[]byte(`{"aud":["https://school.example/api"],"client_id":"results-reader","exp":1796540460,"iat":1796539860,"iss":"https://hallpass.example","jti":"9ebbff3d-02a9-441a-968a-8903ca90fb4a","scope":"results:read","sub":"results-reader","grant_id":"x","client_epoch":1}`),
		make([]byte, 256))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jws.Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}
