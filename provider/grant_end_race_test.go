package provider_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
)

// refreshEndings are the ends of a grant that a token request of it can
// race: codeEndings, the user's second factors reset, and the grant
// revoked with its access token, access().
func refreshEndings(access func() string) []codeEnding {
	return append(codeEndings[:len(codeEndings):len(codeEndings)],
		codeEnding{"second factors reset", func(t *testing.T, e *codeEnv, _ *ssoClient, user string) func() error {
			return func() error {
				return e.adminNoT(http.MethodDelete, "/admin/users/"+user+"/factors", nil, http.StatusNoContent)
			}
		}},
		codeEnding{"grant revoked", func(t *testing.T, e *codeEnv, c *ssoClient, _ string) func() error {
			return func() error {
				res := postNoT(e.HTTP, e.URL+provider.PathRevoke, oauthtest.BasicAuth(c.Meta.ClientID, c.Meta.ClientSecret),
					url.Values{"token": {access()}, "token_type_hint": {"access_token"}})
				if res.Err != nil || res.Status != http.StatusOK {
					return fmt.Errorf("revoke the grant: %d %v: %s", res.Status, res.Err, res.Body)
				}
				return nil
			}
		}},
	)
}

// TestTokenRequestRacingGrantEnd: a token request (a refresh, a code
// exchange) that has written the grant's new refresh token, and holds it
// uncommitted, when the grant ends (the user's consent withdrawn, their
// password reset, disabled, their second factors reset, the client's
// tokens revoked, the grant revoked). On PostgreSQL the end waits for the
// request's lock of the refresh token or code it spends (or of the user's
// row, which a password reset or a disable takes first), and goes on once
// the request commits. At READ COMMITTED, the statement that waited saw
// the token rows as they were when it began, without the new refresh
// token: when that statement was the one that ends refresh tokens (a
// refresh, and an end that takes no user's row first), the new refresh
// token outlived the end, active at introspection and good for new
// tokens. Once the end has answered, no token the request issued may be
// active, and its refresh token may not be used. SQLite's transactions
// hold its one write lock from the start, so the end there runs wholly
// after the request.
func TestTokenRequestRacingGrantEnd(t *testing.T) {
	const scope = "openid offline_access results:read"
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, race := newTokenRace(t, dsn)
		db := race.db
		c := e.Confidential
		var access string
		n := 0
		for _, rq := range []struct {
			name string
			// form returns the token request to race, for user's
			// grant g, signed in in b.
			form func(t *testing.T, b *browser, g grant) url.Values
		}{
			{"refresh", func(t *testing.T, _ *browser, g grant) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.Refresh}}
			}},
			{"code exchange", func(t *testing.T, b *browser, _ grant) url.Values {
				ar, cb := e.code(t, b, c, scope)
				return redeemForm(ar, cb.Code)
			}},
		} {
			for _, end := range refreshEndings(func() string { return access }) {
				if end.name == "grant revoked" && (rq.name == "code exchange" || db == nil) {
					// A grant is revoked with a token of it, here the
					// access token the refresh ends (with the refresh
					// token it spends). Only where the revocation can
					// be made to read it before the refresh commits
					// (PostgreSQL) does it name a grant; after, it
					// names nothing, and rightly revokes nothing.
					continue
				}
				for round := range 3 {
					n++
					t.Run(fmt.Sprintf("%s/%s/%d", rq.name, end.name, round), func(t *testing.T) {
						user := fmt.Sprintf("racer%d", n)
						if res := e.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": user, "password": alicePassword, "roles": []string{"teacher"}}); res.Status != http.StatusCreated {
							t.Fatalf("create user: %d %s", res.Status, res.Body)
						}
						b := e.newBrowser(t)
						g := e.grant(t, b, c, user, alicePassword, scope)
						access = g.Access
						form := rq.form(t, b, g)
						change := end.prepare(t, e, c, user)

						// The request committed first, the end waiting
						// for it: it got its tokens.
						tok := race.run(t, e, c, form, "the end of the grant", change)
						who := credOf(c.Meta)
						e.WantInactive(t, "the grant's refresh token before the request", who, g.Refresh, "refresh_token")
						e.WantInactive(t, "the refresh token the request issued, after the end", who, tok.RefreshToken, "refresh_token")
						e.WantInactive(t, "the access token the request issued, after the end", who, tok.AccessToken, "access_token")
						if ui := e.do(t, req{Path: provider.PathUserinfo, Auth: "Bearer " + tok.AccessToken}); ui.Status != http.StatusUnauthorized {
							t.Errorf("userinfo with the access token the request issued, after the end: status %d, want 401: %s", ui.Status, ui.Body)
						}
						if again := e.refresh(t, c, tok.RefreshToken, ""); again.Status != http.StatusBadRequest {
							t.Errorf("a refresh with the refresh token the request issued, after the end: status %d, want 400", again.Status)
						}
					})
				}
			}
		}
	})
}

