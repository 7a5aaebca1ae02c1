package provider_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// testAdminToken is the admin bearer token of every test server.
const testAdminToken = "hallpass-test-admin-token-6c1f0e2a9b"

// testServer is a fully wired hallpass behind an httptest.Server whose URL
// is the issuer, on a fresh database of its own.
type testServer struct {
	*hallpasstest.Server
}

// newTestServer starts hallpass on the database dsn names (see
// testdb.Backends), as cmd/hallpass's newServer wires it (through
// provider.Assemble). opts may adjust the Config before New.
func newTestServer(t testing.TB, dsn string, opts ...func(*provider.Config)) *testServer {
	t.Helper()
	return startTestServer(t, dsn, hallpasstest.Options{}, opts...)
}

// startTestServer is newTestServer with the harness's options o (the
// admin token is always testAdminToken).
func startTestServer(t testing.TB, dsn string, o hallpasstest.Options, opts ...func(*provider.Config)) *testServer {
	t.Helper()
	o.AdminToken = testAdminToken
	o.Config = func(c *provider.Config) {
		for _, o := range opts {
			o(c)
		}
	}
	return &testServer{hallpasstest.Start(t, dsn, o)}
}

// forEachBackend runs f as a subtest per storage backend, each with a DSN
// of a fresh, empty database.
func forEachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) { f(t, b.DSN(t)) })
	}
}

// result is a response with its body read.
type result = oauthtest.Response

// req describes one HTTP request to the test server.
type req struct {
	Method      string
	Path        string // relative to the issuer (or absolute), may carry a query
	ContentType string
	Body        string
	Auth        string      // the Authorization header, if any
	Header      http.Header // extra headers
}

// do sends rq and reads the whole response.
func (ts *testServer) do(t testing.TB, rq req) result {
	t.Helper()
	if rq.Method == "" {
		rq.Method = http.MethodGet
	}
	target := rq.Path
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		target = ts.URL + target
	}
	hr, err := http.NewRequest(rq.Method, target, strings.NewReader(rq.Body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, vs := range rq.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if rq.ContentType != "" {
		hr.Header.Set("Content-Type", rq.ContentType)
	}
	if rq.Auth != "" {
		hr.Header.Set("Authorization", rq.Auth)
	}
	return oauthtest.Do(t, ts.HTTP, hr)
}

// admin sends an admin API request with the admin token; body is sent as
// is when it is a string, JSON-encoded otherwise (nil sends nothing).
func (ts *testServer) admin(t *testing.T, method, path string, body any) result {
	t.Helper()
	rq := req{Method: method, Path: path, Auth: "Bearer " + ts.AdminToken}
	switch b := body.(type) {
	case nil:
	case string:
		rq.Body, rq.ContentType = b, "application/json"
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		rq.Body, rq.ContentType = string(enc), "application/json"
	}
	return ts.do(t, rq)
}

// register creates a client through RFC 7591 dynamic registration with the
// admin token as initial access token, failing the test unless it is
// created.
func (ts *testServer) register(t testing.TB, m directory.ClientMetadata) directory.ClientMetadata {
	t.Helper()
	enc, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encode metadata: %v", err)
	}
	res := ts.do(t, req{
		Method: http.MethodPost, Path: provider.PathRegistration,
		ContentType: "application/json", Body: string(enc),
		Auth: "Bearer " + ts.AdminToken,
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("register: status %d, want 201: %s", res.Status, res.Body)
	}
	var out directory.ClientMetadata
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("decode registration response: %v", err)
	}
	if out.ClientID == "" {
		t.Fatalf("registration response has no client_id: %s", res.Body)
	}
	if m.TokenEndpointAuthMethod != "none" && out.ClientSecret == "" {
		t.Fatalf("registration response has no client_secret: %s", res.Body)
	}
	return out
}

// registerService registers a client_credentials client with scope and
// audience.
func (ts *testServer) registerService(t testing.TB, authMethod, scope string, audience ...string) directory.ClientMetadata {
	t.Helper()
	return ts.register(t, directory.ClientMetadata{
		ClientName:              "service",
		GrantTypes:              []string{"client_credentials"},
		TokenEndpointAuthMethod: authMethod,
		Scope:                   scope,
		Audience:                audience,
	})
}

