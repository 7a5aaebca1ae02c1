package provider_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// Issue 10 §2 and §3 over HTTP: the password rules at the admin API, and
// a password change ending what the old password started.

// TestAdminPasswordPolicy: POST and PUT /admin/users refuse every password
// the rules refuse with 400 invalid_request saying why, and store nothing.
func TestAdminPasswordPolicy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "create alice", ts.admin(t, http.MethodPost, "/admin/users", map[string]any{
			"username": "alice", "password": alicePassword, "email": "alice@example.com", "name": "Alice Liddell",
		}), http.StatusCreated)

		for _, tc := range []struct {
			name, method, path string
			body               map[string]any
			want               string
		}{
			{"create, 11 characters", http.MethodPost, "/admin/users",
				map[string]any{"username": "carol", "password": "vD9#qLm2!xT"}, "password is too short: use at least 12 characters"},
			{"create, 257 characters", http.MethodPost, "/admin/users",
				map[string]any{"username": "carol", "password": strings.Repeat("vD9#qLm2!xTe", 22)[:257]}, "password is too long: use at most 256 characters"},
			{"create, common password", http.MethodPost, "/admin/users",
				map[string]any{"username": "carol", "password": "password1234"}, "password is too easy to guess"},
			{"create, keyboard row", http.MethodPost, "/admin/users",
				map[string]any{"username": "carol", "password": "qwertyuiop12"}, "password is too easy to guess"},
			{"create, contains the username", http.MethodPost, "/admin/users",
				map[string]any{"username": "carol", "password": "violet-CAROL-harbour-31"}, "password must not contain the username"},
			{"create, the user's own name", http.MethodPost, "/admin/users",
				map[string]any{"username": "carol", "name": "Xandrel Quorvith", "password": "xandrelquorvith"}, "password is too easy to guess"},
			{"update, 11 characters", http.MethodPut, "/admin/users/alice",
				map[string]any{"username": "alice", "password": "vD9#qLm2!xT"}, "password is too short"},
			{"update, common password", http.MethodPut, "/admin/users/alice",
				map[string]any{"username": "alice", "password": "iloveyou2024"}, "password is too easy to guess"},
			{"update, contains the username", http.MethodPut, "/admin/users/alice",
				map[string]any{"username": "alice", "password": "Alice-in-violet-harbour"}, "password must not contain the username"},
			// The username checked is the one being set.
			{"update, contains the new username", http.MethodPut, "/admin/users/alice",
				map[string]any{"username": "harbour", "password": alicePassword}, "password must not contain the username"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := ts.directory(t)
				res := ts.admin(t, tc.method, tc.path, tc.body)
				assertError(t, res, http.StatusBadRequest, "invalid_request")
				desc, _ := res.JSON(t)["error_description"].(string)
				if !strings.HasPrefix(desc, "password ") || !strings.Contains(desc, tc.want) {
					t.Errorf("error_description %q, want it to name the password and say %q", desc, tc.want)
				}
				assertNoPassword(t, res, tc.body["password"].(string))
				ts.assertDirectoryUnchanged(t, before)
			})
		}

		// The same paths take a strong password.
		wantStatus(t, "create carol", ts.admin(t, http.MethodPost, "/admin/users",
			map[string]any{"username": "carol", "password": "quiet-copper-meadow-64"}), http.StatusCreated)
		wantStatus(t, "update alice", ts.admin(t, http.MethodPut, "/admin/users/alice",
			map[string]any{"username": "alice", "password": "quiet-copper-meadow-64"}), http.StatusOK)
	})
}

