package provider_test

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
)

// The browser sign-in flow (authorization code + PKCE + OIDC), driven by a
// cookie-jar HTTP client, golang.org/x/oauth2 and coreos/go-oidc against a
// real hallpass on every backend.

func TestSSOLoginPageContract(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid")
		p := b.get(t, ar.URL)

		// authorize → 303 → /login?request=…
		if len(p.Hops) != 1 || p.Hops[0].Status != http.StatusSeeOther {
			t.Fatalf("authorize redirects %v, want one 303 to the login page", p.Hops)
		}
		loc, _ := url.Parse(p.Hops[0].Location)
		if loc.Path != provider.PathLogin || loc.Query().Get("request") == "" {
			t.Errorf("authorize redirected to %s, want %s?request=…", loc, provider.PathLogin)
		}
		if strings.Contains(loc.RawQuery, ar.State) || strings.Contains(loc.RawQuery, "client_id") {
			t.Errorf("the login URL carries the request's parameters instead of a handle: %s", loc)
		}
		p.want(t, "login")
		if p.Status != http.StatusOK {
			t.Errorf("login page status %d", p.Status)
		}
		if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("login page Content-Type %q", ct)
		}
		if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("login page CSP %q", csp)
		}
		if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("login page Cache-Control %q, want no-store", cc)
		}

		// DESIGN.md: <input name="username" autocomplete="username">,
		// <input name="password" type="password">, a submit button, each
		// with a label.
		f := p.form(t)
		if f.Method != http.MethodPost {
			t.Errorf("login form method %q, want POST", f.Method)
		}
		user, ok := f.input("username")
		if !ok || user.Autocomplete != "username" {
			t.Errorf("username input = %+v (found %v), want autocomplete=username", user, ok)
		}
		pass, ok := f.input("password")
		if !ok || pass.Type != "password" {
			t.Errorf("password input = %+v (found %v), want type=password", pass, ok)
		}
		for _, in := range []htmlInput{user, pass} {
			if in.ID == "" || f.Labels[in.ID] == "" {
				t.Errorf("input %q has no label (id %q)", in.Name, in.ID)
			}
		}
		if !slices.ContainsFunc(f.Buttons, func(b htmlInput) bool { return b.Type == "submit" }) {
			t.Errorf("login form has no submit button: %+v", f.Buttons)
		}
		if f.hidden().Get("request") == "" {
			t.Error("login form does not post the request handle back")
		}

		// The pending request is bound to this browser by hallpass_auth.
		if v, ok := b.cookie("hallpass_auth"); !ok || v == "" {
			t.Error("no hallpass_auth cookie after the authorization request")
		}
		if _, ok := b.cookie("hallpass_session"); ok {
			t.Error("a session cookie exists before login")
		}

		// Sign in: the session cookie appears, the client gets its code.
		p = b.login(t, p, "alice", alicePassword)
		p = b.decide(t, p, "allow")
		cb := e.callback(t, p, ar)
		cb.wantCode(t)
		if v, ok := b.cookie("hallpass_session"); !ok || v == "" {
			t.Error("no hallpass_session cookie after login")
		}
	})
}

func TestSSOCookieAttributes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid")
		// The authorization endpoint's own answer sets the binding cookie.
		resp := b.raw(t, http.MethodGet, ar.URL, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("authorize: status %d, want 303", resp.StatusCode)
		}
		checkCookie(t, resp, "hallpass_auth")
		login := b.get(t, e.URL+resp.Header.Get("Location")).want(t, "login")
		form := login.form(t).hidden()
		form.Set("username", "alice")
		form.Set("password", alicePassword)
		resp = b.raw(t, http.MethodPost, e.URL+provider.PathLogin, form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: status %d, want 303", resp.StatusCode)
		}
		checkCookie(t, resp, "hallpass_session")
		for _, c := range resp.Cookies() {
			if c.Name == "hallpass_session" && (c.Value == "" || strings.Contains(c.Value, e.AliceID) || strings.Contains(c.Value, "alice")) {
				t.Errorf("session cookie value %q is not an opaque random id", c.Value)
			}
		}
	})
}

// raw sends one request with the browser's cookies, without following
// any redirect.
func (b *browser) raw(t *testing.T, method, target string, form url.Values) *http.Response {
	t.Helper()
	c := *b.http
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	hr, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		hr.Header.Set("Content-Type", formType)
	}
	resp, err := c.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// checkCookie checks DESIGN.md's cookie rules on an http issuer: HttpOnly,
// SameSite=Lax, Path=/, no Domain (Secure and __Host- only under https).
func checkCookie(t *testing.T, resp *http.Response, name string) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name != name {
			continue
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Value == "" {
			t.Errorf("cookie %s: HttpOnly %v SameSite %v Path %q Domain %q; want HttpOnly, Lax, /, no domain (raw %q)",
				name, c.HttpOnly, c.SameSite, c.Path, c.Domain, c.Raw)
		}
		return
	}
	t.Errorf("response sets no %s cookie; Set-Cookie: %q", name, resp.Header.Values("Set-Cookie"))
}

func TestSSOPagesEscapeClientName(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		const evil = `<img src=x onerror="alert(1)">Evil & Co`
		m := e.Confidential.Meta
		m.ClientSecret, m.ClientIDIssuedAt, m.ClientSecretExpiresAt = "", 0, nil
		m.ClientName = evil
		if res := e.admin(t, http.MethodPut, "/admin/clients/"+m.ClientID, m); res.Status != http.StatusOK {
			t.Fatalf("rename client: %d %s", res.Status, res.Body)
		}
		b := e.newBrowser(t)
		login := b.get(t, e.Confidential.request("openid").URL).want(t, "login")
		consent := b.login(t, login, "alice", alicePassword).want(t, "consent")
		for name, p := range map[string]page{"login": login, "consent": consent} {
			if strings.Contains(p.Body, "<img") {
				t.Errorf("%s page embeds the client name unescaped", name)
			}
			if !strings.Contains(p.Body, "&lt;img") {
				t.Errorf("%s page does not show the client name at all", name)
			}
		}
	})
}

func TestSSOScopesFollowRoles(t *testing.T) {
	const asked = "openid profile email offline_access results:read results:write"
	cases := []struct {
		user, password, scope string
		want                  []string
		wantRoles             []string
		// consent lists these descriptions, never those of notListed
		listed, notListed []string
	}{
		{
			user: "bob", password: bobPassword, scope: asked,
			want:      []string{"email", "offline_access", "openid", "profile", "results:read"},
			wantRoles: []string{"student"},
			listed:    []string{"Read exam results"}, notListed: []string{"Publish exam results", "results:write"},
		},
		{
			user: "alice", password: alicePassword, scope: asked,
			want:      []string{"email", "offline_access", "openid", "profile", "results:read", "results:write"},
			wantRoles: []string{"teacher"},
			listed:    []string{"Read exam results", "Publish exam results"}, notListed: []string{"Set the exam schedule"},
		},
		{
			user: "bob", password: bobPassword, scope: "openid results:read results:write",
			want:      []string{"openid", "results:read"},
			wantRoles: []string{"student"},
			listed:    []string{"Read exam results"}, notListed: []string{"Publish exam results", "email address"},
		},
	}
	for _, tc := range cases {
		// A fresh server per case, so no consent is remembered.
		withSSOEnv(t, tc.user+" "+strings.ReplaceAll(tc.scope, " ", "+"), func(t *testing.T, e *ssoEnv) {
			for _, c := range []*ssoClient{e.Confidential, e.Public} {
				t.Run("via "+c.Meta.ClientID, func(t *testing.T) {
					b := e.newBrowser(t)
					ar := c.request(tc.scope)
					cb, tr := b.signIn(t, ar, tc.user, tc.password)
					if !tr.Login || !tr.Consent {
						t.Fatalf("first sign-in: login %v, consent %v; want both", tr.Login, tr.Consent)
					}
					for _, d := range tc.listed {
						if !strings.Contains(tr.ConsentPage.Body, d) {
							t.Errorf("consent page does not list %q", d)
						}
					}
					for _, d := range tc.notListed {
						if strings.Contains(tr.ConsentPage.Body, d) {
							t.Errorf("consent page lists %q, which is not granted", d)
						}
					}
					tok := e.exchange(t, ar, cb)

					if got := grantedScope(t, tok); !slices.Equal(got, tc.want) {
						t.Errorf("token response scope = %q, want %q", got, tc.want)
					}
					at := e.access(t, tok.AccessToken)
					if got := sortedFields(at.Scope); !slices.Equal(got, tc.want) {
						t.Errorf("access token scope = %q, want %q", got, tc.want)
					}
					if at.Issuer != e.URL {
						t.Errorf("access token iss = %q", at.Issuer)
					}
					wantSub := e.AliceID
					if tc.user == "bob" {
						wantSub = e.BobID
					}
					if at.Subject != wantSub {
						t.Errorf("access token sub = %q, want the user id %q", at.Subject, wantSub)
					}
					if at.ClientID != c.Meta.ClientID {
						t.Errorf("access token client_id = %q, want %q", at.ClientID, c.Meta.ClientID)
					}
					if !slices.Equal(at.Roles, tc.wantRoles) {
						t.Errorf("access token roles = %q, want %q", at.Roles, tc.wantRoles)
					}
					if !slices.Contains([]string(at.Audience), schoolAudience) {
						t.Errorf("access token aud = %q, want it to contain %q", at.Audience, schoolAudience)
					}
					if len(at.Audience) != 1 {
						t.Errorf("access token aud = %q, want only the school API", at.Audience)
					}
					if at.Expiry == nil || at.IssuedAt == nil || at.ID == "" {
						t.Errorf("access token lacks exp/iat/jti: %v", at.Raw)
					}

					id := e.idToken(t, c, tok, ar.Nonce)
					if id.Sub != wantSub || id.Sub == tc.user {
						t.Errorf("ID token sub = %q, want the user id %q (not the username)", id.Sub, wantSub)
					}
					now := time.Now().Unix()
					if id.AuthTime == 0 || id.AuthTime > now+1 || id.AuthTime < now-60 {
						t.Errorf("ID token auth_time = %d, want the login time (about %d)", id.AuthTime, now)
					}
					if id.AtHash == "" {
						t.Error("ID token has no at_hash")
					}
					profile := slices.Contains(tc.want, "profile")
					email := slices.Contains(tc.want, "email")
					if got := id.PreferredUsername != ""; got != profile {
						t.Errorf("ID token preferred_username = %q with profile granted %v", id.PreferredUsername, profile)
					}
					if profile && id.PreferredUsername != tc.user {
						t.Errorf("preferred_username = %q, want %q", id.PreferredUsername, tc.user)
					}
					if got := id.Name != ""; got != profile {
						t.Errorf("ID token name = %q with profile granted %v", id.Name, profile)
					}
					if got := id.Email != ""; got != email {
						t.Errorf("ID token email = %q with email granted %v", id.Email, email)
					}
					if email {
						if id.Email != tc.user+"@example.com" {
							t.Errorf("ID token email = %q", id.Email)
						}
						if id.EmailVerified == nil || *id.EmailVerified != (tc.user == "alice") {
							t.Errorf("ID token email_verified = %v, want %v", id.EmailVerified, tc.user == "alice")
						}
					} else if id.EmailVerified != nil {
						t.Errorf("ID token email_verified present without the email scope")
					}
					if _, ok := id.Raw["roles"]; ok {
						t.Logf("note: ID token carries roles: %v", id.Raw["roles"])
					}

					if got, want := tok.RefreshToken != "", slices.Contains(tc.want, "offline_access"); got != want {
						t.Errorf("refresh token issued = %v, offline_access granted = %v", got, want)
					}
				})
			}
		})
	}
}

