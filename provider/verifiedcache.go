package provider

import (
	"crypto/rsa"
	"sync"
)

// maxVerifiedTokens bounds verifiedTokens: about 1 KB an entry (the token
// and its claims), so at most about 1 MB.
const maxVerifiedTokens = 1024

// verifiedTokens remembers access tokens whose signature verifyAccessToken
// checked, by the whole token as presented, so that a resource server
// introspecting the same token on each of its requests pays one RSA
// verification, not one per request. It is as strong as verifying again:
// a hit needs the very same bytes (header, claims and signature), an RSA
// verification of the same bytes under the same key always gives the same
// answer, and the key must still be published under the token's kid as
// the same key (a retired and removed key ends its tokens at once): equal
// to it, not the same pointer, since keys.Manager parses its keys afresh
// on every reload (each --key-refresh, and up to once a second for a kid
// it does not know), which must not cost every remembered token another
// RSA verification. Only the signature, header and claims decoding are
// remembered: the issuer is fixed, and the time claims and revocation are
// checked on every request.
// Only tokens this server signed can enter, and an entry is a copy its
// reader cannot change.
type verifiedTokens struct {
	mu      sync.Mutex
	entries map[string]verifiedToken
}

// verifiedToken is a remembered verification: the key that verified the
// token, and its decoded claims.
type verifiedToken struct {
	kid    string
	key    *rsa.PublicKey
	claims accessClaims
}

// get returns the claims of token if the key that verified it is the key
// now published under its kid.
func (v *verifiedTokens) get(token string, keys keySource) (*accessClaims, bool) {
	if v == nil {
		return nil, false
	}
	v.mu.Lock()
	e, ok := v.entries[token]
	v.mu.Unlock()
	if !ok {
		return nil, false
	}
	if key, ok := keys.VerificationKey(e.kid); !ok || !key.Equal(e.key) {
		return nil, false
	}
	c := e.claims.clone()
	return &c, true
}

// put remembers that key, published under kid, verified token with
// claims c. When full, it forgets an arbitrary entry: a token not found
// is verified again, no more.
func (v *verifiedTokens) put(token, kid string, key *rsa.PublicKey, c *accessClaims) {
	if v == nil {
		return
	}
	e := verifiedToken{kid: kid, key: key, claims: c.clone()}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.entries == nil {
		v.entries = make(map[string]verifiedToken)
	}
	if _, ok := v.entries[token]; !ok && len(v.entries) >= maxVerifiedTokens {
		for k := range v.entries {
			delete(v.entries, k)
			break
		}
	}
	v.entries[token] = e
}

// clone returns a copy of c that shares no slice with it: sessions take
// the lists over and may be changed by their holder.
func (c accessClaims) clone() accessClaims {
	c.Aud = stringOrList(cloneStrings(c.Aud))
	c.Roles = stringOrList(cloneStrings(c.Roles))
	c.AMR = stringOrList(cloneStrings(c.AMR))
	if c.UserEpoch != nil {
		n := *c.UserEpoch
		c.UserEpoch = &n
	}
	return c
}

// cloneStrings copies l, keeping nil nil.
func cloneStrings(l []string) []string {
	if l == nil {
		return nil
	}
	return append([]string(nil), l...)
}
