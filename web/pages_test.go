package web

import (
	"bytes"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/net/html"
)

func newTestPages(t *testing.T) *Pages {
	t.Helper()
	p, err := NewPages(PagesOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("NewPages: %v", err)
	}
	return p
}

// pageCase renders one page with ordinary data.
type pageCase struct {
	name   string
	status int
	render func(p *Pages, w http.ResponseWriter, status int)
}

var pageCases = []pageCase{
	{"login", http.StatusOK, func(p *Pages, w http.ResponseWriter, s int) {
		p.Login(w, s, LoginData{Action: "/login", RequestID: "req-1", ClientName: "Results", Username: "alice"})
	}},
	{"login with error", http.StatusUnauthorized, func(p *Pages, w http.ResponseWriter, s int) {
		p.Login(w, s, LoginData{Action: "/login", RequestID: "req-1", Username: "alice", Error: "Wrong username or password."})
	}},
	{"consent", http.StatusOK, func(p *Pages, w http.ResponseWriter, s int) {
		p.Consent(w, s, ConsentData{Action: "/consent", RequestID: "req-1", ClientName: "Results", Username: "alice",
			Scopes: []ScopeItem{{Name: "openid", Description: "Know who you are"}, {Name: "results:read"}}})
	}},
	{"consent without scopes", http.StatusOK, func(p *Pages, w http.ResponseWriter, s int) {
		p.Consent(w, s, ConsentData{Action: "/consent", RequestID: "req-1"})
	}},
	{"error", http.StatusBadRequest, func(p *Pages, w http.ResponseWriter, s int) {
		p.Error(w, s, ErrorData{Title: "Request expired", Message: "Start again from the application.", RequestID: "abc123"})
	}},
	{"error defaults", http.StatusInternalServerError, func(p *Pages, w http.ResponseWriter, s int) {
		p.Error(w, s, ErrorData{})
	}},
	{"logout confirm", http.StatusOK, func(p *Pages, w http.ResponseWriter, s int) {
		p.LogoutConfirm(w, s, LogoutData{Action: "/logout", ClientName: "Results", Hidden: map[string]string{"state": "xyz", "client_id": "results"}})
	}},
	{"logged out", http.StatusOK, func(p *Pages, w http.ResponseWriter, s int) {
		p.LoggedOut(w, s, LoggedOutData{})
	}},
	{"dev callback", http.StatusOK, func(p *Pages, w http.ResponseWriter, s int) {
		p.DevCallback(w, s, DevCallbackData{GrantedScopes: "openid results:read", IDTokenClaims: "{\n  \"sub\": \"alice\"\n}",
			AccessTokenClaims: "{\n  \"scope\": \"results:read\"\n}", Raw: map[string]string{"token_type": "Bearer"}})
	}},
	{"dev callback error", http.StatusOK, func(p *Pages, w http.ResponseWriter, s int) {
		p.DevCallback(w, s, DevCallbackData{Error: "access_denied", ErrorDescription: "The user denied the request."})
	}},
}

const wantCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"

