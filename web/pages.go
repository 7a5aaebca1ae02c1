package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// StaticPrefix is the URL path under which the provider mounts
// Pages.StaticHandler, and under which pages link their stylesheet.
const StaticPrefix = "/static/"

//go:embed templates/*.html static/*
var assets embed.FS

// Page template names, one file each under templates/.
const (
	pageLogin       = "login.html"
	pageConsent     = "consent.html"
	pageError       = "error.html"
	pageLogout      = "logout.html"
	pageLoggedOut   = "loggedout.html"
	pageDevCallback = "devcallback.html"
)

// PagesOptions configures NewPages.
type PagesOptions struct {
	// ProductName is shown in every page's header and title.
	// Default "hallpass".
	ProductName string
	// Logger receives template execution failures and dropped form-action
	// origins. Default slog.Default().
	Logger *slog.Logger
	// StaticPath is the URL path, ending in "/", at which browsers reach
	// StaticHandler; pages link their stylesheet under it. Default
	// StaticPrefix. Set it only when hallpass is served under a path
	// prefix by a proxy that strips that prefix.
	StaticPath string
}

// Pages renders hallpass's HTML pages. It is built once by NewPages and is
// safe for concurrent use.
//
// Every render method writes a complete response: it executes the template
// into a buffer first, so a template failure answers 500 with a plain
// message instead of half a page, and it sets these headers:
// Content-Type text/html; charset=utf-8, Cache-Control no-store,
// X-Frame-Options DENY, Referrer-Policy no-referrer,
// X-Content-Type-Options nosniff, and a Content-Security-Policy that allows
// only the embedded stylesheet and images, and form posts to 'self' plus
// the page's FormActionOrigins. Pages load no script and need none, but
// for the development callback page, whose copy buttons load
// static/devcallback.js, and the pages with a passkey form (PasskeyForm),
// which load static/passkey.js (script-src 'self' on those pages only;
// without script they work but for the passkey buttons, which stay hidden).
//
// All data is HTML-escaped. A status of 0 means 200.
type Pages struct {
	product  string
	log      *slog.Logger
	styleURL string
	iconURL  string
	// devScriptURL is the development callback page's script.
	devScriptURL string
	// passkeyScriptURL is the passkey forms' script.
	passkeyScriptURL string
	templates        map[string]*template.Template
	static           map[string]staticFile // by name under static/
}

type staticFile struct {
	data []byte
	etag string
}

// LoginData is what the login page shows.
type LoginData struct {
	// Action is the URL the form posts to. Empty posts to the page's own URL.
	Action string
	// RequestID identifies the pending authorization request; it is posted
	// back as the hidden input "request".
	RequestID string
	// CSRF is posted back as the hidden input "csrf": the token that shows
	// the post comes from this page in this browser.
	CSRF string
	// ClientName is the application the user signs in to, if known.
	ClientName string
	// Username prefills the username field, e.g. after a wrong password.
	Username string
	// Error is one message shown above the form in a role="alert" element,
	// e.g. "Wrong username or password." Empty shows none.
	Error string
	// FormActionOrigins are added to the CSP form-action directive, for
	// where the form's POST may redirect to (see Pages).
	FormActionOrigins []string
	// Passkey, when set, offers "Sign in with a passkey" under the form.
	Passkey *PasskeyForm
}

// ScopeItem is one requested scope on the consent page.
type ScopeItem struct {
	// Name is the scope string, e.g. "results:read"; it is shown when
	// Description is empty.
	Name string
	// Description is what the user reads, e.g. "Read your exam results".
	Description string
}