// TestPasswordChangeEndsSessions: after an admin changes a user's password
// the old refresh tokens fail, the access tokens introspect inactive, every
// browser session is gone and a consent page left open mints nothing;
// changing the name or email, or a refused password, ends nothing.
func TestPasswordChangeEndsSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		ctx := context.Background()
		admin := e.adminCred()
		b1, b2 := e.newBrowser(t), e.newBrowser(t)
		g1 := e.grant(t, b1, e.Confidential, "alice", alicePassword, lcScope)
		g2 := e.grant(t, b2, e.Public, "alice", alicePassword, lcScope)
		sessions := []string{b1.sessionID(t), b2.sessionID(t)}
		bob := e.grant(t, e.newBrowser(t), e.Confidential, "bob", bobPassword, lcScope)

		// stillSignedIn fails unless alice's sessions and grants all live.
		stillSignedIn := func(t *testing.T, after string) {
			t.Helper()
			for i, id := range sessions {
				if _, err := e.Store.GetBrowserSession(ctx, id); err != nil {
					t.Errorf("after %s: session %d: %v, want it kept", after, i, err)
				}
			}
			for name, tok := range map[string]string{"access token 1": g1.Access, "refresh token 1": g1.Refresh, "access token 2": g2.Access, "refresh token 2": g2.Refresh} {
				e.WantActive(t, name+" after "+after, admin, tok)
			}
			none := e.Confidential.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
			e.callback(t, b1.get(t, none.URL), none).wantCode(t)
		}

		// Changing anything but the password ends nothing.
		e.setUser(t, "alice", map[string]any{"email": "alice@school.example", "email_verified": true, "name": "Alice P. Liddell", "roles": []string{"teacher"}})
		stillSignedIn(t, "an email and name change")
		// Nor does a password the rules refuse.
		res := e.admin(t, http.MethodPut, "/admin/users/alice", map[string]any{"username": "alice", "password": "password1234", "roles": []string{"teacher"}})
		assertError(t, res, http.StatusBadRequest, "invalid_request")
		stillSignedIn(t, "a refused password")

		// Half-way through another request, at the consent page.
		waiting := e.Confidential.request("openid results:write")
		consent := b1.get(t, waiting.URL).want(t, "consent")

		const newPassword = "quiet-copper-meadow-64"
		e.setUser(t, "alice", map[string]any{"password": newPassword, "email": "alice@school.example", "roles": []string{"teacher"}})

		for i, id := range sessions {
			if _, err := e.Store.GetBrowserSession(ctx, id); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("session %d after the password change: err %v, want it deleted", i, err)
			}
		}
		b1.get(t, e.Confidential.request("openid").URL).want(t, "login")
		b2.get(t, e.Public.request("openid").URL).want(t, "login")
		none := e.Confidential.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, b1.get(t, none.URL), none).wantError(t, "login_required")
		if p := b1.decide(t, consent, "allow"); p.Redirect != nil && p.Redirect.Query().Get("code") != "" {
			t.Errorf("a consent page opened before the password change minted a code: %s", p.Redirect)
		}
		for name, tok := range map[string]string{"access token 1": g1.Access, "refresh token 1": g1.Refresh, "access token 2": g2.Access, "refresh token 2": g2.Refresh} {
			e.WantInactive(t, name+" after the password change", admin, tok, "")
		}
		assertError(t, e.refresh(t, e.Confidential, g1.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		assertError(t, e.refresh(t, e.Public, g2.Refresh, ""), http.StatusBadRequest, "invalid_grant")

		// Another user is untouched.
		e.WantActive(t, "bob's access token", admin, bob.Access)
		oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, bob.Refresh, ""))

		// The old password no longer signs in; the new one does, and its
		// tokens work.
		e.wantLoginRefused(t, e.Confidential, "alice", alicePassword)
		fresh := e.grant(t, e.newBrowser(t), e.Confidential, "alice", newPassword, lcScope)
		e.WantActive(t, "a token of after the change", admin, fresh.Access)
		oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, fresh.Refresh, ""))
	})
}

// resetDuringLogin resets alice's password just after a sign-in checked
// her old password and before its browser session is stored: an admin
// resetting a stolen password while the thief's sign-in is in flight.
type resetDuringLogin struct {
	storage.Store
	armed atomic.Bool
	reset func()
}

func (s *resetDuringLogin) CreateBrowserSession(ctx context.Context, bs *storage.BrowserSession) error {
	if s.armed.CompareAndSwap(true, false) {
		s.reset()
	}
	return s.Store.CreateBrowserSession(ctx, bs)
}

// TestPasswordResetDuringSignIn: a sign-in whose password check ran
// before a reset committed gets no session and no code; the old password
// has stopped working the moment the reset committed.
func TestPasswordResetDuringSignIn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		w := &resetDuringLogin{}
		e := newSSOEnv(t, dsn, func(c *provider.Config) { w.Store = c.Store; c.Store = w })
		const newPassword = "granite-lantern-meadow-77"
		w.reset = func() {
			res := e.admin(t, http.MethodPut, "/admin/users/alice", map[string]any{
				"username": "alice", "password": newPassword, "email": "alice@example.com", "email_verified": true,
				"name": "Alice Liddell", "roles": []string{"teacher"},
			})
			if res.Status != http.StatusOK {
				t.Errorf("reset alice's password: %d %s", res.Status, res.Body)
			}
		}
		thief := e.newBrowser(t)
		login := thief.get(t, e.Confidential.request("openid offline_access").URL).want(t, "login")
		w.armed.Store(true)
		p := thief.login(t, login, "alice", alicePassword)
		if w.armed.Load() {
			t.Fatal("the reset never ran")
		}
		if p.kind() != "login" || !strings.Contains(p.Body, "incorrect") {
			t.Fatalf("a sign-in with the password reset meanwhile: want the login form with an error, got %s", p)
		}
		if _, ok := thief.cookie("hallpass_session"); ok {
			t.Error("the thief's browser got a session cookie")
		}
		ar := e.Confidential.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, thief.get(t, ar.URL), ar).wantError(t, "login_required")
		// The new password works.
		e.signInTokens(t, e.newBrowser(t), e.Confidential.request("openid"), "alice", newPassword)
	})
}
