package provider_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestMethodNotAllowedNamesAllow checks RFC 9110 §15.5.6: every 405 says
// in Allow which methods the resource takes, at the root and inside the
// mounted routers (admin API, console, account page), at a mount point
// itself too. HEAD is listed wherever GET is.
func TestMethodNotAllowedNamesAllow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		admin := "Bearer " + ts.AdminToken
		tests := []struct {
			name, method, path, auth, allow string
		}{
			{"userinfo by PUT", http.MethodPut, provider.PathUserinfo, "", "GET, HEAD, POST"},
			{"discovery by POST", http.MethodPost, provider.PathDiscovery, "", "GET, HEAD"},
			{"JWKS by DELETE", http.MethodDelete, provider.PathJWKS, "", "GET, HEAD"},
			{"healthz by unknown method", "BREW", "/healthz", "", "GET, HEAD"},
			{"registration by GET", http.MethodGet, provider.PathRegistration, admin, "POST"},
			{"introspection by GET", http.MethodGet, provider.PathIntrospect, "", "POST"},
			{"token by GET", http.MethodGet, provider.PathToken, "", "POST"},
			{"token by PUT", http.MethodPut, provider.PathToken, "", "POST"},
			{"revocation by GET", http.MethodGet, provider.PathRevoke, "", "POST"},
			{"PAR by GET", http.MethodGet, provider.PathPAR, "", "POST"},
			{"admin clients by DELETE", http.MethodDelete, "/admin/clients", admin, "GET, HEAD, POST"},
			{"admin client by PATCH", http.MethodPatch, "/admin/clients/x", admin, "GET, HEAD, PUT, DELETE"},
			{"key rotation by GET", http.MethodGet, "/admin/keys/rotate", admin, "POST"},
			{"console mount point by DELETE", http.MethodDelete, provider.PathConsole, "", "GET, HEAD"},
			{"console root by DELETE", http.MethodDelete, provider.PathConsole + "/", "", "GET, HEAD"},
			{"account page by PUT", http.MethodPut, provider.PathAccount + "/", "", "GET, HEAD"},
			// Where a GET acts, HEAD is not served (TestHeadDoesNotAct).
			{"authorization by PUT", http.MethodPut, provider.PathAuthorize, "", "GET, POST"},
			{"end_session by DELETE", http.MethodDelete, provider.PathEndSession, "", "GET, POST"},
			{"console callback by POST", http.MethodPost, provider.PathConsole + "/callback", "", "GET"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				res := ts.do(t, req{Method: tc.method, Path: tc.path, Auth: tc.auth})
				assertError(t, res, http.StatusMethodNotAllowed, "invalid_request")
				if got := res.Header.Get("Allow"); got != tc.allow {
					t.Errorf("Allow = %q, want %q", got, tc.allow)
				}
			})
		}
	})
}

// TestHeadServedWhereGetIs checks RFC 9110 §9.1 and §9.3.2: HEAD is
// answered wherever GET is, with GET's status and headers and no body.
func TestHeadServedWhereGetIs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		admin := "Bearer " + ts.AdminToken
		for _, tc := range []struct{ path, auth string }{
			{"/healthz", ""},
			{provider.PathDiscovery, ""},
			{provider.PathJWKS, ""},
			{"/admin/clients", admin},
			{"/admin/keys", admin},
			{provider.PathUserinfo, "Bearer not-a-token"},
		} {
			t.Run(tc.path, func(t *testing.T) {
				get := ts.do(t, req{Method: http.MethodGet, Path: tc.path, Auth: tc.auth})
				head := ts.do(t, req{Method: http.MethodHead, Path: tc.path, Auth: tc.auth})
				if head.Status != get.Status {
					t.Fatalf("HEAD answered %d, GET %d; body %s", head.Status, get.Status, head.Body)
				}
				if len(head.Body) != 0 {
					t.Errorf("HEAD answered a body: %.120s", head.Body)
				}
				if h, g := head.Header.Get("Content-Type"), get.Header.Get("Content-Type"); h != g {
					t.Errorf("HEAD Content-Type %q, GET %q", h, g)
				}
			})
		}
		// The console and account pages send a browser that is not signed
		// in to sign in, for HEAD as for GET.
		for _, path := range []string{provider.PathConsole, provider.PathConsole + "/", provider.PathAccount + "/"} {
			t.Run(path, func(t *testing.T) {
				hr, err := http.NewRequest(http.MethodHead, ts.URL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				res, err := c.Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusSeeOther {
					t.Errorf("HEAD %s = %d, want 303 to sign in", path, res.StatusCode)
				}
			})
		}
	})
}

