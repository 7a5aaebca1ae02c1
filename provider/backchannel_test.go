package provider_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// logoutReceiver is a relying party's back-channel logout endpoint: it
// verifies each logout token against hallpass's JWKS as OpenID
// Back-Channel Logout 1.0 §2.6 says, and hands the claims of those that
// pass to the test. fail makes it answer 503 to the first fail requests.
type logoutReceiver struct {
	t        *testing.T
	e        *ssoEnv
	clientID string
	srv      *httptest.Server
	got      chan map[string]any
	mu       sync.Mutex
	fail     int
	requests int
}

func newLogoutReceiver(t *testing.T, e *ssoEnv) *logoutReceiver {
	lr := &logoutReceiver{t: t, e: e, got: make(chan map[string]any, 16)}
	lr.srv = httptest.NewServer(http.HandlerFunc(lr.serve))
	t.Cleanup(lr.srv.Close)
	return lr
}

func (lr *logoutReceiver) serve(w http.ResponseWriter, r *http.Request) {
	lr.mu.Lock()
	lr.requests++
	failing := lr.requests <= lr.fail
	lr.mu.Unlock()
	if failing {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		lr.t.Errorf("logout token sent by %s as %q, want a form POST", r.Method, r.Header.Get("Content-Type"))
	}
	claims, err := lr.verify(r.PostFormValue("logout_token"))
	if err != "" {
		lr.t.Errorf("logout token refused: %s", err)
		http.Error(w, err, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	lr.got <- claims
}

// verify checks a logout token the way §2.6 tells a relying party to.
func (lr *logoutReceiver) verify(raw string) (map[string]any, string) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, "not a signed JWT: " + err.Error()
	}
	if len(tok.Headers) != 1 || tok.Headers[0].ExtraHeaders["typ"] != "logout+jwt" {
		return nil, "typ is not logout+jwt"
	}
	// Verified against the JWKS hallpass publishes, fetched now.
	set, _ := lr.e.fetchJWKS(lr.t)
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return nil, "kid not in the JWKS"
	}
	var std jwt.Claims
	claims := map[string]any{}
	if err := tok.Claims(keys[0].Key, &std, &claims); err != nil {
		return nil, "signature: " + err.Error()
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: lr.e.URL, AnyAudience: jwt.Audience{lr.clientID}, Time: time.Now()}, time.Minute); err != nil {
		return nil, "claims: " + err.Error()
	}
	if std.IssuedAt == nil || std.Expiry == nil || std.ID == "" {
		return nil, "iat, exp or jti missing"
	}
	events, _ := claims["events"].(map[string]any)
	if ev, ok := events["http://schemas.openid.net/event/backchannel-logout"].(map[string]any); !ok || len(ev) != 0 {
		return nil, "events lacks the back-channel logout event"
	}
	if _, ok := claims["nonce"]; ok {
		return nil, "a logout token must not carry a nonce"
	}
	if claims["sid"] == nil && claims["sub"] == nil {
		return nil, "neither sid nor sub"
	}
	return claims, ""
}

// next waits for the next verified logout token.
func (lr *logoutReceiver) next(t *testing.T, why string) map[string]any {
	t.Helper()
	select {
	case c := <-lr.got:
		return c
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no logout token arrived", why)
		return nil
	}
}

// none fails if a logout token is waiting.
func (lr *logoutReceiver) none(t *testing.T, why string) {
	t.Helper()
	select {
	case c := <-lr.got:
		t.Errorf("%s: unexpected logout token %v", why, c)
	default:
	}
}

