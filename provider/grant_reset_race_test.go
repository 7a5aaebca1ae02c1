package provider_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// raceWait bounds each wait of a race test for the other side; reaching
// it fails the test.
const raceWait = 30 * time.Second

// await waits for c to be closed, raceWait at most.
func await(c <-chan struct{}, what string) error {
	select {
	case <-c:
		return nil
	case <-time.After(raceWait):
		return fmt.Errorf("waited %v for %s", raceWait, what)
	}
}

// grantResetRace runs hooks at the points where a token request and a
// change of a user (a password reset) meet: each hook runs once, then is
// cleared, and what it returns is returned instead of the call's nil.
type grantResetRace struct {
	storage.Store
	mu sync.Mutex
	// afterUpdate runs once the reset wrote the user's row, whose lock
	// it then holds until it commits, and before it revokes the user's
	// tokens.
	afterUpdate func() error
	// beforeConfirm runs as the token request confirms the user's
	// credential (confirmGrantUser).
	beforeConfirm func() error
	// afterRefreshWrite runs once the token request wrote its new
	// refresh token, in its transaction.
	afterRefreshWrite func() error
	// updates counts the writes of a user's row: more than one in a
	// reset is the reset run again, after the database failed it
	// (40P01).
	updates int
}

// set sets the hooks and the count of updates anew.
func (s *grantResetRace) set(afterUpdate, beforeConfirm, afterRefreshWrite func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterUpdate, s.beforeConfirm, s.afterRefreshWrite, s.updates = afterUpdate, beforeConfirm, afterRefreshWrite, 0
}

// userUpdates returns how often a user's row was written since set.
func (s *grantResetRace) userUpdates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

// take returns the hook *h, if any, and clears it.
func (s *grantResetRace) take(h *func() error) func() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := *h
	*h = nil
	return f
}

func (s *grantResetRace) UpdateUser(ctx context.Context, u *storage.User) error {
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return err
	}
	s.mu.Lock()
	s.updates++
	s.mu.Unlock()
	if f := s.take(&s.afterUpdate); f != nil {
		return f()
	}
	return nil
}

func (s *grantResetRace) ConfirmUserCredential(ctx context.Context, userID, passwordHash string) error {
	if f := s.take(&s.beforeConfirm); f != nil {
		if err := f(); err != nil {
			return err
		}
	}
	return s.Store.ConfirmUserCredential(ctx, userID, passwordHash)
}

func (s *grantResetRace) CreateToken(ctx context.Context, t *storage.Token) error {
	if err := s.Store.CreateToken(ctx, t); err != nil || t.Kind != storage.KindRefreshToken {
		return err
	}
	if f := s.take(&s.afterRefreshWrite); f != nil {
		return f()
	}
	return nil
}

