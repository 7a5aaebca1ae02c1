package provider_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/hallpass/hallpass/storage"
)

// TestTokenRequestRacingClientDeletion: a token request (a refresh, a code
// exchange) that has written its new refresh token, and holds it
// uncommitted, when its client is deleted. On PostgreSQL the deletion's
// DELETE of the client's token rows waits for the request's lock of the
// refresh token or code it spends and goes on once the request commits,
// but at READ COMMITTED it deletes only the rows that existed when it
// began: the request's new refresh and access tokens outlived the client.
// Registered again under the same id (an app deleted and set up anew),
// the client got them back: its old refresh token was good for new
// tokens, which a client's random first token epoch is there to prevent.
// Once the deletion has answered, the request's refresh token has no row
// left, and neither it nor the access token is good for the client
// registered again. SQLite's transactions hold its one write lock from the start,
// so the deletion there runs wholly after the request.
func TestTokenRequestRacingClientDeletion(t *testing.T) {
	const scope = "openid offline_access results:read"
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, race := newTokenRace(t, dsn)
		n := 0
		for _, rq := range []struct {
			name string
			// form returns the token request to race, for client c's
			// grant g, signed in in b.
			form func(t *testing.T, b *browser, c *ssoClient, g grant) url.Values
		}{
			{"refresh", func(t *testing.T, _ *browser, _ *ssoClient, g grant) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.Refresh}}
			}},
			{"code exchange", func(t *testing.T, b *browser, c *ssoClient, _ grant) url.Values {
				ar, cb := e.code(t, b, c, scope)
				return redeemForm(ar, cb.Code)
			}},
		} {
			for round := range 2 {
				n++
				t.Run(fmt.Sprintf("%s/%d", rq.name, round), func(t *testing.T) {
					id := fmt.Sprintf("doomed-%d", n)
					redirect := fmt.Sprintf("https://doomed%d.example/cb", n)
					logout := fmt.Sprintf("https://doomed%d.example/bye", n)
					c := e.registerClient(t, id, redirect, logout)
					b := e.newBrowser(t)
					g := e.grant(t, b, c, "alice", alicePassword, scope)
					form := rq.form(t, b, c, g)

					tok := race.run(t, e, c, form, "the client's deletion", func() error {
						return e.adminNoT(http.MethodDelete, "/admin/clients/"+id, nil, http.StatusNoContent)
					})

					if _, err := e.Store.GetToken(e.ctx(), storage.KindRefreshToken, rowKey(storage.KindRefreshToken, tok.RefreshToken)); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("the refresh token the request issued, after its client's deletion: GetToken = %v, want its row gone", err)
					}
					again := e.registerClient(t, id, redirect, logout)
					who := credOf(again.Meta)
					e.WantInactive(t, "the refresh token the request issued, its client registered again", who, tok.RefreshToken, "refresh_token")
					e.WantInactive(t, "the access token the request issued, its client registered again", who, tok.AccessToken, "access_token")
					if r := e.refresh(t, again, tok.RefreshToken, ""); r.Status != http.StatusBadRequest {
						t.Errorf("a refresh with the refresh token the request issued, by its client registered again: status %d, want 400: %.200s", r.Status, r.Body)
					}
				})
			}
		}
	})
}
