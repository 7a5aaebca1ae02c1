package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

func promptOpt(v string) oauth2.AuthCodeOption    { return oauth2.SetAuthURLParam("prompt", v) }
func loginHintOpt(v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("login_hint", v) }

// TestAuthorizeIDTokenHint checks id_token_hint at the authorization
// endpoint (OIDC Core §3.1.2.1): a hint that is not an ID token hallpass
// issued to the requesting client is refused before the user is asked
// anything; a hint naming someone else than the signed-in user asks them
// to sign in, or fails login_required with prompt=none or once they
// signed in as another user.
func TestAuthorizeIDTokenHint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		idTokenOf := func(b *browser, cl *ssoClient, username, password string) (idToken, accessToken string) {
			t.Helper()
			tok := e.signInTokens(t, b, cl.request("openid"), username, password)
			raw, _ := tok.Extra("id_token").(string)
			if raw == "" {
				t.Fatal("no id_token")
			}
			return raw, tok.AccessToken
		}
		alice := e.newBrowser(t)
		aliceHint, aliceAccess := idTokenOf(alice, c, "alice", alicePassword)
		bobHint, _ := idTokenOf(e.newBrowser(t), c, "bob", bobPassword)
		alicePublicHint, _ := idTokenOf(e.newBrowser(t), e.Public, "alice", alicePassword)
		hinted := func(hint string, extra ...string) authRequest {
			ar := c.request("openid").withParam(t, "id_token_hint", hint)
			for i := 0; i+1 < len(extra); i += 2 {
				ar = ar.withParam(t, extra[i], extra[i+1])
			}
			return ar
		}

		t.Run("the signed-in user's hint", func(t *testing.T) {
			ar := hinted(aliceHint, "prompt", "none")
			tok := e.exchange(t, ar, e.callback(t, alice.get(t, ar.URL), ar))
			if sub := e.idToken(t, c, tok, ar.Nonce).Sub; sub != e.AliceID {
				t.Errorf("sub = %q, want alice %q", sub, e.AliceID)
			}
		})

		t.Run("another user's hint with prompt=none", func(t *testing.T) {
			ar := hinted(bobHint, "prompt", "none")
			e.callback(t, alice.get(t, ar.URL), ar).wantError(t, "login_required")
		})

		t.Run("another user's hint asks to sign in", func(t *testing.T) {
			b := e.newBrowser(t)
			e.signInTokens(t, b, c.request("openid"), "alice", alicePassword)
			ar := hinted(bobHint)
			p := b.get(t, ar.URL).want(t, "login")
			p = b.login(t, p, "bob", bobPassword)
			if p.kind() == "consent" {
				p = b.decide(t, p, "allow")
			}
			tok := e.exchange(t, ar, e.callback(t, p, ar))
			if sub := e.idToken(t, c, tok, ar.Nonce).Sub; sub != e.BobID {
				t.Errorf("sub = %q, want bob %q", sub, e.BobID)
			}
		})

		t.Run("signing in as another user than the hint's", func(t *testing.T) {
			b := e.newBrowser(t)
			e.signInTokens(t, b, c.request("openid"), "alice", alicePassword)
			ar := hinted(bobHint)
			p := b.login(t, b.get(t, ar.URL).want(t, "login"), "alice", alicePassword)
			if p.kind() != "redirect" {
				t.Fatalf("after signing in as alice for bob's hint: %s, want login_required at once, no consent", p)
			}
			e.callback(t, p, ar).wantError(t, "login_required")
		})

		t.Run("a request failed for the hint cannot be taken on", func(t *testing.T) {
			// The client was told login_required: the request's consent
			// page must not then ask alice, record her consent, and go
			// back to the client a second time.
			b := e.newBrowser(t)
			ar := hinted(bobHint).withParam(t, "scope", "openid results:read")
			lp := b.get(t, ar.URL).want(t, "login")
			e.callback(t, b.login(t, lp, "alice", alicePassword), ar).wantError(t, "login_required")
			consent := *lp.URL
			consent.Path = "/consent"
			b.get(t, consent.String()).wantErrorPage(t, http.StatusBadRequest)
		})

		for _, tc := range []struct{ name, hint string }{
			{"not a JWT", "abc.def.ghi"},
			{"an access token", aliceAccess},
			{"another client's ID token", alicePublicHint},
		} {
			t.Run("refused up front: "+tc.name, func(t *testing.T) {
				e.newBrowser(t).refusedUpFront(t, hinted(tc.hint)).wantError(t, "invalid_request")
				ar := hinted(tc.hint, "prompt", "none")
				e.callback(t, alice.get(t, ar.URL), ar).wantError(t, "invalid_request")
				_, res := e.push(t, c, "openid", func(f url.Values) { f.Set("id_token_hint", tc.hint) })
				assertError(t, res, http.StatusBadRequest, "invalid_request")
			})
		}

		t.Run("signed by a key rotated out of signing", func(t *testing.T) {
			e.rotate(t, map[string]any{"immediate": true})
			if kid := tokenKID(t, aliceHint); kid == e.Keys.ActiveKeyID() {
				t.Fatalf("the hint's key %s still signs", kid)
			}
			ar := hinted(aliceHint, "prompt", "none")
			e.callback(t, alice.get(t, ar.URL), ar).wantCode(t)
		})

		t.Run("the hint's key revoked between the code and its exchange", func(t *testing.T) {
			// The hint was checked when the code was issued; the code is
			// redeemed as any other, not failed server_error because
			// fosite decoded the hint again at the exchange.
			ar := hinted(aliceHint, "prompt", "none")
			cb := e.callback(t, alice.get(t, ar.URL), ar)
			cb.wantCode(t)
			if res := e.admin(t, http.MethodPost, "/admin/keys/"+tokenKID(t, aliceHint)+"/revoke", nil); res.Status != http.StatusOK {
				t.Fatalf("revoke the hint's key: status %d: %s", res.Status, res.Body)
			}
			tok := e.exchange(t, ar, cb)
			if sub := e.idToken(t, c, tok, ar.Nonce).Sub; sub != e.AliceID {
				t.Errorf("sub = %q, want alice %q", sub, e.AliceID)
			}
		})
	})
}

