package provider_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// TestRefreshAfterSweepIsNoReplay checks that a refresh token ended by a
// sweep of all its user's or client's grants (a new password, a disable,
// a deletion, an admin's revoke-tokens) and then presented by its app is
// refused (invalid_grant) without being counted or recorded as a replay:
// each sweep otherwise raised a theft alarm for every app the user had
// signed in to. A spent refresh token presented again, after no sweep,
// still is one.
func TestRefreshAfterSweepIsNoReplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		const scope = "openid offline_access results:read"
		reuse := func(t *testing.T) (float64, int) {
			t.Helper()
			v, _ := e.metric(t, "hallpass_token_reuse_detections_total", `grant_type="refresh_token"`)
			return v, len(e.auditPage(t, "limit=1000&type=token.reuse_detected").Entries)
		}
		// Each case signs in a user of its own, who may be changed.
		newUser := func(t *testing.T, name string) {
			t.Helper()
			res := e.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": name, "password": alicePassword, "roles": []string{"teacher"}})
			if res.Status != http.StatusCreated {
				t.Fatalf("create user: %d %s", res.Status, res.Body)
			}
		}
		for i, tc := range []struct {
			name   string
			c      *ssoClient
			sweep  func(t *testing.T, user string)
			replay bool
		}{
			{"password changed", e.Confidential, func(t *testing.T, user string) {
				e.setUser(t, user, map[string]any{"password": "another-violet-otter-harbour-77", "roles": []string{"teacher"}})
			}, false},
			{"user disabled", e.Public, func(t *testing.T, user string) {
				e.setUser(t, user, map[string]any{"roles": []string{"teacher"}, "disabled": true})
			}, false},
			{"user deleted", e.Confidential, func(t *testing.T, user string) {
				if res := e.admin(t, http.MethodDelete, "/admin/users/"+user, nil); res.Status != http.StatusNoContent {
					t.Fatalf("delete user: %d %s", res.Status, res.Body)
				}
			}, false},
			{"client's tokens revoked", e.Public, func(t *testing.T, _ string) {
				if res := e.admin(t, http.MethodPost, "/admin/clients/"+publicID+"/revoke-tokens", nil); res.Status != http.StatusNoContent {
					t.Fatalf("revoke-tokens: %d %s", res.Status, res.Body)
				}
			}, false},
			// The control: a spent refresh token, presented again.
			{"spent token replayed", e.Confidential, nil, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				user := fmt.Sprintf("sweep%d", i)
				newUser(t, user)
				g := e.grant(t, e.newBrowser(t), tc.c, user, alicePassword, scope)
				if tc.sweep != nil {
					tc.sweep(t, user)
				} else if res := e.refresh(t, tc.c, g.Refresh, ""); res.Status != http.StatusOK {
					t.Fatalf("first refresh: %d %s", res.Status, res.Body)
				}
				metricBefore, auditBefore := reuse(t)
				assertError(t, e.refresh(t, tc.c, g.Refresh, ""), http.StatusBadRequest, "invalid_grant")
				metricAfter, auditAfter := reuse(t)
				counted, recorded := metricAfter-metricBefore, auditAfter-auditBefore
				want := 0
				if tc.replay {
					want = 1
				}
				if counted != float64(want) || recorded != want {
					t.Errorf("reuse detections counted %v, recorded %d; want %d of each", counted, recorded, want)
				}
			})
		}
	})
}

// TestRefreshReplayedByAnotherClientIsDetected checks that a spent
// refresh token presented by another client than its own (a thief who
// lacks the confidential client's secret presents it as a public client)
// is still a replay, counted and recorded: the token's client epoch is
// compared with its own client's, never the presenter's, whose random
// epoch differs and made every such replay look like a sweep.
func TestRefreshReplayedByAnotherClientIsDetected(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, "openid offline_access results:read")
		if res := e.refresh(t, e.Confidential, g.Refresh, ""); res.Status != http.StatusOK {
			t.Fatalf("first refresh: %d %s", res.Status, res.Body)
		}
		metricBefore, _ := e.metric(t, "hallpass_token_reuse_detections_total", `grant_type="refresh_token"`)
		auditBefore := len(e.auditPage(t, "limit=1000&type=token.reuse_detected").Entries)
		assertError(t, e.refresh(t, e.Public, g.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		metricAfter, _ := e.metric(t, "hallpass_token_reuse_detections_total", `grant_type="refresh_token"`)
		auditAfter := len(e.auditPage(t, "limit=1000&type=token.reuse_detected").Entries)
		if metricAfter-metricBefore != 1 || auditAfter-auditBefore != 1 {
			t.Errorf("reuse detections counted %v, recorded %d; want 1 of each", metricAfter-metricBefore, auditAfter-auditBefore)
		}
	})
}

