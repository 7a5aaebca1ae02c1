package directory

import (
	"context"
)

// RotateSecret gives confidential client id a new secret and returns the
// client with it, shown this once; the old secret stops working at once.
// A public client has no secret to rotate; a built-in one (IsBuiltin) is
// a conflict.
func (s *Clients) RotateSecret(ctx context.Context, id string) (ClientMetadata, error) {
	if err := s.refuseBuiltin(id); err != nil {
		return ClientMetadata{}, err
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return ClientMetadata{}, storeErr(err, ObjectClient, id)
	}
	if c.TokenEndpointAuthMethod == "none" {
		return ClientMetadata{}, badMetadata("token_endpoint_auth_method", "client %q is public (token_endpoint_auth_method none): it has no secret to rotate", id)
	}
	secret, digest := newClientSecret()
	c.SecretHash, c.UpdatedAt = digest, stamp(s.now())
	if err := s.store.UpdateClient(ctx, c); err != nil {
		return ClientMetadata{}, storeErr(err, ObjectClient, id)
	}
	record(ctx, s.audit, ObjectClient, "update", id, []string{"client_secret"}, nil)
	return metadataFor(c, secret), nil
}
