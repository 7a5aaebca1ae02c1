package keys

import (
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
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
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	// kid comes from the same snapshot as the key, so a concurrent Load can
	// never pair one key's signature with another key's kid.
	kid, key := s.signer(m.now())
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.RS256,
		Key:       jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: Algorithm},
	}, opts)
	if err != nil {
		return "", fmt.Errorf("keys: signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	return jws.CompactSerialize()
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
