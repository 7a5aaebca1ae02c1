package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The app's own checks, without hallpass: sign-in state, CSRF, sign-out.
// The whole flow against a real hallpass runs in internal/deploytest.

const testIssuer = "http://id.test"

func testApp(t *testing.T) *app {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/school" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"Test School","notice":"hello"}`)
	}))
	t.Cleanup(api.Close)
	tmpl, err := template.ParseFS(assets, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	c := &config{issuer: testIssuer, clientID: "demo", publicURL: "http://app.test", redirectURL: "http://app.test/callback", schoolAPIURL: api.URL}
	return &app{
		cfg: c, log: slog.New(slog.DiscardHandler), now: time.Now,
		api: api.Client(), hallpass: http.DefaultClient,
		oauth: oauth2.Config{
			ClientID: "demo", RedirectURL: c.redirectURL, Scopes: []string{"openid", "results:read"},
			Endpoint: oauth2.Endpoint{AuthURL: testIssuer + "/oauth2/authorize", TokenURL: testIssuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams},
		},
		endSession: testIssuer + "/oauth2/logout",
		requireIss: true,
		pending:    newStore[pendingLogin](loginTTL, 100, time.Now),
		sessions:   newStore[*session](sessionTTL, 100, time.Now),
		tmpl:       tmpl,
		issuerOrig: testIssuer,
	}
}

func request(t *testing.T, h http.Handler, method, target string, body url.Values, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(body.Encode())
	}
	req := httptest.NewRequestWithContext(context.Background(), method, target, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func cookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func bodyOf(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// startLogin runs GET /login and returns the login cookie and the
// authorization request it redirected to.
func startLogin(t *testing.T, a *app) (*http.Cookie, url.Values) {
	t.Helper()
	resp := request(t, a.routes(), "GET", "/login", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /login = %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != testIssuer+"/oauth2/authorize" {
		t.Fatalf("GET /login redirected to %s", resp.Header.Get("Location"))
	}
	c := cookie(t, resp, loginCookie)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge <= 0 {
		t.Fatalf("login cookie = %+v", c)
	}
	return c, loc.Query()
}

func TestLoginRequest(t *testing.T) {
	a := testApp(t)
	c, q := startLogin(t, a)
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("%s = %q, want 256 random bits", k, q.Get(k))
		}
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("client_id") != "demo" || q.Get("redirect_uri") != "http://app.test/callback" || q.Get("response_type") != "code" {
		t.Errorf("authorization request = %v", q)
	}
	p, ok := a.pending.get(c.Value)
	if !ok || p.state != q.Get("state") || p.nonce != q.Get("nonce") {
		t.Fatalf("pending login = %+v, %v", p, ok)
	}
	sum := sha256.Sum256([]byte(p.verifier))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
		t.Error("code_challenge is not the S256 of the kept verifier")
	}
	if strings.Contains(c.Value, p.state) || strings.Contains(c.Value, p.verifier) {
		t.Error("the cookie carries the state or the verifier; they must stay on the server")
	}
}

func TestCallbackRefusals(t *testing.T) {
	tests := []struct {
		name       string
		noCookie   bool
		query      func(state string) url.Values
		wantStatus int
		wantText   string
	}{
		{"no login cookie", true, func(s string) url.Values { return url.Values{"state": {s}, "iss": {testIssuer}, "code": {"c"}} }, 400, "did not start a sign-in"},
		{"wrong state", false, func(string) url.Values { return url.Values{"state": {"other"}, "iss": {testIssuer}, "code": {"c"}} }, 400, "state does not match"},
		{"no state", false, func(string) url.Values { return url.Values{"iss": {testIssuer}, "code": {"c"}} }, 400, "state does not match"},
		{"no iss", false, func(s string) url.Values { return url.Values{"state": {s}, "code": {"c"}} }, 400, "iss mismatch"},
		{"another issuer", false, func(s string) url.Values { return url.Values{"state": {s}, "iss": {"http://evil.test"}, "code": {"c"}} }, 400, "iss mismatch"},
		{"the user said no", false, func(s string) url.Values {
			return url.Values{"state": {s}, "iss": {testIssuer}, "error": {"access_denied"}, "error_description": {"the user denied"}}
		}, 200, "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testApp(t)
			c, q := startLogin(t, a)
			var cookies []*http.Cookie
			if !tt.noCookie {
				cookies = append(cookies, c)
			}
			resp := request(t, a.routes(), "GET", "/callback?"+tt.query(q.Get("state")).Encode(), nil, cookies...)
			body := bodyOf(resp)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantText) {
				t.Errorf("callback = %d, want %d with %q:\n%s", resp.StatusCode, tt.wantStatus, tt.wantText, body)
			}
			if cookie(t, resp, sessionCookie) != nil || strings.Contains(body, `id="user-name"`) {
				t.Error("a refused callback started a session")
			}
			if _, ok := a.pending.get(c.Value); ok && !tt.noCookie {
				t.Error("the pending sign-in survived a callback: it must be used once")
			}
		})
	}
}