// TestSSOAccessTokenAlwaysHasAudience: RFC 9068 §2.2 makes aud REQUIRED
// in a JWT access token, and DESIGN.md lists it among the claims; a token
// granted only identity scopes (for userinfo) has no resource server's
// scope to take it from.
func TestSSOAccessTokenAlwaysHasAudience(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		ar := e.Confidential.request("openid profile email")
		tok := e.signInTokens(t, e.newBrowser(t), ar, "alice", alicePassword)
		at := e.access(t, tok.AccessToken)
		if len(at.Audience) == 0 || slices.Contains([]string(at.Audience), "") {
			t.Errorf("access token aud = %q (raw %v), want a non-empty audience (RFC 9068 §2.2)", at.Audience, at.Raw["aud"])
		}
	})
}

func TestSSOUserinfo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		userinfo := endpoint(t, e.Discovery, "userinfo_endpoint")
		if userinfo != e.URL+provider.PathUserinfo {
			t.Errorf("userinfo_endpoint = %q", userinfo)
		}
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid profile email results:read")
		tok := e.signInTokens(t, b, ar, "alice", alicePassword)

		get := e.do(t, req{Path: userinfo, Auth: "Bearer " + tok.AccessToken})
		post := e.do(t, req{Method: http.MethodPost, Path: userinfo, Auth: "Bearer " + tok.AccessToken})
		form := e.do(t, req{Method: http.MethodPost, Path: userinfo, ContentType: formType, Body: url.Values{"access_token": {tok.AccessToken}}.Encode()})
		want := map[string]any{
			"sub": e.AliceID, "preferred_username": "alice", "name": "Alice Liddell",
			"email": "alice@example.com", "email_verified": true,
		}
		for name, res := range map[string]result{"GET": get, "POST bearer": post, "POST form": form} {
			if res.Status != http.StatusOK {
				t.Errorf("userinfo %s: status %d: %s", name, res.Status, res.Body)
				continue
			}
			got := res.JSON(t)
			// roles come with the profile scope, as a JSON array.
			if roles, ok := got["roles"].([]any); !ok || len(roles) != 1 || roles[0] != "teacher" {
				t.Errorf("userinfo %s: roles = %v, want [teacher]", name, got["roles"])
			}
			delete(got, "roles")
			for k, v := range want {
				if got[k] != v {
					t.Errorf("userinfo %s: %s = %v, want %v", name, k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("userinfo %s: unexpected claim %s = %v", name, k, got[k])
				}
			}
		}
		if string(get.Body) != string(post.Body) {
			t.Errorf("userinfo GET and POST differ:\n%s\n%s", get.Body, post.Body)
		}

		// Only access tokens open userinfo, not the grant's other tokens.
		arR := e.Confidential.request("openid profile offline_access")
		tokR := e.signInTokens(t, b, arR, "alice", alicePassword)
		if tokR.RefreshToken == "" {
			t.Fatal("no refresh token")
		}

		// A token without profile/email gets sub only.
		b2 := e.newBrowser(t)
		ar2 := e.Confidential.request("openid results:read")
		tok2 := e.signInTokens(t, b2, ar2, "bob", bobPassword)
		res := e.do(t, req{Path: userinfo, Auth: "Bearer " + tok2.AccessToken})
		if res.Status != http.StatusOK {
			t.Fatalf("userinfo: %d %s", res.Status, res.Body)
		}
		if got := res.JSON(t); len(got) != 1 || got["sub"] != e.BobID {
			t.Errorf("userinfo with openid only = %v, want just sub %q", got, e.BobID)
		}

		for _, tc := range []struct {
			name string
			rq   req
		}{
			{"GET without token", req{Path: userinfo}},
			{"POST without token", req{Method: http.MethodPost, Path: userinfo}},
			{"GET with a bad token", req{Path: userinfo, Auth: "Bearer not-a-token"}},
			{"POST with a bad token", req{Method: http.MethodPost, Path: userinfo, Auth: "Bearer " + tok.AccessToken + "x"}},
			{"Basic instead of Bearer", req{Path: userinfo, Auth: basic("alice", alicePassword)}},
			{"ID token as bearer", req{Path: userinfo, Auth: "Bearer " + idTokenOf(t, tok)}},
			{"refresh token as bearer", req{Path: userinfo, Auth: "Bearer " + tokR.RefreshToken}},
			{"refresh token as access_token form parameter", req{Method: http.MethodPost, Path: userinfo, ContentType: formType, Body: url.Values{"access_token": {tokR.RefreshToken}}.Encode()}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.do(t, tc.rq)
				if res.Status != http.StatusUnauthorized {
					t.Errorf("status %d, want 401: %s", res.Status, res.Body)
				}
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", res.Header.Get("WWW-Authenticate"))
				}
				if strings.Contains(string(res.Body), "alice") {
					t.Errorf("401 reveals claims: %s", res.Body)
				}
			})
		}
	})
}

// TestUserinfoTokenInURLRefused checks RFC 6750 at userinfo: a token in
// the URL's query (§2.3, which hallpass does not take: §5.3, URLs end up
// in logs and histories) is refused as invalid_request, alone or beside
// the token sent another way (§2, §3.1: one method per request). The
// query's token was ignored: alone, the answer said no token was sent;
// beside another, the request went through.
func TestUserinfoTokenInURLRefused(t *testing.T) {
	withSSOEnv(t, "userinfo", func(t *testing.T, e *ssoEnv) {
		tok := e.signInTokens(t, e.newBrowser(t), e.Public.request("openid"), "bob", bobPassword)
		inURL := provider.PathUserinfo + "?" + url.Values{"access_token": {tok.AccessToken}}.Encode()
		for _, tc := range []struct {
			name string
			rq   req
		}{
			{"GET, query only", req{Path: inURL}},
			{"GET, query and header", req{Path: inURL, Auth: "Bearer " + tok.AccessToken}},
			{"POST, query and header", req{Method: http.MethodPost, Path: inURL, Auth: "Bearer " + tok.AccessToken}},
			{"POST, query and form", req{Method: http.MethodPost, Path: inURL, ContentType: formType, Body: url.Values{"access_token": {tok.AccessToken}}.Encode()}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.do(t, tc.rq)
				assertError(t, res, http.StatusBadRequest, "invalid_request")
				if ch := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, `error="invalid_request"`) {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with error=\"invalid_request\"", ch)
				}
			})
		}
	})
}

func TestSSOWrongPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid results:read")
		loginPage := b.get(t, ar.URL).want(t, "login")

		var messages []string
		for _, tc := range []struct{ name, user, pass string }{
			{"wrong password", "alice", "not-alices-password"},
			{"unknown username", "mallory", "not-alices-password"},
			{"empty password", "alice", ""},
			{"password of another user", "alice", bobPassword},
			{"markup in the username", `"><script>alert(1)</script>`, "whatever-password"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := b.login(t, loginPage, tc.user, tc.pass)
				if p.Redirect != nil || len(p.Hops) != 0 {
					t.Fatalf("a failed login redirected (%v): %s", p.Hops, p)
				}
				if p.Status != http.StatusOK {
					t.Errorf("status %d, want 200 (the form again)", p.Status)
				}
				p.want(t, "login")
				f := p.form(t)
				if f.hidden().Get("request") != loginPage.form(t).hidden().Get("request") {
					t.Error("the form again does not continue the same request")
				}
				if in, _ := f.input("password"); in.Value != "" {
					t.Errorf("the password is echoed back: %q", in.Value)
				}
				if tc.pass != "" && strings.Contains(p.Body, tc.pass) {
					t.Error("the page contains the submitted password")
				}
				if strings.Contains(p.Body, "<script") {
					t.Error("the page echoes the username unescaped")
				}
				msg := alertText(t, p)
				if msg == "" {
					t.Fatalf("no role=alert error on the page: %s", p)
				}
				messages = append(messages, msg)
				if _, ok := b.cookie("hallpass_session"); ok {
					t.Error("a failed login set a session cookie")
				}
			})
		}
		for _, m := range messages[1:] {
			if m != messages[0] {
				t.Errorf("failure messages differ (%q vs %q): they tell whether the username exists", m, messages[0])
			}
		}

		// The right password still works after failures.
		p := b.login(t, loginPage, "alice", alicePassword)
		p = b.decide(t, p, "allow")
		e.callback(t, p, ar).wantCode(t)
	})
}

