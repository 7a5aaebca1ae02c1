package provider

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// FuzzCheckAssertion feeds arbitrary client assertions to the check
// that reads their claims before fosite verifies them: it must never
// panic, and whatever it lets through is spelt canonically (each segment
// the one base64url encoding of its bytes, no crit), has an exp, read
// as fosite reads it (the member named exactly exp), after the current
// second and no later than the bound, and has a string sub (read the
// same way), which the check returns: the client its jti is recorded for.
func FuzzCheckAssertion(f *testing.F) {
	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	p := &Provider{cfg: Config{Now: func() time.Time { return now }}}
	enc := func(claims string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
	}
	f.Add(enc(`{"exp":1796540460}`))
	f.Add(enc(`{"sub":"c1","exp":1796540460}`))
	f.Add(enc(`{"sub":"c1","SUB":"c2","exp":1796540460}`))
	f.Add(enc(`{"sub":"c1","sub":"c2","exp":1796540460}`))
	f.Add(enc(`{"sub":7,"exp":1796540460}`))
	f.Add(enc(`{"sub":"","exp":1796540460}`))
	f.Add(enc(`{"exp":"soon"}`))
	f.Add(enc(`{"exp":1e400}`))
	f.Add(enc(`{}`))
	f.Add(enc(`{"exp":0}`))
	f.Add(enc(`{"exp":0.5}`))
	f.Add(enc(`{"exp":1796540400}`))
	f.Add(enc(`{"exp":4102444800,"EXP":1796540460}`))
	f.Add(enc(`{"exp":4102444800,"exp":1796540460}`))
	f.Add(enc(`{"exp":1796540460}`) + "\n")
	f.Add("eyJhbGciOiJSUzI1NiIsImNyaXQiOltdfQ." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1796540460}`)) + ".sig")
	f.Add("a.b")
	f.Add("")
	f.Fuzz(func(t *testing.T, assertion string) {
		sub, err := p.checkAssertion(assertion)
		if err != nil {
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
		var c map[string]any
		if err := jsonv2.Unmarshal(payload, &c); err != nil {
			t.Fatalf("accepted claims %q: %v", payload, err)
		}
		exp, ok := c["exp"].(float64)
		if !ok || math.Floor(exp) <= float64(now.Unix()) || exp > float64(now.Add(maxAssertionLifetime+assertionClockSkew).Unix()) {
			t.Fatalf("accepted exp %v", c["exp"])
		}
		if got, ok := c["sub"].(string); !ok || got == "" || got != sub {
			t.Fatalf("accepted sub %#v, returned %q", c["sub"], sub)
		}
	})
}
