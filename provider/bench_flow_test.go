package provider_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/web"
)

// benchRedirect is the public client's redirect URI in the flow
// benchmarks; nothing serves it.
const benchRedirect = "http://127.0.0.1/bench-callback"

// The user of the flow benchmarks.
const (
	benchUser     = "bencher"
	benchPassword = "quiet-lantern-meadow-72"
)

// BenchmarkSignedInFlow measures a signed-in user's trip through an
// app's login, in-process and without network: GET /oauth2/authorize
// (PKCE S256, openid and one more scope) with a live session and
// remembered consent, which answers 303 to the app with a code, then the
// code exchange (an ID token and an access token: two RS256 signatures).
// The session and the consent come from posting the real login and
// consent forms once, untimed. Compare with keys.BenchmarkRSASign in the
// same run: the flow's floor is two signatures. cpu-ms/op is the
// process's CPU per flow (the database server's, for PostgreSQL, not
// included).
//
//	go test -run '^$' -bench 'SignedInFlow' ./provider/ && go test -run '^$' -bench 'RSASign$' ./keys/
func BenchmarkSignedInFlow(b *testing.B) {
	benchFlows(b, func(b *testing.B, f *benchFlow) func() {
		return func() { f.run(b) }
	})
}

// BenchmarkSignedInFlowTouching is BenchmarkSignedInFlow for a browser
// last seen more than a minute ago, as a user signing in to one app
// after another mostly is: the authorization request also touches the
// session. Each flow first sets the session's last-seen time back (one
// statement more per flow, outside the flow's own).
//
//	go test -run '^$' -bench 'SignedInFlowTouching' ./provider/
func BenchmarkSignedInFlowTouching(b *testing.B) {
	benchFlows(b, func(b *testing.B, f *benchFlow) func() {
		var id string
		for _, c := range f.cookies {
			if strings.HasSuffix(c.Name, web.SessionCookieName) {
				id = web.Digest(c.Value)
			}
		}
		return func() {
			if err := f.ts.Store.TouchBrowserSession(b.Context(), id, time.Now().Add(-2*time.Minute)); err != nil {
				b.Fatal(err)
			}
			f.run(b)
		}
	})
}

// BenchmarkSignedInFlowParallel is BenchmarkSignedInFlow with 16 browsers
// at once (8 per core on this 2-core machine), signed in as one user:
// what concurrent writers cost, the waits for the turn to write and the
// commits included. cpu-ms/op is the process's CPU per flow.
//
//	go test -run '^$' -bench 'SignedInFlowParallel' ./provider/
func BenchmarkSignedInFlowParallel(b *testing.B) {
	for _, be := range testdb.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			f := newBenchFlow(b, be.DSN(b))
			b.ReportAllocs()
			b.SetParallelism(16 / max(1, runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			start := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := f.flow(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportCPU(b, start)
		})
	}
}