// TestPagesCommon checks what every page shares: status, security headers,
// the layout, and nothing a strict CSP or a script-less browser would trip on.
func TestPagesCommon(t *testing.T) {
	p := newTestPages(t)
	for _, pc := range pageCases {
		t.Run(pc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			pc.render(p, rec, pc.status)

			if rec.Code != pc.status {
				t.Errorf("status %d, want %d", rec.Code, pc.status)
			}
			for k, want := range map[string]string{
				"Content-Type":            "text/html; charset=utf-8",
				"Cache-Control":           "no-store",
				"X-Frame-Options":         "DENY",
				"Content-Security-Policy": wantCSP,
				"Referrer-Policy":         "no-referrer",
				"X-Content-Type-Options":  "nosniff",
			} {
				if got := rec.Header().Values(k); len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}

			doc := parseBody(t, rec)
			if h := findOne(t, doc, "<html>", tag("html")); !attrIs(h, "lang", "en") {
				t.Error(`<html> lacks lang="en"`)
			}
			title := findOne(t, doc, "<title>", tag("title"))
			if !strings.HasSuffix(text(title), "· hallpass") || len(text(title)) <= len("· hallpass") {
				t.Errorf("title %q", text(title))
			}
			findOne(t, doc, "<main>", tag("main"))
			if h1 := findOne(t, doc, "<h1>", tag("h1")); text(h1) == "" {
				t.Error("empty <h1>")
			}
			css := findOne(t, doc, "stylesheet", tag("link", "rel", "stylesheet"))
			if href, _ := attr(css, "href"); !strings.HasPrefix(href, StaticPrefix+"style.css") {
				t.Errorf("stylesheet href %q", href)
			}
			findOne(t, doc, "viewport meta", tag("meta", "name", "viewport"))

			// Nothing the CSP would block, nothing needing JavaScript.
			if s := findAll(doc, func(n *html.Node) bool { return n.Data == "script" || n.Data == "style" || n.Data == "iframe" }); len(s) > 0 {
				t.Errorf("page has <%s>", s[0].Data)
			}
			for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
				for _, a := range n.Attr {
					if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
						t.Errorf("<%s> has attribute %s", n.Data, a.Key)
					}
				}
			}
			for _, f := range findAll(doc, tag("form")) {
				if !attrIs(f, "method", "post") {
					t.Error(`a form is not method="post"`)
				}
			}
			// Every visible input is labelled.
			for _, in := range findAll(doc, tag("input")) {
				if typ, _ := attr(in, "type"); typ == "hidden" {
					continue
				}
				if id, _ := attr(in, "id"); !hasLabel(doc, id) {
					t.Errorf("input %v has no label", in.Attr)
				}
			}
		})
	}
}

func TestPagesZeroStatusIs200(t *testing.T) {
	rec := httptest.NewRecorder()
	newTestPages(t).LoggedOut(rec, 0, LoggedOutData{})
	if rec.Code != http.StatusOK {
		t.Errorf("status %d, want 200", rec.Code)
	}
}

func TestLoginPage(t *testing.T) {
	p := newTestPages(t)
	tests := []struct {
		name string
		data LoginData
	}{
		{"fresh", LoginData{Action: "/authorize/login", RequestID: "req-1", CSRF: "csrf-1"}},
		{"with client", LoginData{Action: "/authorize/login", RequestID: "req-2", CSRF: "csrf-2", ClientName: "School results"}},
		{"wrong password", LoginData{Action: "/authorize/login", RequestID: "req-3", CSRF: "csrf-3", Username: "alice", Error: "Wrong username or password."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			p.Login(rec, http.StatusOK, tt.data)
			body := rec.Body.String()
			doc := parseBody(t, rec)

			form := findOne(t, doc, "form", tag("form"))
			if !attrIs(form, "method", "post") || !attrIs(form, "action", tt.data.Action) {
				t.Errorf("form attributes %v", form.Attr)
			}
			user := findOne(t, form, "username input", tag("input", "name", "username"))
			if !attrIs(user, "autocomplete", "username") {
				t.Errorf("username input %v", user.Attr)
			}
			if id, _ := attr(user, "id"); !hasLabel(doc, id) {
				t.Error("username input has no label")
			}
			if v, _ := attr(user, "value"); v != tt.data.Username {
				t.Errorf("username prefilled with %q, want %q", v, tt.data.Username)
			}
			pw := findOne(t, form, "password input", tag("input", "name", "password"))
			if !attrIs(pw, "type", "password") || !attrIs(pw, "autocomplete", "current-password") {
				t.Errorf("password input %v", pw.Attr)
			}
			if _, ok := attr(pw, "value"); ok {
				t.Error("password input has a value attribute")
			}
			if id, _ := attr(pw, "id"); !hasLabel(doc, id) {
				t.Error("password input has no label")
			}
			req := findOne(t, form, "request input", tag("input", "name", "request"))
			if !attrIs(req, "type", "hidden") || !attrIs(req, "value", tt.data.RequestID) {
				t.Errorf("request input %v", req.Attr)
			}
			if in := findOne(t, form, "csrf input", tag("input", "name", "csrf")); !attrIs(in, "type", "hidden") || !attrIs(in, "value", tt.data.CSRF) {
				t.Errorf("csrf input %v", in.Attr)
			}
			btn := findOne(t, form, "button", tag("button"))
			if !attrIs(btn, "type", "submit") || text(btn) != "Sign in" {
				t.Errorf("button %v %q", btn.Attr, text(btn))
			}
			// The exact markup other test suites look for.
			for _, want := range []string{`<button type="submit">Sign in</button>`, `<input name="username" autocomplete="username"`, `<input name="password" type="password" autocomplete="current-password"`} {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %s", want)
				}
			}

			alerts := findAll(doc, func(n *html.Node) bool { return attrIs(n, "role", "alert") })
			if tt.data.Error == "" {
				if len(alerts) != 0 {
					t.Errorf("role=alert shown without an error: %q", text(alerts[0]))
				}
			} else if len(alerts) != 1 || text(alerts[0]) != tt.data.Error {
				t.Errorf("want one role=alert with %q, got %d", tt.data.Error, len(alerts))
			}
			if tt.data.ClientName != "" && !strings.Contains(text(doc), tt.data.ClientName) {
				t.Errorf("client name %q not shown", tt.data.ClientName)
			}
		})
	}
}

