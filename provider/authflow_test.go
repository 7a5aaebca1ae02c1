package provider_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// failingLoginRecordStore is a store whose record of a login on a
// pending request fails, as when the database goes away.
type failingLoginRecordStore struct{ storage.Store }

func (failingLoginRecordStore) SetAuthRequestLogin(context.Context, string, string, time.Time, []string) error {
	return errors.New("injected: database unavailable")
}

// TestLoginRecordFailure: a login whose record on the pending request
// fails leaves the request as it was and is answered as our failure, a
// 5xx, not as the user's (a wrong password, an expired request).
func TestLoginRecordFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) { c.Store = failingLoginRecordStore{c.Store} })
		b := e.newBrowser(t)
		login := b.get(t, e.Public.request("openid").URL).want(t, "login")
		handle := login.form(t).hidden().Get("request")
		if handle == "" {
			t.Fatal("the login form names no pending request")
		}
		p := b.login(t, login, "alice", alicePassword)
		if p.Status < http.StatusInternalServerError {
			t.Errorf("login whose record failed: status %d, want a 5xx", p.Status)
		}
		pending, err := e.Store.GetAuthRequest(context.Background(), web.Digest(handle))
		if err != nil {
			t.Fatalf("the pending request: %v", err)
		}
		if pending.UserID != "" || !pending.AuthTime.IsZero() {
			t.Errorf("pending request records user %q at %v although recording the login failed", pending.UserID, pending.AuthTime)
		}
	})
}
