package provider

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzCheckAssertionExpiry feeds arbitrary client assertions to the check
// that reads their claims before fosite verifies them: it must never
// panic, and whatever it lets through has an exp no later than the bound.
func FuzzCheckAssertionExpiry(f *testing.F) {
	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	p := &Provider{cfg: Config{Now: func() time.Time { return now }}}
	enc := func(claims string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
	}
	f.Add(enc(`{"exp":1796540460}`))
	f.Add(enc(`{"exp":"soon"}`))
	f.Add(enc(`{"exp":1e400}`))
	f.Add(enc(`{}`))
	f.Add("a.b")
	f.Add("")
	f.Fuzz(func(t *testing.T, assertion string) {
		if err := p.checkAssertionExpiry(assertion); err != nil {
			return
		}
		parts := strings.Split(assertion, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatalf("accepted an undecodable payload %q", assertion)
		}
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