// TestConsentPageNamesResourceServers checks that the consent page says
// which APIs the grant reaches, after the scopes, and says nothing of the
// kind when there are none.
func TestConsentPageNamesResourceServers(t *testing.T) {
	p := newTestPages(t)
	tests := []struct {
		name      string
		audiences []string
	}{
		{"two", []string{"https://school.example/api", "https://payroll.example"}},
		{"none", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			p.Consent(rec, http.StatusOK, ConsentData{Action: "/consent", RequestID: "r", ClientName: "School results", Username: "alice",
				Scopes: []ScopeItem{{"results:read", "Read your exam results"}}, Audiences: tt.audiences})
			doc := parseBody(t, rec)
			var got []string
			for _, li := range findAll(doc, tag("li")) {
				if a, ok := attr(li, "data-audience"); ok {
					if text(li) != a {
						t.Errorf("audience item %q shows %q", a, text(li))
					}
					got = append(got, a)
				}
			}
			if !reflect.DeepEqual(got, tt.audiences) {
				t.Errorf("resource servers listed %q, want %q", got, tt.audiences)
			}
			if says := strings.Contains(text(doc), "This gives access to:"); says != (len(tt.audiences) > 0) {
				t.Errorf("\"This gives access to:\" shown = %v with audiences %q", says, tt.audiences)
			}
		})
	}
}

func TestConsentPage(t *testing.T) {
	p := newTestPages(t)
	tests := []struct {
		name   string
		scopes []ScopeItem
		want   []string // list items, in order
	}{
		{"descriptions", []ScopeItem{{"openid", "Know who you are"}, {"results:read", "Read your exam results"}}, []string{"Know who you are", "Read your exam results"}},
		{"name when no description", []ScopeItem{{"results:read", ""}, {"email", "See your email address"}}, []string{"results:read", "See your email address"}},
		{"none", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			p.Consent(rec, http.StatusOK, ConsentData{Action: "/authorize/consent", RequestID: "req-9", CSRF: "csrf-9", ClientName: "School results", Username: "alice", Scopes: tt.scopes})
			body := rec.Body.String()
			doc := parseBody(t, rec)

			var got []string
			for _, li := range findAll(doc, tag("li")) {
				got = append(got, text(li))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scopes listed %q, want %q", got, tt.want)
			}
			for i, li := range findAll(doc, tag("li")) {
				if !attrIs(li, "data-scope", tt.scopes[i].Name) {
					t.Errorf("item %d: data-scope %v, want %q", i, li.Attr, tt.scopes[i].Name)
				}
			}
			page := text(doc)
			if !strings.Contains(page, "School results") || !strings.Contains(page, "alice") {
				t.Errorf("client or user not shown: %q", page)
			}

			form := findOne(t, doc, "form", tag("form"))
			if !attrIs(form, "method", "post") || !attrIs(form, "action", "/authorize/consent") {
				t.Errorf("form attributes %v", form.Attr)
			}
			if req := findOne(t, form, "request input", tag("input", "name", "request")); !attrIs(req, "type", "hidden") || !attrIs(req, "value", "req-9") {
				t.Errorf("request input %v", req.Attr)
			}
			if in := findOne(t, form, "csrf input", tag("input", "name", "csrf")); !attrIs(in, "type", "hidden") || !attrIs(in, "value", "csrf-9") {
				t.Errorf("csrf input %v", in.Attr)
			}
			for value, label := range map[string]string{"allow": "Allow", "deny": "Deny"} {
				b := findOne(t, form, value+" button", tag("button", "name", "decision", "value", value))
				if !attrIs(b, "type", "submit") || text(b) != label {
					t.Errorf("%s button %v %q", value, b.Attr, text(b))
				}
				if want := `<button type="submit" name="decision" value="` + value + `">` + label + `</button>`; !strings.Contains(body, want) {
					t.Errorf("body lacks %s", want)
				}
			}
		})
	}
}

