package keys

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Sign returns payload as a compact RS256 JWS signed by the active key, with
// protected headers alg, kid and, unless typ is empty, typ (for example
// "at+jwt" for RFC 9068 access tokens). The payload is signed as given; Sign
// does not look inside it. It fails with ErrNotLoaded before Load and with
// ErrStale when the keys have not been reloaded recently enough to be sure
// the key is still published (see Options.RefreshInterval).
func (m *Manager) Sign(payload []byte, typ string) (string, error) {
	s, err := m.signing()
	if err != nil {
		return "", err
	}
	// kid comes from the same snapshot as the key, so a concurrent Load can
	// never pair one key's signature with another key's kid.
	kid, key := s.signer(m.now())
	return signCompact(key, kid, typ, payload)
}

// jwsHeader is the protected header Sign writes: the fields in the order
// go-jose writes them (alg, kid, typ), so tokens look as they always did.
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ,omitempty"`
}

// signCompact is RFC 7515's compact serialization of an RS256 JWS
// (§7.1): BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(RSASSA-
// PKCS1-v1_5 over SHA-256 of the first two), built in one buffer. go-jose
// builds a signer, a header map and several copies for each token, which
// showed in the token endpoint's profile next to the signature itself.
func signCompact(key *rsa.PrivateKey, kid, typ string, payload []byte) (string, error) {
	header, err := json.Marshal(jwsHeader{Alg: Algorithm, Kid: kid, Typ: typ})
	if err != nil {
		return "", fmt.Errorf("keys: encode header: %w", err)
	}
	enc := base64.RawURLEncoding
	sigLen := enc.EncodedLen(key.Size())
	buf := make([]byte, 0, enc.EncodedLen(len(header))+1+enc.EncodedLen(len(payload))+1+sigLen)
	buf = enc.AppendEncode(buf, header)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// ActiveKeyID returns the kid of the key Sign uses, or "" when Sign would
// fail (before Load, or when the keys are stale), so that a readiness
// check on it takes a replica that cannot sign out of service.
func (m *Manager) ActiveKeyID() string {
	if s, err := m.signing(); err == nil {
		kid, _ := s.signer(m.now())
		return kid
	}
	return ""
}

// signer returns the key to sign with at now: the active key, or the next
// key once its stored activation time has come. Every replica holding the
// same snapshot so switches at the same instant, whichever of them then
// records the promotion (Tick).
func (s *snapshot) signer(now time.Time) (string, *rsa.PrivateKey) {
	if s.nextKey != nil && !now.Before(s.nextAt) {
		return s.nextKid, s.nextKey
	}
	return s.kid, s.key
}

// signing returns the snapshot Sign may use.
func (m *Manager) signing() (*snapshot, error) {
	s := m.snap.Load()
	if s == nil {
		return nil, ErrNotLoaded
	}
	if m.staleAfter > 0 && m.now().Sub(s.loadedAt) > m.staleAfter {
		return nil, ErrStale
	}
	return s, nil
}
