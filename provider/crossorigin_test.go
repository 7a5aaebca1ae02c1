package provider_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
)

// Issue 10 §4: login, consent and logout are safe from other sites.

// postFrom posts form to target as the browser, with extra headers (the
// ones a browser adds to say where a post comes from).
func (b *browser) postFrom(t *testing.T, target string, form url.Values, header http.Header) page {
	t.Helper()
	hr, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", formType)
	for k, vs := range header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	return b.send(t, hr)
}

// foreignPosts are the ways a post that did not come from hallpass's own
// form in this browser looks: each must be refused with 403. edit changes
// the form's fields (valid as the page rendered them) and returns the
// headers to send.
var foreignPosts = []struct {
	name string
	edit func(form url.Values) http.Header
}{
	{"without csrf", func(form url.Values) http.Header { form.Del("csrf"); return nil }},
	{"empty csrf", func(form url.Values) http.Header { form.Set("csrf", ""); return nil }},
	{"wrong csrf", func(form url.Values) http.Header {
		form.Set("csrf", strings.Repeat("A", len(form.Get("csrf"))))
		return nil
	}},
	{"csrf in the query only", func(form url.Values) http.Header { form.Del("csrf"); return nil }},
	{"Sec-Fetch-Site cross-site", func(url.Values) http.Header { return http.Header{"Sec-Fetch-Site": {"cross-site"}} }},
	{"Sec-Fetch-Site same-site", func(url.Values) http.Header { return http.Header{"Sec-Fetch-Site": {"same-site"}} }},
	{"Origin of another site", func(url.Values) http.Header { return http.Header{"Origin": {"https://evil.example"}} }},
	{"Sec-Fetch-Site cross-site and Origin of another site", func(url.Values) http.Header {
		return http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
	}},
}

// sameOrigin are the headers a browser sends with a post from hallpass's
// own page.
func sameOrigin(e *ssoEnv) http.Header {
	return http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.URL}}
}

// wantRefusedForm fails unless p is the 403 page and its response set no
// cookie: a refused post changes nothing.
func wantRefusedForm(t *testing.T, p page) {
	t.Helper()
	p.wantErrorPage(t, http.StatusForbidden)
	if sc := p.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("a refused post set cookies: %q", sc)
	}
	if len(p.Hops) != 0 {
		t.Errorf("a refused post redirected: %v", p.Hops)
	}
}

func TestLoginFormSafeFromOtherSites(t *testing.T) {
	withSSOEnv(t, "login", func(t *testing.T, e *ssoEnv) {
		c := e.Confidential
		// Consent first, so that a login that went through would end in a
		// code at once.
		e.signInTokens(t, e.newBrowser(t), c.request("openid results:read"), "alice", alicePassword)

		b := e.newBrowser(t)
		ar := c.request("openid results:read")
		login := b.get(t, ar.URL).want(t, "login")
		if login.form(t).hidden().Get("csrf") == "" {
			t.Fatal("the login form carries no csrf token")
		}
		target := e.URL + provider.PathLogin
		// More refused posts with a wrong password than the throttle lets
		// through: had any been checked, the right password would be
		// throttled below.
		for range 2 {
			for _, tc := range foreignPosts {
				form := login.form(t).hidden()
				form.Set("username", "alice")
				form.Set("password", "wrong-password-"+tc.name)
				header := tc.edit(form)
				to := target
				if tc.name == "csrf in the query only" {
					to += "?csrf=" + url.QueryEscape(login.form(t).hidden().Get("csrf"))
				}
				wantRefusedForm(t, b.postFrom(t, to, form, header))
				// The right password is refused all the same.
				form.Set("password", alicePassword)
				wantRefusedForm(t, b.postFrom(t, to, form, header))
			}
		}
		if _, ok := b.cookie("hallpass_session"); ok {
			t.Fatal("a refused login post signed the browser in")
		}
		none := c.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, b.get(t, none.URL), none).wantError(t, "login_required")

		// A login form of another request of the same browser does not
		// carry this request's token.
		other := b.get(t, c.request("openid").URL).want(t, "login")
		form := login.form(t).hidden()
		form.Set("csrf", other.form(t).hidden().Get("csrf"))
		form.Set("username", "alice")
		form.Set("password", alicePassword)
		wantRefusedForm(t, b.post(t, target, form))

		// From hallpass's own page, the same post works, and the pending
		// request was not spent by the refusals.
		form = login.form(t).hidden()
		form.Set("username", "alice")
		form.Set("password", alicePassword)
		p := b.postFrom(t, target, form, sameOrigin(e))
		e.callback(t, p, ar).wantCode(t)
	})
}