// ConsentData is what the consent page shows. Its form posts "request",
// "csrf" and "decision" ("allow" or "deny").
type ConsentData struct {
	// Action is the URL the form posts to. Empty posts to the page's own URL.
	Action string
	// RequestID is posted back as the hidden input "request".
	RequestID string
	// CSRF is posted back as the hidden input "csrf" (see LoginData).
	CSRF string
	// Shown is posted back as the hidden input "shown": what the page
	// lists, so that the answer allows only that.
	Shown string
	// ClientName is the application asking for access.
	ClientName string
	// Username is the signed-in user, shown so they can tell it is them.
	Username string
	// Scopes are the scopes to grant, in the order shown.
	Scopes []ScopeItem
	// Audiences are the resource servers (APIs) the grant's tokens will
	// be accepted by, shown as "This gives access to: …".
	Audiences []string
	// FormActionOrigins are added to the CSP form-action directive. After
	// the consent POST the browser is redirected to the client's
	// redirect_uri, and some browsers check that redirect against
	// form-action: pass the redirect URI (or its origin) here.
	FormActionOrigins []string
}

// ErrorData is what the error page shows. Never put secrets or internal
// error text in it.
type ErrorData struct {
	// Title is the heading. Default "Something went wrong".
	Title string
	// Message explains what happened and what the user can do.
	Message string
	// RequestID is shown in small print for support, if set.
	RequestID string
}

// LogoutData is what the logout confirmation page shows. Its form posts
// every Hidden field and "confirm" = "yes".
type LogoutData struct {
	// Action is the URL the form posts to. Empty posts to the page's own URL.
	Action string
	// Hidden are posted back as hidden inputs, in name order, e.g. the
	// RP-initiated logout parameters. Do not use the name "confirm".
	Hidden map[string]string
	// ClientName is the application that asked for the logout, if any.
	ClientName string
	// FormActionOrigins are added to the CSP form-action directive, e.g.
	// the origin of the post_logout_redirect_uri the POST redirects to.
	FormActionOrigins []string
}

// LoggedOutData is what the page after a logout shows.
type LoggedOutData struct {
	// Message is the text shown. Default "You have been signed out."
	Message string
}

// DevCallbackData is what the development-only callback page shows: the
// outcome of a flow that hallpass's own development client completed.
// Everything in it is displayed as given, so it must never be used outside
// development.
type DevCallbackData struct {
	// Error and ErrorDescription are the OAuth error, if the flow failed.
	Error            string
	ErrorDescription string
	// GrantedScopes is the scope string of the token response.
	GrantedScopes string
	// IDTokenClaims and AccessTokenClaims are pretty-printed JSON.
	IDTokenClaims     string
	AccessTokenClaims string
	// Raw are further name/value pairs, shown in name order.
	Raw map[string]string
	// Tokens are the tokens as issued, each with a copy button, for a
	// developer to try them (curl a resource server with the access
	// token).
	Tokens []DevToken
	// ScriptURL is the copy buttons' script; DevCallback sets it.
	ScriptURL string
}

// DevToken is one raw token on the development callback page.
type DevToken struct {
	// Name is what the token is ("access_token"); also its element id.
	Name  string
	Value string
}

// view is what the layout executes: the page's data under .Data.
type view struct {
	Product  string
	StyleURL string
	IconURL  string
	// ScriptURL is the passkey forms' script, on the pages that have one.
	ScriptURL string
	Data      any
}

// NewPages parses the embedded templates once. An error means a template
// does not parse or does not execute with its data type.
func NewPages(opts PagesOptions) (*Pages, error) {
	return newPages(opts, assets)
}