// TestBackchannelLogout checks that when a browser session ends — by
// logout, a password change, a disable, a deletion — each client that
// got tokens in it and registered a backchannel_logout_uri receives a
// logout token that verifies against the JWKS, naming the session (sid)
// and the user (sub); and that a client that is down gets it on a retry.
func TestBackchannelLogout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		if e.Discovery["backchannel_logout_supported"] != true || e.Discovery["backchannel_logout_session_supported"] != true {
			t.Errorf("discovery backchannel_logout_supported %v, session_supported %v; want true", e.Discovery["backchannel_logout_supported"], e.Discovery["backchannel_logout_session_supported"])
		}
		rp := newLogoutReceiver(t, e)
		c := e.addClient(t, directory.ClientMetadata{
			ClientID: "bc-portal", RedirectURIs: []string{"https://bc.school.example/cb"}, PostLogoutRedirectURIs: []string{"https://bc.school.example/bye"},
			GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "client_secret_basic", Scope: ssoClientScopes,
			BackchannelLogoutURI: rp.srv.URL + "/backchannel", BackchannelLogoutSessionRequired: true,
		})
		rp.clientID = c.Meta.ClientID
		if c.Meta.BackchannelLogoutURI != rp.srv.URL+"/backchannel" || !c.Meta.BackchannelLogoutSessionRequired {
			t.Fatalf("registered %q %v", c.Meta.BackchannelLogoutURI, c.Meta.BackchannelLogoutSessionRequired)
		}
		signIn := func(t *testing.T, user, password string) (*browser, string) {
			t.Helper()
			b := e.newBrowser(t)
			tok := e.signInTokens(t, b, c.request("openid"), user, password)
			sid, _ := rawClaims(t, tok.Extra("id_token").(string))["sid"].(string)
			if sid == "" {
				t.Fatal("ID token without sid")
			}
			return b, tok.Extra("id_token").(string)
		}
		sidOf := func(t *testing.T, idToken string) string { s, _ := rawClaims(t, idToken)["sid"].(string); return s }
		wantFor := func(t *testing.T, why, idToken, sub string) {
			t.Helper()
			claims := rp.next(t, why)
			if claims["sid"] != sidOf(t, idToken) || claims["sub"] != sub || claims["aud"] != rp.clientID {
				t.Errorf("%s: logout token sid %v sub %v aud %v, want sid %s sub %s aud %s", why, claims["sid"], claims["sub"], claims["aud"], sidOf(t, idToken), sub, rp.clientID)
			}
		}

		t.Run("logout", func(t *testing.T) {
			b, idToken := signIn(t, "alice", alicePassword)
			p := b.get(t, e.URL+provider.PathEndSession+"?"+url.Values{"id_token_hint": {idToken}}.Encode())
			if p.Status != http.StatusOK {
				t.Fatalf("logout: %s", p)
			}
			wantFor(t, "logout", idToken, e.AliceID)
			// A session in which another client signed in tells only its own.
			b2 := e.newBrowser(t)
			e.signInTokens(t, b2, e.Confidential.request("openid"), "alice", alicePassword)
			b2.get(t, e.URL+provider.PathEndSession)
			rp.none(t, "logout of a session the client had no tokens in")
		})

		t.Run("password change", func(t *testing.T) {
			_, id1 := signIn(t, "bob", bobPassword)
			_, id2 := signIn(t, "bob", bobPassword)
			res := e.admin(t, http.MethodPut, "/admin/users/bob", map[string]any{"username": "bob", "password": "new-pass-lantern-942", "email": "bob@example.com", "roles": []string{"student"}})
			if res.Status != http.StatusOK {
				t.Fatalf("PUT: %d %s", res.Status, res.Body)
			}
			got := map[any]bool{}
			for range 2 {
				claims := rp.next(t, "password change")
				if claims["sub"] != e.BobID {
					t.Errorf("sub = %v, want bob", claims["sub"])
				}
				got[claims["sid"]] = true
			}
			if !got[sidOf(t, id1)] || !got[sidOf(t, id2)] {
				t.Errorf("logout tokens for sessions %v, want both of bob's", got)
			}
		})

		t.Run("disable, with a retry", func(t *testing.T) {
			_, idToken := signIn(t, "alice", alicePassword)
			rp.mu.Lock()
			rp.fail, rp.requests = 1, 0
			rp.mu.Unlock()
			e.setUser(t, "alice", map[string]any{"email": "alice@example.com", "roles": []string{"teacher"}, "disabled": true})
			wantFor(t, "disable", idToken, e.AliceID)
			rp.mu.Lock()
			if rp.requests != 2 {
				t.Errorf("receiver saw %d requests, want 2 (one refused with 503, one retry)", rp.requests)
			}
			rp.fail = 0
			rp.mu.Unlock()
			e.setUser(t, "alice", map[string]any{"email": "alice@example.com", "roles": []string{"teacher"}, "disabled": false})
		})

		t.Run("deletion", func(t *testing.T) {
			_, idToken := signIn(t, "alice", alicePassword)
			if res := e.admin(t, http.MethodDelete, "/admin/users/alice", nil); res.Status != http.StatusNoContent {
				t.Fatalf("DELETE: %d %s", res.Status, res.Body)
			}
			wantFor(t, "deletion", idToken, e.AliceID)
		})
	})
}

