package provider

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzCheckAssertion feeds arbitrary client assertions to the check
// that reads their claims before fosite verifies them: it must never
// panic, and whatever it lets through is spelt canonically (each segment
// the one base64url encoding of its bytes, no crit) and has an exp no
// later than the bound.
func FuzzCheckAssertion(f *testing.F) {
	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	p := &Provider{cfg: Config{Now: func() time.Time { return now }}}
	enc := func(claims string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
	}
	f.Add(enc(`{"exp":1796540460}`))
	f.Add(enc(`{"exp":"soon"}`))
	f.Add(enc(`{"exp":1e400}`))
	f.Add(enc(`{}`))
	f.Add(enc(`{"exp":1796540460}`) + "\n")
	f.Add("eyJhbGciOiJSUzI1NiIsImNyaXQiOltdfQ." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1796540460}`)) + ".sig")
	f.Add("a.b")
	f.Add("")
	f.Fuzz(func(t *testing.T, assertion string) {
		if err := p.checkAssertion(assertion); err != nil {
			return
		}
		parts := strings.Split(assertion, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %d segments: %q", len(parts), assertion)
		}
		var decoded [3][]byte
		for i, s := range parts {
			b, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
				t.Fatalf("accepted segment %d, not the one base64url encoding of its bytes: %q", i, assertion)
			}
			decoded[i] = b
		}
		var header map[string]json.RawMessage
		if json.Unmarshal(decoded[0], &header) != nil {
			t.Fatalf("accepted header %q", decoded[0])
		}
		if _, ok := header["crit"]; ok {
			t.Fatalf("accepted header %s, with crit", decoded[0])
		}
		payload := decoded[1]
		var c struct {
			Exp json.Number `json:"exp"`
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatalf("accepted claims %q: %v", payload, err)
		}
		exp, err := c.Exp.Float64()
		if err != nil || exp > float64(now.Add(maxAssertionLifetime+assertionClockSkew).Unix()) {
			t.Fatalf("accepted exp %q", c.Exp)
		}
	})
}