// idTokenOf returns the raw ID token of a token response.
func idTokenOf(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatal("token response has no id_token")
	}
	return raw
}

// alertText returns the text of the page's role=alert element.
func alertText(t *testing.T, p page) string {
	t.Helper()
	i := strings.Index(p.Body, `role="alert"`)
	if i < 0 {
		return ""
	}
	rest := p.Body[i:]
	start := strings.Index(rest, ">")
	end := strings.Index(rest, "</")
	if start < 0 || end < start {
		return ""
	}
	return strings.TrimSpace(rest[start+1 : end])
}

func TestSSOConsent(t *testing.T) {
	withSSOEnv(t, "remembered, forced by prompt=consent, asked again for more", func(t *testing.T, e *ssoEnv) {
		c := e.Confidential
		b := e.newBrowser(t)
		_, tr := b.signIn(t, c.request("openid results:read"), "alice", alicePassword)
		if !tr.Login || !tr.Consent {
			t.Fatalf("first sign-in: login %v consent %v", tr.Login, tr.Consent)
		}
		ar := c.request("openid results:read")
		cb, tr := b.signIn(t, ar, "alice", alicePassword)
		if tr.Login || tr.Consent {
			t.Errorf("second sign-in with the same scopes: login %v consent %v; want neither", tr.Login, tr.Consent)
		}
		e.exchange(t, ar, cb)
		// A subset needs no consent either.
		if _, tr = b.signIn(t, c.request("openid"), "alice", alicePassword); tr.Consent {
			t.Error("consent asked again for a subset of what was allowed")
		}
		if _, tr = b.signIn(t, c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "consent")), "alice", alicePassword); !tr.Consent || tr.Login {
			t.Errorf("prompt=consent: login %v consent %v; want consent only", tr.Login, tr.Consent)
		}
		ar = c.request("openid results:read results:write")
		cb, tr = b.signIn(t, ar, "alice", alicePassword)
		if !tr.Consent {
			t.Error("a new scope (results:write) was granted without consent")
		}
		if !strings.Contains(tr.ConsentPage.Body, "Publish exam results") {
			t.Error("consent page does not describe results:write")
		}
		tok := e.exchange(t, ar, cb)
		if got := grantedScope(t, tok); !slices.Equal(got, []string{"openid", "results:read", "results:write"}) {
			t.Errorf("granted %q", got)
		}
		// Consent is per client.
		if _, tr = b.signIn(t, e.Public.request("openid results:read"), "alice", alicePassword); !tr.Consent {
			t.Error("consent given to one client was used for another")
		}
		// And per user: bob in another browser is asked.
		if _, tr = e.newBrowser(t).signIn(t, c.request("openid results:read"), "bob", bobPassword); !tr.Consent {
			t.Error("alice's consent was used for bob")
		}
	})

	withSSOEnv(t, "deny", func(t *testing.T, e *ssoEnv) {
		c := e.Confidential
		b := e.newBrowser(t)
		ar := c.request("openid results:read")
		p := b.login(t, b.get(t, ar.URL), "bob", bobPassword)
		cb := e.callback(t, b.decide(t, p, "deny"), ar)
		cb.wantError(t, "access_denied")
		// Denying remembers nothing: the next request asks again, and
		// the denied request cannot be allowed afterwards.
		if again := b.decide(t, p, "allow"); again.Redirect != nil && again.Redirect.Query().Get("code") != "" {
			t.Errorf("a denied request was allowed afterwards: %s", again)
		}
		if _, tr := b.signIn(t, c.request("openid results:read"), "bob", bobPassword); !tr.Consent {
			t.Error("after deny, the next request was not asked for consent")
		}
	})

	withSSOEnv(t, "no decision", func(t *testing.T, e *ssoEnv) {
		c := e.Confidential
		b := e.newBrowser(t)
		ar := c.request("openid results:read")
		p := b.login(t, b.get(t, ar.URL), "bob", bobPassword).want(t, "consent")
		for _, d := range []string{"", "maybe"} {
			res := b.submit(t, p, url.Values{"decision": {d}})
			if res.Redirect != nil {
				t.Errorf("decision %q redirected: %s", d, res)
			}
		}
		// The request is still usable.
		e.callback(t, b.decide(t, p, "allow"), ar).wantCode(t)
	})

	withSSOEnv(t, "skip_consent client", func(t *testing.T, e *ssoEnv) {
		m := e.Public.Meta
		m.ClientSecret, m.ClientIDIssuedAt, m.ClientSecretExpiresAt = "", 0, nil
		m.SkipConsent = true
		res := e.admin(t, http.MethodPut, "/admin/clients/"+m.ClientID, m)
		if res.Status != http.StatusOK || !decodeClient(t, res).SkipConsent {
			t.Fatalf("PUT skip_consent: %d %s", res.Status, res.Body)
		}
		b := e.newBrowser(t)
		for _, scope := range []string{"openid results:read", "openid profile results:read results:write schedule:write"} {
			for _, extra := range [][]oauth2.AuthCodeOption{nil, {oauth2.SetAuthURLParam("prompt", "consent")}} {
				ar := e.Public.request(scope, extra...)
				cb, tr := b.signIn(t, ar, "alice", alicePassword)
				if tr.Consent && len(extra) == 0 {
					t.Errorf("skip_consent client showed the consent page for %q", scope)
				}
				e.exchange(t, ar, cb)
			}
		}
	})
}

func TestSSOPrompt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		prompt := func(v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("prompt", v) }
		maxAge := func(v int) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("max_age", strconv.Itoa(v)) }

		t.Run("prompt=none without session", func(t *testing.T) {
			b := e.newBrowser(t)
			ar := c.request("openid results:read", prompt("none"))
			p := b.get(t, ar.URL)
			if len(p.Hops) != 0 {
				t.Errorf("prompt=none went through hallpass pages: %v", p.Hops)
			}
			e.callback(t, p, ar).wantError(t, "login_required")
		})

		b := e.newBrowser(t)
		first := c.request("openid results:read")
		firstTok := e.signInTokens(t, b, first, "alice", alicePassword)
		loginAuthTime := e.idToken(t, c, firstTok, first.Nonce).AuthTime

		t.Run("prompt=none with session and consent", func(t *testing.T) {
			ar := c.request("openid results:read", prompt("none"))
			p := b.get(t, ar.URL)
			cb := e.callback(t, p, ar)
			tok := e.exchange(t, ar, cb)
			if got := e.idToken(t, c, tok, ar.Nonce).AuthTime; got != loginAuthTime {
				t.Errorf("auth_time = %d, want the original login's %d", got, loginAuthTime)
			}
		})

		t.Run("prompt=none with session but no consent", func(t *testing.T) {
			ar := c.request("openid results:read results:write", prompt("none"))
			e.callback(t, b.get(t, ar.URL), ar).wantError(t, "consent_required")
			ar = e.Public.request("openid", prompt("none"))
			e.callback(t, b.get(t, ar.URL), ar).wantError(t, "consent_required")
		})

		t.Run("prompt=none with another value", func(t *testing.T) {
			ar := c.request("openid results:read", prompt("none login"))
			e.callback(t, b.get(t, ar.URL), ar).wantError(t, "invalid_request")
		})

		t.Run("prompt=login with a session asks again", func(t *testing.T) {
			ar := c.request("openid results:read", prompt("login"))
			p := b.get(t, ar.URL).want(t, "login")
			before := time.Now().Unix()
			p = b.login(t, p, "alice", alicePassword)
			cb := e.callback(t, p, ar)
			tok := e.exchange(t, ar, cb)
			if got := e.idToken(t, c, tok, ar.Nonce).AuthTime; got < before-1 {
				t.Errorf("auth_time after prompt=login = %d, want the new login (≥ %d)", got, before)
			}
		})

		t.Run("prompt=login as another user", func(t *testing.T) {
			// Signing in as someone else replaces the session.
			ar := c.request("openid", prompt("login"))
			p := b.login(t, b.get(t, ar.URL), "bob", bobPassword)
			cb := e.callback(t, b.decide(t, p, "allow"), ar)
			tok := e.exchange(t, ar, cb)
			if sub := e.idToken(t, c, tok, ar.Nonce).Sub; sub != e.BobID {
				t.Errorf("sub = %q, want bob %q", sub, e.BobID)
			}
			ar = c.request("openid", prompt("none"))
			tok = e.exchange(t, ar, e.callback(t, b.get(t, ar.URL), ar))
			if sub := e.idToken(t, c, tok, ar.Nonce).Sub; sub != e.BobID {
				t.Errorf("after switching users the session is %q, want bob %q", sub, e.BobID)
			}
			// Back to alice for the cases below.
			ar = c.request("openid results:read", prompt("login"))
			e.callback(t, b.login(t, b.get(t, ar.URL), "alice", alicePassword), ar).wantCode(t)
		})

		t.Run("max_age large needs no login", func(t *testing.T) {
			ar := c.request("openid results:read", maxAge(3600))
			cb, tr := b.signIn(t, ar, "alice", alicePassword)
			if tr.Login {
				t.Error("max_age=3600 asked to log in again a fresh session")
			}
			tok := e.exchange(t, ar, cb)
			if e.idToken(t, c, tok, ar.Nonce).AuthTime == 0 {
				t.Error("no auth_time with max_age")
			}
		})

		t.Run("max_age=0 needs a login", func(t *testing.T) {
			ar := c.request("openid results:read", maxAge(0))
			cb, tr := b.signIn(t, ar, "alice", alicePassword)
			if !tr.Login {
				t.Error("max_age=0 did not ask to log in")
			}
			e.exchange(t, ar, cb)
		})

		t.Run("max_age beyond what a duration holds", func(t *testing.T) {
			// 10^10 seconds (317 years) and more: no session is that old.
			for _, v := range []string{"10000000000", "99999999999999999999"} {
				ar := c.request("openid results:read", oauth2.SetAuthURLParam("max_age", v))
				cb, tr := b.signIn(t, ar, "alice", alicePassword)
				if tr.Login {
					t.Errorf("max_age=%s asked to log in again a fresh session", v)
				}
				e.exchange(t, ar, cb)
				ar = c.request("openid results:read", oauth2.SetAuthURLParam("max_age", v), prompt("none"))
				e.callback(t, b.get(t, ar.URL), ar).wantCode(t)
			}
		})

		t.Run("max_age invalid", func(t *testing.T) {
			for _, v := range []string{"-1", "soon"} {
				ar := c.request("openid results:read", oauth2.SetAuthURLParam("max_age", v))
				e.callback(t, b.get(t, ar.URL), ar).wantError(t, "invalid_request")
			}
		})

		t.Run("unknown prompt", func(t *testing.T) {
			ar := c.request("openid", prompt("whenever"))
			e.callback(t, b.get(t, ar.URL), ar).wantError(t, "invalid_request")
		})

		t.Run("prompt values delimited by other than spaces", func(t *testing.T) {
			// The list is space-delimited (OIDC Core §3.1.2.1): fosite
			// reads "login\tconsent" as one unknown value when the code
			// is issued, so it is refused before anyone signs in.
			for _, v := range []string{"login\tconsent", "consent\nlogin"} {
				ar := c.request("openid results:read", prompt(v))
				e.callback(t, b.get(t, ar.URL), ar).wantError(t, "invalid_request")
				e.newBrowser(t).refusedUpFront(t, c.request("openid results:read", prompt(v))).wantError(t, "invalid_request")
			}
		})
	})
}

