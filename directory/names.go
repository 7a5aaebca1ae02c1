package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hallpass/hallpass/storage"
)

// ProtocolScopes are the scopes OAuth 2.0, OpenID Connect and fosite give
// a meaning of their own: the identity scopes (IdentityScopes), offline
// (which fosite, like offline_access, answers with a refresh token), and
// the address and phone claims' scopes (OIDC Core §5.4). No registered
// scope may be named as one of them but for case: fosite compares scopes
// without case in places (fosite.Arguments.Has: userinfo's openid check,
// its OpenID Connect handler, which scopes get a refresh token) and
// hallpass exactly in others, so a scope "OPENID" or "Offline" would be
// that scope to some code and another scope to the rest.
func ProtocolScopes() []string {
	return append(IdentityScopes(), otherProtocolScopes()...)
}

// otherProtocolScopes are the protocol scopes (ProtocolScopes) that are
// not identity scopes.
func otherProtocolScopes() []string { return []string{"offline", "address", "phone"} }

// protocolLookAlike returns the protocol scope (ProtocolScopes) that s
// differs from only by case, and true; or false when there is none (s is
// a protocol scope exactly, or differs from each by more than case). It
// walks the two lists ProtocolScopes joins rather than joining them: the
// provider asks it of every scope of a user's roles at each sign-in and
// token request, where the joined list was an allocation each time.
func protocolLookAlike(s string) (string, bool) {
	for _, list := range [...][]string{IdentityScopes(), otherProtocolScopes()} {
		for _, id := range list {
			if s != id && strings.EqualFold(s, id) {
				return id, true
			}
		}
	}
	return "", false
}

// IsProtocolLookAlike reports whether s names a protocol scope
// (ProtocolScopes) but for case. The directory refuses such a name
// wherever a scope is named; a role or client stored before it did (or
// written behind its back) may still hold one, and the provider grants it
// to nobody, since fosite would read it as the protocol scope.
func IsProtocolLookAlike(s string) bool {
	_, ok := protocolLookAlike(s)
	return ok
}

// lookAlikeReason says why a scope named like protocol scope id but for
// case is refused, wherever it is named.
func lookAlikeReason(id string) string {
	return fmt.Sprintf("differs only by case from %s, a scope of the protocol: hallpass compares scope names exactly and the OAuth library it uses without case in places, so it would be another scope to some code and %s to the rest", id, id)
}

// NameKey returns the form under which the directory tells role names,
// scope names and client ids apart, as it does usernames (UsernameKey):
// two names have the same key exactly when they differ only by case.
// Configuration as code plans with it (and NameTaken).
func NameKey(name string) string { return UsernameKey(name) }

// NameTaken returns the refusal (ErrConflict) that creating a role, a
// registered scope or a client (object) named name meets while another
// of its kind named holder exists: holder is the same name, or differs
// from it only by case ("Admin" beside the console's "admin" role, a
// client "App" beside "app"), which people reading the console, the
// audit log or a token take for the same one, and which fosite, for
// scopes, compares without case in places. It is nil when the two differ
// by more. Configuration as code plans with it (and NameKey), so that a
// plan fails where its apply would.
func NameTaken(object Object, name, holder string) error {
	switch {
	case holder == name:
		return conflict(object, name)
	case strings.EqualFold(holder, name):
		what := string(object) + " name"
		if object == ObjectClient {
			what = "client id"
		}
		return &Error{Kind: ErrConflict, Object: object,
			Message: fmt.Sprintf("%s %q is taken (by %q); %ss differ by more than case", what, name, holder, what)}
	}
	return nil
}

// nameFree refuses name, of a new role, scope or client (object), when a
// record of its kind holds it or one differing from it only by case
// (NameTaken); find is the store's lookup of that kind
// (storage.Store.FindRoleNamesFold and the like). Run in the transaction
// that creates the record: it first takes the store's name lock
// (storage.Store.LockNames), so that of two transactions creating case
// variants at the same moment the second waits and then sees the
// first's record. Only the exact name is unique in the database: a
// database from before this rule may hold case variants ("admin" and
// "Admin"), which stay as they are, each read, updated and deleted by
// its exact name and working as before; only a new variant of them is
// refused.
func nameFree(ctx context.Context, store storage.Store, object Object, find func(context.Context, string) ([]string, error), name string) error {
	if err := store.LockNames(ctx); err != nil {
		return fmt.Errorf("check whether %s %q is taken: %w", object, name, err)
	}
	taken, err := find(ctx, name)
	if err != nil {
		return fmt.Errorf("check whether %s %q is taken: %w", object, name, err)
	}
	if len(taken) == 0 {
		return nil
	}
	holder := taken[0]
	if slices.Contains(taken, name) {
		holder = name
	}
	return NameTaken(object, name, holder)
}