// fastOutbox makes a provider poll the back-channel outbox often, as
// tests cannot wait for the default interval.
func fastOutbox(c *provider.Config) { c.BackchannelPollInterval = 20 * time.Millisecond }

// newLogoutClient registers a client whose back-channel logout endpoint
// is a new receiver.
func newLogoutClient(t *testing.T, e *ssoEnv, id string) (*logoutReceiver, *ssoClient) {
	t.Helper()
	rp := newLogoutReceiver(t, e)
	c := e.addClient(t, directory.ClientMetadata{
		ClientID: id, RedirectURIs: []string{"https://" + id + ".school.example/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "client_secret_basic", Scope: ssoClientScopes,
		BackchannelLogoutURI: rp.srv.URL + "/backchannel",
	})
	rp.clientID = c.Meta.ClientID
	return rp, c
}

// setFailing makes the receiver answer 503 to the next n requests.
func (lr *logoutReceiver) setFailing(n int) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	lr.fail, lr.requests = n, 0
}

// seen returns how many requests the receiver has had.
func (lr *logoutReceiver) seen() int {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.requests
}

// want waits for the next logout token and checks it names session sid
// of user sub.
func (lr *logoutReceiver) want(t *testing.T, why, sid, sub string) {
	t.Helper()
	claims := lr.next(t, why)
	if claims["sid"] != sid || claims["sub"] != sub || claims["aud"] != lr.clientID {
		t.Errorf("%s: logout token sid %v sub %v aud %v, want sid %s sub %s aud %s", why, claims["sid"], claims["sub"], claims["aud"], sid, sub, lr.clientID)
	}
}

// TestBackchannelLogoutSurvivesRestart: a session ends while the client's
// back-channel endpoint is down; the provider that queued the notice
// stops before it could deliver it; a provider started afterwards on the
// same database delivers it once the endpoint is up.
func TestBackchannelLogoutSurvivesRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, fastOutbox)
		rp, c := newLogoutClient(t, e, "bc-restart")
		rp.setFailing(1 << 30)
		b := e.newBrowser(t)
		idToken := e.signInTokens(t, b, c.request("openid"), "alice", alicePassword).Extra("id_token").(string)
		if p := b.get(t, e.URL+provider.PathEndSession+"?"+url.Values{"id_token_hint": {idToken}}.Encode()); p.Status != http.StatusOK {
			t.Fatalf("logout: %s", p)
		}
		for deadline := time.Now().Add(20 * time.Second); rp.seen() == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the first provider never tried to send the logout token")
			}
		}
		e.Provider.Close()
		rp.setFailing(0)
		newTestServer(t, dsn, func(c *provider.Config) { c.Issuer = e.URL }, fastOutbox)
		sid, _ := rawClaims(t, idToken)["sid"].(string)
		rp.want(t, "after a restart", sid, e.AliceID)
	})
}

// TestBackchannelLogoutQueuedByLocalChange: a change made on the database
// with no server running (as the CLI makes it: the directory on a store)
// queues the notice, and a provider started afterwards delivers it.
func TestBackchannelLogoutQueuedByLocalChange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		rp, c := newLogoutClient(t, e, "bc-local")
		e.Provider.Close()
		st := testdb.Open(t, dsn)
		testdb.SignedIn(t, st, e.AliceID, "local", time.Now(), c.Meta.ClientID)
		if err := directory.New(st, directory.Options{}).Users().EndSessions(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		rp.none(t, "with no server running")
		newTestServer(t, dsn, func(c *provider.Config) { c.Issuer = e.URL }, fastOutbox)
		rp.want(t, "queued by a local change", "sid-local", e.AliceID)
	})
}

