package resource_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hallpass/hallpass/resource"
)

func TestMetadataURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.example":          "https://api.example/.well-known/oauth-protected-resource",
		"https://api.example/":         "https://api.example/.well-known/oauth-protected-resource",
		"https://api.example/v1":       "https://api.example/.well-known/oauth-protected-resource/v1",
		"https://api.example:8443/a/b": "https://api.example:8443/.well-known/oauth-protected-resource/a/b",
		"http://localhost:8081":        "http://localhost:8081/.well-known/oauth-protected-resource",
		"http://127.0.0.1:9/x":         "http://127.0.0.1:9/.well-known/oauth-protected-resource/x",
	} {
		got, err := resource.MetadataURL(in)
		if err != nil || got != want {
			t.Errorf("MetadataURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "api", "/v1", "http://api.example", "https://api.example/?x=1", "https://api.example/#f", "https://u@api.example", "urn:school:api"} {
		if got, err := resource.MetadataURL(bad); err == nil {
			t.Errorf("MetadataURL(%q) = %q, want an error", bad, got)
		}
	}
}

// TestMetadataHandler checks the served document against RFC 9728 §2:
// every member with its JSON type, bearer_methods_supported defaulting to
// the one method the middleware takes, and a document that could mislead
// clients refused when the handler is made.
func TestMetadataHandler(t *testing.T) {
	h, err := resource.MetadataHandler(resource.Metadata{Resource: schoolAPI, AuthorizationServers: []string{"https://id.example"}, ScopesSupported: []string{"results:read"}, ResourceName: "School API"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource/api", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("status %d, headers %v", rec.Code, rec.Header())
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{"resource": "string", "authorization_servers": "array", "scopes_supported": "array", "bearer_methods_supported": "array", "resource_name": "string"}
	for name, v := range doc {
		want, ok := types[name]
		if !ok {
			t.Errorf("member %s is not one this test knows from RFC 9728 §2", name)
			continue
		}
		_, isStr := v.(string)
		_, isArr := v.([]any)
		if (want == "string" && !isStr) || (want == "array" && !isArr) {
			t.Errorf("%s = %v, want a JSON %s", name, v, want)
		}
	}
	if doc["resource"] != schoolAPI {
		t.Errorf("resource = %v", doc["resource"])
	}
	if m, _ := doc["bearer_methods_supported"].([]any); len(m) != 1 || m[0] != "header" {
		t.Errorf("bearer_methods_supported = %v, want [header]", doc["bearer_methods_supported"])
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
	for name, m := range map[string]resource.Metadata{
		"no resource":           {},
		"resource with query":   {Resource: schoolAPI + "?x"},
		"relative AS":           {Resource: schoolAPI, AuthorizationServers: []string{"/as"}},
		"unknown bearer method": {Resource: schoolAPI, BearerMethodsSupported: []string{"cookie"}},
		"bad scope":             {Resource: schoolAPI, ScopesSupported: []string{"a b"}},
	} {
		if _, err := resource.MetadataHandler(m); err == nil {
			t.Errorf("%s: MetadataHandler accepted %+v", name, m)
		}
	}
}

// TestDiscoverFromChallenge is a client that knows only the API's URL: it
// meets a 401 whose challenge names the API's metadata (RFC 9728 §5.1),
// reads there which authorization server to use, finds its token endpoint
// in RFC 8414 metadata, gets a token for the API (RFC 8707 resource) with
// golang.org/x/oauth2, and is let in.
func TestDiscoverFromChallenge(t *testing.T) {
	h := newSchool(t)
	mdURL, err := resource.MetadataURL(schoolAPI)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, h, newRecorder(h.HTTP.Transport), func(c *resource.Config) { c.ResourceMetadataURL = mdURL })
	md, err := resource.MetadataHandler(resource.Metadata{Resource: schoolAPI, AuthorizationServers: []string{h.URL}, ScopesSupported: []string{"results:read", "results:write"}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /results", v.Middleware(resource.RequireScope("results:read")(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`[]`))
	}))))
	u, _ := url.Parse(mdURL)
	mux.Handle("GET "+u.Path, md)
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)

	res := h.do(t, api.Client(), http.MethodGet, api.URL+"/results", "", "", nil)
	if res.Status != http.StatusUnauthorized {
		t.Fatalf("without a token: status %d", res.Status)
	}
	// No authentication information: the realm and where to learn more,
	// and no error code or other error information (RFC 6750 §3.1).
	if want := `Bearer realm="` + schoolAPI + `", resource_metadata="` + mdURL + `"`; res.Header.Get("WWW-Authenticate") != want || len(res.Body) != 0 {
		t.Errorf("without a token: WWW-Authenticate = %q, body %q; want %q and no body", res.Header.Get("WWW-Authenticate"), res.Body, want)
	}
	m := regexp.MustCompile(`resource_metadata="([^"]+)"`).FindStringSubmatch(res.Header.Get("WWW-Authenticate"))
	if m == nil || m[1] != mdURL {
		t.Fatalf("WWW-Authenticate = %q, want resource_metadata=%q", res.Header.Get("WWW-Authenticate"), mdURL)
	}
	// The API's host is school.example; here it is the test server.
	found, _ := url.Parse(m[1])
	var meta struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	h.decode(t, h.do(t, api.Client(), http.MethodGet, api.URL+found.Path, "", "", nil), &meta)
	if meta.Resource != schoolAPI || len(meta.AuthorizationServers) != 1 {
		t.Fatalf("metadata = %+v", meta)
	}
	var as struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	h.decode(t, h.do(t, nil, http.MethodGet, meta.AuthorizationServers[0]+"/.well-known/oauth-authorization-server", "", "", nil), &as)
	if as.Issuer != meta.AuthorizationServers[0] || as.TokenEndpoint == "" {
		t.Fatalf("authorization server metadata = %+v", as)
	}
	cc := clientcredentials.Config{ClientID: h.ServiceID, ClientSecret: h.ServiceSecret, TokenURL: as.TokenEndpoint, Scopes: []string{"results:read"}, EndpointParams: url.Values{"resource": {meta.Resource}}}
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, h.HTTP))
	if err != nil {
		t.Fatal(err)
	}
	res = h.do(t, api.Client(), http.MethodGet, api.URL+"/results", "", "", bearer(tok.AccessToken))
	if res.Status != http.StatusOK {
		t.Fatalf("with the token: status %d: %s", res.Status, res.Body)
	}
}
