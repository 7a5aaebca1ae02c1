package resource_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/resource"
)

// The school of DESIGN.md, as these tests set it up.
const (
	schoolAPI      = "https://school.example/api"
	adminToken     = "resource-test-admin-token-0b8d6f1c2e"
	alicePassword  = "violet-otter-harbour-31"
	portalID       = "school-portal"
	portalRedirect = "https://portal.school.example/callback"
	apiClientID    = "school-api" // the resource server's own client, for introspection
)

// hallpass is a real hallpass, in process, behind an httptest.Server whose
// URL is the issuer, on a fresh SQLite database.
type hallpass struct {
	oauthtest.Client // asks its token and revocation endpoints
	URL              string
	Keys             *keys.Manager

	// Set by school.
	ServiceID, ServiceSecret string // client_credentials client, scope results:read
	WriterID, WriterSecret   string // client_credentials client, scope results:read results:write
	PortalSecret             string // SSO client
	APISecret                string // the resource server's client
	AliceID                  string
}

// newHallpass starts hallpass on a fresh SQLite database as cmd/hallpass
// wires it; keyOpts adjusts the key manager's options (e.g. JWKSMaxAge).
func newHallpass(t testing.TB, keyOpts ...func(*keys.Options)) *hallpass {
	t.Helper()
	s := hallpasstest.Start(t, testdb.SQLite(t), hallpasstest.Options{
		AdminToken: adminToken,
		Keys: func(o *keys.Options) {
			for _, f := range keyOpts {
				f(o)
			}
		},
	})
	return &hallpass{Client: s.Client, URL: s.URL, Keys: s.Keys}
}

// newSchool starts hallpass and registers the school: scopes for the
// school API, a teacher role, alice, two services, the portal, and the
// API's own client.
func newSchool(t testing.TB, keyOpts ...func(*keys.Options)) *hallpass {
	t.Helper()
	h := newHallpass(t, keyOpts...)
	h.mustCreate(t, "/admin/scopes", map[string]any{"name": "results:read", "description": "Read exam results", "audience": schoolAPI})
	h.mustCreate(t, "/admin/scopes", map[string]any{"name": "results:write", "description": "Publish exam results", "audience": schoolAPI})
	h.mustCreate(t, "/admin/roles", map[string]any{"name": "teacher", "scopes": []string{"results:read", "results:write"}})
	var user struct {
		ID string `json:"id"`
	}
	h.decode(t, h.mustCreate(t, "/admin/users", map[string]any{
		"username": "alice", "password": alicePassword, "email": "alice@example.com", "roles": []string{"teacher"},
	}), &user)
	h.AliceID = user.ID
	h.ServiceID, h.ServiceSecret = h.client(t, directory.ClientMetadata{
		ClientID: "results-reader", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: "client_secret_basic", Scope: "results:read", Audience: []string{schoolAPI},
	})
	h.WriterID, h.WriterSecret = h.client(t, directory.ClientMetadata{
		ClientID: "results-writer", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: "client_secret_basic", Scope: "results:read results:write", Audience: []string{schoolAPI},
	})
	_, h.PortalSecret = h.client(t, directory.ClientMetadata{
		ClientID: portalID, ClientName: "School portal", RedirectURIs: []string{portalRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: "client_secret_basic", Scope: "openid offline_access results:read results:write",
		SkipConsent: true,
	})
	// The API introspects the tokens issued for it: hallpass answers only
	// a client registered as speaking for the token's audience.
	_, h.APISecret = h.client(t, directory.ClientMetadata{
		ClientID: apiClientID, GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_basic",
		ResourceServers: []string{schoolAPI},
	})
	return h
}

// response is a response with its body read.
type response = oauthtest.Response

func (h *hallpass) do(t testing.TB, c *http.Client, method, target, contentType, body string, header http.Header) response {
	t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = h.URL + target
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c == nil {
		c = h.HTTP
	}
	return oauthtest.Do(t, c, req)
}

func (h *hallpass) decode(t testing.TB, r response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (h *hallpass) mustCreate(t testing.TB, path string, body any) response {
	t.Helper()
	enc, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r := h.do(t, nil, http.MethodPost, path, "application/json", string(enc), http.Header{"Authorization": {"Bearer " + adminToken}})
	if r.Status != http.StatusCreated {
		t.Fatalf("POST %s: status %d: %s", path, r.Status, r.Body)
	}
	return r
}

// client registers a client through the admin API and returns its id and
// secret.
func (h *hallpass) client(t testing.TB, m directory.ClientMetadata) (string, string) {
	t.Helper()
	var out directory.ClientMetadata
	h.decode(t, h.mustCreate(t, "/admin/clients", m), &out)
	if out.ClientID == "" || out.ClientSecret == "" {
		t.Fatalf("client %s registered without id or secret: %+v", m.ClientID, out)
	}
	return out.ClientID, out.ClientSecret
}

// tokens is a token endpoint answer.
type tokens = oauthtest.TokenResponse

// tokenRequest posts form to the token endpoint as client (id, secret)
// with HTTP Basic, failing the test unless tokens come back.
func (h *hallpass) tokenRequest(t testing.TB, id, secret string, form url.Values) tokens {
	t.Helper()
	return oauthtest.DecodeToken(t, h.Token(t, oauthtest.Basic(id, secret), form))
}

// serviceToken is a client-credentials access token.
func (h *hallpass) serviceToken(t testing.TB, id, secret, scope string) string {
	t.Helper()
	return h.tokenRequest(t, id, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}).AccessToken
}

var requestField = regexp.MustCompile(`<input type="hidden" name="request" value="([^"]+)">`)

// csrfField is the login and consent forms' CSRF token, posted back with
// the request handle.
var csrfField = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]+)">`)