func TestErrorPage(t *testing.T) {
	p := newTestPages(t)
	tests := []struct {
		name      string
		data      ErrorData
		wantTitle string
	}{
		{"full", ErrorData{Title: "Request expired", Message: "Start again.", RequestID: "rid-42"}, "Request expired"},
		{"default title", ErrorData{Message: "Oops."}, "Something went wrong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			p.Error(rec, http.StatusForbidden, tt.data)
			if rec.Code != http.StatusForbidden {
				t.Errorf("status %d", rec.Code)
			}
			doc := parseBody(t, rec)
			if h1 := text(findOne(t, doc, "h1", tag("h1"))); h1 != tt.wantTitle {
				t.Errorf("h1 %q, want %q", h1, tt.wantTitle)
			}
			if !strings.HasPrefix(text(findOne(t, doc, "title", tag("title"))), tt.wantTitle) {
				t.Error("title does not start with the error title")
			}
			page := text(doc)
			if !strings.Contains(page, tt.data.Message) {
				t.Errorf("message not shown: %q", page)
			}
			if tt.data.RequestID != "" && !strings.Contains(page, "Request ID: "+tt.data.RequestID) {
				t.Errorf("request id not shown: %q", page)
			}
			if tt.data.RequestID == "" && strings.Contains(page, "Request ID") {
				t.Error("request id line shown without an id")
			}
		})
	}
}

func TestLogoutConfirmPage(t *testing.T) {
	p := newTestPages(t)
	rec := httptest.NewRecorder()
	p.LogoutConfirm(rec, http.StatusOK, LogoutData{
		Action:     "/logout",
		ClientName: "School results",
		Hidden:     map[string]string{"state": "s1", "client_id": "results", "post_logout_redirect_uri": "https://app.example.com/bye?a=1&b=2"},
	})
	body := rec.Body.String()
	doc := parseBody(t, rec)
	form := findOne(t, doc, "form", tag("form"))
	if !attrIs(form, "method", "post") || !attrIs(form, "action", "/logout") {
		t.Errorf("form attributes %v", form.Attr)
	}
	var names []string
	for _, in := range findAll(form, tag("input", "type", "hidden")) {
		n, _ := attr(in, "name")
		v, _ := attr(in, "value")
		names = append(names, n+"="+v)
	}
	want := []string{"client_id=results", "post_logout_redirect_uri=https://app.example.com/bye?a=1&b=2", "state=s1"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("hidden inputs %q, want %q (sorted by name)", names, want)
	}
	b := findOne(t, form, "button", tag("button"))
	if !attrIs(b, "type", "submit") || !attrIs(b, "name", "confirm") || !attrIs(b, "value", "yes") || text(b) != "Sign out" {
		t.Errorf("button %v %q", b.Attr, text(b))
	}
	if !strings.Contains(body, `<button type="submit" name="confirm" value="yes">Sign out</button>`) {
		t.Error("body lacks the exact Sign out button")
	}
	if !strings.Contains(text(doc), "School results") {
		t.Error("client name not shown")
	}
}

func TestLoggedOutPage(t *testing.T) {
	p := newTestPages(t)
	for _, tt := range []struct{ in, want string }{
		{"", "You have been signed out."},
		{"Bye, alice.", "Bye, alice."},
	} {
		rec := httptest.NewRecorder()
		p.LoggedOut(rec, http.StatusOK, LoggedOutData{Message: tt.in})
		doc := parseBody(t, rec)
		if !strings.Contains(text(findOne(t, doc, "main", tag("main"))), tt.want) {
			t.Errorf("message %q not shown", tt.want)
		}
	}
}

