package fositestore

import (
	"encoding/json"

	"github.com/go-jose/go-jose/v3"

	"github.com/hallpass/hallpass/storage"
)

// clientKeySet decodes a client's registered JWK Set into go-jose v3, the
// version fosite verifies assertions with. The directory stored it
// normalized (public signing keys only, use "sig", which fosite requires),
// so a set that no longer decodes is treated as none: the client then
// fails to authenticate instead of the request failing on our side.
func clientKeySet(c *storage.Client) *jose.JSONWebKeySet {
	if c == nil || c.JWKS == "" {
		return nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(c.JWKS), &set); err != nil || len(set.Keys) == 0 {
		return nil
	}
	return &set
}