// BenchmarkFreshLoginFlow measures a sign-in by password, in-process and
// without network, as cmd/loadtest's fresh-login scenario makes it: a new
// browser (no cookies) sends an authorization request (PKCE S256), gets
// the login page, posts the login form with its hidden fields and is sent
// back to the app with a code (consent, remembered from the untimed first
// sign-in, would be posted if asked), then the code exchange. One
// argon2id password check per flow, and a new session. Compare cpu-ms/op
// with BenchmarkCheckPassword's in the same run: the password check is
// most of the flow, what is left is about a signed-in flow's cost
// (BenchmarkSignedInFlow) and the login's writes. The one user signs in
// from one address flow after flow, as the load tool's browsers do, and
// the login throttle never refuses: it counts an attempt only while its
// password is checked, and a right password forgets it.
//
//	go test -run '^$' -bench 'FreshLoginFlow|CheckPassword' -benchtime 20x ./provider/
func BenchmarkFreshLoginFlow(b *testing.B) {
	benchFlows(b, func(b *testing.B, f *benchFlow) func() {
		return func() {
			code, verifier := f.signIn(b, f.newBrowser(b))
			if err := f.exchange(code, verifier); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCheckPassword is BenchmarkFreshLoginFlow's reference: the one
// password check a login makes (directory.CheckPassword against a hash
// directory.HashPassword made: argon2id, 19 MiB, two passes, one
// thread), with the garbage collection its memory costs. It stands beside
// the flow so that both report cpu-ms/op the same way in one run.
//
//	go test -run '^$' -bench 'FreshLoginFlow|CheckPassword' -benchtime 20x ./provider/
func BenchmarkCheckPassword(b *testing.B) {
	hash, err := directory.HashPassword(benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := processCPU(b)
	for b.Loop() {
		if ok, err := directory.CheckPassword(hash, benchPassword); !ok || err != nil {
			b.Fatalf("CheckPassword = %v, %v", ok, err)
		}
	}
	reportCPU(b, start)
}

// benchFlows runs a sub-benchmark per backend, each on a benchFlow of its
// own: prepare, untimed, returns the op that is one timed iteration.
// cpu-ms/op is the process's CPU per op.
func benchFlows(b *testing.B, prepare func(b *testing.B, f *benchFlow) (op func())) {
	for _, be := range testdb.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			op := prepare(b, newBenchFlow(b, be.DSN(b)))
			b.ReportAllocs()
			b.ResetTimer()
			start := processCPU(b)
			for b.Loop() {
				op()
			}
			reportCPU(b, start)
		})
	}
}

// processCPU is the CPU time (user and system) the process has used: a
// flow's wall time includes waits for commits, its CPU time does not.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time since start (processCPU) per
// op, as cpu-ms/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((processCPU(b)-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// benchFlow is a server, a public client and a browser signed in to it
// who consented to the client's scopes.
type benchFlow struct {
	ts      *testServer
	h       http.Handler
	scope   string
	client  string
	cookies []*http.Cookie
	// n makes each flow's state, nonce and verifier distinct.
	n atomic.Int64
}

// newBenchFlow sets up the server through the admin API and signs a user
// in with the login and consent forms (signIn); opts adjust the server's
// configuration.
func newBenchFlow(b testing.TB, dsn string, opts ...func(*provider.Config)) *benchFlow {
	b.Helper()
	ts := newTestServer(b, dsn, opts...)
	f := &benchFlow{ts: ts, h: ts.Provider.Handler(), scope: "bench:read"}
	admin := func(path string, body any) []byte {
		b.Helper()
		enc, err := json.Marshal(body)
		if err != nil {
			b.Fatal(err)
		}
		res := ts.do(b, req{Method: http.MethodPost, Path: path, ContentType: "application/json", Body: string(enc), Auth: "Bearer " + ts.AdminToken})
		if res.Status != http.StatusCreated {
			b.Fatalf("POST %s: %d %s", path, res.Status, res.Body)
		}
		return res.Body
	}
	admin("/admin/scopes", map[string]any{"name": f.scope, "description": "Bench scope", "audience": "https://bench.example/api"})
	admin("/admin/roles", map[string]any{"name": "bencher", "scopes": []string{f.scope}})
	admin("/admin/users", map[string]any{"username": benchUser, "password": benchPassword, "roles": []string{"bencher"}})
	var c struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(admin("/admin/clients", map[string]any{
		"client_name": "bench app", "redirect_uris": []string{benchRedirect},
		"grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
		"token_endpoint_auth_method": "none", "scope": "openid " + f.scope,
	}), &c); err != nil || c.ClientID == "" {
		b.Fatalf("client: %v", err)
	}
	f.client = c.ClientID

	browser := f.newBrowser(b)
	f.signIn(b, browser)
	u, _ := url.Parse(ts.URL)
	f.cookies = browser.Jar.Cookies(u)
	// The first flow of the session proves the set-up: a code without a
	// page.
	f.run(b)
	return f
}

// newBrowser is a browser without cookies whose requests f's handler
// serves in-process (handlerTransport); it follows redirects inside
// hallpass and stops at the app's redirect URI, as the app takes over
// there.
func (f *benchFlow) newBrowser(tb testing.TB) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{Transport: handlerTransport{f.h}, Jar: jar,
		CheckRedirect: func(r *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(r.URL.String(), benchRedirect) {
				return http.ErrUseLastResponse
			}
			return nil
		}}
}

// handlerTransport serves a client's requests with h, in-process and
// without network: each from the one address httptest.NewRequest gives,
// as the load tool's browsers all come from one.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	in := httptest.NewRequest(r.Method, r.URL.RequestURI(), r.Body)
	in.Host, in.Header, in.ContentLength = r.URL.Host, r.Header.Clone(), r.ContentLength
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, in)
	resp := w.Result()
	resp.Request = r
	return resp, nil
}