func TestDevCallbackPage(t *testing.T) {
	p := newTestPages(t)
	claims := "{\n  \"sub\": \"alice\",\n  \"roles\": [\n    \"teacher\"\n  ]\n}"
	rec := httptest.NewRecorder()
	p.DevCallback(rec, http.StatusOK, DevCallbackData{
		GrantedScopes: "openid results:read",
		IDTokenClaims: claims,
		Raw:           map[string]string{"token_type": "Bearer", "expires_in": "300"},
	})
	doc := parseBody(t, rec)
	if !strings.Contains(strings.ToLower(text(doc)), "development only") {
		t.Error(`page not marked "development only"`)
	}
	pres := findAll(doc, tag("pre"))
	if len(pres) != 1 {
		t.Fatalf("want 1 <pre> (ID token only), got %d", len(pres))
	}
	// The JSON keeps its line breaks inside <pre>.
	if got := pres[0].FirstChild.FirstChild.Data; got != claims {
		t.Errorf("claims rendered as %q, want %q", got, claims)
	}
	var dts []string
	for _, dt := range findAll(doc, tag("dt")) {
		dts = append(dts, text(dt))
	}
	if !reflect.DeepEqual(dts, []string{"expires_in", "token_type"}) {
		t.Errorf("raw names %q, want sorted", dts)
	}
	if a := findAll(doc, func(n *html.Node) bool { return attrIs(n, "role", "alert") }); len(a) != 0 {
		t.Error("alert shown without an error")
	}

	rec = httptest.NewRecorder()
	p.DevCallback(rec, http.StatusOK, DevCallbackData{Error: "access_denied", ErrorDescription: "The user said no."})
	doc = parseBody(t, rec)
	a := findOne(t, doc, "alert", func(n *html.Node) bool { return attrIs(n, "role", "alert") })
	if !strings.Contains(text(a), "access_denied") || !strings.Contains(text(a), "The user said no.") {
		t.Errorf("alert %q", text(a))
	}
}

// TestHostileInputIsEscaped puts markup into every string a page shows and
// checks that it arrives as text, never as markup.
func TestHostileInputIsEscaped(t *testing.T) {
	const script = `<script>alert(1)</script>`
	const breakout = `"><img src=x onerror=alert(1)>`
	for _, evil := range []string{script, breakout, `'><svg onload=alert(1)>`} {
		cases := []struct {
			name   string
			render func(*Pages, http.ResponseWriter)
		}{
			{"login", func(p *Pages, w http.ResponseWriter) {
				p.Login(w, 200, LoginData{Action: "/login?x=" + evil, RequestID: evil, ClientName: evil, Username: evil, Error: evil})
			}},
			{"consent", func(p *Pages, w http.ResponseWriter) {
				p.Consent(w, 200, ConsentData{Action: "/c", RequestID: evil, ClientName: evil, Username: evil,
					Scopes: []ScopeItem{{Name: evil}, {Name: evil, Description: evil}}, Audiences: []string{evil}})
			}},
			{"error", func(p *Pages, w http.ResponseWriter) {
				p.Error(w, 400, ErrorData{Title: evil, Message: evil, RequestID: evil})
			}},
			{"logout", func(p *Pages, w http.ResponseWriter) {
				p.LogoutConfirm(w, 200, LogoutData{Action: "/l", ClientName: evil, Hidden: map[string]string{evil: evil}})
			}},
			{"logged out", func(p *Pages, w http.ResponseWriter) {
				p.LoggedOut(w, 200, LoggedOutData{Message: evil})
			}},
			{"dev callback", func(p *Pages, w http.ResponseWriter) {
				p.DevCallback(w, 200, DevCallbackData{Error: evil, ErrorDescription: evil, GrantedScopes: evil,
					IDTokenClaims: evil, AccessTokenClaims: evil, Raw: map[string]string{evil: evil}})
			}},
		}
		p, err := NewPages(PagesOptions{ProductName: evil, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(c.name+"/"+evil, func(t *testing.T) {
				rec := httptest.NewRecorder()
				c.render(p, rec)
				body := rec.Body.String()
				if strings.Contains(body, evil) {
					t.Errorf("raw %q in the page", evil)
				}
				doc := parseBody(t, rec)
				for _, n := range findAll(doc, func(n *html.Node) bool { return n.Data == "script" || n.Data == "img" || n.Data == "svg" }) {
					t.Errorf("injected <%s>", n.Data)
				}
				for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
					for _, a := range n.Attr {
						if strings.HasPrefix(a.Key, "on") {
							t.Errorf("injected attribute %s on <%s>", a.Key, n.Data)
						}
					}
				}
				// Shown as text: the page displays the payload literally.
				if !strings.Contains(text(doc), evil) {
					t.Errorf("payload not shown as text")
				}
			})
		}
	}
}