func newPages(opts PagesOptions, fsys fs.FS) (*Pages, error) {
	p := &Pages{
		product:   opts.ProductName,
		log:       opts.Logger,
		templates: make(map[string]*template.Template),
		static:    make(map[string]staticFile),
	}
	if p.product == "" {
		p.product = "hallpass"
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	staticPath := opts.StaticPath
	if staticPath == "" {
		staticPath = StaticPrefix
	}
	if !strings.HasPrefix(staticPath, "/") || !strings.HasSuffix(staticPath, "/") {
		return nil, fmt.Errorf("web: StaticPath %q must begin and end with /", staticPath)
	}

	// Static files, with an ETag each; the stylesheet link carries a
	// version so a new release is fetched despite caching.
	files, err := fs.Glob(fsys, "static/*")
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	for _, name := range files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("web: static files: %w", err)
		}
		sum := sha256.Sum256(data)
		p.static[path.Base(name)] = staticFile{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	for _, need := range []string{"style.css", "favicon.svg", "devcallback.js", "passkey.js"} {
		if _, ok := p.static[need]; !ok {
			return nil, fmt.Errorf("web: static file %s missing", need)
		}
	}
	p.styleURL = staticPath + "style.css?v=" + strings.Trim(p.static["style.css"].etag, `"`)
	p.iconURL = staticPath + "favicon.svg?v=" + strings.Trim(p.static["favicon.svg"].etag, `"`)
	p.devScriptURL = staticPath + "devcallback.js?v=" + strings.Trim(p.static["devcallback.js"].etag, `"`)
	p.passkeyScriptURL = staticPath + "passkey.js?v=" + strings.Trim(p.static["passkey.js"].etag, `"`)

	base, err := template.ParseFS(fsys, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout template: %w", err)
	}
	if base.Lookup("layout") == nil {
		return nil, errors.New(`web: layout.html defines no "layout" template`)
	}
	samples := sampleData()
	for _, name := range []string{pageLogin, pageConsent, pageError, pageLogout, pageLoggedOut, pageDevCallback, pageMFA} {
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("web: %s: %w", name, err)
		}
		if t, err = t.ParseFS(fsys, "templates/"+name); err != nil {
			return nil, fmt.Errorf("web: %s: %w", name, err)
		}
		for _, block := range []string{"title", "content"} {
			if t.Lookup(block) == nil {
				return nil, fmt.Errorf("web: %s defines no %q template", name, block)
			}
		}
		// Execute once with empty and with full data, so that a field the
		// data type lacks fails here rather than in front of a user.
		for _, d := range samples[name] {
			if err := t.ExecuteTemplate(io.Discard, "layout", p.view(d)); err != nil {
				return nil, fmt.Errorf("web: %s: %w", name, err)
			}
		}
		p.templates[name] = t
	}
	if err := p.parseConsole(base, fsys); err != nil {
		return nil, err
	}
	return p, nil
}

// sampleData returns, per page, a zero and a fully set data value.
func sampleData() map[string][]any {
	return map[string][]any{
		pageLogin: {LoginData{}, LoginData{Action: "/a", RequestID: "r", CSRF: "t", ClientName: "c", Username: "u", Error: "e",
			Passkey: &PasskeyForm{Options: "{}", State: "s", Action: "/p", RequestID: "r", CSRF: "t", Button: "b", NameField: true}}},
		pageConsent: {ConsentData{}, ConsentData{Action: "/a", RequestID: "r", CSRF: "t", ClientName: "c", Username: "u",
			Scopes: []ScopeItem{{Name: "n"}, {Name: "n", Description: "d"}}, Audiences: []string{"https://api.example"}}},
		pageError:     {ErrorData{}, ErrorData{Title: "t", Message: "m", RequestID: "r"}},
		pageLogout:    {LogoutData{}, LogoutData{Action: "/a", Hidden: map[string]string{"k": "v"}, ClientName: "c"}},
		pageLoggedOut: {LoggedOutData{}, LoggedOutData{Message: "m"}},
		pageMFA: {MFAData{}, MFAData{Title: "t", Lead: "l", Notice: "n", Error: "e", Action: "/a", RequestID: "r", CSRF: "c", CodeLabel: "l",
			QRPNG: []byte{1}, Secret: "s", Enrolment: "e", RecoveryCodes: []string{"r"}, ContinueAction: "/c", ContinueLabel: "c", Back: "/b",
			Passkey: &PasskeyForm{Create: true, Options: "{}", State: "s", Action: "/p", RequestID: "r", CSRF: "t", Button: "b", NameField: true}}},
		pageDevCallback: {DevCallbackData{}, DevCallbackData{Error: "e", ErrorDescription: "d", GrantedScopes: "s",
			IDTokenClaims: "{}", AccessTokenClaims: "{}", Raw: map[string]string{"k": "v"}, Tokens: []DevToken{{"t", "v"}}, ScriptURL: "/s.js"}},
	}
}