// TestGrantRacingPasswordReset: a token request that stores a refresh
// token while alice's password is reset. The reset locks her row, then
// her token rows; the request used to spend its code or refresh token
// (locking its row) and confirm her credential (locking her row, FOR
// SHARE) only at the end, so on PostgreSQL the two deadlocked and one
// failed (40P01): the request with a 5xx, or the reset, run again by the
// store after a second's wait. The request now confirms first: a reset
// that got her row first is seen (invalid_grant), one that comes later
// waits for the request's commit and revokes its new refresh token.
// Both succeed, at once, and no refresh token of alice is left active.
// SQLite's transactions hold its one write lock from the start, so they
// cannot interleave like this.
func TestGrantRacingPasswordReset(t *testing.T) {
	dsn := testdb.Postgres(t)
	st := &grantResetRace{}
	e := newSSOEnv(t, dsn, func(c *provider.Config) { st.Store = c.Store; c.Store = st })
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	password := alicePassword
	resetN := 0
	// reset resets alice's password, as an admin does, and sends the
	// answer on the channel it returns.
	reset := func(t *testing.T) <-chan result {
		resetN++
		password = fmt.Sprintf("granite-lantern-meadow-%d", 70+resetN)
		body := map[string]any{"username": "alice", "password": password, "email": "alice@example.com",
			"email_verified": true, "name": "Alice Liddell", "roles": []string{"teacher"}}
		done := make(chan result, 1)
		go func() { done <- e.admin(t, http.MethodPut, "/admin/users/alice", body) }()
		return done
	}
	for _, c := range []struct {
		name string
		// request signs alice in and returns the token request to race,
		// and the refresh token it presents, if any.
		request func(t *testing.T) (url.Values, string)
	}{
		{"code exchange", func(t *testing.T) (url.Values, string) {
			ar := e.Confidential.request("openid offline_access")
			cb, _ := e.newBrowser(t).signIn(t, ar, "alice", password)
			return url.Values{"grant_type": {"authorization_code"}, "code": {cb.wantCode(t)},
				"redirect_uri": {ar.RedirectURI}, "code_verifier": {ar.Verifier}}, ""
		}},
		{"refresh", func(t *testing.T) (url.Values, string) {
			tok := e.signInTokens(t, e.newBrowser(t), e.Confidential.request("openid offline_access"), "alice", password)
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, tok.RefreshToken
		}},
	} {
		for _, order := range []struct {
			name string
			// race runs the token request form and a reset, returning
			// their answers.
			race func(t *testing.T, form url.Values) (res, r result)
		}{
			{"reset first", func(t *testing.T, form url.Values) (result, result) {
				// The reset holds alice's row when the request
				// confirms; both then go on.
				changed, confirming := make(chan struct{}), make(chan struct{})
				st.set(func() error {
					close(changed)
					return await(confirming, "the token request's confirmation")
				}, func() error {
					close(confirming)
					return nil
				}, nil)
				done := reset(t)
				if err := await(changed, "the reset's write of alice's row"); err != nil {
					t.Fatal(err)
				}
				res := e.tokenRequest(t, e.Confidential, form)
				return res, receive(t, done, "the reset")
			}},
			{"request first", func(t *testing.T, form url.Values) (result, result) {
				// The request has written its tokens when the reset
				// starts, and goes on once the reset holds alice's
				// row, or waits for it.
				written, goOn, changed := make(chan struct{}), make(chan struct{}), make(chan struct{})
				st.set(func() error {
					close(changed)
					return nil
				}, nil, func() error {
					close(written)
					return await(goOn, "the reset")
				})
				answer := make(chan result, 1)
				go func() { answer <- e.tokenRequest(t, e.Confidential, form) }()
				if err := await(written, "the token request's write"); err != nil {
					t.Fatal(err)
				}
				done := reset(t)
				waitUserRow(t, db, changed)
				close(goOn)
				return receive(t, answer, "the token request"), receive(t, done, "the reset")
			}},
		} {
			t.Run(c.name+"/"+order.name, func(t *testing.T) {
				form, presented := c.request(t)
				res, r := order.race(t, form)
				if r.Status != http.StatusOK {
					t.Errorf("the reset: status %d, want 200: %s", r.Status, r.Body)
				}
				if n := st.userUpdates(); n != 1 {
					t.Errorf("the reset wrote alice's row %d times, want once: the database failed it (a deadlock) and it was run again", n)
				}
				refreshTokens := []string{presented}
				if res.Status == http.StatusOK {
					refreshTokens = append(refreshTokens, oauthtest.DecodeToken(t, res).RefreshToken)
				} else {
					var body struct{ Error string }
					if err := json.Unmarshal(res.Body, &body); err != nil || res.Status != http.StatusBadRequest || body.Error != "invalid_grant" {
						t.Errorf("the token request: status %d, want 200 or 400 invalid_grant: %s", res.Status, res.Body)
					}
				}
				for _, rt := range refreshTokens {
					if rt != "" {
						e.WantInactive(t, "a refresh token of alice after the reset", credOf(e.Confidential.Meta), rt, "refresh_token")
					}
				}
			})
		}
	}
}

// receive returns what c sends, waiting raceWait at most.
func receive(t *testing.T, c <-chan result, what string) result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(raceWait):
		t.Fatalf("waited %v for %s", raceWait, what)
		return result{}
	}
}

// waitUserRow returns once changed is closed (a reset wrote its user's
// row) or a transaction waits for the lock of a row of users (in the
// schema of db's connections): PostgreSQL holds a waiter's place in a
// tuple lock. It fails the test after raceWait.
func waitUserRow(t *testing.T, db *sql.DB, changed <-chan struct{}) {
	t.Helper()
	deadline := time.After(raceWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var waiting bool
		if err := db.QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'tuple' AND relation = 'users'::regclass)`).Scan(&waiting); err != nil {
			t.Fatalf("read the locks: %v", err)
		}
		if waiting {
			return
		}
		select {
		case <-changed:
			return
		case <-deadline:
			t.Fatalf("waited %v for the reset to write its user's row, or to wait for it", raceWait)
		case <-tick.C:
		}
	}
}
