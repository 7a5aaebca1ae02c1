package provider_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// failingAMRStore is a store whose write of a pending request's
// authentication methods fails, as when the database goes away between
// the two halves of recording a login.
type failingAMRStore struct{ storage.Store }

func (failingAMRStore) SetAuthRequestAMR(context.Context, string, []string) error {
	return errors.New("injected: database unavailable")
}

// TestRecordLoginAtomic: a login whose record on the pending request
// fails half-way leaves the request as it was (no user without the
// methods that signed them in) and is answered as our failure, a 5xx,
// not as the user's.
func TestRecordLoginAtomic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) { c.Store = failingAMRStore{c.Store} })
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
			t.Errorf("pending request records user %q at %v without the methods that signed them in", pending.UserID, pending.AuthTime)
		}
	})
}