// formToken returns the CSRF token of the form on body, "" if none.
func formToken(body []byte) string {
	if m := csrfField.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}

// userTokens signs alice in to the portal through the authorization code
// flow with PKCE, as a browser would, and redeems the code.
func (h *hallpass) userTokens(t testing.TB, scope string) tokens {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{
		Transport: h.HTTP.Transport,
		Jar:       jar,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), portalRedirect) {
				return http.ErrUseLastResponse // the portal is not running
			}
			return nil
		},
	}
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {portalID}, "redirect_uri": {portalRedirect},
		"scope": {scope}, "state": {rand.Text()}, "nonce": {rand.Text()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	page := h.do(t, browser, http.MethodGet, provider.PathAuthorize+"?"+q.Encode(), "", "", nil)
	m := requestField.FindSubmatch(page.Body)
	if page.Status != http.StatusOK || m == nil {
		t.Fatalf("authorize: want the login page, got status %d: %.300s", page.Status, page.Body)
	}
	form := url.Values{"request": {string(m[1])}, "csrf": {formToken(page.Body)}, "username": {"alice"}, "password": {alicePassword}}
	page = h.do(t, browser, http.MethodPost, provider.PathLogin, "application/x-www-form-urlencoded", form.Encode(), nil)
	if m := requestField.FindSubmatch(page.Body); page.Status == http.StatusOK && m != nil {
		// A consent page.
		form := url.Values{"request": {string(m[1])}, "csrf": {formToken(page.Body)}, "decision": {"allow"}}
		page = h.do(t, browser, http.MethodPost, provider.PathConsent, "application/x-www-form-urlencoded", form.Encode(), nil)
	}
	loc, err := url.Parse(page.Header.Get("Location"))
	if page.Status/100 != 3 || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("sign-in: want a redirect to the portal with a code, got status %d, Location %q: %.300s", page.Status, page.Header.Get("Location"), page.Body)
	}
	return h.tokenRequest(t, portalID, h.PortalSecret, url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {portalRedirect}, "code_verifier": {verifier},
	})
}

// revoke revokes token at hallpass (RFC 7009) as client id.
func (h *hallpass) revoke(t testing.TB, id, secret, token string) {
	t.Helper()
	h.MustRevoke(t, oauthtest.Basic(id, secret), token, "access_token")
}

// sign returns claims signed by hallpass's active key with header typ
// (none when empty): a token hallpass could have issued.
func (h *hallpass) sign(t testing.TB, typ string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := h.Keys.Sign(payload, typ)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return tok
}

// claims are the claims of a hallpass access token for the school API,
// valid for five minutes from now.
func (h *hallpass) claims(now time.Time) map[string]any {
	return map[string]any{
		"iss": h.URL, "sub": "results-reader", "aud": []string{schoolAPI},
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": rand.Text(),
		"client_id": "results-reader", "scope": "results:read",
	}
}

// exchange is one HTTP exchange a Verifier made.
type exchange struct {
	Method, Path, IfNoneMatch, ETag string
	Status                          int // 0 when the transport failed
}

// recorder is an http.RoundTripper that records every exchange and can be
// told to fail requests to some paths.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	log  []exchange
	fail map[string]bool // path → answer with a transport error
}

func newRecorder(base http.RoundTripper) *recorder {
	return &recorder{base: base, fail: map[string]bool{}}
}

var errInjected = errors.New("injected transport failure")

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	e := exchange{Method: req.Method, Path: req.URL.Path, IfNoneMatch: req.Header.Get("If-None-Match")}
	r.mu.Lock()
	fail := r.fail[req.URL.Path]
	r.mu.Unlock()
	var resp *http.Response
	err := errInjected
	if !fail {
		resp, err = r.base.RoundTrip(req)
	}
	if err == nil {
		e.Status, e.ETag = resp.StatusCode, resp.Header.Get("ETag")
	}
	r.mu.Lock()
	r.log = append(r.log, e)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) setFail(path string, fail bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[path] = fail
}

// exchanges returns the recorded exchanges with path.
func (r *recorder) exchanges(path string) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []exchange
	for _, e := range r.log {
		if e.Path == path {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) count(path string) int { return len(r.exchanges(path)) }

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clock is a settable Config.Now.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time            { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration)   { c.offset.Add(int64(d)) }
func testLogger(t testing.TB) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

// newVerifier returns a Verifier for the school API at h whose HTTP
// exchanges rec records; opts adjust the Config.
func newVerifier(t testing.TB, h *hallpass, rec *recorder, opts ...func(*resource.Config)) *resource.Verifier {
	t.Helper()
	cfg := resource.Config{
		Issuer: h.URL, Audience: schoolAPI,
		HTTPClient: &http.Client{Transport: rec, Timeout: 10 * time.Second},
		ClientID:   apiClientID, ClientSecret: h.APISecret,
		Logger: testLogger(t),
	}
	for _, o := range opts {
		o(&cfg)
	}
	v, err := resource.NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}
