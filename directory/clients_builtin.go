package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hallpass/hallpass/storage"
)

// IsBuiltin reports whether client id is one hallpass registers itself
// (Options.BuiltinClients): listed and read like any other, never
// created, changed or deleted through the service's other calls.
func (s *Clients) IsBuiltin(id string) bool { return slices.Contains(s.builtin, id) }

// refuseBuiltin refuses a change of client id when it is built in: every
// surface (admin API, console, CLI, configuration as code) reaches the
// service, so this one check keeps all of them from breaking the sign-in
// of hallpass's own console and account page.
func (s *Clients) refuseBuiltin(id string) error {
	if !s.IsBuiltin(id) {
		return nil
	}
	return &Error{Kind: ErrConflict, Object: ObjectClient,
		Message: fmt.Sprintf("%s is hallpass's own client; it cannot be changed or deleted", id)}
}

// IsReserved reports whether id may not be the id of a new client: a
// built-in client's id, or one that differs from it only by case or by
// surrounding spaces ("Hallpass-Console"), which people reading the
// console's client list or the audit log would take for hallpass's own
// client. An existing client is still named exactly (IsBuiltin), so
// one created before this rule can be changed or deleted.
func (s *Clients) IsReserved(id string) bool {
	id = strings.TrimSpace(id)
	return slices.ContainsFunc(s.builtin, func(b string) bool { return strings.EqualFold(b, id) })
}

// refuseReserved refuses id as the id of a new client when IsReserved.
func (s *Clients) refuseReserved(id string) error {
	trimmed := strings.TrimSpace(id)
	for _, b := range s.builtin {
		switch {
		case b == trimmed:
			return s.refuseBuiltin(b)
		case strings.EqualFold(b, trimmed):
			return &Error{Kind: ErrConflict, Object: ObjectClient,
				Message: fmt.Sprintf("client id %q is reserved: it differs only by case from %s, hallpass's own client", id, b)}
		}
	}
	return nil
}

// RegisterBuiltin creates built-in client m.ClientID as m describes it,
// or replaces its metadata (keeping its secret, as Update does) unless it
// is stored exactly as m would store it, every field compared: the one
// way to write a client of Options.BuiltinClients, for hallpass's start-up
// alone, which keeps it as its console and account page need it, however
// its row was edited behind the service's back. Another id is an error.
// Two replicas starting at once may both create it: the loser gets
// ErrConflict. Its redirect URIs may use plain http on
// Options.BuiltinHTTPOrigin, the issuer's own origin when the operator
// chose an http issuer on a network host.
func (s *Clients) RegisterBuiltin(ctx context.Context, m ClientMetadata) (ClientMetadata, error) {
	if !s.IsBuiltin(m.ClientID) {
		return ClientMetadata{}, fmt.Errorf("register built-in client %q: not a built-in client", m.ClientID)
	}
	m.httpOrigin = s.builtinHTTPOrigin
	old, err := s.store.GetClient(ctx, m.ClientID)
	switch {
	case err == nil && storedAs(old, m):
		// Each start of each replica comes here: no write, and no audit
		// entry of a change that changed nothing.
		return viewClient(old), nil
	case err == nil:
		return s.update(ctx, m.ClientID, m, "")
	case errors.Is(err, storage.ErrNotFound):
		return s.create(ctx, m, m.ClientID, "create")
	}
	return ClientMetadata{}, storeErr(err, ObjectClient, m.ClientID)
}

// storedAs reports whether client c is stored as registering metadata m
// would store it: every field of the metadata, and a secret exactly when
// its authentication method uses one.
func storedAs(c *storage.Client, m ClientMetadata) bool {
	want, err := m.validate()
	if err != nil {
		return false
	}
	want.ID = c.ID // validate leaves the id to its caller
	return len(changedFields(viewClient(c), viewClient(want))) == 0 &&
		(len(c.SecretHash) > 0) == usesSecret(want.TokenEndpointAuthMethod)
}