func (p *Pages) view(d any) view {
	return view{Product: p.product, StyleURL: p.styleURL, IconURL: p.iconURL, Data: d}
}

// Login renders the sign-in form: username, password, the hidden request
// id and CSRF token, and a "Sign in" button, posted to d.Action.
func (p *Pages) Login(w http.ResponseWriter, status int, d LoginData) {
	if d.Passkey != nil {
		p.renderScript(w, status, pageLogin, d, passkeyCSP(p.contentSecurityPolicy(d.FormActionOrigins)), p.passkeyScriptURL)
		return
	}
	p.render(w, status, pageLogin, d, d.FormActionOrigins)
}

// Consent renders the consent form: the client, the user, each scope's
// description (or its name), and the Allow and Deny buttons.
func (p *Pages) Consent(w http.ResponseWriter, status int, d ConsentData) {
	p.render(w, status, pageConsent, d, d.FormActionOrigins)
}

// Error renders an error page for the user.
func (p *Pages) Error(w http.ResponseWriter, status int, d ErrorData) {
	if d.Title == "" {
		d.Title = "Something went wrong"
	}
	p.render(w, status, pageError, d, nil)
}

// LogoutConfirm renders the "Sign out?" confirmation form.
func (p *Pages) LogoutConfirm(w http.ResponseWriter, status int, d LogoutData) {
	p.render(w, status, pageLogout, d, d.FormActionOrigins)
}

// LoggedOut renders the page shown after a logout with nowhere to return to.
func (p *Pages) LoggedOut(w http.ResponseWriter, status int, d LoggedOutData) {
	if d.Message == "" {
		d.Message = "You have been signed out."
	}
	p.render(w, status, pageLoggedOut, d, nil)
}

// DevCallback renders the development-only page that shows a completed
// flow. It is marked as such; never serve it in production.
func (p *Pages) DevCallback(w http.ResponseWriter, status int, d DevCallbackData) {
	csp := p.contentSecurityPolicy(nil)
	if len(d.Tokens) > 0 {
		// The copy buttons' script, from hallpass itself and from no
		// other page: this is a development page.
		d.ScriptURL = p.devScriptURL
		csp = strings.Replace(csp, "default-src 'none';", "default-src 'none'; script-src 'self';", 1)
	}
	p.renderCSP(w, status, pageDevCallback, d, csp)
}

func (p *Pages) render(w http.ResponseWriter, status int, name string, d any, formAction []string) {
	p.renderCSP(w, status, name, d, p.contentSecurityPolicy(formAction))
}

// renderCSP renders page name with the Content-Security-Policy csp.
func (p *Pages) renderCSP(w http.ResponseWriter, status int, name string, d any, csp string) {
	p.renderScript(w, status, name, d, csp, "")
}

// renderScript renders page name with the Content-Security-Policy csp,
// loading the script at scriptURL when it is set.
func (p *Pages) renderScript(w http.ResponseWriter, status int, name string, d any, csp, scriptURL string) {
	if status == 0 {
		status = http.StatusOK
	}
	v := p.view(d)
	v.ScriptURL = scriptURL
	var buf bytes.Buffer
	err := p.templates[name].ExecuteTemplate(&buf, "layout", v)
	h := w.Header()
	setSecurityHeaders(h, csp)
	if err != nil {
		p.log.Error("web: rendering page", "page", name, "err", err)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(errorBody)))
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, errorBody)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

const errorBody = "Internal server error\n"

func setSecurityHeaders(h http.Header, csp string) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// contentSecurityPolicy returns the pages' CSP with extra form-action
// sources. Sources that FormActionSource rejects are dropped and logged.
func (p *Pages) contentSecurityPolicy(extra []string) string {
	var b strings.Builder
	b.WriteString("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'")
	seen := make(map[string]bool, len(extra))
	for _, e := range extra {
		src, ok := FormActionSource(e)
		if !ok {
			p.log.Warn("web: dropping invalid form-action origin", "origin", e)
			continue
		}
		if seen[src] {
			continue
		}
		seen[src] = true
		b.WriteString(" ")
		b.WriteString(src)
	}
	b.WriteString("; frame-ancestors 'none'; object-src 'none'; base-uri 'none'")
	return b.String()
}

