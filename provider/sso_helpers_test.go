package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
)

// The school of DESIGN.md, as every SSO test sets it up.
const (
	schoolAudience = "https://school.example/api"
	alicePassword  = "violet-otter-harbour-31"
	bobPassword    = "maple-cinder-quartz-58"
	// ssoClientScopes are the scopes both SSO clients may be granted.
	ssoClientScopes = "openid profile email offline_access results:read results:write schedule:write"

	confidentialID       = "school-portal"
	confidentialRedirect = "https://portal.school.example/callback"
	confidentialLogout   = "https://portal.school.example/signed-out"
	publicID             = "school-app"
	publicRedirect       = "http://127.0.0.1/cb" // RFC 8252 loopback: any port
	publicLogout         = "http://127.0.0.1/signed-out"
)

// ssoEnv is a hallpass test server with the school's scopes, roles, users
// and two SSO clients.
type ssoEnv struct {
	*testServer
	Discovery map[string]any
	JWKS      jose.JSONWebKeySet
	OIDC      *oidc.Provider
	// Confidential authenticates with client_secret_basic; Public with none.
	Confidential, Public *ssoClient
	AliceID, BobID       string
	// setUp creates, on the server's store, the users a test needs
	// before what it tests (newStudent), from passwords hashed once.
	setUp *directory.Service
}

// reusedHashes is the directory.Hasher of ssoEnv.setUp. The first time
// it is given a password it hashes it with directory.HashPassword, at the
// server's own argon2id parameters, and it gives that hash for the
// password from then on, so that a test setting up hundreds of users (a
// failure sweep's fresh student for each call it fails) spends one
// argon2id computation on their password, not one per user. Logins still
// check those hashes at full cost; users the server itself creates (the
// admin API, the console) are hashed afresh, with a salt of their own.
type reusedHashes struct {
	mu     sync.Mutex
	hashes map[string]string
}

// Enter lets every caller in at once: only the set-up of one test uses it.
func (*reusedHashes) Enter(context.Context) (func(), error) { return func() {}, nil }

// Hash returns password's hash, made on its first use.
func (h *reusedHashes) Hash(password string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hash, ok := h.hashes[password]; ok {
		return hash, nil
	}
	hash, err := directory.HashPassword(password)
	if err != nil {
		return "", fmt.Errorf("hash a test password: %w", err)
	}
	if h.hashes == nil {
		h.hashes = map[string]string{}
	}
	h.hashes[password] = hash
	return hash, nil
}

// ssoClient is a relying party of the test server.
type ssoClient struct {
	Meta   directory.ClientMetadata
	Config oauth2.Config // Scopes are set per request
}

func (c *ssoClient) public() bool { return c.Meta.TokenEndpointAuthMethod == "none" }

// newSSOEnv starts hallpass on dsn and sets the school up through the
// admin API.
func newSSOEnv(t *testing.T, dsn string, opts ...func(*provider.Config)) *ssoEnv {
	t.Helper()
	return ssoEnvOn(t, newTestServer(t, dsn, opts...))
}

