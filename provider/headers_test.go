package provider_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// cacheablePaths serve public documents meant to be cached by relying
// parties and resource servers; every other response is no-store.
var cacheablePaths = map[string]bool{
	provider.PathDiscovery:     true,
	provider.PathOAuthMetadata: true,
	provider.PathJWKS:          true,
}

// checkSafetyHeaders fails t unless the response carries the safety
// headers of its kind (issue: every JSON and HTML response).
func checkSafetyHeaders(t *testing.T, what string, status int, h http.Header, path string) {
	t.Helper()
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s (%d): X-Content-Type-Options %q, want nosniff", what, status, got)
	}
	ct := h.Get("Content-Type")
	if !cacheablePaths[path] && !strings.HasPrefix(path, "/static/") {
		if got := h.Get("Cache-Control"); !strings.Contains(got, "no-store") {
			t.Errorf("%s (%d, %s): Cache-Control %q, want no-store", what, status, ct, got)
		}
	}
	if strings.HasPrefix(ct, "text/html") {
		csp := h.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s (%d): CSP %q lacks %s", what, status, csp, d)
			}
		}
		if got := h.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s (%d): X-Frame-Options %q, want DENY", what, status, got)
		}
		if got := h.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s (%d): Referrer-Policy %q, want no-referrer", what, status, got)
		}
	}
}

// TestSafetyHeadersOnEveryRoute walks hallpass's route table and sends
// every method of every route, with and without the admin token, checking
// the headers of whatever comes back (success, error, 404, 405); then the
// pages of a real sign-in and sign-out.
func TestSafetyHeadersOnEveryRoute(t *testing.T) {
	e := newSSOEnv(t, "sqlite:"+t.TempDir()+"/hallpass.db")
	routes, ok := e.Handler.(chi.Routes)
	if !ok {
		t.Fatalf("the provider's handler is a %T, not a chi router", e.Handler)
	}
	n := 0
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if method == http.MethodConnect {
			return nil
		}
		path := strings.NewReplacer("{id}", "nobody", "{kid}", "nokey", "/*", "/nothing.css").Replace(route)
		for _, auth := range []string{"", "Bearer " + e.AdminToken} {
			res := e.do(t, req{Method: method, Path: path, Auth: auth, ContentType: formType})
			checkSafetyHeaders(t, method+" "+path, res.Status, res.Header, route)
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 40 {
		t.Fatalf("walked %d requests only; is the route table empty?", n)
	}
	res := e.do(t, req{Path: "/no/such/route"})
	checkSafetyHeaders(t, "unknown route", res.Status, res.Header, "/no/such/route")

	// The pages of the browser flow, errors included.
	b := e.newBrowser(t)
	page := func(what string, p page) page {
		t.Helper()
		checkSafetyHeaders(t, what, p.Status, p.Header, p.URL.Path)
		return p
	}
	ar := e.Confidential.request("openid profile")
	login := page("login page", b.get(t, ar.URL).want(t, "login"))
	page("login page, wrong password", b.login(t, login, "alice", "not her password"))
	consent := page("consent page", b.login(t, login, "alice", alicePassword).want(t, "consent"))
	cb := b.decide(t, consent, "allow")
	checkSafetyHeaders(t, "redirect to the client", cb.Status, cb.Header, provider.PathConsent)
	page("error page", b.get(t, e.URL+provider.PathAuthorize+"?client_id=nobody"))
	page("expired request", b.get(t, e.URL+provider.PathLogin+"?request=gone"))
	page("logout confirmation", b.get(t, e.URL+provider.PathEndSession).want(t, "logout"))
	f := b.get(t, e.URL+provider.PathEndSession)
	page("signed out", b.submit(t, f, url.Values{"confirm": {"yes"}}))
}

// TestHSTSUnderHTTPS checks that an https issuer adds Strict-Transport-
// Security to every response, and an http one never does.
func TestHSTSUnderHTTPS(t *testing.T) {
	for _, issuer := range []string{"https://login.school.example", ""} {
		ts := newTestServer(t, "sqlite:"+t.TempDir()+"/hallpass.db", func(c *provider.Config) {
			if issuer != "" {
				c.Issuer = issuer
			}
		})
		for _, path := range []string{provider.PathDiscovery, provider.PathAuthorize + "?client_id=nobody", "/admin/clients", "/healthz"} {
			rec := httptest.NewRecorder()
			ts.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			hsts := rec.Header().Get("Strict-Transport-Security")
			if issuer != "" && !strings.HasPrefix(hsts, "max-age=") {
				t.Errorf("https issuer, %s: Strict-Transport-Security %q", path, hsts)
			}
			if issuer == "" && hsts != "" {
				t.Errorf("http issuer, %s: Strict-Transport-Security %q sent over http", path, hsts)
			}
		}
	}
}

// userAgentTransport sends every request with its User-Agent.
type userAgentTransport struct {
	base http.RoundTripper
	ua   string
}

func (u userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.base.RoundTrip(r)
}

// TestAuditKeepsAnyUserAgent: whatever User-Agent a caller writes (bytes
// that are not UTF-8, which net/http lets through, or a character that
// the length cap would cut in half), the event it causes is in the audit
// log, its user agent valid UTF-8 within the cap. PostgreSQL refused such
// an entry, so anyone could keep their failed sign-ins out of the log, or
// an admin token's holder its changes.
func TestAuditKeepsAnyUserAgent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		for i, ua := range []string{
			"Mozilla/5.0 \xff\xfe",
			strings.Repeat("a", 255) + "é",
			"curl/8\tx\u200b",
		} {
			role := fmt.Sprintf("role%d", i)
			b := e.newBrowser(t)
			b.http.Transport = userAgentTransport{b.http.Transport, ua}
			hr, err := http.NewRequest(http.MethodPost, e.URL+"/admin/roles", strings.NewReader(`{"name":"`+role+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			hr.Header.Set("Authorization", "Bearer "+e.AdminToken)
			hr.Header.Set("Content-Type", jsonType)
			if res := b.send(t, hr); res.Status != http.StatusCreated {
				t.Fatalf("create role %s: %d %s", role, res.Status, res.Body)
			}
			b.login(t, b.get(t, e.Confidential.request("openid").URL), "alice", "not "+role)

			for _, action := range []string{"role.create", "signin.failure"} {
				es, err := e.Store.ListAudit(context.Background(), storage.AuditQuery{Action: action, Newest: true, Limit: 1})
				if err != nil {
					t.Fatalf("list audit: %v", err)
				}
				if len(es) == 0 || (action == "role.create" && es[0].Object != "role:"+role) ||
					(action == "signin.failure" && es[0].Seq < e.wantAudit(t, "role.create", nil).Seq) {
					t.Errorf("User-Agent %q: the %s entry is not in the audit log (newest: %+v)", ua, action, es)
					continue
				}
				if got := es[0].UserAgent; !utf8.ValidString(got) || len(got) > 256 || got == "" || strings.ContainsAny(got, "\t\u200b") {
					t.Errorf("User-Agent %q: the %s entry keeps %q, want valid, printable UTF-8 of at most 256 bytes", ua, action, got)
				}
			}
		}
	})
}
