package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"

	"github.com/ory/fosite"
)

// secretHasher stores client secrets as SHA-256 digests. hallpass
// generates every secret with 256 random bits, so a slow hash adds no
// protection, while bcrypt would cost ~100ms of CPU on every token request
// (README "Security model").
type secretHasher struct{}

var _ fosite.Hasher = secretHasher{}

// errSecretMismatch is deliberately bland: fosite answers invalid_client.
var errSecretMismatch = errors.New("client secret mismatch")

// Compare checks data against hash in constant time.
func (secretHasher) Compare(_ context.Context, hash, data []byte) error {
	sum := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
		return errSecretMismatch
	}
	return nil
}

// Hash returns the SHA-256 digest of data.
func (secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return sum[:], nil
}
