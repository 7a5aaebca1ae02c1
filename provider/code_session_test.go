package provider_test

import (
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/provider"
)

// TestCodeOfEndedSession checks that an authorization code of a client
// registered for back-channel logout, issued in a browser session that
// ended before the code was exchanged (a logout, a new sign-in that
// replaced the session), mints no tokens: the exchange is invalid_grant.
// The logout took the session's clients before this one was among them,
// so the client got an ID token and a refresh token for a session that
// was over, and no back-channel logout notice ever told it so: it kept
// the user signed in after they had signed out. (Clients without a
// backchannel_logout_uri are not checked: TestSSOTwoTabs.)
func TestCodeOfEndedSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, fastOutbox)
		rp, c := newLogoutClient(t, e, "bc-ended")
		endSession := e.URL + provider.PathEndSession
		for _, tc := range []struct {
			name  string
			end   func(t *testing.T, b *browser, idToken string)
			ended bool
		}{
			{"logout with id_token_hint", func(t *testing.T, b *browser, idToken string) {
				b.get(t, endSession+"?"+url.Values{"id_token_hint": {idToken}}.Encode())
			}, true},
			{"logout confirmed", func(t *testing.T, b *browser, _ string) {
				b.submit(t, b.get(t, endSession).want(t, "logout"), url.Values{"confirm": {"yes"}})
			}, true},
			{"a new sign-in replaced the session", func(t *testing.T, b *browser, _ string) {
				ar := c.request("openid", oauth2.SetAuthURLParam("prompt", "login"))
				b.signIn(t, ar, "alice", alicePassword)
			}, true},
			{"session goes on", func(*testing.T, *browser, string) {}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := e.newBrowser(t)
				idToken := e.signInTokens(t, b, c.request("openid offline_access"), "alice", alicePassword).Extra("id_token").(string)
				ar, cb := e.code(t, b, c, "openid offline_access")
				tc.end(t, b, idToken)
				if tc.ended {
					rp.next(t, "the end of the session the client signed in with")
				}
				tok, err := e.tryExchange(ar, cb)
				if !tc.ended {
					if err != nil {
						t.Fatalf("exchange in a live session: %v", err)
					}
					return
				}
				if err == nil {
					t.Fatalf("a code of an ended session minted tokens (refresh token %t)", tok.RefreshToken != "")
				}
				wantRetrieveError(t, err, "invalid_grant")
				// The refusal spent nothing, but the code's session
				// cannot come back: the code is refused again, and a
				// code of a new sign-in is exchanged.
				if _, err := e.tryExchange(ar, cb); err == nil {
					t.Fatal("a code of an ended session, presented again, minted tokens")
				} else {
					wantRetrieveError(t, err, "invalid_grant")
				}
				again := c.request("openid offline_access", oauth2.SetAuthURLParam("prompt", "login"))
				cb2, _ := b.signIn(t, again, "alice", alicePassword)
				cb2.wantCode(t)
				if _, err := e.tryExchange(again, cb2); err != nil {
					t.Fatalf("a code of the sign-in after the end: %v", err)
				}
			})
		}
	})
}
