package provider_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

// call sends method path (with the admin token when admin) to base and
// returns the status and the JSON error code, if any.
func call(t *testing.T, base, method, path, body string, admin bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if admin {
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error
}

// With SeparateAdmin, the admin API and /metrics are served on the admin
// handler only: the public one answers them 404 like an unknown path,
// and the admin one serves nothing public. Registration stays public.
func TestSeparateAdminListener(t *testing.T) {
	s := newTestServer(t, testdb.SQLite(t), func(c *provider.Config) { c.SeparateAdmin = true })
	admin := httptest.NewServer(s.Provider.AdminHandler())
	t.Cleanup(admin.Close)
	register := `{"redirect_uris":["https://app.example/cb"],"client_name":"app"}`

	for _, tc := range []struct {
		name               string
		base, method, path string
		body               string
		wantStatus         int
		wantError          string
	}{
		{"admin API not public", s.URL, "GET", "/admin/users", "", http.StatusNotFound, "not_found"},
		{"admin API subpath not public", s.URL, "POST", "/admin/keys/rotate", "{}", http.StatusNotFound, "not_found"},
		{"escaped admin path not public", s.URL, "GET", "/admin/%75sers", "", http.StatusNotFound, "not_found"},
		{"metrics not public", s.URL, "GET", "/metrics", "", http.StatusNotFound, "not_found"},
		{"registration public", s.URL, "POST", provider.PathRegistration, register, http.StatusCreated, ""},
		{"discovery public", s.URL, "GET", provider.PathDiscovery, "", http.StatusOK, ""},
		{"health public", s.URL, "GET", "/healthz", "", http.StatusOK, ""},
		{"admin API on admin", admin.URL, "GET", "/admin/users", "", http.StatusOK, ""},
		{"admin API still needs the token", admin.URL, "GET", "/admin/clients", "", http.StatusUnauthorized, ""},
		{"metrics on admin", admin.URL, "GET", "/metrics", "", http.StatusOK, ""},
		{"health on admin", admin.URL, "GET", "/readyz", "", http.StatusOK, ""},
		{"discovery not on admin", admin.URL, "GET", provider.PathDiscovery, "", http.StatusNotFound, "not_found"},
		{"registration not on admin", admin.URL, "POST", provider.PathRegistration, register, http.StatusNotFound, "not_found"},
		{"token endpoint not on admin", admin.URL, "POST", provider.PathToken, "", http.StatusNotFound, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code := call(t, tc.base, tc.method, tc.path, tc.body, tc.name != "admin API still needs the token")
			if status != tc.wantStatus || (tc.wantError != "" && code != tc.wantError) {
				t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, status, code, tc.wantStatus, tc.wantError)
			}
		})
	}
}

// Without SeparateAdmin everything stays on one listener, as before.
func TestAdminOnPublicByDefault(t *testing.T) {
	s := newTestServer(t, testdb.SQLite(t))
	for _, path := range []string{"/admin/users", "/metrics", provider.PathDiscovery} {
		if status, _ := call(t, s.URL, "GET", path, "", true); status != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, status)
		}
	}
}
