package web

import (
	"encoding/base64"
	"testing"
)

func TestRandomToken(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		tok := RandomToken()
		if len(tok) != 43 {
			t.Fatalf("RandomToken() = %q: length %d, want 43", tok, len(tok))
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("RandomToken() = %q: decodes to %d bytes, err %v; want 32 bytes", tok, len(raw), err)
		}
		if !ValidCookieValue(tok) {
			t.Fatalf("RandomToken() = %q is not a valid cookie value", tok)
		}
		if seen[tok] {
			t.Fatalf("RandomToken() repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestDigest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		if got := Digest(tt.in); got != tt.want {
			t.Errorf("Digest(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	tok := RandomToken()
	if Digest(tok) != Digest(tok) {
		t.Error("Digest is not stable")
	}
	if Digest(tok) == Digest(RandomToken()) {
		t.Error("two tokens share a digest")
	}
}

func TestSameToken(t *testing.T) {
	tok := RandomToken()
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"equal", tok, tok, true},
		{"equal copies", "abc", string([]byte("abc")), true},
		{"different", tok, RandomToken(), false},
		{"prefix", tok, tok[:42], false},
		{"longer", tok, tok + "A", false},
		{"case", "abc", "ABC", false},
		{"empty both", "", "", false},
		{"empty a", "", tok, false},
		{"empty b", tok, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SameToken(tt.a, tt.b); got != tt.want {
				t.Errorf("SameToken(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestCSRFToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	base := CSRFToken(secret, "login", "handle", "cookie")
	if len(base) != 43 || !ValidCookieValue(base) {
		t.Fatalf("CSRFToken = %q, want 43 base64url characters", base)
	}
	if again := CSRFToken(secret, "login", "handle", "cookie"); !SameToken(base, again) {
		t.Errorf("CSRFToken is not deterministic: %q, %q", base, again)
	}
	// Every input changes the token, and parts cannot be shifted across
	// their boundaries.
	for name, other := range map[string]string{
		"other secret":   CSRFToken([]byte("fedcba9876543210fedcba9876543210"), "login", "handle", "cookie"),
		"other purpose":  CSRFToken(secret, "consent", "handle", "cookie"),
		"other handle":   CSRFToken(secret, "login", "handle2", "cookie"),
		"other cookie":   CSRFToken(secret, "login", "handle", "cookie2"),
		"shifted parts":  CSRFToken(secret, "login", "handlec", "ookie"),
		"merged parts":   CSRFToken(secret, "login", "handlecookie"),
		"fewer parts":    CSRFToken(secret, "login", "handle"),
		"purpose joined": CSRFToken(secret, "loginhandle", "cookie"),
	} {
		if other == "" || SameToken(base, other) {
			t.Errorf("%s: token %q, want a different non-empty token than %q", name, other, base)
		}
	}
	// A missing bound value gives no token, which matches nothing.
	for _, bound := range [][]string{{"", "cookie"}, {"handle", ""}, {""}} {
		if got := CSRFToken(secret, "login", bound...); got != "" || SameToken(got, got) {
			t.Errorf("CSRFToken with bound %q = %q, want empty and matching nothing", bound, got)
		}
	}
}