func TestConsentFormSafeFromOtherSites(t *testing.T) {
	withSSOEnv(t, "consent", func(t *testing.T, e *ssoEnv) {
		c := e.Confidential
		b := e.newBrowser(t)
		ar := c.request("openid results:read")
		consent := b.login(t, b.get(t, ar.URL), "alice", alicePassword).want(t, "consent")
		if consent.form(t).hidden().Get("csrf") == "" {
			t.Fatal("the consent form carries no csrf token")
		}
		target := e.URL + provider.PathConsent
		for _, tc := range foreignPosts {
			form := consent.form(t).hidden()
			form.Set("decision", "allow")
			header := tc.edit(form)
			to := target
			if tc.name == "csrf in the query only" {
				to += "?csrf=" + url.QueryEscape(consent.form(t).hidden().Get("csrf"))
			}
			wantRefusedForm(t, b.postFrom(t, to, form, header))
		}
		// No consent was stored: the client must still ask.
		none := c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, b.get(t, none.URL), none).wantError(t, "consent_required")

		// The pending request still completes from hallpass's own page.
		form := consent.form(t).hidden()
		form.Set("decision", "allow")
		e.callback(t, b.postFrom(t, target, form, sameOrigin(e)), ar).wantCode(t)
		again := c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, b.get(t, again.URL), again).wantCode(t)
	})
}

// TestConsentNeverByGet: a link to the consent page with every field of
// the form in its query shows the page and grants nothing.
func TestConsentNeverByGet(t *testing.T) {
	withSSOEnv(t, "consent by GET", func(t *testing.T, e *ssoEnv) {
		c := e.Confidential
		b := e.newBrowser(t)
		ar := c.request("openid results:read")
		consent := b.login(t, b.get(t, ar.URL), "alice", alicePassword).want(t, "consent")
		q := consent.form(t).hidden()
		q.Set("decision", "allow")
		p := b.get(t, e.URL+provider.PathConsent+"?"+q.Encode())
		if p.Redirect != nil || len(p.Hops) != 0 {
			t.Fatalf("GET of the consent page with decision=allow redirected: %s", p)
		}
		p.want(t, "consent")
		none := c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "none"))
		e.callback(t, b.get(t, none.URL), none).wantError(t, "consent_required")
		if res := b.do(t, http.MethodHead, e.URL+provider.PathConsent+"?"+q.Encode(), nil); res.Redirect != nil {
			t.Errorf("HEAD of the consent page redirected: %s", res)
		}
		e.callback(t, b.get(t, none.URL), none).wantError(t, "consent_required")
	})
}

// TestWrongPasswordFormKeepsToken: the form shown again after a wrong
// password carries the same working token.
func TestWrongPasswordFormKeepsToken(t *testing.T) {
	withSSOEnv(t, "wrong password", func(t *testing.T, e *ssoEnv) {
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid results:read")
		login := b.get(t, ar.URL).want(t, "login")
		again := b.login(t, login, "alice", "not-alices-password").want(t, "login")
		if got, want := again.form(t).hidden().Get("csrf"), login.form(t).hidden().Get("csrf"); got == "" || got != want {
			t.Errorf("the form shown again carries csrf %q, want the page's %q", got, want)
		}
		e.callback(t, b.decide(t, b.login(t, again, "alice", alicePassword), "allow"), ar).wantCode(t)
	})
}