// TestAuthorizeLoginHint checks that login_hint prefills the login page's
// username, escaped, and never more: a hint that could be no username
// (too long, other characters) is left out, and a signed-in user is not
// signed out or refused for a hint naming someone else (a hint, OIDC
// Core §3.1.2.1).
func TestAuthorizeLoginHint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		for _, tc := range []struct{ hint, want string }{
			{"alice", "alice"},
			{"alice@school.example", "alice@school.example"},
			{`"><script>x</script>`, ""},
			{strings.Repeat("a", 65), ""},
			{"ali\nce", ""},
			// Text no username could be is not shown as hallpass's own:
			// a right-to-left override ("alice" shown as "ecila"), words.
			{"\u202eecila", ""},
			{"Session expired, enter your password", ""},
		} {
			b := e.newBrowser(t)
			p := b.get(t, c.request("openid", loginHintOpt(tc.hint)).URL).want(t, "login")
			in, ok := p.form(t).input("username")
			if !ok {
				t.Fatalf("login page has no username input: %s", p)
			}
			if in.Value != tc.want {
				t.Errorf("login_hint %q: username prefilled %q, want %q", tc.hint, in.Value, tc.want)
			}
			if strings.Contains(p.Body, "<script>x") {
				t.Errorf("login_hint %q is in the page unescaped", tc.hint)
			}
		}

		b := e.newBrowser(t)
		e.signInTokens(t, b, c.request("openid"), "alice", alicePassword)
		ar := c.request("openid", loginHintOpt("bob"), promptOpt("none"))
		tok := e.exchange(t, ar, e.callback(t, b.get(t, ar.URL), ar))
		if sub := e.idToken(t, c, tok, ar.Nonce).Sub; sub != e.AliceID {
			t.Errorf("prompt=none with login_hint=bob: sub = %q, want the signed-in alice", sub)
		}
	})
}

// TestAuthorizeSelectAccount checks prompt=select_account: hallpass keeps
// one account per browser, so the account is selected by signing in, on
// the login page prefilled with the signed-in account.
func TestAuthorizeSelectAccount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		b := e.newBrowser(t)
		e.signInTokens(t, b, c.request("openid"), "alice", alicePassword)

		ar := c.request("openid", promptOpt("select_account"))
		p := b.get(t, ar.URL).want(t, "login")
		if in, _ := p.form(t).input("username"); in.Value != "alice" {
			t.Errorf("username prefilled %q, want the signed-in alice", in.Value)
		}
		p = b.login(t, p, "bob", bobPassword)
		if p.kind() == "consent" {
			p = b.decide(t, p, "allow")
		}
		tok := e.exchange(t, ar, e.callback(t, p, ar))
		if sub := e.idToken(t, c, tok, ar.Nonce).Sub; sub != e.BobID {
			t.Errorf("sub = %q after selecting bob, want %q", sub, e.BobID)
		}

		// A login_hint comes first; without a session the field is empty.
		p = b.get(t, c.request("openid", promptOpt("select_account"), loginHintOpt("carol")).URL).want(t, "login")
		if in, _ := p.form(t).input("username"); in.Value != "carol" {
			t.Errorf("username prefilled %q, want the login_hint carol", in.Value)
		}
		p = e.newBrowser(t).get(t, c.request("openid", promptOpt("select_account")).URL).want(t, "login")
		if in, _ := p.form(t).input("username"); in.Value != "" {
			t.Errorf("signed out: username prefilled %q, want nothing", in.Value)
		}
		if p.Status != http.StatusOK {
			t.Errorf("status %d", p.Status)
		}
	})
}