func TestSSOPKCE(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		if got, _ := e.Discovery["code_challenge_methods_supported"].([]any); len(got) != 1 || got[0] != "S256" {
			t.Errorf("code_challenge_methods_supported = %v, want [S256]", e.Discovery["code_challenge_methods_supported"])
		}

		// A request hallpass must refuse is refused before the user is
		// asked anything: no login page, straight back to the client.
		for _, tc := range []struct {
			name   string
			client *ssoClient
			edit   func(authRequest) authRequest
		}{
			{"public client without code_challenge", e.Public, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge", "").withParam(t, "code_challenge_method", "")
			}},
			{"public client with method plain", e.Public, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge", ar.Verifier).withParam(t, "code_challenge_method", "plain")
			}},
			{"confidential client with method plain", e.Confidential, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge", ar.Verifier).withParam(t, "code_challenge_method", "plain")
			}},
			{"unknown method", e.Public, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge_method", "S512")
			}},
			{"method without challenge", e.Confidential, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge", "")
			}},
			{"confidential client without code_challenge", e.Confidential, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge", "").withParam(t, "code_challenge_method", "")
			}},
			{"challenge too short", e.Public, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge", "abc")
			}},
			// An S256 challenge is the unpadded base64url of a SHA-256,
			// 43 characters (RFC 7636 §4.2): no verifier matches another,
			// and the user signed in and consented for a code no exchange
			// could redeem.
			{"challenge not base64url", e.Public, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge", strings.Repeat("!", 43))
			}},
			{"challenge padded", e.Public, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge", oauth2.S256ChallengeFromVerifier(ar.Verifier)+"=")
			}},
			{"challenge longer than a SHA-256", e.Confidential, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge", strings.Repeat("A", 64))
			}},
			// Go's base64 decoder skips line breaks: 42 characters and a
			// newline passed for the 43 of a SHA-256, which no verifier's
			// challenge spells.
			{"challenge with a line break", e.Public, func(ar authRequest) authRequest {
				return ar.withParam(t, "code_challenge", strings.Repeat("A", 42)+"\n")
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Run("signed out", func(t *testing.T) {
					b := e.newBrowser(t)
					ar := tc.edit(tc.client.request("openid results:read"))
					b.refusedUpFront(t, ar).wantError(t, "invalid_request")
				})
				t.Run("signed in", func(t *testing.T) {
					b := e.newBrowser(t)
					e.signInTokens(t, b, tc.client.request("openid results:read"), "alice", alicePassword)
					ar := tc.edit(tc.client.request("openid results:read"))
					e.callback(t, b.get(t, ar.URL), ar).wantError(t, "invalid_request")
				})
			})
		}

		t.Run("legacy confidential client without PKCE", func(t *testing.T) {
			// An admin exempted this client (require_pkce false), but a
			// code issued without a challenge still cannot be redeemed
			// with a verifier (RFC 9700 §2.1.1 downgrade protection).
			legacy := e.legacyClient(t)
			for _, withVerifier := range []bool{false, true} {
				b := e.newBrowser(t)
				ar := legacy.request("openid results:read").withParam(t, "code_challenge", "").withParam(t, "code_challenge_method", "")
				cb, _ := b.signIn(t, ar, "alice", alicePassword)
				cb.wantCode(t)
				form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Code}, "redirect_uri": {ar.RedirectURI}}
				if withVerifier {
					form.Set("code_verifier", ar.Verifier)
					assertError(t, e.tokenRequest(t, legacy, form), http.StatusBadRequest, "invalid_grant")
				} else {
					oauthtest.DecodeToken(t, e.tokenRequest(t, legacy, form))
				}
			}
		})

		t.Run("wrong verifier", func(t *testing.T) {
			for _, c := range []*ssoClient{e.Public, e.Confidential} {
				b := e.newBrowser(t)
				ar := c.request("openid results:read")
				cb, _ := b.signIn(t, ar, "alice", alicePassword)
				cb.wantCode(t)
				wrong := ar
				wrong.Verifier = oauth2.GenerateVerifier()
				_, err := e.tryExchange(wrong, cb)
				wantRetrieveError(t, err, "invalid_grant")
				// Without a verifier at all.
				res := e.tokenRequest(t, c, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Code}, "redirect_uri": {ar.RedirectURI}})
				if res.Status == http.StatusOK {
					t.Errorf("%s: code redeemed without code_verifier", c.Meta.ClientID)
				}
			}
		})
	})
}

// refusedUpFront sends a browser without a session on ar, which hallpass
// must refuse, and returns the error callback. The refusal must come
// before the user is asked to sign in or consent: a user who signs in for
// a request that cannot succeed is asked for nothing, and consent stored
// for it would be granted to nothing. If hallpass shows the login page
// anyway, the test fails but the flow is driven on (as alice) to see how
// it ends.
func (b *browser) refusedUpFront(t *testing.T, ar authRequest) callback {
	t.Helper()
	p := b.get(t, ar.URL)
	if p.kind() == "login" {
		t.Errorf("the login page is shown for a request hallpass refuses later")
		p = b.login(t, p, "alice", alicePassword)
		if p.kind() == "consent" {
			t.Errorf("the consent page is shown for a request hallpass refuses later")
			p = b.decide(t, p, "allow")
		}
	}
	return b.env.callback(t, p, ar)
}

// wantRetrieveError fails unless err is an OAuth error response with code.
func wantRetrieveError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Errorf("err = %v, want the token endpoint's %s", err, code)
		return
	}
	if re.ErrorCode != code {
		t.Errorf("error = %q (%s), want %q", re.ErrorCode, re.ErrorDescription, code)
	}
}

func TestSSOBadAuthorizationRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)

		t.Run("no redirect to an unvalidated address", func(t *testing.T) {
			for _, tc := range []struct {
				name string
				edit func(authRequest) authRequest
			}{
				{"unknown client_id", func(ar authRequest) authRequest { return ar.withParam(t, "client_id", "no-such-client") }},
				{"no client_id", func(ar authRequest) authRequest { return ar.withParam(t, "client_id", "") }},
				{"unregistered redirect_uri", func(ar authRequest) authRequest {
					return ar.withParam(t, "redirect_uri", "https://evil.example/callback")
				}},
				{"redirect_uri with another path", func(ar authRequest) authRequest {
					return ar.withParam(t, "redirect_uri", confidentialRedirect+"/../evil")
				}},
				{"redirect_uri with an extra query", func(ar authRequest) authRequest {
					return ar.withParam(t, "redirect_uri", confidentialRedirect+"?next=https://evil.example")
				}},
				{"another client's redirect_uri", func(ar authRequest) authRequest { return ar.withParam(t, "redirect_uri", publicRedirect) }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					b := e.newBrowser(t)
					ar := tc.edit(e.Confidential.request("openid results:read"))
					p := b.get(t, ar.URL)
					p.wantErrorPage(t, http.StatusBadRequest)
					if len(p.Hops) != 0 {
						t.Errorf("redirected to %v", p.Hops)
					}
				})
			}
		})

		t.Run("loopback redirect on another port", func(t *testing.T) {
			b := e.newBrowser(t)
			ar := e.Public.request("openid results:read").withParam(t, "redirect_uri", "http://127.0.0.1:53127/cb")
			cb, _ := b.signIn(t, ar, "bob", bobPassword)
			if cb.URL.Host != "127.0.0.1:53127" {
				t.Errorf("redirected to %s, want port 53127", cb.URL)
			}
			tok := e.exchange(t, ar, cb)
			if got := grantedScope(t, tok); !slices.Equal(got, []string{"openid", "results:read"}) {
				t.Errorf("granted %q", got)
			}
			// The port is free, the path is not.
			bad := e.Public.request("openid").withParam(t, "redirect_uri", "http://127.0.0.1:53127/other")
			b.get(t, bad.URL).wantErrorPage(t, http.StatusBadRequest)
			// Nor is the host: localhost is not the registered 127.0.0.1.
			bad = e.Public.request("openid").withParam(t, "redirect_uri", "http://127.0.0.2:53127/cb")
			b.get(t, bad.URL).wantErrorPage(t, http.StatusBadRequest)
		})

		t.Run("errors go back to a valid redirect_uri", func(t *testing.T) {
			for _, tc := range []struct {
				name, code string
				edit       func(authRequest) authRequest
			}{
				{"state shorter than 8", "invalid_state", func(ar authRequest) authRequest { return ar.withParam(t, "state", "short") }},
				{"no state", "invalid_state", func(ar authRequest) authRequest { return ar.withParam(t, "state", "") }},
				{"response_type token", "unsupported_response_type", func(ar authRequest) authRequest {
					return ar.withParam(t, "response_type", "token")
				}},
				// fosite matches response types to the client's registered
				// ones ignoring case, but issues a code only for "code":
				// in capitals, the request went through sign-in and
				// consent to a server_error.
				{"response_type in capitals", "unsupported_response_type", func(ar authRequest) authRequest {
					return ar.withParam(t, "response_type", "CODE")
				}},
				// fosite refuses a response_mode it does not know before it
				// validates the redirect URI, so the error was shown to the
				// user rather than sent to the client (RFC 6749 §4.1.2.1).
				{"response_mode unknown", "unsupported_response_mode", func(ar authRequest) authRequest {
					return ar.withParam(t, "response_mode", "query.jwt")
				}},
				{"response_mode fragment", "unsupported_response_mode", func(ar authRequest) authRequest {
					return ar.withParam(t, "response_mode", "fragment")
				}},
				{"scope the client may not have", "invalid_scope", func(ar authRequest) authRequest {
					return ar.withParam(t, "scope", "openid admin:everything")
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					b := e.newBrowser(t)
					ar := tc.edit(e.Confidential.request("openid results:read"))
					b.refusedUpFront(t, ar).wantError(t, tc.code)
				})
			}
		})
	})
}

func TestSSOPendingRequestIsBoundToTheBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential

		t.Run("login from another browser", func(t *testing.T) {
			victim := e.newBrowser(t)
			ar := c.request("openid results:read")
			p := victim.get(t, ar.URL).want(t, "login")
			handle, csrf := p.form(t).hidden().Get("request"), p.form(t).hidden().Get("csrf")

			// Even with the handle and the CSRF token of the victim's page,
			// another browser gets nowhere: the token is bound to the
			// victim's binding cookie.
			attacker := e.newBrowser(t)
			attacker.get(t, e.URL+provider.PathLogin+"?request="+url.QueryEscape(handle)).wantErrorPage(t, http.StatusBadRequest)
			res := attacker.post(t, e.URL+provider.PathLogin, url.Values{"request": {handle}, "csrf": {csrf}, "username": {"bob"}, "password": {bobPassword}})
			res.wantErrorPage(t, http.StatusForbidden)
			if _, ok := attacker.cookie("hallpass_session"); ok {
				t.Error("the other browser got a session from someone else's request")
			}
			// An attacker's own binding cookie and own token do not help
			// either: the token is bound to the attacker's request.
			own := attacker.get(t, c.request("openid").URL).want(t, "login")
			res = attacker.post(t, e.URL+provider.PathLogin, url.Values{"request": {handle}, "csrf": {own.form(t).hidden().Get("csrf")}, "username": {"bob"}, "password": {bobPassword}})
			res.wantErrorPage(t, http.StatusForbidden)
			if _, ok := attacker.cookie("hallpass_session"); ok {
				t.Error("the other browser got a session from someone else's request")
			}

			// The rightful browser can still finish.
			p = victim.login(t, p, "alice", alicePassword)
			e.callback(t, victim.decide(t, p, "allow"), ar).wantCode(t)
		})

		t.Run("consent from another browser", func(t *testing.T) {
			victim := e.newBrowser(t)
			ar := c.request("openid results:read results:write")
			p := victim.login(t, victim.get(t, ar.URL), "alice", alicePassword).want(t, "consent")
			stolen := p.form(t).hidden()
			handle := stolen.Get("request")
			attacker := e.newBrowser(t)
			attacker.get(t, e.URL+provider.PathConsent+"?request="+url.QueryEscape(handle)).wantErrorPage(t, http.StatusBadRequest)
			stolen.Set("decision", "allow")
			attacker.post(t, e.URL+provider.PathConsent, stolen).wantErrorPage(t, http.StatusForbidden)
			e.callback(t, victim.decide(t, p, "allow"), ar).wantCode(t)
		})

		t.Run("unknown and missing handles", func(t *testing.T) {
			b := e.newBrowser(t)
			csrf := b.get(t, c.request("openid").URL).want(t, "login").form(t).hidden().Get("csrf")
			for _, h := range []string{"", "nope", strings.Repeat("a", 300)} {
				b.get(t, e.URL+provider.PathLogin+"?request="+url.QueryEscape(h)).wantErrorPage(t, http.StatusBadRequest)
				// The browser's token is for its own request, not these.
				b.post(t, e.URL+provider.PathLogin, url.Values{"request": {h}, "csrf": {csrf}, "username": {"alice"}, "password": {alicePassword}}).wantErrorPage(t, http.StatusForbidden)
			}
		})

		t.Run("consent page before login", func(t *testing.T) {
			b := e.newBrowser(t)
			p := b.get(t, c.request("openid").URL).want(t, "login")
			handle := p.form(t).hidden().Get("request")
			b.get(t, e.URL+provider.PathConsent+"?request="+url.QueryEscape(handle)).wantErrorPage(t, http.StatusBadRequest)
			// The login form's token is no good for the consent form.
			form := p.form(t).hidden()
			form.Set("decision", "allow")
			b.post(t, e.URL+provider.PathConsent, form).wantErrorPage(t, http.StatusForbidden)
		})

		t.Run("replayed login post mints no second code", func(t *testing.T) {
			b := e.newBrowser(t)
			// Consent first, so that the login post itself ends in a code.
			e.signInTokens(t, b, c.request("openid results:read"), "alice", alicePassword)
			ar := c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "login"))
			p := b.get(t, ar.URL).want(t, "login")
			form := p.form(t).hidden()
			form.Set("username", "alice")
			form.Set("password", alicePassword)
			first := b.post(t, e.URL+provider.PathLogin, form)
			e.callback(t, first, ar).wantCode(t)
			again := b.post(t, e.URL+provider.PathLogin, form)
			if again.Redirect != nil && again.Redirect.Query().Get("code") != "" {
				t.Fatalf("the replayed login post minted a second code: %s", again.Redirect)
			}
			again.wantErrorPage(t, http.StatusBadRequest)
		})

		t.Run("replayed consent post mints no second code", func(t *testing.T) {
			b := e.newBrowser(t)
			ar := c.request("openid schedule:write")
			p := b.login(t, b.get(t, ar.URL), "alice", alicePassword).want(t, "consent")
			e.callback(t, b.decide(t, p, "allow"), ar).wantCode(t)
			again := b.decide(t, p, "allow")
			if again.Redirect != nil && again.Redirect.Query().Get("code") != "" {
				t.Fatalf("the replayed consent post minted a second code: %s", again.Redirect)
			}
			again.wantErrorPage(t, http.StatusBadRequest)
		})
	})
}

func TestSSOCodeReplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		for _, c := range []*ssoClient{e.Confidential, e.Public} {
			t.Run(c.Meta.ClientID, func(t *testing.T) {
				b := e.newBrowser(t)
				ar := c.request("openid offline_access results:read")
				cb, _ := b.signIn(t, ar, "bob", bobPassword)
				cb.wantCode(t)
				tok := e.exchange(t, ar, cb)
				if tok.RefreshToken == "" {
					t.Fatal("no refresh token with offline_access")
				}
				if !e.Active(t, e.adminCred(), tok.AccessToken) || !e.Active(t, e.adminCred(), tok.RefreshToken) {
					t.Fatal("fresh tokens are not active")
				}
				_, err := e.tryExchange(ar, cb)
				wantRetrieveError(t, err, "invalid_grant")
				if e.Active(t, e.adminCred(), tok.AccessToken) {
					t.Error("the access token of a replayed code is still active")
				}
				if e.Active(t, e.adminCred(), tok.RefreshToken) {
					t.Error("the refresh token of a replayed code is still active")
				}
				res := e.refresh(t, c, tok.RefreshToken, "")
				if res.Status == http.StatusOK {
					t.Error("the refresh token of a replayed code still refreshes")
				}
			})
		}

		t.Run("code of another client", func(t *testing.T) {
			b := e.newBrowser(t)
			ar := e.Public.request("openid results:read")
			cb, _ := b.signIn(t, ar, "bob", bobPassword)
			stolen := ar
			stolen.Client = e.Confidential
			_, err := e.tryExchange(stolen, cb)
			wantRetrieveError(t, err, "invalid_grant")
		})

		t.Run("redirect_uri must match", func(t *testing.T) {
			b := e.newBrowser(t)
			ar := e.Public.request("openid results:read").withParam(t, "redirect_uri", "http://127.0.0.1:40001/cb")
			cb, _ := b.signIn(t, ar, "bob", bobPassword)
			other := ar
			other.RedirectURI = "http://127.0.0.1:40002/cb"
			_, err := e.tryExchange(other, cb)
			wantRetrieveError(t, err, "invalid_grant")
		})
	})
}

func TestSSORefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		const scope = "openid profile offline_access results:read results:write schedule:write"

		start := func(t *testing.T, c *ssoClient, user, password string) (authRequest, oauthtest.TokenResponse) {
			t.Helper()
			ar := c.request(scope)
			tok := e.signInTokens(t, e.newBrowser(t), ar, user, password)
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token with offline_access granted")
			}
			return ar, oauthtest.TokenResponse{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: idTokenOf(t, tok)}
		}

		t.Run("no offline_access, no refresh token", func(t *testing.T) {
			ar := e.Confidential.request("openid results:read")
			tok := e.signInTokens(t, e.newBrowser(t), ar, "alice", alicePassword)
			if tok.RefreshToken != "" {
				t.Error("refresh token issued without offline_access")
			}
		})

		for _, c := range []*ssoClient{e.Confidential, e.Public} {
			t.Run("rotation and reuse via "+c.Meta.ClientID, func(t *testing.T) {
				_, tok := start(t, c, "alice", alicePassword)
				r1 := oauthtest.DecodeToken(t, e.refresh(t, c, tok.RefreshToken, ""))
				if r1.RefreshToken == "" || r1.RefreshToken == tok.RefreshToken {
					t.Fatalf("refresh did not rotate the refresh token: %+v", r1)
				}
				want := sortedFields(scope)
				if got := sortedFields(r1.Scope); !slices.Equal(got, want) {
					t.Errorf("refreshed scope = %q, want %q", got, want)
				}
				at := e.access(t, r1.AccessToken)
				if !slices.Equal(sortedFields(at.Scope), want) || !slices.Equal(at.Roles, []string{"teacher"}) || at.Subject != e.AliceID {
					t.Errorf("refreshed access token: scope %q roles %q sub %q", at.Scope, at.Roles, at.Subject)
				}
				if !slices.Contains([]string(at.Audience), schoolAudience) {
					t.Errorf("refreshed access token aud = %q", at.Audience)
				}
				// OIDC Core §12.2: the new ID token is about the same
				// authentication.
				if r1.IDToken == "" {
					t.Error("refresh with openid returned no new ID token")
				} else {
					orig, err := e.OIDC.Verifier(&oidc.Config{ClientID: c.Meta.ClientID}).Verify(e.ctx(), tok.IDToken)
					if err != nil {
						t.Fatalf("verify original ID token: %v", err)
					}
					idt, err := e.OIDC.Verifier(&oidc.Config{ClientID: c.Meta.ClientID}).Verify(e.ctx(), r1.IDToken)
					if err != nil {
						t.Fatalf("verify refreshed ID token: %v", err)
					}
					var oc, rc struct {
						AuthTime int64 `json:"auth_time"`
					}
					_ = orig.Claims(&oc)
					_ = idt.Claims(&rc)
					if idt.Subject != orig.Subject || rc.AuthTime != oc.AuthTime || oc.AuthTime == 0 {
						t.Errorf("refreshed ID token sub %q auth_time %d, want the original's %q %d", idt.Subject, rc.AuthTime, orig.Subject, oc.AuthTime)
					}
					if idt.Nonce != "" {
						t.Errorf("refreshed ID token carries a nonce %q (OIDC Core §12.2: SHOULD NOT)", idt.Nonce)
					}
				}
				// Reusing the spent token fails and revokes the grant.
				assertError(t, e.refresh(t, c, tok.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
				res := e.refresh(t, c, r1.RefreshToken, "")
				if res.Status == http.StatusOK {
					t.Error("after reuse of a spent refresh token, its successor still works")
				}
				if e.Active(t, e.adminCred(), r1.AccessToken) {
					t.Error("after reuse of a spent refresh token, the grant's access token is still active")
				}
			})
		}

		t.Run("narrower scope", func(t *testing.T) {
			c := e.Confidential
			_, tok := start(t, c, "alice", alicePassword)
			r1 := oauthtest.DecodeToken(t, e.refresh(t, c, tok.RefreshToken, "openid offline_access results:read"))
			want := []string{"offline_access", "openid", "results:read"}
			if got := sortedFields(r1.Scope); !slices.Equal(got, want) {
				t.Errorf("narrowed scope = %q, want %q", got, want)
			}
			if got := sortedFields(e.access(t, r1.AccessToken).Scope); !slices.Equal(got, want) {
				t.Errorf("narrowed access token scope = %q, want %q", got, want)
			}
			// The narrowed grant is what the rotated token carries on:
			// it cannot widen back.
			assertError(t, e.refresh(t, c, r1.RefreshToken, "openid offline_access results:write"), http.StatusBadRequest, "invalid_scope")
			r2 := oauthtest.DecodeToken(t, e.refresh(t, c, r1.RefreshToken, ""))
			if got := sortedFields(r2.Scope); !slices.Equal(got, want) {
				t.Errorf("refresh after narrowing = %q, want still %q", got, want)
			}
		})

		t.Run("wider scope", func(t *testing.T) {
			c := e.Confidential
			ar := c.request("openid offline_access results:read")
			tok := e.signInTokens(t, e.newBrowser(t), ar, "alice", alicePassword)
			for _, wider := range []string{"openid offline_access results:read results:write", "openid offline_access results:read email"} {
				assertError(t, e.refresh(t, c, tok.RefreshToken, wider), http.StatusBadRequest, "invalid_scope")
			}
			// A refused widening spends nothing.
			oauthtest.DecodeToken(t, e.refresh(t, c, tok.RefreshToken, ""))
		})

		t.Run("role removed", func(t *testing.T) {
			c := e.Confidential
			_, tok := start(t, c, "alice", alicePassword)
			e.setUser(t, "alice", map[string]any{"email": "alice@example.com", "email_verified": true, "name": "Alice Liddell", "roles": []string{"student"}})
			r1 := oauthtest.DecodeToken(t, e.refresh(t, c, tok.RefreshToken, ""))
			want := []string{"offline_access", "openid", "profile", "results:read"}
			if got := sortedFields(r1.Scope); !slices.Equal(got, want) {
				t.Errorf("scope after losing teacher = %q, want %q", got, want)
			}
			at := e.access(t, r1.AccessToken)
			if got := sortedFields(at.Scope); !slices.Equal(got, want) {
				t.Errorf("access token scope after losing teacher = %q, want %q", got, want)
			}
			if !slices.Equal(at.Roles, []string{"student"}) {
				t.Errorf("access token roles after the change = %q, want [student]", at.Roles)
			}
			// Getting the role back does not bring the scopes back on
			// refresh: that needs a new authorization.
			e.setUser(t, "alice", map[string]any{"roles": []string{"teacher"}})
			r2 := oauthtest.DecodeToken(t, e.refresh(t, c, r1.RefreshToken, ""))
			if got := sortedFields(r2.Scope); !slices.Equal(got, want) {
				t.Errorf("scope after regaining teacher = %q, want still %q", got, want)
			}
		})

		t.Run("role deleted", func(t *testing.T) {
			c := e.Public
			_, tok := start(t, c, "bob", bobPassword)
			res := e.admin(t, http.MethodDelete, "/admin/roles/student", nil)
			if res.Status != http.StatusNoContent {
				t.Fatalf("delete role: %d %s", res.Status, res.Body)
			}
			r1 := oauthtest.DecodeToken(t, e.refresh(t, c, tok.RefreshToken, ""))
			want := []string{"offline_access", "openid", "profile"}
			if got := sortedFields(r1.Scope); !slices.Equal(got, want) {
				t.Errorf("scope after the role was deleted = %q, want %q", got, want)
			}
			if at := e.access(t, r1.AccessToken); len(at.Roles) != 0 {
				t.Errorf("roles = %q, want none", at.Roles)
			}
		})

		t.Run("user disabled", func(t *testing.T) {
			c := e.Confidential
			_, tok := start(t, c, "alice", alicePassword)
			e.setUser(t, "alice", map[string]any{"roles": []string{"teacher"}, "disabled": true})
			assertError(t, e.refresh(t, c, tok.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
			res := e.do(t, req{Path: endpoint(t, e.Discovery, "userinfo_endpoint"), Auth: "Bearer " + tok.AccessToken})
			if res.Status != http.StatusUnauthorized {
				t.Errorf("userinfo for a disabled user: %d %s", res.Status, res.Body)
			}
			// Nor can they sign in.
			b := e.newBrowser(t)
			p := b.login(t, b.get(t, c.request("openid").URL), "alice", alicePassword)
			if p.kind() != "login" || alertText(t, p) == "" {
				t.Errorf("a disabled user's login: %s", p)
			}
			e.setUser(t, "alice", map[string]any{"roles": []string{"teacher"}})
		})

		t.Run("user deleted", func(t *testing.T) {
			c := e.Confidential
			_, tok := start(t, c, "alice", alicePassword)
			if res := e.admin(t, http.MethodDelete, "/admin/users/alice", nil); res.Status != http.StatusNoContent {
				t.Fatalf("delete user: %d %s", res.Status, res.Body)
			}
			assertError(t, e.refresh(t, c, tok.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
		})
	})
}

func TestSSOLogout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		endSession := endpoint(t, e.Discovery, "end_session_endpoint")
		if endSession != e.URL+provider.PathEndSession {
			t.Errorf("end_session_endpoint = %q, want %q", endSession, e.URL+provider.PathEndSession)
		}
		c := e.Confidential

		// signedIn returns a browser signed in as alice (consent given)
		// and the ID token of its sign-in.
		signedIn := func(t *testing.T) (*browser, string) {
			t.Helper()
			b := e.newBrowser(t)
			tok := e.signInTokens(t, b, c.request("openid results:read"), "alice", alicePassword)
			raw, _ := tok.Extra("id_token").(string)
			return b, raw
		}
		// assertSignedOut checks that the browser must log in again.
		assertSignedOut := func(t *testing.T, b *browser) {
			t.Helper()
			ar := c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "none"))
			e.callback(t, b.get(t, ar.URL), ar).wantError(t, "login_required")
			b.get(t, c.request("openid results:read").URL).want(t, "login")
		}
		assertSignedIn := func(t *testing.T, b *browser) {
			t.Helper()
			ar := c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "none"))
			e.callback(t, b.get(t, ar.URL), ar).wantCode(t)
		}

		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run("id_token_hint "+method, func(t *testing.T) {
				b, idToken := signedIn(t)
				state := oauth2.GenerateVerifier()
				params := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {confidentialLogout}, "state": {state}}
				var p page
				if method == http.MethodGet {
					p = b.get(t, endSession+"?"+params.Encode())
				} else {
					p = b.post(t, endSession, params)
				}
				if p.Status != http.StatusSeeOther || p.Redirect == nil {
					t.Fatalf("want 303 to the post-logout URI, got %s", p)
				}
				got := *p.Redirect
				got.RawQuery = ""
				if got.String() != confidentialLogout || p.Redirect.Query().Get("state") != state {
					t.Errorf("redirected to %s, want %s?state=%s", p.Redirect, confidentialLogout, state)
				}
				if _, ok := b.cookie("hallpass_session"); ok {
					t.Error("session cookie still set after logout")
				}
				assertSignedOut(t, b)
			})
		}

		t.Run("id_token_hint with client_id", func(t *testing.T) {
			b, idToken := signedIn(t)
			p := b.get(t, endSession+"?"+url.Values{"id_token_hint": {idToken}, "client_id": {c.Meta.ClientID}, "post_logout_redirect_uri": {confidentialLogout}}.Encode())
			if p.Redirect == nil || p.Redirect.Query().Has("state") {
				t.Errorf("want a redirect without state, got %s", p)
			}
			assertSignedOut(t, b)
		})

		t.Run("unregistered post_logout_redirect_uri", func(t *testing.T) {
			for _, uri := range []string{"https://evil.example/bye", confidentialRedirect, publicLogout, confidentialLogout + "/x"} {
				b, idToken := signedIn(t)
				p := b.get(t, endSession+"?"+url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {uri}, "state": {"some-state-1"}}.Encode())
				p.wantErrorPage(t, http.StatusBadRequest)
			}
		})

		t.Run("id_token_hint client_id mismatch", func(t *testing.T) {
			b, idToken := signedIn(t)
			p := b.get(t, endSession+"?"+url.Values{"id_token_hint": {idToken}, "client_id": {publicID}, "post_logout_redirect_uri": {publicLogout}}.Encode())
			p.wantErrorPage(t, http.StatusBadRequest)
		})

		t.Run("forged id_token_hint", func(t *testing.T) {
			b, idToken := signedIn(t)
			parts := strings.Split(idToken, ".")
			forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
			p := b.get(t, endSession+"?"+url.Values{"id_token_hint": {forged}, "post_logout_redirect_uri": {confidentialLogout}}.Encode())
			p.wantErrorPage(t, http.StatusBadRequest)
			assertSignedIn(t, b)
		})

		t.Run("without hint: confirmation", func(t *testing.T) {
			b, _ := signedIn(t)
			state := oauth2.GenerateVerifier()
			p := b.get(t, endSession+"?"+url.Values{"client_id": {c.Meta.ClientID}, "post_logout_redirect_uri": {confidentialLogout}, "state": {state}}.Encode())
			if p.Status != http.StatusOK || p.kind() != "logout" {
				t.Fatalf("want the confirmation page, got %s", p)
			}
			assertSignedIn(t, b) // showing the page signs nobody out
			f := p.form(t)
			if f.Method != http.MethodPost {
				t.Errorf("confirmation form method %q", f.Method)
			}
			if !slices.ContainsFunc(f.Buttons, func(in htmlInput) bool { return in.Name == "confirm" && in.Value == "yes" }) {
				t.Errorf("no confirm=yes button: %+v", f.Buttons)
			}
			h := f.hidden()
			if h.Get("state") != state || h.Get("post_logout_redirect_uri") != confidentialLogout || h.Get("client_id") != c.Meta.ClientID {
				t.Errorf("hidden fields %v do not carry the request on", h)
			}

			// A forged confirmation (no CSRF token) signs nobody out.
			forged := url.Values{"confirm": {"yes"}, "client_id": {c.Meta.ClientID}, "post_logout_redirect_uri": {confidentialLogout}, "state": {state}}
			if res := b.post(t, endSession, forged); res.Redirect != nil {
				t.Errorf("POST without the form's CSRF token redirected: %s", res)
			}
			assertSignedIn(t, b)
			// Another browser's CSRF token does not work here.
			other, _ := signedIn(t)
			op := other.get(t, endSession).want(t, "logout")
			stolen := op.form(t).hidden()
			stolen.Set("confirm", "yes")
			b.post(t, endSession, stolen)
			assertSignedIn(t, b)

			// The real confirmation signs out and goes back to the client.
			res := b.submit(t, p, url.Values{"confirm": {"yes"}})
			if res.Status != http.StatusSeeOther || res.Redirect == nil || res.Redirect.Query().Get("state") != state {
				t.Fatalf("confirmed logout: want 303 to %s with state, got %s", confidentialLogout, res)
			}
			assertSignedOut(t, b)
			assertSignedIn(t, other)
		})

		t.Run("without anything", func(t *testing.T) {
			b, _ := signedIn(t)
			p := b.get(t, endSession).want(t, "logout")
			res := b.submit(t, p, url.Values{"confirm": {"yes"}})
			if res.Redirect != nil || res.Status != http.StatusOK {
				t.Errorf("logout without a redirect URI: want the signed-out page, got %s", res)
			}
			assertSignedOut(t, b)
			// Signed out already: nothing to confirm.
			if p := b.get(t, endSession); p.Status != http.StatusOK || p.kind() == "logout" {
				t.Errorf("logout when signed out: %s", p)
			}
		})

		t.Run("post_logout_redirect_uri without client", func(t *testing.T) {
			b, _ := signedIn(t)
			b.get(t, endSession+"?"+url.Values{"post_logout_redirect_uri": {confidentialLogout}}.Encode()).wantErrorPage(t, http.StatusBadRequest)
			assertSignedIn(t, b)
		})

		t.Run("logout ends only that session", func(t *testing.T) {
			b1, id1 := signedIn(t)
			b2, _ := signedIn(t)
			b1.get(t, endSession+"?"+url.Values{"id_token_hint": {id1}, "post_logout_redirect_uri": {confidentialLogout}}.Encode())
			assertSignedOut(t, b1)
			assertSignedIn(t, b2)
		})
	})
}