// registerResourceServer creates, through the admin API (the only way to
// set resource_servers), a client_credentials client allowed scope that
// speaks for the resource servers resources: it may introspect the access
// tokens whose aud names one of them.
func (ts *testServer) registerResourceServer(t testing.TB, authMethod, scope string, resources ...string) directory.ClientMetadata {
	t.Helper()
	enc, err := json.Marshal(directory.ClientMetadata{
		ClientName: "resource server", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: authMethod, Scope: scope, ResourceServers: resources,
	})
	if err != nil {
		t.Fatalf("encode metadata: %v", err)
	}
	res := ts.do(t, req{Method: http.MethodPost, Path: "/admin/clients", ContentType: "application/json", Body: string(enc), Auth: "Bearer " + ts.AdminToken})
	if res.Status != http.StatusCreated {
		t.Fatalf("create resource server client: status %d: %s", res.Status, res.Body)
	}
	var out directory.ClientMetadata
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("decode client: %v", err)
	}
	if !slices.Equal(out.ResourceServers, resources) && len(resources) > 0 {
		t.Fatalf("created client serves %q, want %q", out.ResourceServers, resources)
	}
	return out
}

// clientCredentials is a golang.org/x/oauth2 client-credentials config for
// a client of this server.
func (ts *testServer) clientCredentials(id, secret string, style oauth2.AuthStyle, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     id,
		ClientSecret: secret,
		TokenURL:     ts.URL + provider.PathToken,
		Scopes:       scopes,
		AuthStyle:    style,
	}
}

// ctx is a context whose HTTP client is the test server's.
func (ts *testServer) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, ts.HTTP)
}

// token gets an access token for a client_secret_basic client, failing the
// test if it cannot.
func (ts *testServer) token(t *testing.T, id, secret string, scopes ...string) *oauth2.Token {
	t.Helper()
	tok, err := ts.clientCredentials(id, secret, oauth2.AuthStyleInHeader, scopes...).Token(ts.ctx())
	if err != nil {
		t.Fatalf("client credentials token for %s: %v", id, err)
	}
	return tok
}

// basic is an RFC 6749 §2.3.1 Authorization header value.
func basic(id, secret string) string { return oauthtest.BasicAuth(id, secret) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// clients returns every stored client, straight from the store.
func (ts *testServer) clients(t *testing.T) []storage.Client {
	t.Helper()
	cs, err := ts.Store.ListClients(context.Background())
	if err != nil {
		t.Fatalf("list clients: %v", err)
	}
	return cs
}

// assertClientsUnchanged fails the test if the stored clients differ from
// before (secret digests and timestamps included).
func (ts *testServer) assertClientsUnchanged(t *testing.T, before []storage.Client) {
	t.Helper()
	after := ts.clients(t)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("stored clients changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

// metric returns the value of the sample of name whose labels are exactly
// labels (rendered as in the text exposition format, e.g.
// `grant_type="client_credentials"`; "" for none), and whether it exists.
func (ts *testServer) metric(t *testing.T, name, labels string) (float64, bool) {
	t.Helper()
	res := ts.do(t, req{Path: "/metrics"})
	if res.Status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", res.Status)
	}
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(bytes.NewReader(res.Body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		series, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || series != want {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric %s: value %q: %v", want, value, err)
		}
		return v, true
	}
	return 0, false
}

// assertError checks an RFC 6749-style error response: status, JSON error
// code (one of codes) and a non-empty description.
func assertError(t *testing.T, res result, status int, codes ...string) {
	t.Helper()
	if res.Status != status && res.Status < 400 {
		t.Errorf("status = %d, want %d: the request was accepted; body %.120s…", res.Status, status, res.Body)
		return
	}
	if res.Status != status {
		t.Errorf("status = %d, want %d; body %s", res.Status, status, res.Body)
	}
	if res.Status >= 500 {
		t.Errorf("server error %d: %s", res.Status, res.Body)
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Errorf("error body is not JSON: %v: %q", err, res.Body)
		return
	}
	ok := false
	for _, c := range codes {
		ok = ok || body.Error == c
	}
	if !ok {
		t.Errorf("error = %q, want one of %q; body %s", body.Error, codes, res.Body)
	}
	if body.Description == "" {
		t.Errorf("error_description is empty; body %s", res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}