// signIn signs browser in by password, as cmd/loadtest's browser does: a
// new authorization request, the login page it leads to, the login form
// posted with its hidden fields and the user's password, then the
// consent form allowing the scopes if the page that follows asks. It
// returns the code the app is sent back with and its PKCE verifier, and
// fails tb on any other answer.
func (f *benchFlow) signIn(tb testing.TB, browser *http.Client) (code, verifier string) {
	tb.Helper()
	target, verifier := f.authorizeURL()
	resp, err := browser.Get(f.ts.URL + target)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != provider.PathLogin {
		resp.Body.Close()
		tb.Fatalf("authorize ended with %d at %s, not on the login page", resp.StatusCode, resp.Request.URL)
	}
	resp = benchSubmit(tb, browser, resp, url.Values{"username": {benchUser}, "password": {benchPassword}})
	if resp.StatusCode == http.StatusOK && resp.Request.URL.Path == provider.PathConsent {
		resp = benchSubmit(tb, browser, resp, url.Values{"decision": {"allow"}})
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), benchRedirect) || loc.Query().Get("code") == "" {
		tb.Fatalf("sign-in ended with %d at %s, not at the app with a code (%s)", resp.StatusCode, resp.Request.URL, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code"), verifier
}

// benchSubmit posts the one form of the page resp carries (its hidden
// fields and fields) as the browser.
func benchSubmit(b testing.TB, c *http.Client, resp *http.Response, fields url.Values) *http.Response {
	b.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	action, hidden, err := benchForm(string(body))
	if err != nil {
		b.Fatalf("%s: %d %v: %.600s", resp.Request.URL, resp.StatusCode, err, body)
	}
	target, err := resp.Request.URL.Parse(action)
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range fields {
		hidden[k] = v
	}
	next, err := c.PostForm(target.String(), hidden)
	if err != nil {
		b.Fatal(err)
	}
	return next
}

// benchForm returns the action and hidden fields of a page's POST form.
func benchForm(page string) (string, url.Values, error) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return "", nil, err
	}
	var action string
	hidden := url.Values{}
	var walk func(n *html.Node, in bool)
	walk = func(n *html.Node, in bool) {
		if n.Type == html.ElementNode {
			switch {
			case n.Data == "form" && strings.EqualFold(attr(n, "method"), "post"):
				action, in = attr(n, "action"), true
			case n.Data == "input" && in && attr(n, "type") == "hidden":
				hidden.Add(attr(n, "name"), attr(n, "value"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, in)
		}
	}
	walk(doc, false)
	if hidden.Get("request") == "" || hidden.Get("csrf") == "" {
		return "", nil, errors.New("no POST form with request and csrf")
	}
	return action, hidden, nil
}

// authorizeURL returns a new authorization request (path and query) and
// its PKCE verifier.
func (f *benchFlow) authorizeURL() (string, string) {
	n := strconv.FormatInt(f.n.Add(1), 10)
	verifier := "bench-verifier-0123456789-0123456789-0123456789-" + n
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {f.client}, "redirect_uri": {benchRedirect},
		"scope": {"openid " + f.scope}, "state": {"bench-state-" + n}, "nonce": {"bench-nonce-" + n},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	return provider.PathAuthorize + "?" + q.Encode(), verifier
}

// run is one signed-in flow (flow), failing b if it fails.
func (f *benchFlow) run(b testing.TB) {
	b.Helper()
	if err := f.flow(); err != nil {
		b.Fatal(err)
	}
}

// flow is one signed-in flow: authorize with the session's cookies, then
// the code exchange.
func (f *benchFlow) flow() error {
	code, verifier, err := f.authorize()
	if err != nil {
		return err
	}
	return f.exchange(code, verifier)
}

// authorize is the flow's authorization request, with the session's
// cookies; it returns the code issued and its PKCE verifier.
func (f *benchFlow) authorize() (code, verifier string, err error) {
	target, verifier := f.authorizeURL()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for _, c := range f.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	loc, err := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), benchRedirect) || loc.Query().Get("code") == "" {
		return "", "", fmt.Errorf("authorize: %d %s %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	return loc.Query().Get("code"), verifier, nil
}

// exchange is the flow's code exchange, which must answer an ID token.
func (f *benchFlow) exchange(code, verifier string) error {
	body := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {benchRedirect},
		"client_id": {f.client}, "code_verifier": {verifier},
	}.Encode()
	r := httptest.NewRequest(http.MethodPost, provider.PathToken, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"id_token"`) {
		return fmt.Errorf("token: %d %s", w.Code, w.Body)
	}
	return nil
}