// testClock is a Config.Now that a test can move forward. Only hallpass's
// own time checks (pending requests, browser sessions) follow it; fosite
// keeps the real time, so tests move it only to expire hallpass state.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func TestSSOSessionAndRequestLifetimes(t *testing.T) {
	// Each case gets its own server and clock, and signs in before moving
	// the clock: a login "in the future" would be refused by fosite, which
	// keeps the real time.
	withClock := func(name string, f func(t *testing.T, e *ssoEnv, clock *testClock)) {
		t.Run(name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, dsn string) {
				clock := &testClock{}
				e := newSSOEnv(t, dsn, func(c *provider.Config) {
					c.Now = clock.Now
					c.AuthRequestLifespan = 15 * time.Minute
					c.SessionIdleTimeout = time.Hour
					c.SessionLifetime = 12 * time.Hour
				})
				f(t, e, clock)
			})
		})
	}

	withClock("pending request expires", func(t *testing.T, e *ssoEnv, clock *testClock) {
		b := e.newBrowser(t)
		p := b.get(t, e.Confidential.request("openid").URL).want(t, "login")
		clock.Advance(16 * time.Minute)
		res := b.login(t, p, "alice", alicePassword)
		res.wantErrorPage(t, http.StatusBadRequest)
		if _, ok := b.cookie("hallpass_session"); ok {
			t.Error("an expired request still signed the user in")
		}
	})

	withClock("idle session expires, activity keeps it", func(t *testing.T, e *ssoEnv, clock *testClock) {
		c := e.Confidential
		b := e.newBrowser(t)
		e.signInTokens(t, b, c.request("openid"), "alice", alicePassword)
		for range 3 {
			clock.Advance(50 * time.Minute)
			ar := c.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
			e.callback(t, b.get(t, ar.URL), ar).wantCode(t)
		}
		clock.Advance(61 * time.Minute)
		ar := c.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, b.get(t, ar.URL), ar).wantError(t, "login_required")
	})

	withClock("absolute session lifetime", func(t *testing.T, e *ssoEnv, clock *testClock) {
		c := e.Confidential
		b := e.newBrowser(t)
		e.signInTokens(t, b, c.request("openid"), "alice", alicePassword)
		for i := range 14 { // 14 × 55 min > 12 h, never idle for an hour
			clock.Advance(55 * time.Minute)
			ar := c.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
			cb := e.callback(t, b.get(t, ar.URL), ar)
			if cb.Error == "" {
				continue
			}
			if cb.Error != "login_required" {
				t.Errorf("error %q, want login_required", cb.Error)
			}
			if elapsed := time.Duration(i+1) * 55 * time.Minute; elapsed < 12*time.Hour {
				t.Errorf("session ended after %v, before its 12 h lifetime", elapsed)
			}
			return
		}
		t.Error("the session outlived its 12 h lifetime")
	})
}

func TestSSODisabledUserLosesSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		b := e.newBrowser(t)
		e.signInTokens(t, b, c.request("openid"), "alice", alicePassword)
		// Half-way through another request, at the consent page.
		ar := c.request("openid results:write")
		consent := b.get(t, ar.URL).want(t, "consent")

		e.setUser(t, "alice", map[string]any{"roles": []string{"teacher"}, "disabled": true})
		none := c.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, b.get(t, none.URL), none).wantError(t, "login_required")
		if res := b.decide(t, consent, "allow"); res.Redirect != nil && res.Redirect.Query().Get("code") != "" {
			t.Errorf("a disabled user's consent minted a code: %s", res.Redirect)
		}
	})
}

func TestSSOTwoTabs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		arA := e.Confidential.request("openid results:read")
		arB := e.Public.request("openid results:read")
		pA := b.get(t, arA.URL).want(t, "login")
		pB := b.get(t, arB.URL).want(t, "login")
		cbA := e.callback(t, b.decide(t, b.login(t, pA, "alice", alicePassword), "allow"), arA)
		cbB := e.callback(t, b.decide(t, b.login(t, pB, "alice", alicePassword), "allow"), arB)
		e.exchange(t, arA, cbA)
		e.exchange(t, arB, cbB)
	})
}

func TestSSOLogoutHintForAnotherUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		endSession := endpoint(t, e.Discovery, "end_session_endpoint")
		bobTok := e.signInTokens(t, e.newBrowser(t), c.request("openid"), "bob", bobPassword)
		b := e.newBrowser(t)
		e.signInTokens(t, b, c.request("openid"), "alice", alicePassword)
		// bob's ID token says nothing about alice's browser: ask.
		p := b.get(t, endSession+"?"+url.Values{"id_token_hint": {idTokenOf(t, bobTok)}, "post_logout_redirect_uri": {confidentialLogout}}.Encode())
		if p.kind() != "logout" {
			t.Fatalf("want the confirmation page, got %s", p)
		}
		ar := c.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, b.get(t, ar.URL), ar).wantCode(t)
	})
}

func TestSSOAuthorizeByPost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid results:read")
		u, _ := url.Parse(ar.URL)
		p := b.post(t, e.URL+provider.PathAuthorize, u.Query()).want(t, "login")
		p = b.decide(t, b.login(t, p, "bob", bobPassword), "allow")
		tok := e.exchange(t, ar, e.callback(t, p, ar))
		if got := grantedScope(t, tok); !slices.Equal(got, []string{"openid", "results:read"}) {
			t.Errorf("granted %q", got)
		}
	})
}

// TestSSOConcurrentReplays sends the same one-time thing many times at
// once: at most one may succeed.
func TestSSOConcurrentReplays(t *testing.T) {
	const n = 8
	// race runs f n times at once and returns how many succeeded.
	race := func(f func() bool) int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if f() {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		return ok
	}
	// post sends form without a testing.T (from goroutines) and reports
	// whether the answer redirected to the client with a code.
	postForCode := func(b *browser, target string, form url.Values) bool {
		resp, err := b.http.PostForm(target, form)
		if err != nil {
			return false
		}
		resp.Body.Close()
		loc, err := resp.Location()
		return err == nil && loc.Query().Get("code") != ""
	}

	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential

		t.Run("code", func(t *testing.T) {
			ar := c.request("openid offline_access results:read")
			cb, _ := e.newBrowser(t).signIn(t, ar, "bob", bobPassword)
			cb.wantCode(t)
			if got := race(func() bool { _, err := e.tryExchange(ar, cb); return err == nil }); got != 1 {
				t.Errorf("%d of %d concurrent redemptions of one code succeeded, want exactly 1", got, n)
			}
		})

		t.Run("refresh token", func(t *testing.T) {
			ar := c.request("openid offline_access results:read")
			tok := e.signInTokens(t, e.newBrowser(t), ar, "bob", bobPassword)
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
			got := race(func() bool {
				hr, _ := http.NewRequest(http.MethodPost, c.Config.Endpoint.TokenURL, strings.NewReader(form.Encode()))
				hr.Header.Set("Content-Type", formType)
				hr.Header.Set("Authorization", basic(c.Meta.ClientID, c.Meta.ClientSecret))
				resp, err := e.HTTP.Do(hr)
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			})
			if got > 1 {
				t.Errorf("%d of %d concurrent uses of one refresh token succeeded, want at most 1", got, n)
			}
		})

		t.Run("consent post", func(t *testing.T) {
			b := e.newBrowser(t)
			ar := c.request("openid results:read results:write")
			p := b.login(t, b.get(t, ar.URL), "alice", alicePassword).want(t, "consent")
			form := p.form(t).hidden()
			form.Set("decision", "allow")
			if got := race(func() bool { return postForCode(b, e.URL+provider.PathConsent, form) }); got != 1 {
				t.Errorf("%d of %d concurrent consent posts minted a code, want exactly 1", got, n)
			}
		})

		t.Run("login post", func(t *testing.T) {
			b := e.newBrowser(t)
			ar := c.request("openid results:read results:write", oauth2.SetAuthURLParam("prompt", "login"))
			p := b.get(t, ar.URL).want(t, "login")
			form := p.form(t).hidden()
			form.Set("username", "alice")
			form.Set("password", alicePassword)
			if got := race(func() bool { return postForCode(b, e.URL+provider.PathLogin, form) }); got != 1 {
				t.Errorf("%d of %d concurrent login posts minted a code, want exactly 1", got, n)
			}
		})
	})
}

// TestSSOLogoutAbandonsPendingConsent: a user who signs out while a request
// waits at the consent page leaves nothing behind that the next person at
// the browser can finish in their name.
func TestSSOLogoutAbandonsPendingConsent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		endSession := endpoint(t, e.Discovery, "end_session_endpoint")
		b := e.newBrowser(t)
		ar := c.request("openid results:read results:write")
		consent := b.login(t, b.get(t, ar.URL), "alice", alicePassword).want(t, "consent")

		confirm := b.get(t, endSession).want(t, "logout")
		b.submit(t, confirm, url.Values{"confirm": {"yes"}})
		none := c.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, b.get(t, none.URL), none).wantError(t, "login_required")

		// The next person presses Back and Allow.
		res := b.decide(t, consent, "allow")
		if res.Redirect != nil && res.Redirect.Query().Get("code") != "" {
			tok := e.exchange(t, ar, e.callback(t, res, ar))
			t.Errorf("after alice signed out, her pending consent page still minted a code, for sub %s", e.access(t, tok.AccessToken).Subject)
		}

		// Likewise when someone else signs in on the browser meanwhile.
		ar = c.request("openid schedule:write")
		consent = b.login(t, b.get(t, ar.URL), "alice", alicePassword).want(t, "consent")
		other := c.request("openid", oauth2.SetAuthURLParam("prompt", "login"))
		p := b.login(t, b.get(t, other.URL), "bob", bobPassword)
		e.callback(t, b.decide(t, p, "allow"), other).wantCode(t)
		res = b.decide(t, consent, "allow")
		if res.Redirect != nil && res.Redirect.Query().Get("code") != "" {
			tok := e.exchange(t, ar, e.callback(t, res, ar))
			t.Errorf("with bob signed in, alice's pending consent page minted a code for sub %s (alice %s)", e.access(t, tok.AccessToken).Subject, e.AliceID)
		}
	})
}

// TestSSOCodeExchangeCannotWidenScope: a scope parameter at the token
// endpoint does not add to what the user granted with the code.
func TestSSOCodeExchangeCannotWidenScope(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		ar := c.request("openid results:read")
		cb, _ := e.newBrowser(t).signIn(t, ar, "bob", bobPassword)
		res := e.tokenRequest(t, c, url.Values{
			"grant_type": {"authorization_code"}, "code": {cb.wantCode(t)}, "redirect_uri": {ar.RedirectURI},
			"code_verifier": {ar.Verifier}, "scope": {"openid results:read results:write schedule:write"},
		})
		if res.Status != http.StatusOK {
			return // refusing is fine too
		}
		tj := oauthtest.DecodeToken(t, res)
		want := []string{"openid", "results:read"}
		if got := sortedFields(tj.Scope); !slices.Equal(got, want) {
			t.Errorf("token response scope = %q, want %q", got, want)
		}
		if got := sortedFields(e.access(t, tj.AccessToken).Scope); !slices.Equal(got, want) {
			t.Errorf("access token scope = %q, want %q", got, want)
		}
	})
}
