package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// A page with a passkey form loads hallpass's passkey script, and its CSP
// (and no other page's) allows script from 'self'; the form is hidden
// until the script shows it, and its options are an escaped attribute.
func TestPasskeyForm(t *testing.T) {
	p := newTestPages(t)
	rec := httptest.NewRecorder()
	p.Login(rec, http.StatusOK, LoginData{Action: "/login", RequestID: "r", CSRF: "c"})
	if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "script-src") || strings.Contains(rec.Body.String(), "<script") {
		t.Errorf("a login page without passkeys loads script: CSP %q", csp)
	}

	rec = httptest.NewRecorder()
	p.Login(rec, http.StatusOK, LoginData{Action: "/login", RequestID: "r", CSRF: "c", Passkey: &PasskeyForm{
		Options: `{"challenge":"</script><b>x"}`, State: "s", Action: "/login/passkey", RequestID: "r", CSRF: "t", Button: "Sign in with a passkey"}})
	if csp := rec.Header().Get("Content-Security-Policy"); csp != strings.Replace(wantCSP, "default-src 'none';", "default-src 'none'; script-src 'self';", 1) {
		t.Errorf("CSP = %q", csp)
	}
	doc := parseBody(t, rec)
	scripts := findAll(doc, func(n *html.Node) bool { return n.Data == "script" })
	if len(scripts) != 1 {
		t.Fatalf("%d scripts, want the passkey one", len(scripts))
	}
	src, _ := attr(scripts[0], "src")
	if !strings.HasPrefix(src, StaticPrefix+"passkey.js?v=") || scripts[0].FirstChild != nil {
		t.Errorf("script src %q with inline content %v", src, scripts[0].FirstChild)
	}
	form := findOne(t, doc, "passkey form", func(n *html.Node) bool { _, ok := attr(n, "data-passkey"); return n.Data == "form" && ok })
	if _, hidden := attr(form, "hidden"); !hidden {
		t.Error("the passkey form shows without script")
	}
	if opts, _ := attr(form, "data-options"); opts != `{"challenge":"</script><b>x"}` {
		t.Errorf("data-options = %q", opts)
	}
	if strings.Contains(rec.Body.String(), "</script><b>") {
		t.Error("the options are not escaped")
	}
	rec = httptest.NewRecorder()
	p.StaticHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, src, nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") || !strings.Contains(rec.Body.String(), "navigator.credentials") {
		t.Errorf("GET %s = %d %q", src, rec.Code, rec.Header().Get("Content-Type"))
	}
}