// TestRefreshAfterRevocationIsNoReplay checks that a refresh token whose
// grant its own client revoked (RFC 7009; by the refresh token or by an
// access token of the grant) or whose user withdrew consent, presented
// afterwards, is a plain invalid_grant: not counted or recorded as a
// replay, and its row left as the revocation left it (fosite's reuse
// detection, which ran for it, deleted the row and revoked the grant a
// second time). The controls: a spent refresh token replayed while its
// grant stands is one, and so is a rotated one replayed after its grant
// ended, however it ended.
func TestRefreshAfterRevocationIsNoReplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		const scope = "openid offline_access results:read"
		reuse := func(t *testing.T) (float64, int) {
			t.Helper()
			v, _ := e.metric(t, "hallpass_token_reuse_detections_total", `grant_type="refresh_token"`)
			return v, len(e.auditPage(t, "limit=1000&type=token.reuse_detected").Entries)
		}
		for _, tc := range []struct {
			name string
			c    *ssoClient
			// end ends the grant g and returns the refresh token to
			// present afterwards.
			end    func(t *testing.T, g grant) string
			replay bool
		}{
			{"refresh token revoked", e.Confidential, func(t *testing.T, g grant) string {
				e.MustRevoke(t, credOf(e.Confidential.Meta), g.Refresh, "refresh_token")
				return g.Refresh
			}, false},
			{"refresh token revoked without a hint, public client", e.Public, func(t *testing.T, g grant) string {
				e.MustRevoke(t, credOf(e.Public.Meta), g.Refresh, "")
				return g.Refresh
			}, false},
			{"access token revoked", e.Confidential, func(t *testing.T, g grant) string {
				e.MustRevoke(t, credOf(e.Confidential.Meta), g.Access, "access_token")
				return g.Refresh
			}, false},
			{"rotated refresh token revoked", e.Confidential, func(t *testing.T, g grant) string {
				r := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))
				e.MustRevoke(t, credOf(e.Confidential.Meta), r.RefreshToken, "refresh_token")
				return r.RefreshToken
			}, false},
			{"consent withdrawn", e.Public, func(t *testing.T, g grant) string {
				b := e.newBrowser(t)
				if p := e.consoleSignIn(t, b, provider.PathAccount, "alice", alicePassword); p.Status != http.StatusOK {
					t.Fatalf("alice's account page: %s", p)
				}
				csrf := b.formCSRF(t, e)
				if p := b.post(t, e.URL+"/account/apps/"+publicID+"/withdraw", url.Values{"csrf": {csrf}}); p.Status != http.StatusOK {
					t.Fatalf("withdraw consent: %s", p)
				}
				return g.Refresh
			}, false},
			// The controls.
			{"spent token replayed", e.Confidential, func(t *testing.T, g grant) string {
				oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))
				return g.Refresh
			}, true},
			// A thief who refreshed with a stolen token first and then
			// ended the grant must not silence the replay of the rotated
			// token by its app: ending the grant by the access token the
			// refresh gave, by a sign-out (consent withdrawn), or by a
			// sweep of the client's tokens.
			{"rotated token replayed after the grant was revoked by its new access token", e.Public, func(t *testing.T, g grant) string {
				r := oauthtest.DecodeToken(t, e.refresh(t, e.Public, g.Refresh, ""))
				e.MustRevoke(t, credOf(e.Public.Meta), r.AccessToken, "access_token")
				return g.Refresh
			}, true},
			{"rotated token replayed after its successor was revoked", e.Confidential, func(t *testing.T, g grant) string {
				r := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))
				e.MustRevoke(t, credOf(e.Confidential.Meta), r.RefreshToken, "refresh_token")
				return g.Refresh
			}, true},
			{"rotated token replayed after the client's tokens were revoked", e.Public, func(t *testing.T, g grant) string {
				oauthtest.DecodeToken(t, e.refresh(t, e.Public, g.Refresh, ""))
				if res := e.admin(t, http.MethodPost, "/admin/clients/"+publicID+"/revoke-tokens", nil); res.Status != http.StatusNoContent {
					t.Fatalf("revoke-tokens: %d %s", res.Status, res.Body)
				}
				return g.Refresh
			}, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				g := e.grant(t, e.newBrowser(t), tc.c, "alice", alicePassword, scope)
				tok := tc.end(t, g)
				metricBefore, auditBefore := reuse(t)
				for range 2 {
					assertError(t, e.refresh(t, tc.c, tok, ""), http.StatusBadRequest, "invalid_grant")
				}
				metricAfter, auditAfter := reuse(t)
				counted, recorded := metricAfter-metricBefore, auditAfter-auditBefore
				want := 0
				if tc.replay {
					want = 1
				}
				if counted != float64(want) || recorded != want {
					t.Errorf("reuse detections counted %v, recorded %d; want %d of each", counted, recorded, want)
				}
				if !tc.replay {
					if r := e.wantRow(t, "presented after its grant ended", storage.KindRefreshToken, tok); r.Active {
						t.Error("the refresh token's row is active")
					}
				}
			})
		}
	})
}

