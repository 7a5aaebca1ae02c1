package keys

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNewSealerSecretLength(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31} {
		_, err := NewSealer(make([]byte, n))
		if err == nil || !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("NewSealer(%d bytes) = %v, want an error naming the 32-byte minimum", n, err)
		}
	}
	for _, n := range []int{32, 64} {
		if _, err := NewSealer(make([]byte, n)); err != nil {
			t.Errorf("NewSealer(%d bytes): %v", n, err)
		}
	}
}

func TestSealer(t *testing.T) {
	s := testSealer(t, 1)
	plaintext := []byte("a PKCS#8 key would go here")
	ad := []byte("hallpass signing key kid-1")
	sealed, err := s.Seal(plaintext, ad)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 12 + len(plaintext) + 16; len(sealed) != want {
		t.Errorf("sealed length = %d, want %d (version, nonce, ciphertext, tag)", len(sealed), want)
	}
	if bytes.Contains(sealed, plaintext) {
		t.Error("sealed value contains the plaintext")
	}

	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		sealer *Sealer
		sealed []byte
		ad     []byte
		ok     bool
	}{
		{name: "round trip", sealer: s, sealed: sealed, ad: ad, ok: true},
		{name: "same secret, new sealer", sealer: testSealer(t, 1), sealed: sealed, ad: ad, ok: true},
		{name: "wrong secret", sealer: testSealer(t, 2), sealed: sealed, ad: ad},
		{name: "wrong additional data", sealer: s, sealed: sealed, ad: []byte("hallpass signing key kid-2")},
		{name: "no additional data", sealer: s, sealed: sealed, ad: nil},
		{name: "tampered version", sealer: s, sealed: flip(0), ad: ad},
		{name: "tampered nonce", sealer: s, sealed: flip(1), ad: ad},
		{name: "tampered ciphertext", sealer: s, sealed: flip(13), ad: ad},
		{name: "tampered tag", sealer: s, sealed: flip(len(sealed) - 1), ad: ad},
		{name: "truncated", sealer: s, sealed: sealed[:len(sealed)-1], ad: ad},
		{name: "too short", sealer: s, sealed: sealed[:20], ad: ad},
		{name: "empty", sealer: s, sealed: nil, ad: ad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.sealed, tt.ad)
			if tt.ok {
				if err != nil || !bytes.Equal(got, plaintext) {
					t.Fatalf("Open = %q, %v; want %q", got, err, plaintext)
				}
				return
			}
			if err == nil {
				t.Fatalf("Open succeeded with %q", got)
			}
			if got != nil {
				t.Errorf("Open returned %d bytes along with its error", len(got))
			}
		})
	}
}

func TestSealerOpenErrors(t *testing.T) {
	s := testSealer(t, 1)
	sealed, _ := s.Seal([]byte("x"), nil)
	if _, err := testSealer(t, 2).Open(sealed, nil); !errors.Is(err, ErrOpenFailed) {
		t.Errorf("wrong secret: err = %v, want ErrOpenFailed", err)
	}
	sealed[0] = 9
	if _, err := s.Open(sealed, nil); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("unknown version: err = %v, want it named", err)
	}
}

func TestSealerNonceIsRandom(t *testing.T) {
	s := testSealer(t, 1)
	a, _ := s.Seal([]byte("same"), nil)
	b, _ := s.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are identical")
	}
}

func TestSealerEmptyPlaintext(t *testing.T) {
	s := testSealer(t, 1)
	sealed, err := s.Seal(nil, []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(sealed, []byte("ad"))
	if err != nil || len(got) != 0 {
		t.Fatalf("Open = %q, %v", got, err)
	}
}