// tokenRace races a token request of an env's server against a change
// that ends what the request spends from: the request writes its new
// refresh token and waits, its transaction open, for the change to start
// (and, on PostgreSQL, to wait for one of its row locks).
type tokenRace struct {
	st *grantResetRace
	// db reads PostgreSQL's locks; nil on SQLite, whose transactions
	// hold its one write lock from the start, so that the change there
	// runs wholly after the request.
	db *sql.DB
}

// newTokenRace returns a school env on dsn whose store lets a tokenRace
// hold a token request's transaction open.
func newTokenRace(t *testing.T, dsn string) (*codeEnv, *tokenRace) {
	t.Helper()
	r := &tokenRace{st: &grantResetRace{}}
	se := newSSOEnv(t, dsn, func(c *provider.Config) { r.st.Store = c.Store; c.Store = r.st })
	if !strings.HasPrefix(dsn, "sqlite:") {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		r.db = db
	}
	return &codeEnv{ssoEnv: se}, r
}

// run sends client c's token request form, and once it has written its
// new refresh token, change (what, in failures), and returns the tokens
// the request got: it must have committed first and been answered 200
// with a refresh token, change having waited for it.
func (r *tokenRace) run(t *testing.T, e *codeEnv, c *ssoClient, form url.Values, what string, change func() error) oauthtest.TokenResponse {
	t.Helper()
	written, goOn := make(chan struct{}), make(chan struct{})
	r.st.set(nil, nil, func() error {
		close(written)
		return await(goOn, what)
	})
	answer := make(chan httpResult, 1)
	go func() {
		answer <- postNoT(e.HTTP, e.URL+provider.PathToken, oauthtest.BasicAuth(c.Meta.ClientID, c.Meta.ClientSecret), form)
	}()
	if err := await(written, "the token request's write"); err != nil {
		t.Fatal(err)
	}
	ended, endErr := make(chan struct{}), make(chan error, 1)
	go func() {
		endErr <- change()
		close(ended)
	}()
	if r.db != nil {
		waitRowLock(t, r.db, ended)
	}
	close(goOn)
	var res httpResult
	select {
	case res = <-answer:
	case <-time.After(raceWait):
		t.Fatalf("waited %v for the token request", raceWait)
	}
	if err := await(ended, what); err != nil {
		t.Fatal(err)
	}
	if err := <-endErr; err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var tok oauthtest.TokenResponse
	if res.Err != nil || res.Status != http.StatusOK || json.Unmarshal([]byte(res.Body), &tok) != nil || tok.RefreshToken == "" {
		t.Fatalf("the token request: %d %v: %.300s", res.Status, res.Err, res.Body)
	}
	return tok
}

// waitRowLock returns once done is closed or a transaction waits for the
// lock of a row of users or tokens (in the schema of db's connections):
// PostgreSQL holds a waiter's place in a tuple lock. It fails the test
// after raceWait.
func waitRowLock(t *testing.T, db *sql.DB, done <-chan struct{}) {
	t.Helper()
	deadline := time.After(raceWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var waiting bool
		if err := db.QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'tuple' AND relation IN ('users'::regclass, 'tokens'::regclass))`).Scan(&waiting); err != nil {
			t.Fatalf("read the locks: %v", err)
		}
		if waiting {
			return
		}
		select {
		case <-done:
			return
		case <-deadline:
			t.Fatalf("waited %v for the end of the grant to wait for a row lock, or to end", raceWait)
		case <-tick.C:
		}
	}
}