func TestUnsafeActionIsNeutralised(t *testing.T) {
	p := newTestPages(t)
	rec := httptest.NewRecorder()
	p.Login(rec, 200, LoginData{Action: "javascript:alert(1)"})
	form := findOne(t, parseBody(t, rec), "form", tag("form"))
	if a, _ := attr(form, "action"); strings.Contains(a, "javascript") {
		t.Errorf("action %q", a)
	}
	// No action at all posts back to the page itself.
	rec = httptest.NewRecorder()
	p.Consent(rec, 200, ConsentData{})
	form = findOne(t, parseBody(t, rec), "form", tag("form"))
	if _, ok := attr(form, "action"); ok {
		t.Error("empty Action rendered an action attribute")
	}
}

func TestFormActionOrigins(t *testing.T) {
	var logs bytes.Buffer
	p, err := NewPages(PagesOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	origins := []string{
		"https://app.example.com/callback?x=1#f",
		"https://APP.example.com:443/other", // the same origin: listed once
		"https://app.example.com:8443/other",
		"http://127.0.0.1:49152/cb",
		"http://[::1]:8080/cb",
		"com.example.app:/oauth2redirect",
		"https://evil.example;script-src *", // would inject a directive
		"https://a b.example",
		"javascript:alert(1)",
		"data:text/html,hi",
		"/relative",
		"",
	}
	want := "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'" +
		" https://app.example.com https://app.example.com:8443 http://127.0.0.1:49152 http://[::1]:8080 com.example.app:" +
		"; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
	renders := map[string]func(http.ResponseWriter){
		"login":   func(w http.ResponseWriter) { p.Login(w, 200, LoginData{FormActionOrigins: origins}) },
		"consent": func(w http.ResponseWriter) { p.Consent(w, 200, ConsentData{FormActionOrigins: origins}) },
		"logout":  func(w http.ResponseWriter) { p.LogoutConfirm(w, 200, LogoutData{FormActionOrigins: origins}) },
	}
	for name, render := range renders {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			render(rec)
			if got := rec.Header().Get("Content-Security-Policy"); got != want {
				t.Errorf("CSP\n got %s\nwant %s", got, want)
			}
		})
	}
	if !strings.Contains(logs.String(), "dropping invalid form-action origin") {
		t.Error("dropped origins not logged")
	}
}