func TestLogoutSafeFromOtherSites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		endSession := e.URL + provider.PathEndSession
		signedIn := func(t *testing.T) (*browser, *oauth2.Token) {
			t.Helper()
			b := e.newBrowser(t)
			return b, e.signInTokens(t, b, c.request("openid offline_access results:read"), "alice", alicePassword)
		}
		assertSignedIn := func(t *testing.T, b *browser) {
			t.Helper()
			ar := c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "none"))
			e.callback(t, b.get(t, ar.URL), ar).wantCode(t)
		}
		assertSignedOut := func(t *testing.T, b *browser) {
			t.Helper()
			ar := c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "none"))
			e.callback(t, b.get(t, ar.URL), ar).wantError(t, "login_required")
			b.get(t, c.request("openid results:read").URL).want(t, "login")
		}
		noCookies := func(t *testing.T, p page) {
			t.Helper()
			if sc := p.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("the answer sets cookies: %q (%s)", sc, p)
			}
		}

		t.Run("cross-site post without hint changes nothing", func(t *testing.T) {
			b, _ := signedIn(t)
			// Mid-way through another sign-in, too: its binding cookie
			// must survive.
			pending := b.get(t, c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "login")).URL).want(t, "login")
			forms := []url.Values{
				{},
				{"confirm": {"yes"}},
				{"confirm": {"yes"}, "post_logout_redirect_uri": {confidentialLogout}, "client_id": {c.Meta.ClientID}},
			}
			for _, form := range forms {
				for _, h := range []http.Header{{"Sec-Fetch-Site": {"cross-site"}}, {"Sec-Fetch-Site": {"same-site"}}, {"Origin": {"https://evil.example"}}} {
					// With the browser's cookies (a same-site sibling's
					// post carries them) and without (a cross-site one).
					wantRefusedForm(t, b.postFrom(t, endSession, form, h))
					wantRefusedForm(t, e.newBrowser(t).postFrom(t, endSession, form, h))
				}
			}
			// The real confirmation form's token does not make a cross-site
			// post acceptable either.
			confirm := b.get(t, endSession).want(t, "logout").form(t).hidden()
			confirm.Set("confirm", "yes")
			wantRefusedForm(t, b.postFrom(t, endSession, confirm, http.Header{"Sec-Fetch-Site": {"cross-site"}}))
			assertSignedIn(t, b)
			pending = b.login(t, pending, "alice", alicePassword)
			if pending.kind() == "login" || pending.Status >= 400 {
				t.Errorf("the pending sign-in did not survive the refused logouts: %s", pending)
			}
		})

		t.Run("same-origin post without a session sets no cookie", func(t *testing.T) {
			b, _ := signedIn(t)
			// Another browser of the same person, or one whose session
			// cookie is gone, posting the logout form.
			other := e.newBrowser(t)
			pending := other.get(t, c.request("openid").URL).want(t, "login")
			p := other.postFrom(t, endSession, url.Values{"confirm": {"yes"}}, sameOrigin(e))
			noCookies(t, p)
			if p.Status != http.StatusOK {
				t.Errorf("logout without a session: %s", p)
			}
			assertSignedIn(t, b)
			other.login(t, pending, "bob", bobPassword).want(t, "consent")
		})

		t.Run("same-origin confirmation still works", func(t *testing.T) {
			b, _ := signedIn(t)
			confirm := b.get(t, endSession).want(t, "logout").form(t).hidden()
			confirm.Set("confirm", "yes")
			p := b.postFrom(t, endSession, confirm, sameOrigin(e))
			if p.Status != http.StatusOK || p.Redirect != nil {
				t.Errorf("confirmed logout: %s", p)
			}
			assertSignedOut(t, b)
		})

		t.Run("access token as hint", func(t *testing.T) {
			b, tok := signedIn(t)
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				params := url.Values{"id_token_hint": {tok.AccessToken}, "post_logout_redirect_uri": {confidentialLogout}}
				var p page
				if method == http.MethodGet {
					p = b.get(t, endSession+"?"+params.Encode())
				} else {
					p = b.post(t, endSession, params)
				}
				p.wantErrorPage(t, http.StatusBadRequest)
				noCookies(t, p)
				// Nor from a server without cookies.
				e.newBrowser(t).get(t, endSession+"?"+params.Encode()).wantErrorPage(t, http.StatusBadRequest)
			}
			assertSignedIn(t, b)

			// An access token whose aud names a registered client (an app
			// that is also a resource server) passes every other check
			// of a hint: its type gives it away.
			both := e.registerClient(t, "portal-api", "https://portal-api.example/cb", "https://portal-api.example/bye", "portal-api")
			ar := both.request("openid", oauth2.SetAuthURLParam("audience", "portal-api"))
			at := e.signInTokens(t, b, ar, "", "").AccessToken
			if aud := e.access(t, at).Raw["aud"]; !strings.Contains(fmt.Sprint(aud), "portal-api") {
				t.Fatalf("access token aud %v does not name the client portal-api", aud)
			}
			for _, params := range []url.Values{
				{"id_token_hint": {at}},
				{"id_token_hint": {at}, "client_id": {"portal-api"}, "post_logout_redirect_uri": {"https://portal-api.example/bye"}},
			} {
				p := e.newBrowser(t).get(t, endSession+"?"+params.Encode())
				p.wantErrorPage(t, http.StatusBadRequest)
				noCookies(t, p)
			}
			assertSignedIn(t, b)
		})

		t.Run("hint of an unregistered client", func(t *testing.T) {
			temp := e.registerClient(t, "temp-app", "https://temp.example/cb", "https://temp.example/bye")
			b := e.newBrowser(t)
			tok := e.signInTokens(t, b, temp.request("openid"), "alice", alicePassword)
			if res := e.admin(t, http.MethodDelete, "/admin/clients/temp-app", nil); res.Status != http.StatusNoContent && res.Status != http.StatusOK {
				t.Fatalf("delete client: %d %s", res.Status, res.Body)
			}
			hint := idTokenOf(t, tok)
			for _, params := range []url.Values{
				{"id_token_hint": {hint}},
				{"id_token_hint": {hint}, "client_id": {"temp-app"}},
			} {
				p := b.get(t, endSession+"?"+params.Encode())
				p.wantErrorPage(t, http.StatusBadRequest)
				noCookies(t, p)
				e.newBrowser(t).get(t, endSession+"?"+params.Encode()).wantErrorPage(t, http.StatusBadRequest)
			}
			assertSignedIn(t, b)
		})

		t.Run("hint from a server without cookies ends the session", func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				t.Run(method, func(t *testing.T) {
					b, tok := signedIn(t)
					bystander, _ := signedIn(t) // alice in another browser
					params := url.Values{"id_token_hint": {idTokenOf(t, tok)}, "post_logout_redirect_uri": {confidentialLogout}, "state": {"backend-logout-1"}}
					server := e.newBrowser(t) // no cookies at all
					var p page
					if method == http.MethodGet {
						p = server.get(t, endSession+"?"+params.Encode())
					} else {
						p = server.post(t, endSession, params)
					}
					if p.Status != http.StatusSeeOther || p.Redirect == nil || p.Redirect.Query().Get("state") != "backend-logout-1" {
						t.Fatalf("backend logout: want 303 to %s, got %s", confidentialLogout, p)
					}
					noCookies(t, p)
					assertSignedOut(t, b)
					assertSignedIn(t, bystander)
				})
			}
			t.Run("without redirect", func(t *testing.T) {
				b, tok := signedIn(t)
				p := e.newBrowser(t).get(t, endSession+"?"+url.Values{"id_token_hint": {idTokenOf(t, tok)}}.Encode())
				if p.Status != http.StatusOK || p.Redirect != nil {
					t.Errorf("backend logout without a redirect URI: %s", p)
				}
				noCookies(t, p)
				assertSignedOut(t, b)
			})
		})

		t.Run("cross-site post with hint ends only the named session", func(t *testing.T) {
			b, tok := signedIn(t)
			bystander, _ := signedIn(t)
			// An RP's auto-submitted logout form (RP-Initiated Logout
			// allows POST); SameSite keeps the cookie from it, but the
			// test browser sends it, and it must change nothing.
			p := b.postFrom(t, endSession, url.Values{"id_token_hint": {idTokenOf(t, tok)}, "post_logout_redirect_uri": {confidentialLogout}},
				http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://portal.school.example"}})
			if p.Status != http.StatusSeeOther || p.Redirect == nil {
				t.Fatalf("an RP's logout form post: want 303 to %s, got %s", confidentialLogout, p)
			}
			noCookies(t, p)
			assertSignedOut(t, b)
			assertSignedIn(t, bystander)
		})

		t.Run("hint of an earlier session leaves the current one", func(t *testing.T) {
			b, old := signedIn(t)
			// alice signs in again in the same browser: a new session.
			ar := c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "login"))
			e.callback(t, b.login(t, b.get(t, ar.URL), "alice", alicePassword), ar).wantCode(t)
			e.newBrowser(t).get(t, endSession+"?"+url.Values{"id_token_hint": {idTokenOf(t, old)}}.Encode())
			assertSignedIn(t, b)
		})
	})
}

