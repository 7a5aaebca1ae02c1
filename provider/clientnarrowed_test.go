package provider_test

import (
	"net/http"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
)

// An admin narrows a client's scopes: a grant holding a scope the client
// may no longer be granted ends (invalid_grant: sign in again, as when
// its audience is narrowed), whether or not the refresh names a scope;
// it is not answered invalid_scope, as if the refresh had asked for the
// scope. A grant within the new scopes refreshes as before.
func TestLifecycleClientScopesNarrowed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		wide := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
		narrow := e.grant(t, b, e.Confidential, "alice", alicePassword, "openid offline_access")

		m := e.Confidential.Meta
		m.Scope = "openid profile email offline_access"
		m.ClientSecret, m.ClientIDIssuedAt, m.ClientSecretExpiresAt = "", 0, nil
		if res := e.admin(t, http.MethodPut, "/admin/clients/"+m.ClientID, m); res.Status != http.StatusOK {
			t.Fatalf("narrow the client: status %d: %s", res.Status, res.Body)
		}

		for _, scope := range []string{"", "openid offline_access"} {
			assertError(t, e.refresh(t, e.Confidential, wide.Refresh, scope), http.StatusBadRequest, "invalid_grant")
		}
		oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, narrow.Refresh, ""))
	})
}