func TestFormActionSource(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://app.example.com", "https://app.example.com", true},
		{"https://app.example.com/", "https://app.example.com", true},
		{"https://app.example.com:8443/cb?q=1", "https://app.example.com:8443", true},
		{"HTTP://LocalHost:8080/cb", "http://localhost:8080", true},
		{"https://app.example.com:443/cb", "https://app.example.com", true},
		{"http://app.example.com:80/cb", "http://app.example.com", true},
		{"http://app.example.com:443/cb", "http://app.example.com:443", true},
		{"http://[::1]/cb", "http://[::1]", true},
		{"com.example.app:/cb", "com.example.app:", true},
		{"com.example.app://cb", "com.example.app:", true},
		{"https://user:pw@app.example.com/", "", false},
		{"https://app.example.com;x", "", false},
		{"https://app.example.com,x", "", false},
		{"https://app.example.com:80a", "", false},
		{"https://app.example.com:123456", "", false},
		{"https://-app.example.com", "", false},
		{"https://[::1", "", false},
		{"https://", "", false},
		{"https:opaque", "", false},
		{"https://bücher.example", "https://xn--bcher-kva.example", true},
		{"https://Bücher.Example:8443/cb", "https://xn--bcher-kva.example:8443", true},
		{"https://b%C3%BCcher.example/cb", "https://xn--bcher-kva.example", true},
		{"https://\u0660\u0661.example/cb", "", false}, // no valid internationalised name
		{"https://bücher;x.example/cb", "", false},
		{"javascript:alert(1)", "", false},
		{"data:,x", "", false},
		{"myapp:/cb", "", false}, // not a reverse-DNS private-use scheme
		{"com.example.:/cb", "", false},
		{"app.example.com/cb", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := FormActionSource(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FormActionSource(%q) = (%q, %v), want (%q, %v)", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestStaticHandler(t *testing.T) {
	p := newTestPages(t)
	h := p.StaticHandler()

	// The stylesheet a page links to is served.
	rec := httptest.NewRecorder()
	p.LoggedOut(rec, 200, LoggedOutData{})
	href, _ := attr(findOne(t, parseBody(t, rec), "stylesheet", tag("link", "rel", "stylesheet")), "href")

	tests := []struct {
		name, method, path string
		status             int
		wantType           string
	}{
		{"linked stylesheet", "GET", href, 200, "text/css; charset=utf-8"},
		{"stylesheet", "GET", "/static/style.css", 200, "text/css; charset=utf-8"},
		{"prefix stripped", "GET", "/style.css", 200, "text/css; charset=utf-8"},
		{"icon", "GET", "/static/favicon.svg", 200, "image/svg+xml"},
		{"head", "HEAD", "/static/style.css", 200, "text/css; charset=utf-8"},
		{"post", "POST", "/static/style.css", 405, ""},
		{"directory", "GET", "/static/", 404, ""},
		{"missing", "GET", "/static/nope.css", 404, ""},
		{"template", "GET", "/static/../templates/login.html", 404, ""},
		{"nested", "GET", "/static/templates/login.html", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
			if tt.status != 200 {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != tt.wantType {
				t.Errorf("Content-Type %q, want %q", ct, tt.wantType)
			}
			if rec.Header().Get("ETag") == "" {
				t.Error("no ETag")
			}
			if tt.method == "GET" && rec.Body.Len() == 0 {
				t.Error("empty body")
			}
		})
	}

	// Revalidation.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/static/style.css", nil))
	req := httptest.NewRequest("GET", "/static/style.css", nil)
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", rec.Code)
	}
}

func TestNewPagesOptions(t *testing.T) {
	p, err := NewPages(PagesOptions{ProductName: "School SSO", StaticPath: "/sso/static/"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	p.Login(rec, 200, LoginData{})
	doc := parseBody(t, rec)
	if got := text(findOne(t, doc, "title", tag("title"))); got != "Sign in · School SSO" {
		t.Errorf("title %q", got)
	}
	if href, _ := attr(findOne(t, doc, "stylesheet", tag("link", "rel", "stylesheet")), "href"); !strings.HasPrefix(href, "/sso/static/style.css?v=") {
		t.Errorf("stylesheet href %q", href)
	}
	for _, bad := range []string{"static/", "/static", "https://cdn.example/"} {
		if _, err := NewPages(PagesOptions{StaticPath: bad}); err == nil {
			t.Errorf("StaticPath %q accepted", bad)
		}
	}
}

// testFS is a template set like the embedded one, for breaking on purpose.
func testFS(overrides map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"static/style.css":      {Data: []byte("body{}")},
		"static/favicon.svg":    {Data: []byte("<svg/>")},
		"static/devcallback.js": {Data: []byte("")},
		"static/passkey.js":     {Data: []byte("")},
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		name = path.Base(name)
		data, err := assets.ReadFile("templates/" + name)
		if err != nil {
			panic(err)
		}
		fsys["templates/"+name] = &fstest.MapFile{Data: data}
	}
	for name, data := range overrides {
		if data == "" {
			delete(fsys, name)
			continue
		}
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func TestNewPagesTemplateErrors(t *testing.T) {
	if _, err := newPages(PagesOptions{}, testFS(nil)); err != nil {
		t.Fatalf("unbroken templates: %v", err)
	}
	tests := map[string]map[string]string{
		"syntax error":                {"templates/" + pageLogin: `{{define "title"}}x{{end}}{{define "content"}}{{if}}{{end}}`},
		"no content block":            {"templates/" + pageError: `{{define "title"}}x{{end}}`},
		"no layout":                   {"templates/layout.html": `{{define "other"}}{{end}}`},
		"unknown field":               {"templates/" + pageConsent: `{{define "title"}}x{{end}}{{define "content"}}{{.Data.Nope}}{{end}}`},
		"field only set in full data": {"templates/" + pageLogout: `{{define "title"}}x{{end}}{{define "content"}}{{range .Data.Hidden}}{{.Nope}}{{end}}{{end}}`},
		"missing page":                {"templates/" + pageLoggedOut: ""},
		"missing static":              {"static/style.css": ""},
	}
	for name, over := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := newPages(PagesOptions{}, testFS(over)); err == nil {
				t.Error("NewPages succeeded")
			}
		})
	}
}

// A template that fails while rendering answers 500 with a plain message,
// keeps the security headers, and leaks no half-rendered page.
func TestRenderFailure(t *testing.T) {
	var logs bytes.Buffer
	fsys := testFS(map[string]string{"templates/" + pageLogin: `{{define "title"}}x{{end}}{{define "content"}}<p>secret-partial</p>{{if eq .Data.Username "boom"}}{{index .Data.Username 99}}{{end}}{{end}}`})
	p, err := newPages(PagesOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, fsys)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	p.Login(rec, http.StatusOK, LoginData{Username: "boom"})
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "secret-partial") {
		t.Error("partial page written")
	}
	if rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" || rec.Header().Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", rec.Header())
	}
	if !strings.Contains(logs.String(), "rendering page") {
		t.Error("failure not logged")
	}
}

