package provider_test

import (
	"crypto/rsa"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// keyLookups counts the key lookups of the provider's signature checks:
// each verification of a token's signature looks its key up once, and so
// does each use of a remembered verification (the key must still be
// published).
type keyLookups struct {
	provider.KeyManager
	n atomic.Int64
}

func (k *keyLookups) VerificationKey(kid string) (*rsa.PublicKey, bool) {
	k.n.Add(1)
	return k.KeyManager.VerificationKey(kid)
}

// TestUserinfoVerifiesOnce checks that userinfo checks an access token's
// signature once, as introspection does: fosite's introspection verified
// it a second time (signer.Decode, which no cache spares) after the
// store had. Tokens from before access tokens were self-contained (no
// grant_id, a row of their own) still open userinfo, until their row is
// revoked.
func TestUserinfoVerifiesOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		keys := &keyLookups{}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			keys.KeyManager = c.Keys
			c.Keys = keys
		})
		tok := e.signInTokens(t, e.newBrowser(t), e.Confidential.request("openid profile"), "alice", alicePassword)
		old, err := e.Provider.RowAccessToken(t.Context(), tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ name, token string }{
			{"first use", tok.AccessToken}, {"seen before", tok.AccessToken},
			{"a token with a row, first use", old}, {"a token with a row, seen before", old},
		} {
			keys.n.Store(0)
			res := e.do(t, req{Path: provider.PathUserinfo, Auth: "Bearer " + c.token})
			if res.Status != http.StatusOK || res.JSON(t)["sub"] != e.AliceID {
				t.Fatalf("userinfo, %s: %d %s", c.name, res.Status, res.Body)
			}
			if n := keys.n.Load(); n != 1 {
				t.Errorf("userinfo, %s: %d key lookups, want 1 (one signature check)", c.name, n)
			}
		}

		// The old token's row revoked: userinfo refuses it.
		if res := e.Post(t, e.URL+provider.PathRevoke, credOf(e.Confidential.Meta), url.Values{"token": {old}}); res.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
		if res := e.do(t, req{Path: provider.PathUserinfo, Auth: "Bearer " + old}); res.Status != http.StatusUnauthorized {
			t.Errorf("userinfo with a revoked token with a row: %d %s, want 401", res.Status, res.Body)
		}
	})
}