// TestLogoutExpiredHint: an expired ID token still names who to sign out
// (RP-Initiated Logout §2).
func TestLogoutExpiredHint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		short := newSSOEnv(t, dsn, func(cfg *provider.Config) { cfg.IDTokenLifespan = time.Second })
		b := short.newBrowser(t)
		tok := short.signInTokens(t, b, short.Confidential.request("openid"), "alice", alicePassword)
		hint := idTokenOf(t, tok)
		var claims jwt.Claims
		parsed, err := jwt.ParseSigned(hint, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(claims.Expiry.Time()) + 1100*time.Millisecond)
		if !claims.Expiry.Time().Before(time.Now()) {
			t.Fatal("the ID token has not expired yet")
		}
		p := short.newBrowser(t).get(t, short.URL+provider.PathEndSession+"?"+url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {confidentialLogout}}.Encode())
		if p.Status != http.StatusSeeOther || p.Redirect == nil {
			t.Fatalf("logout with an expired ID token: want 303, got %s", p)
		}
		none := short.Confidential.request("openid", oauth2.SetAuthURLParam("prompt", "none"))
		short.callback(t, b.get(t, none.URL), none).wantError(t, "login_required")
	})
}

// registerClient registers a confidential SSO client through the admin
// API, with the audiences its tokens may name.
func (e *ssoEnv) registerClient(t *testing.T, id, redirect, logout string, audience ...string) *ssoClient {
	t.Helper()
	res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
		ClientID: id, ClientName: "Client " + id, RedirectURIs: []string{redirect}, PostLogoutRedirectURIs: []string{logout},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: "client_secret_basic", Scope: ssoClientScopes, Audience: audience,
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("POST /admin/clients: %d %s", res.Status, res.Body)
	}
	var m directory.ClientMetadata
	if err := json.Unmarshal(res.Body, &m); err != nil {
		t.Fatal(err)
	}
	cfg := e.Confidential.Config
	cfg.ClientID, cfg.ClientSecret, cfg.RedirectURL = m.ClientID, m.ClientSecret, redirect
	return &ssoClient{Meta: m, Config: cfg}
}

