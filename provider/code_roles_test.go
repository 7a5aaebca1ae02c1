package provider_test

import (
	"net/http"
	"slices"
	"testing"
)

// TestCodeExchangeAfterRolesChanged checks that an authorization code
// issued under roles that changed before its exchange yields no token
// carrying what the roles no longer allow (README "Security model":
// scopes follow roles). A role change advances no token epoch, and the
// exchange of a code without offline_access read no user, so the tokens
// carried the scopes and roles of the sign-in: results:write for a
// teacher demoted to student minutes before. The exchange now answers
// invalid_grant and the user signs in again; a change that takes nothing
// away (a role gained) refuses nothing.
func TestCodeExchangeAfterRolesChanged(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		teacher := []string{"results:read", "results:write", "schedule:write"}
		setRole := func(t *testing.T, scopes []string) {
			t.Helper()
			if res := e.admin(t, http.MethodPut, "/admin/roles/teacher", map[string]any{"name": "teacher", "scopes": scopes}); res.Status != http.StatusOK {
				t.Fatalf("PUT /admin/roles/teacher: %d %s", res.Status, res.Body)
			}
		}
		for _, tc := range []struct {
			name   string
			change func(t *testing.T)
			scope  string
			refuse bool
		}{
			{"user lost the role", func(t *testing.T) { e.setUser(t, "alice", map[string]any{"roles": []string{"student"}}) }, "openid results:write", true},
			{"user lost the role, offline", func(t *testing.T) { e.setUser(t, "alice", map[string]any{"roles": []string{"student"}}) }, "openid offline_access results:write", true},
			// The scopes left are still allowed, but the tokens would
			// name a role alice no longer holds.
			{"user lost the role, scopes still allowed", func(t *testing.T) { e.setUser(t, "alice", map[string]any{"roles": []string{"student"}}) }, "openid results:read", true},
			{"role lost the scope", func(t *testing.T) { setRole(t, []string{"results:read"}) }, "openid results:write", true},
			{"role lost another scope", func(t *testing.T) { setRole(t, []string{"results:read", "results:write"}) }, "openid results:write", false},
			{"user gained a role", func(t *testing.T) { e.setUser(t, "alice", map[string]any{"roles": []string{"teacher", "student"}}) }, "openid results:write", false},
			{"nothing changed", func(t *testing.T) {}, "openid offline_access results:write", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				defer setRole(t, teacher)
				defer e.setUser(t, "alice", map[string]any{"roles": []string{"teacher"}})
				ar := e.Confidential.request(tc.scope)
				cb, _ := e.newBrowser(t).signIn(t, ar, "alice", alicePassword)
				cb.wantCode(t)
				tc.change(t)
				tok, err := e.tryExchange(ar, cb)
				if tc.refuse {
					if err == nil {
						at := e.access(t, tok.AccessToken)
						t.Fatalf("exchange after the change issued tokens: scope %q roles %q", at.Scope, at.Roles)
					}
					wantRetrieveError(t, err, "invalid_grant")
					return
				}
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				if got := grantedScope(t, tok); !slices.Contains(got, "results:write") {
					t.Errorf("granted %q, want results:write kept", got)
				}
			})
		}
	})
}
