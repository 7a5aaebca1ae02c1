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