func signedIn(t *testing.T, a *app) *http.Cookie {
	t.Helper()
	id, err := a.sessions.put(&session{
		user:    user{Subject: "u1", Name: "Alice Teacher", Username: "alice", Roles: []string{"teacher"}},
		idToken: "the-id-token", csrf: "the-csrf-token",
		token: &oauth2.Token{AccessToken: "at", Expiry: time.Now().Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: sessionCookie, Value: id}
}

func TestHomeAndHeaders(t *testing.T) {
	a := testApp(t)
	resp := request(t, a.routes(), "GET", "/", nil, signedIn(t, a))
	body := bodyOf(resp)
	for _, want := range []string{`<dd id="user-name">Alice Teacher</dd>`, `<dd id="user-roles">teacher</dd>`, `name="csrf" value="the-csrf-token"`, "Test School"} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %s", want)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self' "+testIssuer) {
		t.Errorf("CSP = %q", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v", resp.Header)
	}
	if r := request(t, a.routes(), "GET", "/static/app.css", nil); r.StatusCode != 200 {
		t.Errorf("stylesheet: %d", r.StatusCode)
	}
	if body := bodyOf(request(t, a.routes(), "GET", "/", nil)); !strings.Contains(body, `id="signin"`) || strings.Contains(body, "csrf") {
		t.Error("the signed-out page does not offer sign-in, or shows forms")
	}
}

func TestCSRF(t *testing.T) {
	a := testApp(t)
	sess := signedIn(t, a)
	form := url.Values{"student": {"bob"}, "course": {"Art"}, "grade": {"A"}}
	for _, tok := range []string{"", "forged"} {
		form.Set("csrf", tok)
		for _, path := range []string{"/publish", "/logout"} {
			resp := request(t, a.routes(), "POST", path, form, sess)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with csrf %q = %d, want 403", path, tok, resp.StatusCode)
			}
		}
	}
	if _, ok := a.sessions.get(sess.Value); !ok {
		t.Error("a forged sign-out ended the session")
	}
}

func TestLogout(t *testing.T) {
	a := testApp(t)
	sess := signedIn(t, a)
	resp := request(t, a.routes(), "POST", "/logout", url.Values{"csrf": {"the-csrf-token"}}, sess)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if loc.Scheme+"://"+loc.Host+loc.Path != testIssuer+"/oauth2/logout" || q.Get("id_token_hint") != "the-id-token" ||
		q.Get("post_logout_redirect_uri") != "http://app.test/" || q.Get("client_id") != "demo" || q.Get("state") == "" {
		t.Errorf("logout redirect = %s", loc)
	}
	if c := cookie(t, resp, sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("the session cookie was not cleared: %+v", c)
	}
	if _, ok := a.sessions.get(sess.Value); ok {
		t.Error("the session outlived sign-out")
	}
	lc := cookie(t, resp, logoutCookie)
	if lc == nil || lc.Value != q.Get("state") {
		t.Fatalf("logout state cookie = %+v", lc)
	}

	// Back from hallpass: the state matches, the page says so.
	if body := bodyOf(request(t, a.routes(), "GET", "/?state="+url.QueryEscape(q.Get("state")), nil, lc)); !strings.Contains(body, `id="signed-out"`) {
		t.Error("the return from hallpass does not confirm the sign-out")
	}
	if body := bodyOf(request(t, a.routes(), "GET", "/?state=other", nil, lc)); strings.Contains(body, `id="signed-out"`) {
		t.Error("a foreign state confirmed a sign-out")
	}
	// Signed out already: nothing to do.
	if resp := request(t, a.routes(), "POST", "/logout", url.Values{"csrf": {"the-csrf-token"}}, sess); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("second logout = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestStore(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := newStore[string](time.Minute, 2, clock)
	a, _ := s.put("a")
	b, _ := s.put("b")
	if a == b || len(a) < 43 {
		t.Fatalf("ids %q %q", a, b)
	}
	if _, err := s.put("c"); err == nil {
		t.Error("a full store took another entry")
	}
	if v, ok := s.take(a); !ok || v != "a" {
		t.Errorf("take = %q %v", v, ok)
	}
	if _, ok := s.take(a); ok {
		t.Error("taken twice")
	}
	now = now.Add(time.Minute)
	if _, ok := s.get(b); ok {
		t.Error("an expired entry was returned")
	}
	if _, err := s.put("d"); err != nil {
		t.Errorf("expired entries were not swept: %v", err)
	}
}

func TestConfigAndExitCodes(t *testing.T) {
	var c config
	env := map[string]string{"DEMOAPP_ISSUER": "https://id.example", "DEMOAPP_CLIENT_SECRET": "s"}
	if err := flags(&c, io.Discard).Parse([]string{"-addr", ":1"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	c.derive()
	if c.addr != ":1" || c.issuer != "https://id.example" || c.clientSecret != "s" || c.clientID != "hallpass-demoapp" || c.publicURL != "http://localhost:1" || c.redirectURL != "http://localhost:1/callback" {
		t.Errorf("config = %+v", c)
	}
	var out, errb bytes.Buffer
	none := func(string) (string, bool) { return "", false }
	if code := run(context.Background(), []string{"-h"}, none, &out, &errb); code != 0 || !strings.Contains(errb.String(), "DEMOAPP_CLIENT_SECRET") {
		t.Errorf("-h: %d %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"extra"}, none, &out, &errb); code != 2 {
		t.Errorf("stray argument: exit %d, want 2", code)
	}
}

// The app's URLs follow its flags: the public URL from --addr, the
// redirect URI from the public URL, unless given.
func TestConfigDerive(t *testing.T) {
	for _, tc := range []struct {
		in                  config
		wantPublic, wantRed string
	}{
		{config{addr: "localhost:8082"}, "http://localhost:8082", "http://localhost:8082/callback"},
		{config{addr: ":9000"}, "http://localhost:9000", "http://localhost:9000/callback"},
		{config{addr: "0.0.0.0:9000", publicURL: "https://app.example/"}, "https://app.example/", "https://app.example/callback"},
		{config{addr: "localhost:1", publicURL: "https://app.example", redirectURL: "https://cb.example/x"}, "https://app.example", "https://cb.example/x"},
	} {
		c := tc.in
		c.derive()
		if c.publicURL != tc.wantPublic || c.redirectURL != tc.wantRed {
			t.Errorf("derive(%+v) = %q %q, want %q %q", tc.in, c.publicURL, c.redirectURL, tc.wantPublic, tc.wantRed)
		}
	}
}
