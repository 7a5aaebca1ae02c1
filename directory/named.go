package directory

import (
	"time"

	"github.com/hallpass/hallpass/storage"
)

// IdentityScopes are the OpenID Connect scopes that every signed-in user
// is granted whatever their roles (they only describe the user to the
// client): the provider's policy grants them, and no registered scope
// may give them an audience or be named as one of them but for case.
func IdentityScopes() []string { return []string{"openid", "profile", "email", "offline_access"} }

// RoleView is a role in the admin API and the CLI (body and answer).
type RoleView struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Scopes      []string `json:"scopes"`
	// RequireMFA makes the role's holders sign in with a second factor,
	// enrolling one at their next sign-in if they have none.
	RequireMFA bool      `json:"require_mfa,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

// ScopeView is a registered scope in the admin API and the CLI (body and
// answer).
type ScopeView struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Audience    string    `json:"audience"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

func viewRole(r *storage.Role) RoleView {
	return RoleView{Name: r.Name, Description: r.Description, Scopes: listOf(r.Scopes), RequireMFA: r.RequireMFA, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func viewScope(s *storage.Scope) ScopeView {
	return ScopeView{Name: s.Name, Description: s.Description, Audience: s.Audience, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

func (in RoleView) key() string { return in.Name }

func (in RoleView) checked(name string) (RoleView, error) {
	in.Name = name
	if !validRoleName(in.Name) {
		return in, invalid(ObjectRole, "name", "role name must be %s", roleNameRule)
	}
	if err := plainText(ObjectRole, "description", in.Description, 500, false); err != nil {
		return in, err
	}
	scopes, err := distinct(ObjectRole, "scopes", in.Scopes)
	if err != nil {
		return in, err
	}
	in.Scopes = scopes
	for _, s := range in.Scopes {
		if why := scopeTokenProblem(s); why != "" {
			return in, invalid(ObjectRole, "scopes", "scope %s %s", shown(s), why)
		}
		// A role granting "Offline" would grant refresh tokens, which
		// fosite gives for offline in any case, and nothing else.
		if id, ok := protocolLookAlike(s); ok {
			return in, invalid(ObjectRole, "scopes", "scope %q %s", s, lookAlikeReason(id))
		}
	}
	return in, nil
}

func (in RoleView) record(created, updated time.Time) *storage.Role {
	return &storage.Role{Name: in.Name, Description: in.Description, Scopes: in.Scopes, RequireMFA: in.RequireMFA, CreatedAt: created, UpdatedAt: updated}
}

func (in ScopeView) key() string { return in.Name }

func (in ScopeView) checked(name string) (ScopeView, error) {
	in.Name = name
	if why := scopeTokenProblem(in.Name); why != "" {
		return in, invalid(ObjectScope, "name", "scope name %s %s", shown(in.Name), why)
	}
	if dotSegment(in.Name) {
		// Its admin and console URLs would name another path.
		return in, invalid(ObjectScope, "name", "scope name %q cannot be . or ..", in.Name)
	}
	for _, id := range IdentityScopes() {
		if in.Name == id && in.Audience != "" {
			return in, invalid(ObjectScope, "audience", "%s is granted to every signed-in user whatever their roles, so the resource server %q would accept every user's token: give the audience to a scope that roles grant", id, in.Audience)
		}
	}
	if id, ok := protocolLookAlike(in.Name); ok {
		return in, invalid(ObjectScope, "name", "scope name %q %s", in.Name, lookAlikeReason(id))
	}
	if err := plainText(ObjectScope, "description", in.Description, 500, false); err != nil {
		return in, err
	}
	if in.Audience != "" && !identifier(in.Audience) {
		return in, invalid(ObjectScope, "audience", "audience %s must be an identifier of 1 to %d characters without spaces or control characters", shown(in.Audience), maxURILength)
	}
	return in, nil
}

func (in ScopeView) record(created, updated time.Time) *storage.Scope {
	return &storage.Scope{Name: in.Name, Description: in.Description, Audience: in.Audience, CreatedAt: created, UpdatedAt: updated}
}
