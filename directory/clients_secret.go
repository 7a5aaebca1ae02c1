package directory

import (
	"context"

	"github.com/hallpass/hallpass/storage"
)

// RotateSecret gives confidential client id a new secret and returns the
// client with it, shown this once; the old secret stops working at once.
// A client whose method uses no secret (public, private_key_jwt) has
// none to rotate; a built-in one (IsBuiltin) is
// a conflict.
func (s *Clients) RotateSecret(ctx context.Context, id string) (ClientMetadata, error) {
	if err := s.refuseBuiltin(id); err != nil {
		return ClientMetadata{}, err
	}
	var c *storage.Client
	var secret string
	err := inTransaction(ctx, s.store, func(tx context.Context) error {
		var err error
		if c, err = s.lockedClient(tx, id); err != nil {
			return err
		}
		if err := refuseSecret("token_endpoint_auth_method", id, c.TokenEndpointAuthMethod); err != nil {
			return err
		}
		var digest []byte
		secret, digest = newClientSecret()
		c.SecretHash, c.UpdatedAt = digest, stamp(s.now())
		if err := s.store.UpdateClient(tx, c); err != nil {
			return storeErr(err, ObjectClient, id)
		}
		return nil
	})
	if err != nil {
		return ClientMetadata{}, err
	}
	record(ctx, s.audit, ObjectClient, "update", id, []string{"client_secret"}, nil)
	return metadataFor(c, secret), nil
}
