package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// tokenBytes is the entropy of a RandomToken: 256 bits.
const tokenBytes = 32

// RandomToken returns 32 bytes from crypto/rand, base64url-encoded without
// padding (43 characters). It is fit for a cookie value: store its Digest,
// hand the token itself to the browser.
func RandomToken() string {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read does not fail since Go 1.24; keep the check so
		// that a weak token can never be issued.
		panic("web: crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Digest returns the lowercase hex SHA-256 of token: what is stored in
// place of the token. A RandomToken has enough entropy that no slow hash
// is needed.
func Digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SameToken reports whether a and b are equal, in time that depends on
// neither their contents nor their lengths. An empty string never matches,
// not even another empty string, so a missing value cannot pass for a
// missing stored value.
func SameToken(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
