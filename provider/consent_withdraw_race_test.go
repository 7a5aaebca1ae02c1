package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// withdrawingStore runs hook once, when armed, right after the
// authorization endpoint has read a signed-in user's session and consent
// to client (GetSignedIn): the moment a withdrawal that commits then
// leaves the flow holding a consent that no longer exists.
type withdrawingStore struct {
	storage.Store
	client string
	hook   atomic.Pointer[func()]
}

func (s *withdrawingStore) GetSignedIn(ctx context.Context, id, clientID string) (*storage.SignedIn, error) {
	si, err := s.Store.GetSignedIn(ctx, id, clientID)
	if err == nil && clientID == s.client && si.Consent != nil {
		if hook := s.hook.Swap(nil); hook != nil {
			(*hook)()
		}
	}
	return si, err
}

// TestConsentWithdrawnDuringAuthorization checks that a consent the user
// withdraws on the account page while an authorization request that
// relies on it is between reading it and issuing its code issues no
// code: the withdrawal ended the grants the user had, and a code written
// after it would have started a new one without consent.
func TestConsentWithdrawnDuringAuthorization(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &withdrawingStore{client: publicID}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
		})
		const scope = "openid offline_access results:read"
		b := e.newBrowser(t)
		e.grant(t, b, e.Public, "alice", alicePassword, scope) // consents

		// alice's account page, in another browser.
		a := e.newBrowser(t)
		if p := e.consoleSignIn(t, a, provider.PathAccount, "alice", alicePassword); p.Status != http.StatusOK {
			t.Fatalf("alice's account page: %s", p)
		}
		csrf := a.formCSRF(t, e)
		var withdrew atomic.Int64
		hook := func() {
			// Not the test's goroutine: no t.Fatal here.
			resp, err := a.http.PostForm(e.URL+"/account/apps/"+publicID+"/withdraw", url.Values{"csrf": {csrf}})
			if err == nil {
				withdrew.Store(int64(resp.StatusCode))
				resp.Body.Close()
			}
		}
		st.hook.Store(&hook)

		ar := e.Public.request(scope)
		cb := e.callback(t, b.get(t, ar.URL), ar)
		if w := withdrew.Load(); w != http.StatusOK {
			t.Fatalf("the withdrawal during the request answered %d, want 200", w)
		}
		cb.wantError(t, "access_denied")
		if cb.Code != "" {
			if tok, err := e.tryExchange(ar, cb); err == nil {
				t.Errorf("the code issued with the withdrawn consent was exchanged for tokens (refresh token %t)", tok.RefreshToken != "")
			}
		}

		// The app asks again: the consent page, not a code.
		ar = e.Public.request(scope)
		if p := b.get(t, ar.URL); p.kind() != "consent" {
			t.Errorf("after the withdrawal: %s, want the consent page", p)
		}
	})
}
