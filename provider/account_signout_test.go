package provider_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// TestAccountSignOutNeedsNoFactorReads: signing out of the account page
// ends the sign-in without the check for a missing second factor, whose
// reads (the user's authenticator and passkeys) it does not need: while
// they fail, the sign-out still works and the session is gone.
func TestAccountSignOutNeedsNoFactorReads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &nthStore{failOn: []string{"GetTOTP"}}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
		})
		b := e.newBrowser(t)
		home := e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword)
		session := b.sessionID(t)
		st.fail.Store(1 << 20)
		defer st.fail.Store(0)
		if p := b.submitTo(t, home, "/signout", nil); p.Status != http.StatusOK {
			t.Fatalf("sign out while the authenticator cannot be read: %s", p)
		}
		if _, err := e.Store.GetBrowserSession(t.Context(), session); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the browser session after signing out: %v, want not found", err)
		}
	})
}
