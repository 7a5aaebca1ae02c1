package directory

import (
	"context"
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
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return ClientMetadata{}, storeErr(err, ObjectClient, id)
	}
	if err := refuseSecret("token_endpoint_auth_method", id, c.TokenEndpointAuthMethod); err != nil {
		return ClientMetadata{}, err
	}
	secret, digest := newClientSecret()
	c.SecretHash, c.UpdatedAt = digest, stamp(s.now())
	if err := s.store.UpdateClient(ctx, c); err != nil {
		return ClientMetadata{}, storeErr(err, ObjectClient, id)
	}
	record(ctx, s.audit, ObjectClient, "update", id, []string{"client_secret"}, nil)
	return metadataFor(c, secret), nil
}
