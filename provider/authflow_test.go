package provider_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
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

// newTouchFailing is an SSO environment on dsn whose store is a
// failingTouchingStore (failing, alone), whose clock runs skew ahead and
// whose log goes to logs, with alice signed in to the confidential client
// in b.
func newTouchFailing(t *testing.T, dsn string) (e *ssoEnv, b *browser, skew, failing, alone *atomic.Int64, logs *syncBuffer) {
	t.Helper()
	skew, failing, alone, logs = new(atomic.Int64), new(atomic.Int64), new(atomic.Int64), &syncBuffer{}
	e = newSSOEnv(t, dsn, func(c *provider.Config) {
		c.Store = failingTouchingStore{Store: c.Store, failing: failing, alone: alone}
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	b = e.newBrowser(t)
	e.signInTokens(t, b, e.Confidential.request("openid"), "alice", alicePassword)
	return e, b, skew, failing, alone, logs
}

// failingTouchingStore is a store whose write of an authorization code
// together with a session touch (CreateTokensTouching) fails while failing
// is set, as when the database goes away; it counts the touches written
// alone.
type failingTouchingStore struct {
	storage.Store
	failing, alone *atomic.Int64
}

func (s failingTouchingStore) CreateTokensTouching(ctx context.Context, ts []*storage.Token, sessionID string, lastSeen time.Time) error {
	if s.failing.Load() != 0 {
		return errors.New("injected: database unavailable")
	}
	return s.Store.CreateTokensTouching(ctx, ts, sessionID, lastSeen)
}

func (s failingTouchingStore) TouchBrowserSession(ctx context.Context, id string, at time.Time) error {
	s.alone.Add(1)
	return s.Store.TouchBrowserSession(ctx, id, at)
}

// TestIssueWithTouchFailure: a signed-in browser's authorization request
// whose code is written together with the session's last-seen time
// (seen over a minute ago), when that one write fails, is answered as our
// failure at the redirect URI, without a code, and logged as one; the
// touch failed with the code and is not written alone afterwards.
func TestIssueWithTouchFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, b, skew, failing, alone, logs := newTouchFailing(t, dsn)
		skew.Store(int64(2 * time.Minute))
		failing.Store(1)
		alone.Store(0)
		ar := e.Confidential.request("openid")
		e.callback(t, b.get(t, ar.URL), ar).wantError(t, "temporarily_unavailable")
		if n := alone.Load(); n != 0 {
			t.Errorf("the session touch was written alone %d times after it failed with the code", n)
		}
		var logged bool
		for _, r := range logs.records(t) {
			if msg, _ := r["err"].(string); r["msg"] == "authorization request failed" && r["level"] == "ERROR" &&
				strings.Contains(msg, "injected: database unavailable") {
				logged = true
			}
		}
		if !logged {
			t.Errorf("the failed write of the code was not logged as an error naming its cause")
		}
	})
}

// TestSelfSignInIssueFailure: when the code of the console's or the
// account page's own sign-in cannot be written, the authorization
// endpoint sends the browser back to the area's callback with
// temporarily_unavailable; the callback answers that as our failure (503
// with Retry-After, logged at error level with its request id), not as
// the user not being signed in (400), which it was.
func TestSelfSignInIssueFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, b, skew, failing, _, logs := newTouchFailing(t, dsn)

		// Signed in to hallpass a while ago, alice opens her account
		// page: its own sign-in gets a code at once, written with the
		// session's touch, and that write fails.
		skew.Store(int64(2 * time.Minute))
		failing.Store(1)
		p := b.get(t, e.URL+provider.PathAccount)
		if p.URL.Path != provider.PathAccount+"/callback" {
			t.Fatalf("want the account page's callback, got %s", p)
		}
		if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
			t.Errorf("status %d (Retry-After %q), want 503 with Retry-After: %s", p.Status, p.Header.Get("Retry-After"), p)
		}
		if strings.Contains(p.Body, "not signed in") {
			t.Errorf("the page blames the user's sign-in: %s", p)
		}
		if id := p.Header.Get("X-Request-Id"); !logs.logged(t, "ERROR", id) {
			t.Errorf("nothing logged at error level for request %s", id)
		}
		// Once the database is back, the account page opens.
		failing.Store(0)
		if p := b.get(t, e.URL+provider.PathAccount); p.Status != http.StatusOK || p.URL.Path != provider.PathAccount+"/" && p.URL.Path != provider.PathAccount {
			t.Errorf("the account page after the failure: %s", p)
		}
	})
}