// ssoEnvOn sets the school up on ts.
func ssoEnvOn(t *testing.T, ts *testServer) *ssoEnv {
	t.Helper()
	e := &ssoEnv{testServer: ts, setUp: directory.New(ts.Store, directory.Options{Hasher: &reusedHashes{}})}
	mustCreate := func(path string, body any) result {
		t.Helper()
		res := ts.admin(t, http.MethodPost, path, body)
		if res.Status != http.StatusCreated {
			t.Fatalf("POST %s: status %d: %s", path, res.Status, res.Body)
		}
		return res
	}
	mustCreate("/admin/scopes", map[string]any{"name": "results:read", "description": "Read exam results", "audience": schoolAudience})
	mustCreate("/admin/scopes", map[string]any{"name": "results:write", "description": "Publish exam results", "audience": schoolAudience})
	mustCreate("/admin/scopes", map[string]any{"name": "schedule:write", "description": "Set the exam schedule", "audience": schoolAudience})
	mustCreate("/admin/roles", map[string]any{"name": "teacher", "scopes": []string{"results:read", "results:write", "schedule:write"}})
	mustCreate("/admin/roles", map[string]any{"name": "student", "scopes": []string{"results:read"}})
	var u directory.UserView
	decode := func(res result, v any) {
		t.Helper()
		if err := json.Unmarshal(res.Body, v); err != nil {
			t.Fatalf("decode %s: %v", res.Body, err)
		}
	}
	decode(mustCreate("/admin/users", map[string]any{
		"username": "alice", "password": alicePassword, "email": "alice@example.com", "email_verified": true,
		"name": "Alice Liddell", "roles": []string{"teacher"},
	}), &u)
	e.AliceID = u.ID
	decode(mustCreate("/admin/users", map[string]any{
		"username": "bob", "password": bobPassword, "email": "bob@example.com", "name": "Bob Tables", "roles": []string{"student"},
	}), &u)
	e.BobID = u.ID

	e.Discovery = ts.discovery(t)
	e.JWKS, _ = ts.fetchJWKS(t)
	var err error
	e.OIDC, err = oidc.NewProvider(oidc.ClientContext(context.Background(), ts.HTTP), ts.URL)
	if err != nil {
		t.Fatalf("oidc discovery: %v", err)
	}
	newClient := func(id, authMethod, redirect, logout string) *ssoClient {
		t.Helper()
		var m directory.ClientMetadata
		decode(mustCreate("/admin/clients", directory.ClientMetadata{
			ClientID: id, ClientName: "School " + id, RedirectURIs: []string{redirect}, PostLogoutRedirectURIs: []string{logout},
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
			TokenEndpointAuthMethod: authMethod, Scope: ssoClientScopes,
		}), &m)
		style := oauth2.AuthStyleInHeader
		if authMethod == "none" {
			style = oauth2.AuthStyleInParams
		}
		return &ssoClient{Meta: m, Config: oauth2.Config{
			ClientID: m.ClientID, ClientSecret: m.ClientSecret, RedirectURL: redirect,
			Endpoint: oauth2.Endpoint{
				AuthURL:   endpoint(t, e.Discovery, "authorization_endpoint"),
				TokenURL:  endpoint(t, e.Discovery, "token_endpoint"),
				AuthStyle: style,
			},
		}}
	}
	e.Confidential = newClient(confidentialID, "client_secret_basic", confidentialRedirect, confidentialLogout)
	e.Public = newClient(publicID, "none", publicRedirect, publicLogout)
	return e
}

// newUser creates the user in for a test's set-up, as the admin API
// would (directory.Users.Create, on the server's store) but with
// e.setUp's hash of the password, made once per env, and without an
// audit entry. For the tests that create a user per case; signing them
// in checks the password at full cost. Tests of creating users use the
// admin API or the console.
func (e *ssoEnv) newUser(t *testing.T, in directory.UserInput) directory.UserView {
	t.Helper()
	u, err := e.setUp.Users().Create(t.Context(), in)
	if err != nil {
		t.Fatalf("create user %s: %v", in.Username, err)
	}
	return u
}

// withSSOEnv runs f as subtest name on every backend, each with a school
// server of its own (see forEachBackend).
func withSSOEnv(t *testing.T, name string, f func(t *testing.T, e *ssoEnv)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, dsn string) { f(t, newSSOEnv(t, dsn)) })
	})
}

// ctx carries the test server's HTTP client for oauth2 and go-oidc.
func (e *ssoEnv) ctx() context.Context {
	return oidc.ClientContext(context.WithValue(context.Background(), oauth2.HTTPClient, e.HTTP), e.HTTP)
}

// authRequest is one authorization request a client sends the browser on.
type authRequest struct {
	Client                 *ssoClient
	URL                    string
	State, Nonce, Verifier string
	RedirectURI            string
}