// FormActionSource turns an origin or a URL (such as a client's
// redirect_uri) into a CSP form-action source: "scheme://host[:port]" for
// http and https (lowercased, without a default port), "scheme:" for an RFC 8252 private-use scheme (one with a
// dot, e.g. "com.example.app:/cb"). An internationalised host is given as
// its A-label, the host the browser goes to. Anything else, including URLs
// whose host holds characters that are not plain DNS or IP syntax, is
// rejected.
func FormActionSource(s string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "http", "https":
		host := u.Host
		if name := u.Hostname(); strings.ContainsFunc(name, func(r rune) bool { return r >= utf8.RuneSelf }) {
			// A client registered before hallpass required an
			// internationalised host's A-label may hold it in Unicode
			// (bücher.example). The browser goes to, and CSP matches,
			// the host as the URL Standard converts it (UTS #46,
			// non-transitional: idna.Lookup); without it here the
			// browser would refuse to follow the consent form's
			// redirect to the client.
			ascii, err := idna.Lookup.ToASCII(name)
			if err != nil {
				return "", false
			}
			host = ascii + strings.TrimPrefix(u.Host, name)
		}
		host = strings.ToLower(host)
		if u.Opaque != "" || u.User != nil || !validHostPort(host) {
			return "", false
		}
		// The default port is implied; drop it so duplicates collapse.
		if scheme == "https" {
			host = strings.TrimSuffix(host, ":443")
		} else {
			host = strings.TrimSuffix(host, ":80")
		}
		return scheme + "://" + host, true
	default:
		if !validPrivateScheme(scheme) {
			return "", false
		}
		return scheme + ":", true
	}
}

// StaticHandler serves the embedded stylesheet and icon. Mount it at
// StaticPrefix, with or without stripping the prefix:
//
//	r.Handle(web.StaticPrefix+"*", pages.StaticHandler())
//
// It answers GET and HEAD only, with an ETag, one day of caching (page
// links carry a content version), nosniff, and 404 for anything but the
// files themselves (no directory listings).
func (p *Pages) StaticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, StaticPrefix)
		if !ok {
			name = strings.TrimPrefix(r.URL.Path, "/")
		}
		f, ok := p.static[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.Set("Cache-Control", "public, max-age=86400")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
	})
}

// validHostPort reports whether s (lowercased) is a DNS name, an IPv4
// address or a bracketed IPv6 address, with an optional port: nothing that
// could end or extend a CSP directive.
func validHostPort(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[1:end], s[end+1:]
		if host == "" || !only(host, "0123456789abcdef:.") {
			return false
		}
	} else {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i:]
		}
		if host == "" || !only(host, "abcdefghijklmnopqrstuvwxyz0123456789.-") ||
			strings.HasPrefix(host, ".") || strings.HasPrefix(host, "-") {
			return false
		}
	}
	if port == "" {
		return true
	}
	digits, ok := strings.CutPrefix(port, ":")
	return ok && digits != "" && len(digits) <= 5 && only(digits, "0123456789")
}

// validPrivateScheme reports whether scheme (lowercased) is an RFC 8252
// §7.1 private-use scheme: scheme syntax, and a reverse domain name, so at
// least one dot, not at either end.
func validPrivateScheme(scheme string) bool {
	return scheme != "" && 'a' <= scheme[0] && scheme[0] <= 'z' &&
		only(scheme, "abcdefghijklmnopqrstuvwxyz0123456789+-.") &&
		strings.Contains(scheme, ".") && !strings.HasSuffix(scheme, ".") && !strings.Contains(scheme, "..")
}

// only reports whether every byte of s is in set.
func only(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}
