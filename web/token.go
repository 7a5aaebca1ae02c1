package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
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

// CSRFToken returns the token a form of kind purpose carries when it is
// bound to the given values (a cookie, a pending request's handle): an
// HMAC-SHA256 under secret, base64url without padding. Nobody without the
// secret and every bound value can compute it; check it with SameToken.
// Each part is length-prefixed, so no two lists of parts give the same
// input. It returns "" when any bound value is empty (a cookie the browser
// did not send), and "" never matches in SameToken: a form is never
// valid for a browser that lacks what it is bound to.
func CSRFToken(secret []byte, purpose string, bound ...string) string {
	m := hmac.New(sha256.New, secret)
	var n [8]byte
	for _, part := range append([]string{purpose}, bound...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		m.Write(n[:])
		m.Write([]byte(part))
	}
	for _, b := range bound {
		if b == "" {
			return ""
		}
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