// request builds an authorization request for scope with PKCE S256, a
// state and a nonce; extra parameters go as given (and may override).
func (c *ssoClient) request(scope string, extra ...oauth2.AuthCodeOption) authRequest {
	ar := authRequest{Client: c, State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier(), RedirectURI: c.Config.RedirectURL}
	cfg := c.Config
	cfg.Scopes = strings.Fields(scope)
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(ar.Verifier), oidc.Nonce(ar.Nonce)}, extra...)
	ar.URL = cfg.AuthCodeURL(ar.State, opts...)
	return ar
}

// withParam returns a copy of ar whose URL has parameter name set to
// value, or removed when value is "".
func (ar authRequest) withParam(t *testing.T, name, value string) authRequest {
	t.Helper()
	u, err := url.Parse(ar.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if value == "" {
		q.Del(name)
	} else {
		q.Set(name, value)
	}
	u.RawQuery = q.Encode()
	ar.URL = u.String()
	switch name {
	case "state":
		ar.State = value
	case "nonce":
		ar.Nonce = value
	case "redirect_uri":
		ar.RedirectURI = value
	}
	return ar
}

// browser is a user agent with its own cookies. It follows redirects
// within hallpass and stops at any redirect that leaves it (to a client),
// so no request ever reaches a client's redirect URI.
type browser struct {
	env  *ssoEnv
	jar  *cookiejar.Jar
	http *http.Client
	hops []hop
}

// hop is a redirect the browser followed inside hallpass.
type hop struct {
	Status   int
	Location string
}

func (e *ssoEnv) newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{env: e, jar: jar}
	b.http = &http.Client{
		Transport: e.HTTP.Transport,
		Jar:       jar,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if !strings.HasPrefix(r.URL.String(), e.URL+"/") {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("more than 10 redirects")
			}
			b.hops = append(b.hops, hop{Status: r.Response.StatusCode, Location: r.URL.String()})
			return nil
		},
	}
	return b
}

// page is what the browser ended on: a hallpass page, or a redirect out
// of hallpass (Redirect set).
type page struct {
	Status   int
	URL      *url.URL // the address of the last request
	Header   http.Header
	Body     string
	Hops     []hop    // redirects followed inside hallpass to get here
	Redirect *url.URL // the target of a redirect leaving hallpass
}

func (b *browser) do(t *testing.T, method, target string, form url.Values) page {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	hr, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return b.send(t, hr)
}

// send sends hr as the browser, with its cookies, following redirects
// within hallpass, and reads the page it ends on.
func (b *browser) send(t *testing.T, hr *http.Request) page {
	t.Helper()
	b.hops = nil
	resp, err := b.http.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", hr.Method, hr.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(data), Hops: b.hops}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if p.Redirect, err = resp.Location(); err != nil {
			t.Fatalf("%s %s: redirect %d without a usable Location: %v", hr.Method, hr.URL, resp.StatusCode, err)
		}
	}
	return p
}

func (b *browser) get(t *testing.T, target string) page {
	t.Helper()
	return b.do(t, http.MethodGet, target, nil)
}

func (b *browser) post(t *testing.T, target string, form url.Values) page {
	t.Helper()
	return b.do(t, http.MethodPost, target, form)
}

// cookie returns the value of the browser's cookie name for hallpass.
func (b *browser) cookie(name string) (string, bool) {
	u, _ := url.Parse(b.env.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value, true
		}
	}
	return "", false
}

// kind says what a page is: "login", "consent", "logout", "redirect" (out
// of hallpass), or "other" (an error page, say).
func (p page) kind() string {
	switch {
	case p.Redirect != nil:
		return "redirect"
	case p.URL.Path == provider.PathLogin && strings.Contains(p.Body, `name="password"`):
		return "login"
	case p.URL.Path == provider.PathConsent && strings.Contains(p.Body, `name="decision"`):
		return "consent"
	case strings.Contains(p.Body, `name="confirm"`):
		return "logout"
	}
	return "other"
}

