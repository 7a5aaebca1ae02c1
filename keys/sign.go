package keys

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
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
	header, err := s.headers.encoded(kid, typ)
	if err != nil {
		return "", err
	}
	return signCompact(key, header, payload)
}

// jwsHeaders keeps the base64url encoding of each protected header Sign
// writes, by kid and typ: a snapshot has one or two keys and hallpass a
// few token types, so each header is encoded once rather than per token.
type jwsHeaders struct {
	mu sync.Mutex
	m  map[jwsHeader]string
}

// maxJWSHeaders bounds jwsHeaders: typ is the caller's, and past this
// many a header is encoded each time rather than kept.
const maxJWSHeaders = 32

// encoded returns the base64url encoding of the protected header with kid
// and typ.
func (h *jwsHeaders) encoded(kid, typ string) (string, error) {
	k := jwsHeader{Alg: Algorithm, Kid: kid, Typ: typ}
	h.mu.Lock()
	enc, ok := h.m[k]
	h.mu.Unlock()
	if ok {
		return enc, nil
	}
	header, err := json.Marshal(k)
	if err != nil {
		return "", fmt.Errorf("keys: encode header: %w", err)
	}
	enc = base64.RawURLEncoding.EncodeToString(header)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[jwsHeader]string)
	}
	if len(h.m) < maxJWSHeaders {
		h.m[k] = enc
	}
	return enc, nil
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
// PKCS1-v1_5 over SHA-256 of the first two), built in one buffer, given
// the header already encoded. go-jose builds a signer, a header map and
// several copies for each token, which showed in the token endpoint's
// profile next to the signature itself.
func signCompact(key *rsa.PrivateKey, header string, payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	sigLen := enc.EncodedLen(key.Size())
	buf := make([]byte, 0, len(header)+1+enc.EncodedLen(len(payload))+1+sigLen)
	buf = append(buf, header...)
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
