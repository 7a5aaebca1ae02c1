package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// removingStore runs remove once, just before the first browser session
// is created: a passkey removed on the account page while a sign-in with
// it is between checking the passkey and starting its session.
type removingStore struct {
	storage.Store
	once   sync.Once
	remove func(ctx context.Context) error
	err    error
}

func (s *removingStore) CreateBrowserSession(ctx context.Context, bs *storage.BrowserSession) error {
	s.once.Do(func() { s.err = s.remove(ctx) })
	return s.Store.CreateBrowserSession(ctx, bs)
}

// A passkey removed while a sign-in with it is in flight (checked, its
// session not yet started) does not leave that sign-in signed in: the
// removal ended the sessions that existed, so the sign-in must see that
// the passkey is gone, withdraw its session and refuse, issuing no code.
func TestPasskeySignInRacingRemoval(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &removingStore{}
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
		}))
		intruders := newSoftKey(t, e.BobID)
		intruders.store(t, e.Store, "Not bob's key")
		st.remove = func(ctx context.Context) error {
			// As the account page removes it, from bob's own session.
			_, err := directory.New(st.Store, directory.Options{}).Users().RemovePasskey(ctx, e.BobID, b64u.EncodeToString(intruders.id), "bobs-own-session")
			return err
		}

		intruder := e.newBrowser(t)
		ar := e.Confidential.request("openid offline_access")
		login := intruder.get(t, ar.URL)
		p := intruder.submitTo(t, login, provider.PathLoginPasskey, url.Values{"credential": {intruders.assertion(t, challengeOf(t, login), e.URL, "localhost", flagsUPUV)}})
		if st.err != nil {
			t.Fatalf("the removal: %v", st.err)
		}
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `name="password"`) || !strings.Contains(p.Body, "This passkey could not sign you in.") {
			t.Fatalf("a sign-in whose passkey was removed meanwhile: %s, want the login page refusing it", p)
		}
		if p := intruder.get(t, e.Confidential.request("openid").URL); p.kind() != "login" {
			t.Errorf("the intruder's browser after the removal: %s, want the login page", p)
		}
		if n, err := e.Store.ListUserBrowserSessions(t.Context(), e.BobID); err != nil || len(n) != 0 {
			t.Errorf("bob's sessions after the removal: %d (%v), want none", len(n), err)
		}
	})
}

// pausingStore pauses RemovePasskey's transaction once it has ended the
// user's other sessions (told on listed), before it takes their clients
// and commits.
type pausingStore struct {
	storage.Store
	listed chan struct{}
}

// pause is how long the removal waits, its sessions ended, for the
// sign-in to go as far as it can meanwhile.
const pause = 300 * time.Millisecond

func (s *pausingStore) DeleteUserBrowserSessions(ctx context.Context, userID, keep string) error {
	err := s.Store.DeleteUserBrowserSessions(ctx, userID, keep)
	close(s.listed)
	time.Sleep(pause)
	return err
}

// The same race with the removal in flight rather than committed: it has
// ended the sessions there were when the sign-in starts its session, and
// commits while the sign-in confirms. The sign-in's confirmation must
// wait for the removal (the user's row, which the removal locks before
// it ends the sessions) and then see the passkey gone.
func TestPasskeySignInRacingRemovalInFlight(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &removingStore{}
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
		}))
		intruders := newSoftKey(t, e.BobID)
		intruders.store(t, e.Store, "Not bob's key")
		removed := make(chan error, 1)
		st.remove = func(context.Context) error {
			ps := &pausingStore{Store: st.Store, listed: make(chan struct{})}
			go func() {
				_, err := directory.New(ps, directory.Options{}).Users().RemovePasskey(context.Background(), e.BobID, b64u.EncodeToString(intruders.id), "bobs-own-session")
				removed <- err
			}()
			<-ps.listed
			return nil
		}

		intruder := e.newBrowser(t)
		ar := e.Confidential.request("openid offline_access")
		login := intruder.get(t, ar.URL)
		p := intruder.submitTo(t, login, provider.PathLoginPasskey, url.Values{"credential": {intruders.assertion(t, challengeOf(t, login), e.URL, "localhost", flagsUPUV)}})
		if err := <-removed; err != nil {
			t.Fatalf("the removal: %v", err)
		}
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "This passkey could not sign you in.") {
			t.Errorf("a sign-in whose passkey was being removed: %s, want the login page refusing it", p)
		}
		if p := intruder.get(t, e.Confidential.request("openid").URL); p.kind() != "login" {
			t.Errorf("the intruder's browser after the removal: %s, want the login page", p)
		}
		if n, err := e.Store.ListUserBrowserSessions(t.Context(), e.BobID); err != nil || len(n) != 0 {
			t.Errorf("bob's sessions after the removal: %d (%v), want none", len(n), err)
		}
	})
}
