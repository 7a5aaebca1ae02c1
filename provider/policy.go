package provider

import (
	"context"
	"fmt"
	"slices"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
)

// userScopes returns the scopes a user's roles allow, plus the identity scopes.
func userScopes(ctx context.Context, store storage.Store, u *storage.User) ([]string, error) {
	// The identity scopes are granted to any signed-in user the client
	// may ask for them, whatever their roles: they only describe the
	// user to the client.
	allowed := directory.IdentityScopes()
	for _, name := range u.Roles {
		role, err := store.GetRole(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("load role %q of user %s: %w", name, u.ID, err)
		}
		for _, s := range role.Scopes {
			// A look-alike of a protocol scope ("Offline") stored before
			// the directory refused it grants nothing: fosite would read
			// it as the protocol scope (a refresh token for "Offline").
			if !slices.Contains(allowed, s) && !directory.IsProtocolLookAlike(s) {
				allowed = append(allowed, s)
			}
		}
	}
	return allowed, nil
}

// rolesStillGrant refuses (invalid_grant) the exchange of an
// authorization code whose grant the user's roles no longer cover: a
// granted scope their roles stopped allowing, or a role they no longer
// hold, which the code's tokens would name in their roles claim. The code
// was issued under the roles of its sign-in; a role taken away, or a
// scope taken from a role, between the code's issue and its exchange
// would otherwise reach the new tokens. fosite copies the code's grant
// into the tokens as it is, so the grant cannot be narrowed here, as a
// refresh narrows it (applyRefreshPolicy): the user signs in again, and
// is granted what the roles allow now.
func rolesStillGrant(ctx context.Context, store storage.Store, u *storage.User, granted, grantRoles []string) error {
	for _, r := range grantRoles {
		if !slices.Contains(u.Roles, r) {
			return fosite.ErrInvalidGrant.WithHint("The user's roles changed after this authorization code was issued; sign in again.")
		}
	}
	allowed, err := userScopes(ctx, store, u)
	if err != nil {
		return err
	}
	if !allAllowed(granted, allowed) {
		return fosite.ErrInvalidGrant.WithHint("The user's roles no longer allow a scope this authorization code grants; sign in again.")
	}
	return nil
}

// clientStillGrants refuses (invalid_grant) the exchange of an
// authorization code that grants a scope its client's registration no
// longer allows: an admin narrowed the client between the code's issue
// and its exchange. fosite checks a code exchange against the client's
// registration for its redirect URI only, and copies the code's grant
// into the tokens as it is; a refresh of such a grant is refused the same
// way (refreshRegistrationError). client is the one that authenticated
// the exchange, as registered now.
func clientStillGrants(client fosite.Client, granted []string) error {
	if !allAllowed(granted, client.GetScopes()) {
		return fosite.ErrInvalidGrant.WithHint("This authorization code grants a scope the client may no longer be granted; sign in again.")
	}
	return nil
}

// allAllowed reports whether every scope of granted is in allowed.
func allAllowed(granted, allowed []string) bool {
	return !slices.ContainsFunc(granted, func(s string) bool { return !slices.Contains(allowed, s) })
}

// grantedScopes applies the rule for a user's grant (README "Users, roles
// and scopes"): granted = requested ∩ client's allowed ∩ (the user's
// roles' scopes ∪ identity scopes). fosite has already refused requests for scopes outside the
// client's allowed list, so only the user's side is left to intersect.
func grantedScopes(requested, clientAllowed, userAllowed []string) []string {
	var out []string
	for _, s := range requested {
		if slices.Contains(clientAllowed, s) && slices.Contains(userAllowed, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// idTokenExtra are the ID token's claims beyond those fosite sets: the
// user's claims the granted scopes release, and sid, the browser session
// the grant began in (OpenID Front-/Back-Channel Logout), which a logout
// request's id_token_hint names. A refresh keeps the sid: the grant still
// began in that session.
func idTokenExtra(u *storage.User, scopes []string, sid string) map[string]any {
	c := userClaims(u, scopes)
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

// userClaims are the OpenID Connect claims the granted scopes release
// (OIDC Core §5.4), for the ID token and userinfo.
func userClaims(u *storage.User, scopes []string) map[string]any {
	c := map[string]any{}
	if slices.Contains(scopes, "profile") {
		c["preferred_username"] = u.Username
		if u.Name != "" {
			c["name"] = u.Name
		}
		// Roles describe the user to the app (what to show them); what
		// they may do is still decided by the access token's scopes.
		c["roles"] = append([]string{}, u.Roles...) // [], not null, when none
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	return c
}