// TestIDTokenSid: ID tokens name the browser session by sid, go-oidc
// accepts them, the sid survives refresh, and it reveals nothing of the
// session cookie.
func TestIDTokenSid(t *testing.T) {
	withSSOEnv(t, "sid", func(t *testing.T, e *ssoEnv) {
		c := e.Confidential
		sidOf := func(t *testing.T, claims map[string]any) string {
			t.Helper()
			sid, _ := claims["sid"].(string)
			if sid == "" {
				t.Fatalf("ID token has no sid: %v", claims)
			}
			return sid
		}
		b := e.newBrowser(t)
		ar := c.request("openid offline_access results:read")
		tok := e.signInTokens(t, b, ar, "alice", alicePassword)
		sid := sidOf(t, e.idToken(t, c, tok, ar.Nonce).Raw) // verified by go-oidc
		cookie, _ := b.cookie("hallpass_session")
		if cookie == "" || strings.Contains(sid, cookie) || strings.Contains(cookie, sid) {
			t.Errorf("sid %q is (part of) the session cookie %q", sid, cookie)
		}
		if sum := sha256.Sum256([]byte(cookie)); sid == hex.EncodeToString(sum[:]) {
			t.Error("sid is the digest of the session cookie, the session's database key")
		}

		// Refresh: a new ID token, the same sid, verified by go-oidc.
		rt := tok.RefreshToken
		for i := range 2 {
			tj := oauthtest.DecodeToken(t, e.refresh(t, c, rt, ""))
			rt = tj.RefreshToken
			idt, err := e.OIDC.Verifier(&oidc.Config{ClientID: c.Meta.ClientID}).Verify(e.ctx(), tj.IDToken)
			if err != nil {
				t.Fatalf("refresh %d: verify ID token: %v", i, err)
			}
			var claims map[string]any
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if got := sidOf(t, claims); got != sid {
				t.Errorf("refresh %d: sid %q, want the session's %q", i, got, sid)
			}
		}

		// Another client in the same browser session: the same sid.
		pub := e.Public.request("openid")
		if got := sidOf(t, e.idToken(t, e.Public, e.signInTokens(t, b, pub, "", ""), pub.Nonce).Raw); got != sid {
			t.Errorf("second client in the same session: sid %q, want %q", got, sid)
		}
		// Another browser, or a new login in this one: another session.
		other := c.request("openid")
		if got := sidOf(t, e.idToken(t, c, e.signInTokens(t, e.newBrowser(t), other, "alice", alicePassword), other.Nonce).Raw); got == sid {
			t.Error("two browsers' sessions share a sid")
		}
		again := c.request("openid", oauth2.SetAuthURLParam("prompt", "login"))
		if got := sidOf(t, e.idToken(t, c, e.signInTokens(t, b, again, "alice", alicePassword), again.Nonce).Raw); got == sid {
			t.Error("a new login kept the old session's sid")
		}
	})
}