// TestBackchannelLogoutOnceAcrossReplicas: two providers on one database
// both drain the outbox; each of the notices a change queued reaches the
// client exactly once.
func TestBackchannelLogoutOnceAcrossReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, fastOutbox)
		rp, c := newLogoutClient(t, e, "bc-replicas")
		newTestServer(t, dsn, func(c *provider.Config) { c.Issuer = e.URL }, fastOutbox)
		st := testdb.Open(t, dsn)
		const sessions = 12
		for i := range sessions {
			testdb.SignedIn(t, st, e.BobID, fmt.Sprintf("r%d", i), time.Now(), c.Meta.ClientID)
		}
		// Queued on the database, so neither replica is woken: both
		// find the notices by polling, at once.
		if err := directory.New(st, directory.Options{}).Users().EndSessions(t.Context(), "bob"); err != nil {
			t.Fatal(err)
		}
		got := map[any]int{}
		for range sessions {
			claims := rp.next(t, "ended sessions of bob")
			got[claims["sid"]]++
		}
		time.Sleep(200 * time.Millisecond) // ten polls of each replica
		rp.none(t, "once every session's token arrived")
		for i := range sessions {
			if sid := fmt.Sprintf("sid-r%d", i); got[sid] != 1 {
				t.Errorf("session %s: %d logout tokens, want 1", sid, got[sid])
			}
		}
		if n := rp.seen(); n != sessions {
			t.Errorf("the client was sent %d requests, want %d", n, sessions)
		}
	})
}

// TestBackchannelLogoutNotLostToAFailedQueue: a logout whose queuing of
// the logout notices fails does not end the session without them: it
// fails (the user may still be signed in), ends nothing, and the user's
// next try ends the session and queues the notice, which is delivered.
func TestBackchannelLogoutNotLostToAFailedQueue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &nthStore{failOn: []string{"TakeSessionClients"}}
		e := newSSOEnv(t, dsn, fastOutbox, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
		})
		rp, c := newLogoutClient(t, e, "bc-outage")
		b := e.newBrowser(t)
		idToken := e.signInTokens(t, b, c.request("openid"), "alice", alicePassword).Extra("id_token").(string)
		logout := e.URL + provider.PathEndSession + "?" + url.Values{"id_token_hint": {idToken}}.Encode()
		st.fail.Store(1)
		if p := b.get(t, logout); p.Status == http.StatusOK {
			t.Fatalf("logout whose notices could not be queued: %s, want a failure (the session must not end without them)", p)
		}
		rp.none(t, "after the failed logout")
		if p := b.get(t, logout); p.Status != http.StatusOK {
			t.Fatalf("logout tried again: %s", p)
		}
		sid, _ := rawClaims(t, idToken)["sid"].(string)
		rp.want(t, "logout tried again", sid, e.AliceID)
	})
}