// revokingStore runs hook once, when armed, right after a refresh token's
// row was read: the moment a revocation that commits then leaves the
// refresh reading a token that its rotation will find spent.
type revokingStore struct {
	storage.Store
	hook atomic.Pointer[func()]
}

func (s *revokingStore) GetToken(ctx context.Context, kind storage.TokenKind, sig string) (*storage.Token, error) {
	t, err := s.Store.GetToken(ctx, kind, sig)
	if err == nil && kind == storage.KindRefreshToken && t.Active {
		if hook := s.hook.Swap(nil); hook != nil {
			(*hook)()
		}
	}
	return t, err
}

// TestRefreshLosingToRevocationIsNoReplay checks that a refresh that
// loses its race to its own client's revocation of the grant (an app
// signing out while a background refresh is in flight) is a plain
// invalid_grant: not counted or recorded as a replay. The revocation
// commits after the refresh read the token and before it spends it.
func TestRefreshLosingToRevocationIsNoReplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &revokingStore{}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
		})
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, "openid offline_access results:read")
		var revoked atomic.Int64
		hook := func() {
			// Not the test's goroutine: no t.Fatal here.
			form := url.Values{"token": {g.Refresh}, "token_type_hint": {"refresh_token"}}
			res := postNoT(http.DefaultClient, e.URL+provider.PathRevoke, basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret), form)
			revoked.Store(int64(res.Status))
		}
		st.hook.Store(&hook)
		metricBefore, _ := e.metric(t, "hallpass_token_reuse_detections_total", `grant_type="refresh_token"`)
		auditBefore := len(e.auditPage(t, "limit=1000&type=token.reuse_detected").Entries)
		assertError(t, e.refresh(t, e.Confidential, g.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		if s := revoked.Load(); s != http.StatusOK {
			t.Fatalf("the revocation during the refresh answered %d, want 200", s)
		}
		metricAfter, _ := e.metric(t, "hallpass_token_reuse_detections_total", `grant_type="refresh_token"`)
		auditAfter := len(e.auditPage(t, "limit=1000&type=token.reuse_detected").Entries)
		if metricAfter != metricBefore || auditAfter != auditBefore {
			t.Errorf("reuse detections counted %v, recorded %d; want none", metricAfter-metricBefore, auditAfter-auditBefore)
		}
		e.WantInactive(t, "the revoked grant's access token", e.adminCred(), g.Access, "")
	})
}
