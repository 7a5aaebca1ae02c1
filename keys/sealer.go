package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinSecretLen is the shortest operator secret NewSealer accepts, in bytes.
// HKDF does not stretch a weak secret the way a password hash would, so the
// secret has to carry the full 256 bits itself: generate it randomly (for
// example `openssl rand -base64 32`), don't type a passphrase.
const MinSecretLen = 32

// ErrOpenFailed is returned by Sealer.Open when a sealed value does not
// authenticate. AES-GCM cannot tell the causes apart: the sealer was built from
// a different secret, the additional data differs (a blob moved to another
// row), or the bytes were altered.
var ErrOpenFailed = errors.New("keys: cannot open sealed value: wrong secret, wrong additional data, or altered data")

// hkdfInfo separates this key from anything else that may one day be derived
// from the same operator secret; the "v1" lets a successor derivation coexist.
const hkdfInfo = "hallpass key-encryption v1"

// sealVersion is the first byte of every sealed value, so the format can change
// later without guessing which rows are old.
const sealVersion byte = 1

// Sealer encrypts small secrets (signing keys, settings) for storage, under a
// key derived from the operator's secret. Build it with NewSealer; it is safe
// for concurrent use. Give each kind of value its own additionalData prefix
// (this package uses "hallpass signing key <kid>"), so a value sealed for one
// purpose never opens as another.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives an AES-256-GCM key from secret with HKDF-SHA256. secret
// must be at least MinSecretLen bytes; it is not retained.
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("keys: the key-encryption secret (HALLPASS_SECRET) is %d bytes; it must be at least %d random bytes", len(secret), MinSecretLen)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive key-encryption key: %w", err)
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	// Random nonces bound a key to 2^32 seals; hallpass seals a handful of
	// values per rotation, so that limit is out of reach, and random nonces
	// need no counter shared between replicas.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts and authenticates plaintext, binding it to additionalData.
// The result is a version byte, a random 12-byte nonce, the ciphertext and
// the 16-byte tag. Open must be given the same additionalData.
func (s *Sealer) Seal(plaintext, additionalData []byte) ([]byte, error) {
	out := make([]byte, 1, 1+s.aead.Overhead()+len(plaintext))
	out[0] = sealVersion
	return s.aead.Seal(out, nil, plaintext, s.ad(additionalData)), nil
}

// Open decrypts a value produced by Seal with the same secret and
// additionalData. Any mismatch returns an error wrapping ErrOpenFailed.
func (s *Sealer) Open(sealed, additionalData []byte) ([]byte, error) {
	if len(sealed) < 1+s.aead.Overhead() {
		return nil, fmt.Errorf("%w (too short)", ErrOpenFailed)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("keys: sealed value has unknown format version %d", sealed[0])
	}
	pt, err := s.aead.Open(nil, nil, sealed[1:], s.ad(additionalData))
	if err != nil {
		return nil, ErrOpenFailed
	}
	return pt, nil
}

// ad authenticates the version byte along with the caller's data, so a blob
// cannot be relabelled as another format version.
func (s *Sealer) ad(additionalData []byte) []byte {
	ad := make([]byte, 0, 1+len(additionalData))
	ad = append(ad, sealVersion)
	return append(ad, additionalData...)
}