// TestBackchannelReplacedSessionNotLostToAFailedQueue: a sign-in over the
// browser's session whose queuing of the replaced session's notices
// fails is answered as our failure (5xx), not with a sign-in, and
// changes nothing: the old session and its cookie stay, no notice goes.
// Tried again, it replaces the session and the notice is delivered.
func TestBackchannelReplacedSessionNotLostToAFailedQueue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &nthStore{failOn: []string{"TakeSessionClients"}}
		e := newSSOEnv(t, dsn, fastOutbox, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
		})
		rp, c := newLogoutClient(t, e, "bc-replace-outage")
		b := e.newBrowser(t)
		idToken := e.signInTokens(t, b, c.request("openid"), "alice", alicePassword).Extra("id_token").(string)
		first, _ := rawClaims(t, idToken)["sid"].(string)
		old := b.sessionID(t)
		again := func() authRequest { return c.request("openid", oauth2.SetAuthURLParam("prompt", "login")) }

		st.fail.Store(1)
		p := b.login(t, b.get(t, again().URL), "bob", bobPassword)
		if p.Status < http.StatusInternalServerError {
			t.Fatalf("sign-in whose replaced session's notices could not be queued: %s, want a 5xx", p)
		}
		if got := b.sessionID(t); got != old {
			t.Error("the failed sign-in changed the browser's session cookie")
		}
		if s, err := e.Store.GetBrowserSession(t.Context(), old); err != nil || s.SID != first {
			t.Errorf("the session to replace after the failed sign-in: %v, %v; want it kept", s, err)
		}
		rp.none(t, "after the failed sign-in")

		e.signInTokens(t, b, again(), "bob", bobPassword)
		rp.want(t, "the sign-in tried again", first, e.AliceID)
	})
}

// TestBackchannelSelfSignOut: signing out on the account page ends the
// browser's session, as a logout at the end_session endpoint does, and
// so queues the logout notices of the clients that had tokens in it.
func TestBackchannelSelfSignOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, fastOutbox)
		rp, c := newLogoutClient(t, e, "bc-self")
		b := e.newBrowser(t)
		idToken := e.signInTokens(t, b, c.request("openid"), "alice", alicePassword).Extra("id_token").(string)
		session := b.sessionID(t)
		// The account page signs in by the browser's session (SSO).
		if p := b.submitTo(t, b.get(t, e.URL+provider.PathAccount), "/signout", nil); p.Status != http.StatusOK {
			t.Fatalf("sign out on the account page: %s", p)
		}
		// The session's row goes, not only the cookie: a copy of the
		// cookie kept elsewhere signs nobody in.
		if _, err := e.Store.GetBrowserSession(t.Context(), session); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the browser session after signing out on the account page: %v, want not found", err)
		}
		sid, _ := rawClaims(t, idToken)["sid"].(string)
		rp.want(t, "sign out on the account page", sid, e.AliceID)
	})
}

// TestBackchannelLogoutOfAReplacedSession: a sign-in in a browser that
// already has a session replaces that session with a new one (a new
// sid), so the old session has ended, and each app that got tokens in it
// is sent a logout notice naming it. Before, the old session was dropped
// silently: the app kept the first user signed in, and the logout of the
// new session (which names the new sid) never reached it.
func TestBackchannelLogoutOfAReplacedSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, fastOutbox)
		rp, c := newLogoutClient(t, e, "bc-replaced")
		sidOf := func(t *testing.T, tok *oauth2.Token) string {
			t.Helper()
			sid, _ := rawClaims(t, tok.Extra("id_token").(string))["sid"].(string)
			if sid == "" {
				t.Fatal("ID token without sid")
			}
			return sid
		}
		again := func() authRequest { return c.request("openid", oauth2.SetAuthURLParam("prompt", "login")) }
		for _, tc := range []struct {
			name, user, password, sub string
		}{
			{"by another user", "bob", bobPassword, e.BobID},
			{"by the same user", "alice", alicePassword, e.AliceID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := e.newBrowser(t)
				first := sidOf(t, e.signInTokens(t, b, c.request("openid"), "alice", alicePassword))
				rp.none(t, "first sign-in")
				tok := e.signInTokens(t, b, again(), tc.user, tc.password)
				second := sidOf(t, tok)
				if second == first {
					t.Fatalf("the new sign-in kept sid %s", first)
				}
				rp.want(t, "alice's session replaced", first, e.AliceID)
				// The new session is live, and its own logout tells the
				// app about it alone.
				hint := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}}.Encode()
				if p := b.get(t, e.URL+provider.PathEndSession+"?"+hint); p.Status != http.StatusOK {
					t.Fatalf("logout: %s", p)
				}
				rp.want(t, "logout of the new session", second, tc.sub)
				time.Sleep(100 * time.Millisecond) // five outbox polls
				rp.none(t, "after the logout")
			})
		}
	})
}