func (p page) String() string {
	if p.Redirect != nil {
		return fmt.Sprintf("%d redirect to %s", p.Status, p.Redirect)
	}
	body := p.Body
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if len(body) > 600 {
		body = body[:600] + "…"
	}
	return fmt.Sprintf("%d %s (hops %v): %s", p.Status, p.URL, p.Hops, body)
}

// want fails the test now unless the page is of kind.
func (p page) want(t *testing.T, kind string) page {
	t.Helper()
	if p.kind() != kind {
		t.Fatalf("want the %s page, got %s", kind, p)
	}
	return p
}

// htmlForm is a form of a page, as a browser would submit it.
type htmlForm struct {
	Action, Method string
	Inputs         []htmlInput
	Buttons        []htmlInput
	Labels         map[string]string // for → label text
}

// htmlInput is an input or a button.
type htmlInput struct {
	Name, Type, Value, ID, Autocomplete string
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// forms parses every form of the page.
func (p page) forms(t *testing.T) []htmlForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	labels := map[string]string{}
	var forms []htmlForm
	var cur *htmlForm
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				forms = append(forms, htmlForm{Action: attr(n, "action"), Method: strings.ToUpper(attr(n, "method"))})
				cur = &forms[len(forms)-1]
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = nil
				return
			case "label":
				labels[attr(n, "for")] = textOf(n)
			case "input":
				if cur != nil {
					typ := attr(n, "type")
					if typ == "" {
						typ = "text"
					}
					cur.Inputs = append(cur.Inputs, htmlInput{Name: attr(n, "name"), Type: typ, Value: attr(n, "value"), ID: attr(n, "id"), Autocomplete: attr(n, "autocomplete")})
				}
			case "button":
				if cur != nil {
					typ := attr(n, "type")
					if typ == "" {
						typ = "submit"
					}
					cur.Buttons = append(cur.Buttons, htmlInput{Name: attr(n, "name"), Type: typ, Value: attr(n, "value")})
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for i := range forms {
		forms[i].Labels = labels
	}
	return forms
}

// form returns the page's only form.
func (p page) form(t *testing.T) htmlForm {
	t.Helper()
	fs := p.forms(t)
	if len(fs) != 1 {
		t.Fatalf("page has %d forms, want 1: %s", len(fs), p)
	}
	return fs[0]
}

func (f htmlForm) input(name string) (htmlInput, bool) {
	for _, in := range f.Inputs {
		if in.Name == name {
			return in, true
		}
	}
	return htmlInput{}, false
}

// hidden returns the values of the form's hidden inputs.
func (f htmlForm) hidden() url.Values {
	v := url.Values{}
	for _, in := range f.Inputs {
		if in.Type == "hidden" {
			v.Add(in.Name, in.Value)
		}
	}
	return v
}

// submit posts the form as a browser would from page p: its hidden
// fields, then fields (which replace same-named ones).
func (b *browser) submit(t *testing.T, p page, fields url.Values) page {
	t.Helper()
	f := p.form(t)
	if f.Method != http.MethodPost {
		t.Fatalf("form method %q, want POST", f.Method)
	}
	action, err := p.URL.Parse(f.Action)
	if err != nil {
		t.Fatalf("form action %q: %v", f.Action, err)
	}
	v := f.hidden()
	for k, vs := range fields {
		v[k] = vs
	}
	return b.post(t, action.String(), v)
}

// login submits credentials on a login page (its password form: with
// passkeys on, the page has a passkey form too).
func (b *browser) login(t *testing.T, p page, username, password string) page {
	t.Helper()
	p.want(t, "login")
	return b.submitTo(t, p, provider.PathLogin, url.Values{"username": {username}, "password": {password}})
}

// decide presses Allow or Deny on a consent page.
func (b *browser) decide(t *testing.T, p page, decision string) page {
	t.Helper()
	p.want(t, "consent")
	f := p.form(t)
	if !slices.ContainsFunc(f.Buttons, func(in htmlInput) bool { return in.Name == "decision" && in.Value == decision }) {
		t.Fatalf("consent page has no button decision=%s: %+v", decision, f.Buttons)
	}
	return b.submit(t, p, url.Values{"decision": {decision}})
}

// flowTrace records which pages a sign-in went through.
type flowTrace struct {
	Login, Consent bool
	ConsentPage    page
}

// signIn drives ar to the client: the login page if hallpass asks (with
// username and password), the consent page if it asks (Allow), and
// returns the callback. It fails unless the flow ends at the client.
func (b *browser) signIn(t *testing.T, ar authRequest, username, password string) (callback, flowTrace) {
	t.Helper()
	var tr flowTrace
	p := b.get(t, ar.URL)
	if p.kind() == "login" {
		tr.Login = true
		p = b.login(t, p, username, password)
	}
	if p.kind() == "consent" {
		tr.Consent, tr.ConsentPage = true, p
		p = b.decide(t, p, "allow")
	}
	return b.env.callback(t, p, ar), tr
}

// callback is what a client's redirect URI receives.
type callback struct {
	URL                                       *url.URL
	Code, State, Iss, Error, ErrorDescription string
}

// callback parses the redirect of p as ar's client receives it, failing
// unless p is a redirect to ar's redirect URI carrying iss (RFC 9207) and
// ar's state.
func (e *ssoEnv) callback(t *testing.T, p page, ar authRequest) callback {
	t.Helper()
	if p.Redirect == nil {
		t.Fatalf("want a redirect to %s, got %s", ar.RedirectURI, p)
	}
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		t.Errorf("redirect status %d, want 303 or 302", p.Status)
	}
	target := *p.Redirect
	target.RawQuery = ""
	if target.String() != ar.RedirectURI {
		t.Fatalf("redirected to %s, want the redirect URI %s", p.Redirect, ar.RedirectURI)
	}
	q := p.Redirect.Query()
	cb := callback{URL: p.Redirect, Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss"), Error: q.Get("error"), ErrorDescription: q.Get("error_description")}
	if cb.Iss != e.URL {
		t.Errorf("callback iss = %q, want the issuer %q (RFC 9207): %s", cb.Iss, e.URL, p.Redirect)
	}
	if cb.State != ar.State {
		t.Errorf("callback state = %q, want %q", cb.State, ar.State)
	}
	return cb
}

// wantCode fails the test now unless cb carries a code and no error.
func (cb callback) wantCode(t *testing.T) string {
	t.Helper()
	if cb.Code == "" || cb.Error != "" {
		t.Fatalf("callback has no code: %s", cb.URL)
	}
	return cb.Code
}

// wantError fails the test unless cb carries error code and no code.
func (cb callback) wantError(t *testing.T, code string) {
	t.Helper()
	if cb.Error != code {
		t.Errorf("callback error = %q (%s), want %q: %s", cb.Error, cb.ErrorDescription, code, cb.URL)
	}
	if cb.Code != "" {
		t.Errorf("an error callback carries a code: %s", cb.URL)
	}
}

// exchange redeems cb's code with golang.org/x/oauth2, failing the test
// unless it succeeds.
func (e *ssoEnv) exchange(t *testing.T, ar authRequest, cb callback) *oauth2.Token {
	t.Helper()
	tok, err := e.tryExchange(ar, cb)
	if err != nil {
		t.Fatalf("exchange code: %v", err)
	}
	return tok
}

func (e *ssoEnv) tryExchange(ar authRequest, cb callback) (*oauth2.Token, error) {
	cfg := ar.Client.Config
	cfg.RedirectURL = ar.RedirectURI
	return cfg.Exchange(e.ctx(), cb.Code, oauth2.VerifierOption(ar.Verifier))
}

// signInTokens runs a whole flow for username and redeems the code.
func (e *ssoEnv) signInTokens(t *testing.T, b *browser, ar authRequest, username, password string) *oauth2.Token {
	t.Helper()
	cb, _ := b.signIn(t, ar, username, password)
	cb.wantCode(t)
	return e.exchange(t, ar, cb)
}

// grantedScope is the scope of a token response, which hallpass always
// sends (DESIGN.md).
func grantedScope(t *testing.T, tok *oauth2.Token) []string {
	t.Helper()
	s, ok := tok.Extra("scope").(string)
	if !ok {
		t.Fatalf("token response has no scope: %v", tok.Extra("scope"))
	}
	return sortedFields(s)
}

// ssoAccessClaims are the claims of a user's access token.
type ssoAccessClaims struct {
	accessClaims
	Roles []string `json:"roles"`
	Raw   map[string]any
}

// access verifies raw against the JWKS and returns its claims.
func (e *ssoEnv) access(t *testing.T, raw string) ssoAccessClaims {
	t.Helper()
	c := ssoAccessClaims{accessClaims: verifyAccessToken(t, raw, e.JWKS)}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c.Raw); err != nil {
		t.Fatal(err)
	}
	var extra struct {
		Roles []string `json:"roles"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&extra); err != nil {
		t.Fatalf("roles claim: %v", err)
	}
	c.Roles = extra.Roles
	return c
}

// idClaims are the ID token claims the tests look at.
type idClaims struct {
	Sub               string `json:"sub"`
	AuthTime          int64  `json:"auth_time"`
	Nonce             string `json:"nonce"`
	AtHash            string `json:"at_hash"`
	Email             string `json:"email"`
	EmailVerified     *bool  `json:"email_verified"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	Raw               map[string]any
}

// idToken verifies the ID token of tok with go-oidc (discovery, JWKS,
// issuer, audience, expiry), its nonce and at_hash, and returns its claims.
func (e *ssoEnv) idToken(t *testing.T, c *ssoClient, tok *oauth2.Token, nonce string) idClaims {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatal("token response has no id_token")
	}
	idt, err := e.OIDC.Verifier(&oidc.Config{ClientID: c.Meta.ClientID}).Verify(e.ctx(), raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Errorf("ID token nonce = %q, want %q", idt.Nonce, nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("ID token at_hash does not match the access token: %v", err)
	}
	var c2 idClaims
	if err := idt.Claims(&c2); err != nil {
		t.Fatal(err)
	}
	if err := idt.Claims(&c2.Raw); err != nil {
		t.Fatal(err)
	}
	return c2
}

// tokenRequest posts form to the token endpoint discovery names, as
// client c.
func (e *ssoEnv) tokenRequest(t *testing.T, c *ssoClient, form url.Values) result {
	t.Helper()
	return e.Post(t, c.Config.Endpoint.TokenURL, credOf(c.Meta), form)
}

// refresh uses refresh token rt as client c, with scope if not "".
func (e *ssoEnv) refresh(t *testing.T, c *ssoClient, rt, scope string) result {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return e.tokenRequest(t, c, form)
}

// setUser replaces a user through the admin API (password kept).
func (e *ssoEnv) setUser(t *testing.T, username string, fields map[string]any) {
	t.Helper()
	body := map[string]any{"username": username}
	for k, v := range fields {
		body[k] = v
	}
	res := e.admin(t, http.MethodPut, "/admin/users/"+username, body)
	if res.Status != http.StatusOK {
		t.Fatalf("PUT /admin/users/%s: %d %s", username, res.Status, res.Body)
	}
}

// wantErrorPage fails the test unless p is an HTML error page with status
// and no redirect.
func (p page) wantErrorPage(t *testing.T, status int) {
	t.Helper()
	if p.Redirect != nil {
		t.Fatalf("want an error page, got %s", p)
	}
	if p.Status != status {
		t.Errorf("status %d, want %d: %s", p.Status, status, p)
	}
	if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want an HTML page", ct)
	}
	if strings.Contains(p.Body, "code=") {
		t.Errorf("error page mentions a code: %s", p)
	}
	for _, h := range p.Hops {
		if strings.Contains(h.Location, "code=") {
			t.Errorf("a redirect on the way carried a code: %v", p.Hops)
		}
	}
}