// TestHeadDoesNotAct: HEAD is a safe method (RFC 9110 §9.2.1), which link
// checkers and prefetchers send expecting nothing to happen. Where a GET
// acts, HEAD is 405 rather than that GET without its body: at the
// authorization endpoint it issued a redeemable code to a signed-in
// browser, at end_session with an id_token_hint it signed the user out,
// and at the sign-in callbacks it redeemed a code.
func TestHeadDoesNotAct(t *testing.T) {
	withSSOEnv(t, "head", func(t *testing.T, e *ssoEnv) {
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid")
		tok := e.signInTokens(t, b, ar, "alice", alicePassword)
		hint := url.Values{"id_token_hint": {idTokenOf(t, tok)}}.Encode()
		for _, tc := range []struct{ name, target, allow string }{
			{"authorization with a live session", e.Confidential.request("openid").URL, "GET, POST"},
			{"end_session with an id_token_hint", e.URL + provider.PathEndSession + "?" + hint, "GET, POST"},
			{"console callback", e.URL + provider.PathConsole + "/callback?code=x&state=y", "GET"},
			{"account callback", e.URL + provider.PathAccount + "/callback?code=x&state=y", "GET"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := b.do(t, http.MethodHead, tc.target, nil)
				if p.Status != http.StatusMethodNotAllowed || p.Redirect != nil {
					t.Fatalf("HEAD answered %d (redirect %v), want 405", p.Status, p.Redirect)
				}
				if got := p.Header.Get("Allow"); got != tc.allow {
					t.Errorf("Allow = %q, want %q", got, tc.allow)
				}
			})
		}
		// The HEAD of end_session signed nobody out: the next request
		// gets its code without a sign-in.
		next := e.Confidential.request("openid")
		e.callback(t, b.get(t, next.URL), next).wantCode(t)
	})
	// The development callback redeems the code it is given.
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn, func(c *provider.Config) { c.Dev = true })
		res := ts.do(t, req{Method: http.MethodHead, Path: provider.PathDevCallback + "?code=x&state=y"})
		if res.Status != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET" {
			t.Errorf("HEAD %s answered %d, Allow %q; want 405, GET", provider.PathDevCallback, res.Status, res.Header.Get("Allow"))
		}
	})
}

// TestUnknownMethodsShareOneSeries: the method label of
// hallpass_http_requests_total is the client's choice, so each unknown
// method a client invents must not become a series of its own, kept for
// the process's life (memory and /metrics growing with every request); it
// is counted as _OTHER, as OpenTelemetry's HTTP conventions name it.
func TestUnknownMethodsShareOneSeries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		const n = 20
		for i := range n {
			res := ts.do(t, req{Method: "BREW" + strconv.Itoa(i), Path: "/healthz"})
			if res.Status != http.StatusMethodNotAllowed {
				t.Fatalf("BREW%d /healthz: status %d, want 405", i, res.Status)
			}
		}
		res := ts.do(t, req{Path: "/metrics"})
		if strings.Contains(string(res.Body), `method="BREW`) {
			t.Errorf("/metrics has a series per invented method:\n%s", grepLines(string(res.Body), "BREW"))
		}
		if got, ok := ts.metric(t, "hallpass_http_requests_total", `code="405",method="_OTHER",route="unmatched"`); !ok || got != n {
			t.Errorf("requests by unknown methods counted as _OTHER = %v (present %v), want %d", got, ok, n)
		}
		if _, ok := ts.metric(t, "hallpass_http_requests_total", `code="200",method="GET",route="/metrics"`); !ok {
			t.Error("a GET is no longer counted under its own method")
		}
	})
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
