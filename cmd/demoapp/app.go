package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/internal/backchannel"
)

//go:embed templates static
var assets embed.FS

// Cookie names. hallpass's own cookies are host-only too and browsers do
// not separate cookies by port, so these must not collide with hallpass's
// (hallpass_session, hallpass_auth) when both run on localhost.
const (
	sessionCookie = "demoapp_session"
	loginCookie   = "demoapp_login"
	logoutCookie  = "demoapp_logout"
)

// Lifetimes of what the app keeps server-side.
const (
	loginTTL    = 10 * time.Minute
	sessionTTL  = 12 * time.Hour
	maxSessions = 10000
	maxBody     = 16 << 10
)

// app is the demo web app.
type app struct {
	cfg        *config
	log        *slog.Logger
	now        func() time.Time
	hallpass   *http.Client // to hallpass (discovery, JWKS, token endpoint)
	api        *http.Client // to the school API
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string // hallpass's end_session_endpoint
	requireIss bool   // hallpass sends iss with every authorization response
	pending    *store[pendingLogin]
	sessions   *store[*session]
	tmpl       *template.Template
	secure     bool // cookies are Secure (public URL is https)
	issuerOrig string
}

// newApp reaches hallpass's discovery (retrying for c.startupTimeout while
// it may still be starting) and builds the app.
func newApp(ctx context.Context, c *config, log *slog.Logger, now func() time.Time) (*app, error) {
	hc, err := backchannel.Client(c.issuer, c.hallpassURL, 10*time.Second)
	if err != nil {
		return nil, err
	}
	pub, err := url.Parse(c.publicURL)
	if err != nil || pub.Host == "" {
		return nil, fmt.Errorf("--public-url %q is not an absolute URL", c.publicURL)
	}
	iss, err := url.Parse(c.issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("--issuer %q is not an absolute URL", c.issuer)
	}
	provider, err := discover(oidc.ClientContext(ctx, hc), c, log)
	if err != nil {
		return nil, err
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
		IssParam   bool   `json:"authorization_response_iss_parameter_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("read hallpass discovery: %w", err)
	}
	tmpl, err := template.ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	endpoint := provider.Endpoint()
	if c.clientSecret == "" {
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	return &app{
		cfg:      c,
		log:      log,
		now:      now,
		hallpass: hc,
		api:      &http.Client{Timeout: 10 * time.Second},
		oauth: oauth2.Config{
			ClientID:     c.clientID,
			ClientSecret: c.clientSecret,
			Endpoint:     endpoint,
			RedirectURL:  c.redirectURL,
			Scopes:       strings.Fields(c.scopes),
		},
		verifier:   provider.Verifier(&oidc.Config{ClientID: c.clientID, Now: now}),
		endSession: meta.EndSession,
		requireIss: meta.IssParam,
		pending:    newStore[pendingLogin](loginTTL, maxSessions, now),
		sessions:   newStore[*session](sessionTTL, maxSessions, now),
		tmpl:       tmpl,
		secure:     pub.Scheme == "https",
		issuerOrig: iss.Scheme + "://" + iss.Host,
	}, nil
}

// discover fetches hallpass's discovery document, retrying once a second
// for at most c.startupTimeout.
func discover(ctx context.Context, c *config, log *slog.Logger) (*oidc.Provider, error) {
	ctx, cancel := context.WithTimeout(ctx, c.startupTimeout)
	defer cancel()
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		p, err := oidc.NewProvider(ctx, c.issuer)
		if err == nil {
			return p, nil
		}
		log.Warn("hallpass not reachable yet; retrying", "issuer", c.issuer, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reach hallpass at %s: %w", c.issuer, err)
		case <-retry.C:
		}
	}
}

// routes returns the app's HTTP handler.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("GET /results", a.readResults)
	mux.HandleFunc("POST /publish", a.publish)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /backchannel-logout", a.backchannelLogout)
	return a.headers(mux)
}

// headers sets the security headers of every answer and caps bodies.
func (a *app) headers(next http.Handler) http.Handler {
	// Chromium applies form-action to the redirects a form submission
	// leads to: sign-out posts here and is redirected to hallpass.
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' " + a.issuerOrig + "; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// pageData is what the page template shows.
type pageData struct {
	User        *user
	CSRF        string
	School      *schoolInfo
	SchoolErr   string
	SignedOut   bool
	Error       string
	Results     []result
	ResultsRead bool // the school API answered a list, maybe empty
	ResultsErr  string
	Outcome     *outcome
	Form        resultForm
}

// schoolInfo is the school API's public GET /school.
type schoolInfo struct {
	Name   string `json:"name"`
	Notice string `json:"notice"`
}

// result is one result as the school API lists it.
type result struct {
	Student     string `json:"student"`
	Course      string `json:"course"`
	Grade       string `json:"grade"`
	PublishedBy string `json:"published_by"`
}

// resultForm is the publish form's fields.
type resultForm struct {
	Student, Course, Grade string
}

// outcome is what the school API answered to an action, shown as it is.
type outcome struct {
	OK      bool
	Status  string // e.g. "403 Forbidden"
	Message string
}

// render writes the page with d, filling in the signed-in user, if any,
// and the school's public notice.
func (a *app) render(w http.ResponseWriter, r *http.Request, status int, s *session, d pageData) {
	if s != nil {
		u := s.user
		d.User, d.CSRF = &u, s.csrf
	}
	d.School, d.SchoolErr = a.schoolInfo(r.Context())
	if d.Form == (resultForm{}) {
		d.Form = resultForm{Student: "bob", Course: "Chemistry", Grade: "A"}
	}
	var buf bytes.Buffer
	if err := a.tmpl.ExecuteTemplate(&buf, "page.html", d); err != nil {
		a.log.ErrorContext(r.Context(), "render page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// schoolInfo reads the school API's public page: no token needed.
func (a *app) schoolInfo(ctx context.Context) (*schoolInfo, string) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.schoolAPIURL+"/school", nil)
	if err != nil {
		return nil, err.Error()
	}
	resp, err := a.api.Do(req)
	if err != nil {
		return nil, "the school API cannot be reached"
	}
	defer resp.Body.Close()
	var info schoolInfo
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&info) != nil {
		return nil, "the school API answered " + resp.Status
	}
	return &info, ""
}

// currentSession returns the signed-in session of this browser, if any.
func (a *app) currentSession(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s, ok := a.sessions.get(c.Value)
	if !ok {
		return nil
	}
	return s
}

func (a *app) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (a *app) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	})
}

// home shows who is signed in and what they can do, or the sign-in button.
// Back from hallpass's sign-out, it confirms the sign-out when the state
// matches the one the app sent.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	var d pageData
	if st := r.URL.Query().Get("state"); st != "" {
		if c, err := r.Cookie(logoutCookie); err == nil && sameString(c.Value, st) {
			d.SignedOut = true
		}
		a.clearCookie(w, logoutCookie)
	}
	a.render(w, r, http.StatusOK, a.currentSession(r), d)
}

// login starts the authorization code flow with PKCE: state, nonce and
// the code verifier stay on the server, under a random id in a short-lived
// cookie.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	if a.currentSession(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p := pendingLogin{state: randomToken(), nonce: randomToken(), verifier: oauth2.GenerateVerifier()}
	id, err := a.pending.put(p)
	if err != nil {
		a.render(w, r, http.StatusServiceUnavailable, nil, pageData{Error: err.Error()})
		return
	}
	a.setCookie(w, loginCookie, id, loginTTL)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, a.oauth.AuthCodeURL(p.state, oauth2.S256ChallengeOption(p.verifier), oidc.Nonce(p.nonce)), http.StatusSeeOther)
}

// callback finishes the sign-in: it checks state and iss, redeems the code
// with the PKCE verifier, verifies the ID token (signature, issuer,
// audience, expiry, nonce) and starts a session holding the tokens.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string, args ...any) {
		a.log.WarnContext(r.Context(), "sign-in failed", append([]any{"reason", msg}, args...)...)
		a.render(w, r, status, nil, pageData{Error: "Sign-in failed: " + msg})
	}
	c, err := r.Cookie(loginCookie)
	if err != nil {
		fail(http.StatusBadRequest, "this browser did not start a sign-in here (or it took longer than 10 minutes)")
		return
	}
	a.clearCookie(w, loginCookie)
	p, ok := a.pending.take(c.Value)
	if !ok {
		fail(http.StatusBadRequest, "the sign-in expired; start again")
		return
	}
	q := r.URL.Query()
	if !sameString(q.Get("state"), p.state) {
		fail(http.StatusBadRequest, "the state does not match the sign-in this browser started")
		return
	}
	if iss := q.Get("iss"); (iss == "" && a.requireIss) || (iss != "" && iss != a.cfg.issuer) {
		fail(http.StatusBadRequest, "the response did not come from hallpass (iss mismatch)", "iss", iss)
		return
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusOK, fmt.Sprintf("hallpass answered %s: %s", e, q.Get("error_description")))
		return
	}
	ctx := a.hallpassContext(r.Context())
	tok, err := a.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		fail(http.StatusBadGateway, "the code could not be redeemed", "err", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		fail(http.StatusBadGateway, "hallpass sent no ID token")
		return
	}
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		fail(http.StatusBadGateway, "the ID token is not valid", "err", err)
		return
	}
	if !sameString(idt.Nonce, p.nonce) {
		fail(http.StatusBadRequest, "the ID token's nonce does not match this sign-in")
		return
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil && idt.AccessTokenHash != "" {
		fail(http.StatusBadGateway, "the access token does not match the ID token's at_hash")
		return
	}
	var u user
	var sid struct {
		SID string `json:"sid"`
	}
	if err := idt.Claims(&u); err != nil || idt.Claims(&sid) != nil {
		fail(http.StatusBadGateway, "the ID token's claims could not be read", "err", err)
		return
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		a.sessions.take(old.Value) // a new sign-in replaces this browser's session
	}
	id, err := a.sessions.put(&session{user: u, idToken: raw, sid: sid.SID, csrf: randomToken(), token: tok})
	if err != nil {
		fail(http.StatusServiceUnavailable, err.Error())
		return
	}
	a.setCookie(w, sessionCookie, id, sessionTTL)
	a.log.InfoContext(r.Context(), "signed in", "sub", u.Subject, "username", u.Username)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// hallpassContext carries the HTTP client that reaches hallpass to
// golang.org/x/oauth2 and go-oidc.
func (a *app) hallpassContext(ctx context.Context) context.Context {
	return context.WithValue(oidc.ClientContext(ctx, a.hallpass), oauth2.HTTPClient, a.hallpass)
}

// errSignedOut means the session's grant ended: its refresh failed.
var errSignedOut = errors.New("your sign-in has ended (the refresh token was refused); sign in again")

// accessToken returns a valid access token for s, refreshing it through
// the oauth2 TokenSource when it has expired and keeping the refreshed
// token (and the rotated refresh token) in the session.
func (a *app) accessToken(ctx context.Context, s *session) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, err := a.oauth.TokenSource(a.hallpassContext(ctx), s.token).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return "", fmt.Errorf("%w: %w", errSignedOut, err)
		}
		return "", fmt.Errorf("refresh the access token: %w", err)
	}
	if tok.AccessToken != s.token.AccessToken {
		a.log.InfoContext(ctx, "access token refreshed", "sub", s.user.Subject)
		s.token = tok
	}
	return tok.AccessToken, nil
}

// apiAnswer is a school API response, read.
type apiAnswer struct {
	status int
	text   string // "403 Forbidden"
	body   []byte
	header http.Header
}

// callAPI calls the school API as the signed-in user.
func (a *app) callAPI(ctx context.Context, s *session, method, path string, body any) (*apiAnswer, error) {
	at, err := a.accessToken(ctx, s)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.cfg.schoolAPIURL+path, rd)
	if err != nil {
		return nil, fmt.Errorf("school API request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+at)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.api.Do(req)
	if err != nil {
		return nil, fmt.Errorf("call the school API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read the school API's answer: %w", err)
	}
	return &apiAnswer{status: resp.StatusCode, text: resp.Status, body: b, header: resp.Header}, nil
}

// describe turns an error answer of the school API into one line: its
// OAuth error and description, from the body or WWW-Authenticate.
func (ans *apiAnswer) describe() string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(ans.body, &e)
	if e.Error == "" {
		if h := ans.header.Get("WWW-Authenticate"); h != "" {
			return h
		}
		return strings.TrimSpace(string(ans.body))
	}
	if e.Description != "" {
		return e.Error + ": " + e.Description
	}
	return e.Error
}

// signedIn returns the session, or sends the browser home when there is
// none.
func (a *app) signedIn(w http.ResponseWriter, r *http.Request) *session {
	s := a.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}
	return s
}

// apiFailed shows an error of calling the school API; an ended grant ends
// the session too.
func (a *app) apiFailed(w http.ResponseWriter, r *http.Request, s *session, err error) {
	a.log.WarnContext(r.Context(), "school API call failed", "err", err)
	if errors.Is(err, errSignedOut) {
		a.endLocalSession(w, r)
		a.render(w, r, http.StatusOK, nil, pageData{Error: err.Error()})
		return
	}
	a.render(w, r, http.StatusBadGateway, s, pageData{Error: err.Error()})
}

// readResults shows the results the school API lets this user see.
func (a *app) readResults(w http.ResponseWriter, r *http.Request) {
	s := a.signedIn(w, r)
	if s == nil {
		return
	}
	ans, err := a.callAPI(r.Context(), s, http.MethodGet, "/results", nil)
	if err != nil {
		a.apiFailed(w, r, s, err)
		return
	}
	var d pageData
	if ans.status != http.StatusOK {
		d.ResultsErr = "The school API answered " + ans.text + ": " + ans.describe()
	} else {
		var list struct {
			Results []result `json:"results"`
		}
		if err := json.Unmarshal(ans.body, &list); err != nil {
			d.ResultsErr = "The school API's answer could not be read: " + err.Error()
		} else {
			d.Results, d.ResultsRead = list.Results, true
		}
	}
	a.render(w, r, http.StatusOK, s, d)
}

// publish posts a result to the school API and shows what it answered,
// refusals included: the app decides nothing, the API does.
func (a *app) publish(w http.ResponseWriter, r *http.Request) {
	s := a.signedIn(w, r)
	if s == nil {
		return
	}
	if !a.checkCSRF(w, r, s) {
		return
	}
	f := resultForm{Student: r.PostFormValue("student"), Course: r.PostFormValue("course"), Grade: r.PostFormValue("grade")}
	ans, err := a.callAPI(r.Context(), s, http.MethodPost, "/results", map[string]string{"student": f.Student, "course": f.Course, "grade": f.Grade})
	if err != nil {
		a.apiFailed(w, r, s, err)
		return
	}
	o := &outcome{OK: ans.status == http.StatusCreated, Status: ans.text}
	if o.OK {
		var res result
		_ = json.Unmarshal(ans.body, &res)
		o.Message = fmt.Sprintf("Published %s in %s for %s.", res.Grade, res.Course, res.Student)
	} else {
		o.Message = ans.describe()
	}
	a.render(w, r, http.StatusOK, s, pageData{Outcome: o, Form: f})
}

// checkCSRF checks the form's per-session token, answering 403 itself when
// it does not match.
func (a *app) checkCSRF(w http.ResponseWriter, r *http.Request, s *session) bool {
	if sameString(r.PostFormValue("csrf"), s.csrf) {
		return true
	}
	a.log.WarnContext(r.Context(), "CSRF token mismatch", "path", r.URL.Path)
	a.render(w, r, http.StatusForbidden, s, pageData{Error: "The form has expired or did not come from this app; try again."})
	return false
}

// endLocalSession forgets this browser's session, here and in its cookie,
// and returns the session it had.
func (a *app) endLocalSession(w http.ResponseWriter, r *http.Request) *session {
	a.clearCookie(w, sessionCookie)
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s, _ := a.sessions.take(c.Value)
	return s
}

// logout signs out here, then sends the browser to hallpass's end_session
// endpoint (RP-Initiated Logout) with the ID token as hint, to come back
// to the app's home page with a state it can recognise.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	s := a.currentSession(r)
	if s == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !a.checkCSRF(w, r, s) {
		return
	}
	a.endLocalSession(w, r)
	a.log.InfoContext(r.Context(), "signed out", "sub", s.user.Subject)
	if a.endSession == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	state := randomToken()
	a.setCookie(w, logoutCookie, state, loginTTL)
	u, err := url.Parse(a.endSession)
	if err != nil {
		a.render(w, r, http.StatusBadGateway, nil, pageData{Error: "hallpass's end_session_endpoint is not a URL"})
		return
	}
	v := u.Query()
	v.Set("id_token_hint", s.idToken)
	v.Set("client_id", a.cfg.clientID)
	v.Set("post_logout_redirect_uri", a.cfg.publicURL+"/")
	v.Set("state", state)
	u.RawQuery = v.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// sameString compares in constant time, and never matches an empty value.
func sameString(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
