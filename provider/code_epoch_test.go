package provider_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// codeWritingStore runs hook once, when armed, right before it writes the
// rows of an authorization code: a change that commits then has read
// no code to end, and the code is written after it, carrying the user's
// token epoch from before it.
type codeWritingStore struct {
	storage.Store
	hook atomic.Pointer[func()]
}

func (s *codeWritingStore) before(ts []*storage.Token) {
	for _, t := range ts {
		if t.Kind == storage.KindAuthorizeCode {
			if hook := s.hook.Swap(nil); hook != nil {
				(*hook)()
			}
			return
		}
	}
}

func (s *codeWritingStore) CreateTokens(ctx context.Context, ts []*storage.Token) error {
	s.before(ts)
	return s.Store.CreateTokens(ctx, ts)
}

func (s *codeWritingStore) CreateTokensTouching(ctx context.Context, ts []*storage.Token, sessionID string, lastSeen time.Time) error {
	s.before(ts)
	return s.Store.CreateTokensTouching(ctx, ts, sessionID, lastSeen)
}

// TestCodeWrittenAfterItsGrantEnded checks that a code issued while its
// user's grants were being ended by a change that leaves their password
// as it is (a reset of their second factors, an admin ending their
// sessions), and written after that change committed, gets no tokens when
// exchanged, with a refresh token as without one: the change advanced the
// user's token epoch, which the code carries from before it. Without a
// refresh token the spend at the user's epoch refused it; with one the
// exchange read the user anew and confirmed only their password, so the
// code outlived the end of every grant of its user and its refresh token
// went on working. The refusal is invalid_grant, and no replay.
func TestCodeWrittenAfterItsGrantEnded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st, logs := &codeWritingStore{}, &lockedBuffer{}
		e := &codeEnv{logs: logs, store: &codeReadingStore{}}
		e.ssoEnv = newSSOEnv(t, dsn, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		})
		changes := map[string]func(user string) error{
			"factors reset": func(user string) error {
				return e.adminNoT(http.MethodDelete, "/admin/users/"+user+"/factors", nil, http.StatusNoContent)
			},
		}
		n := 0
		for name, change := range changes {
			for scopeName, scope := range codeScopes {
				n++
				t.Run(name+" "+scopeName, func(t *testing.T) {
					user := fmt.Sprintf("written%d", n)
					if res := e.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": user, "password": alicePassword, "roles": []string{"teacher"}}); res.Status != http.StatusCreated {
						t.Fatalf("create user: %d %s", res.Status, res.Body)
					}
					b := e.newBrowser(t)
					e.grant(t, b, e.Confidential, user, alicePassword, scope)
					var changeErr atomic.Pointer[error]
					hook := func() {
						err := change(user)
						changeErr.Store(&err)
					}
					st.hook.Store(&hook)
					ar, cb := e.code(t, b, e.Confidential, scope)
					if err := changeErr.Load(); err == nil || *err != nil {
						t.Fatalf("the change before the code's write: %v", err)
					}
					before := e.codeReuse(t)
					tok, err := e.tryExchange(ar, cb)
					if err == nil {
						t.Fatalf("a code written after its user's grants ended got tokens (refresh token %t)", tok.RefreshToken != "")
					}
					wantRetrieveError(t, err, "invalid_grant")
					e.wantReuse(t, before, false)
				})
			}
		}
	})
}

// revocationFailingStore fails, when armed, the next revocation of a
// grant's self-contained access tokens and the next of its refresh
// tokens, once each, as a database that drops a connection would.
type revocationFailingStore struct {
	storage.Store
	access, refresh atomic.Bool
}

func (s *revocationFailingStore) arm() {
	s.access.Store(true)
	s.refresh.Store(true)
}

var errRevocationDropped = fmt.Errorf("%w: connection dropped (test)", storage.ErrUnavailable)

func (s *revocationFailingStore) RevokeAccess(ctx context.Context, ids []string, expires time.Time) error {
	if s.access.Swap(false) {
		return errRevocationDropped
	}
	return s.Store.RevokeAccess(ctx, ids, expires)
}

func (s *revocationFailingStore) DeactivateTokensByRequest(ctx context.Context, kind storage.TokenKind, requestID string) error {
	if kind == storage.KindRefreshToken && s.refresh.Swap(false) {
		return errRevocationDropped
	}
	return s.Store.DeactivateTokensByRequest(ctx, kind, requestID)
}

// TestCodeReplayRevocationFailure checks that a code presented again
// after its exchange ends what that exchange issued even when the
// database fails the revocation fosite makes of it: fosite answers
// invalid_grant whatever its revocation did ("Additionally, an error
// occurred"), so the first exchange's tokens stayed valid while the
// replay was reported with its grant revoked. The revocation is made
// sure of after fosite's, and the replay counted, recorded and logged
// once.
func TestCodeReplayRevocationFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st, logs := &revocationFailingStore{}, &lockedBuffer{}
		e := &codeEnv{logs: logs, store: &codeReadingStore{}}
		e.ssoEnv = newSSOEnv(t, dsn, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		})
		admin := e.adminCred()
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, "openid offline_access results:read")
		before := e.codeReuse(t)
		st.arm()
		_, err := e.tryExchange(g.AR, g.CB)
		wantRetrieveError(t, err, "invalid_grant")
		e.wantReuse(t, before, true)
		e.WantInactive(t, "the first exchange's access token", admin, g.Access, "")
		e.WantInactive(t, "the first exchange's refresh token", admin, g.Refresh, "")
	})
}
