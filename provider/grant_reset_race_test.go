package provider_test

import (
	"context"
	"encoding/json"
	"errors"
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

// resetMeetsGrant pauses a change of a user (a password reset) once it
// has written the user's row, whose lock it then holds, and before it
// revokes the user's tokens, until a token request confirms the user's
// credential (confirmGrantUser): the two then go on at once, one for the
// user's token rows, the other for the user's row.
type resetMeetsGrant struct {
	storage.Store
	mu sync.Mutex
	// changed is closed once the reset holds the user's row, confirming
	// once the token request confirms; nil once closed (or never armed).
	changed, confirming chan struct{}
	// updates counts the writes of a user's row since arm: more than one
	// is the reset run again, after the database failed it (40P01).
	updates int
}

// arm makes the next UpdateUser pause until the next
// ConfirmUserCredential, and returns the channel closed when it pauses.
func (s *resetMeetsGrant) arm() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changed, s.confirming, s.updates = make(chan struct{}), make(chan struct{}), 0
	return s.changed
}

// userUpdates returns how often a user's row was written since arm.
func (s *resetMeetsGrant) userUpdates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

func (s *resetMeetsGrant) UpdateUser(ctx context.Context, u *storage.User) error {
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return err
	}
	s.mu.Lock()
	s.updates++
	changed, confirming := s.changed, s.confirming
	s.changed = nil
	s.mu.Unlock()
	if changed == nil {
		return nil
	}
	close(changed)
	select {
	case <-confirming:
		return nil
	case <-time.After(raceWait):
		return errors.New("no token request confirmed the user's credential")
	}
}

func (s *resetMeetsGrant) ConfirmUserCredential(ctx context.Context, userID, passwordHash string) error {
	s.mu.Lock()
	if s.confirming != nil && s.changed == nil {
		close(s.confirming)
		s.confirming = nil
	}
	s.mu.Unlock()
	return s.Store.ConfirmUserCredential(ctx, userID, passwordHash)
}

// TestGrantRacingPasswordReset: a token request that stores a refresh
// token while alice's password is reset. The reset locks her row, then
// her token rows; the request used to spend its code or refresh token
// (locking its row) and confirm her credential (locking her row, FOR
// SHARE) only at the end, so on PostgreSQL the two deadlocked and one
// failed (40P01): the request with a 5xx, or the reset, run again by
// the store after a second's wait. The request now confirms first, and
// waits for the reset: both succeed at once, the request is refused
// (invalid_grant) or its tokens are revoked with the rest, and no
// refresh token of alice is left active. SQLite's transactions hold its one write lock from the
// start, so they cannot interleave like this.
func TestGrantRacingPasswordReset(t *testing.T) {
	dsn := testdb.Postgres(t)
	st := &resetMeetsGrant{}
	e := newSSOEnv(t, dsn, func(c *provider.Config) { st.Store = c.Store; c.Store = st })
	password := alicePassword
	for i, c := range []struct {
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
		t.Run(c.name, func(t *testing.T) {
			form, presented := c.request(t)
			password = fmt.Sprintf("granite-lantern-meadow-%d", 70+i)
			changed := st.arm()
			reset := make(chan result, 1)
			go func() {
				reset <- e.admin(t, http.MethodPut, "/admin/users/alice", map[string]any{
					"username": "alice", "password": password, "email": "alice@example.com", "email_verified": true,
					"name": "Alice Liddell", "roles": []string{"teacher"},
				})
			}()
			select {
			case <-changed:
			case <-time.After(raceWait):
				t.Fatal("the reset never wrote alice's row")
			}
			res := e.tokenRequest(t, e.Confidential, form)
			var r result
			select {
			case r = <-reset:
			case <-time.After(raceWait):
				t.Fatal("the reset did not end")
			}
			if r.Status != http.StatusOK {
				t.Errorf("the reset: status %d, want 200: %s", r.Status, r.Body)
			}
			if n := st.userUpdates(); n != 1 {
				t.Errorf("the reset wrote alice's row %d times, want once: the database failed it (a deadlock) and it was run again", n)
			}
			refreshTokens := []string{presented}
			switch {
			case res.Status == http.StatusOK:
				refreshTokens = append(refreshTokens, oauthtest.DecodeToken(t, res).RefreshToken)
			default:
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