// The development callback page shows the raw tokens, each with a copy
// button driven by hallpass's own script: its CSP, and no other page's,
// allows script from 'self', and nothing inline.
func TestDevCallbackTokens(t *testing.T) {
	p := newTestPages(t)
	rec := httptest.NewRecorder()
	const access = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
	p.DevCallback(rec, http.StatusOK, DevCallbackData{GrantedScopes: "openid", Tokens: []DevToken{{"access_token", access}, {"refresh_token", "ory_rt_x<y"}}})
	if csp := rec.Header().Get("Content-Security-Policy"); csp != strings.Replace(wantCSP, "default-src 'none';", "default-src 'none'; script-src 'self';", 1) {
		t.Errorf("CSP = %q", csp)
	}
	doc := parseBody(t, rec)
	scripts := findAll(doc, func(n *html.Node) bool { return n.Data == "script" })
	if len(scripts) != 1 {
		t.Fatalf("%d scripts, want the copy buttons' one", len(scripts))
	}
	src, _ := attr(scripts[0], "src")
	if !strings.HasPrefix(src, StaticPrefix+"devcallback.js?v=") || scripts[0].FirstChild != nil {
		t.Errorf("script src %q with inline content %v", src, scripts[0].FirstChild)
	}
	for _, name := range []string{"access_token", "refresh_token"} {
		ta := findOne(t, doc, name, func(n *html.Node) bool { id, _ := attr(n, "id"); return n.Data == "textarea" && id == name })
		if _, ro := attr(ta, "readonly"); !ro {
			t.Errorf("%s is editable", name)
		}
		findOne(t, doc, "copy "+name, func(n *html.Node) bool { c, _ := attr(n, "data-copy"); return n.Data == "button" && c == name })
	}
	if !strings.Contains(rec.Body.String(), access) || !strings.Contains(rec.Body.String(), "ory_rt_x&lt;y") {
		t.Errorf("tokens not shown (escaped):\n%s", rec.Body.String())
	}
	// The script is served, as JavaScript.
	rec = httptest.NewRecorder()
	p.StaticHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, src, nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") || !strings.Contains(rec.Body.String(), "data-copy") {
		t.Errorf("GET %s = %d %q", src, rec.Code, rec.Header().Get("Content-Type"))
	}
}