// TestFlowFormsRefuseRepeatedFields checks that a login or consent post
// naming a field twice is refused as unreadable (400, nothing changed),
// like a repeated parameter at the OAuth endpoints: decision=allow and
// decision=deny together were taken as Allow, the first one, where a
// proxy or firewall reading the last would have seen Deny.
func TestFlowFormsRefuseRepeatedFields(t *testing.T) {
	withSSOEnv(t, "forms", func(t *testing.T, e *ssoEnv) {
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid results:read")
		login := b.get(t, ar.URL).want(t, "login")
		for _, tc := range []struct{ name, field, second string }{
			{"username", "username", "bob"},
			{"password", "password", bobPassword},
			{"csrf", "csrf", "x"},
		} {
			t.Run("login "+tc.name, func(t *testing.T) {
				form := login.form(t).hidden()
				form.Set("username", "alice")
				form.Set("password", alicePassword)
				form.Add(tc.field, tc.second)
				p := b.postFrom(t, e.URL+provider.PathLogin, form, sameOrigin(e))
				p.wantErrorPage(t, http.StatusBadRequest)
				if _, ok := b.cookie("hallpass_session"); ok {
					t.Fatal("a login post with a repeated field signed the browser in")
				}
			})
		}
		consent := b.login(t, login, "alice", alicePassword).want(t, "consent")
		for _, tc := range []struct{ name, field, first, second string }{
			{"decision", "decision", "allow", "deny"},
			{"request", "request", "", "x"},
		} {
			t.Run("consent "+tc.name, func(t *testing.T) {
				form := consent.form(t).hidden()
				form.Set("decision", "allow")
				if tc.first != "" {
					form.Set(tc.field, tc.first)
				}
				form.Add(tc.field, tc.second)
				p := b.postFrom(t, e.URL+provider.PathConsent, form, sameOrigin(e))
				p.wantErrorPage(t, http.StatusBadRequest)
			})
		}
		// Nothing was spent: the request still ends in a code.
		e.callback(t, b.decide(t, consent, "allow"), ar).wantCode(t)
	})
}
