package oauthtest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

const formType = "application/x-www-form-urlencoded"

// Response is an HTTP response with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic object, failing the test if it is
// not one.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response body (status %d) is not a JSON object: %v\n%s", r.Status, err, r.Body)
	}
	return m
}

// Do sends hr with c and reads the whole response, failing the test if
// the exchange itself fails.
func Do(t testing.TB, c *http.Client, hr *http.Request) Response {
	t.Helper()
	resp, err := c.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", hr.Method, hr.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", hr.Method, hr.URL, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// Auth methods a Cred may use besides the RFC 7591 token endpoint
// authentication methods (client_secret_basic, client_secret_post, none).
const MethodAdmin = "admin" // the admin bearer token, in Secret

// Cred is how a caller authenticates at the token, introspection and
// revocation endpoints: as a client (client_secret_basic,
// client_secret_post, or none, which sends only client_id), or with the
// admin token (MethodAdmin).
type Cred struct {
	ID, Secret, Method string
}

// Basic is client (id, secret) authenticating with HTTP Basic.
func Basic(id, secret string) Cred {
	return Cred{ID: id, Secret: secret, Method: "client_secret_basic"}
}

// Admin is the admin bearer token.
func Admin(token string) Cred { return Cred{Secret: token, Method: MethodAdmin} }

// BasicAuth is an RFC 6749 §2.3.1 Authorization header value: id and
// secret form-encoded, then base64.
func BasicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// Apply puts the credentials on a request's header and its form.
func (c Cred) Apply(h http.Header, form url.Values) {
	switch c.Method {
	case "client_secret_basic":
		h.Set("Authorization", BasicAuth(c.ID, c.Secret))
	case "client_secret_post":
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	case "none":
		form.Set("client_id", c.ID)
	case MethodAdmin:
		h.Set("Authorization", "Bearer "+c.Secret)
	}
}

// Client talks to one hallpass.
type Client struct {
	Issuer string       // paths are relative to it
	HTTP   *http.Client // nil: http.DefaultClient
}

// Post posts form to path (relative to the issuer, or absolute) as who.
func (c Client) Post(t testing.TB, path string, who Cred, form url.Values) Response {
	t.Helper()
	target := path
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		target = c.Issuer + target
	}
	h := http.Header{}
	who.Apply(h, form)
	hr, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	hr.Header = h
	hr.Header.Set("Content-Type", formType)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	return Do(t, hc, hr)
}

// tokenForm is token, with token_type_hint if hint is not "".
func tokenForm(token, hint string) url.Values {
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return form
}

// Token posts form to the token endpoint as who.
func (c Client) Token(t testing.TB, who Cred, form url.Values) Response {
	t.Helper()
	return c.Post(t, provider.PathToken, who, form)
}

// Introspect asks the introspection endpoint about token (with
// token_type_hint if hint is not "") as who.
func (c Client) Introspect(t testing.TB, who Cred, token, hint string) Response {
	t.Helper()
	return c.Post(t, provider.PathIntrospect, who, tokenForm(token, hint))
}

// Revoke asks the revocation endpoint to revoke token as who.
func (c Client) Revoke(t testing.TB, who Cred, token, hint string) Response {
	t.Helper()
	return c.Post(t, provider.PathRevoke, who, tokenForm(token, hint))
}

// MustRevoke revokes token as who, failing the test now unless the answer
// is 200.
func (c Client) MustRevoke(t testing.TB, who Cred, token, hint string) {
	t.Helper()
	if res := c.Revoke(t, who, token, hint); res.Status != http.StatusOK {
		t.Fatalf("revoke: status %d, want 200: %s", res.Status, res.Body)
	}
}

// Introspection returns the introspection answer for token, failing the
// test now unless introspection itself succeeded (200, a JSON object).
func (c Client) Introspection(t testing.TB, who Cred, token, hint string) map[string]any {
	t.Helper()
	res := c.Introspect(t, who, token, hint)
	if res.Status != http.StatusOK {
		t.Fatalf("introspect: status %d: %s", res.Status, res.Body)
	}
	return res.JSON(t)
}

// Active reports whether introspection by who says token is active,
// failing the test now unless introspection succeeds with a boolean
// active.
func (c Client) Active(t testing.TB, who Cred, token string) bool {
	t.Helper()
	m := c.Introspection(t, who, token, "")
	a, ok := m["active"].(bool)
	if !ok {
		t.Fatalf("introspection answer has no boolean active: %v", m)
	}
	return a
}

// WantActive fails the test now unless introspection by who says token is
// active, and returns the answer.
func (c Client) WantActive(t testing.TB, what string, who Cred, token string) map[string]any {
	t.Helper()
	m := c.Introspection(t, who, token, "")
	if m["active"] != true {
		t.Fatalf("%s: introspection says %v, want active", what, m)
	}
	return m
}

// WantInactive fails unless introspection by who answers 200 with a body
// that is exactly {"active": false} (RFC 7662 §2.2: nothing more about a
// token that is not active).
func (c Client) WantInactive(t testing.TB, what string, who Cred, token, hint string) {
	t.Helper()
	CheckInactive(t, what, c.Introspect(t, who, token, hint))
}

// CheckInactive fails unless res is a 200 JSON introspection answer that
// is exactly {"active": false}.
func CheckInactive(t testing.TB, what string, res Response) {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Errorf("%s: introspection status %d, want 200: %s", what, res.Status, res.Body)
		return
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(res.Body, &m); err != nil {
		t.Errorf("%s: introspection body is not a JSON object: %v: %s", what, err, res.Body)
		return
	}
	if !reflect.DeepEqual(m, map[string]any{"active": false}) {
		t.Errorf("%s: introspection answer %s, want exactly {\"active\":false}", what, res.Body)
	}
}

// TokenResponse is a successful token response.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
}

// DecodeToken decodes a token response, failing the test now unless it is
// a 200 with an access token.
func DecodeToken(t testing.TB, res Response) TokenResponse {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("token request: status %d: %s", res.Status, res.Body)
	}
	var tr TokenResponse
	if err := json.Unmarshal(res.Body, &tr); err != nil {
		t.Fatalf("decode token response: %v: %s", err, res.Body)
	}
	if tr.AccessToken == "" {
		t.Fatalf("token response without access_token: %s", res.Body)
	}
	return tr
}
