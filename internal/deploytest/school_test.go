package deploytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
)

// apiAnswer is a school API response, read.
type apiAnswer struct {
	status int
	header http.Header
	body   string
}

func (a apiAnswer) errorCode() string {
	var e struct{ Error string }
	_ = json.Unmarshal([]byte(a.body), &e)
	return e.Error
}

func callAPI(t *testing.T, method, u, token, body string) apiAnswer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// jwtClaims decodes a JWT's payload without verifying it (the API under
// test verifies).
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// students lists whose results an answer of GET /results holds.
func students(t *testing.T, a apiAnswer) []string {
	t.Helper()
	var out struct {
		Results []struct{ Student, Course string }
	}
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		t.Fatalf("GET /results: %v in %s", err, a.body)
	}
	var s []string
	for _, r := range out.Results {
		s = append(s, r.Student)
	}
	return s
}

// TestSchoolAPIWithHallpass runs schoolapi against a real hallpass, with
// tokens from the real sign-in flow: scopes follow roles, the API enforces
// them and its audience, and introspection sees revocation at once.
func TestSchoolAPIWithHallpass(t *testing.T) {
	h := startHallpass(t)

	// A confidential client for schoolapi's introspection calls, speaking
	// for the school API's audience: hallpass answers no one else.
	var introspector struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	h.admin(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_id": "schoolapi", "client_name": "School API", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_basic", "scope": "", "resource_servers": []string{schoolAudience},
	}, http.StatusCreated, &introspector)

	// Another resource server's scope, and a service allowed only that.
	h.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": "library:read", "description": "Read the library catalogue", "audience": "http://library.test"}, http.StatusCreated, nil)
	var library struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	h.admin(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_id": "library-indexer", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_basic", "scope": "library:read",
	}, http.StatusCreated, &library)
	libTok, err := (&clientcredentials.Config{ClientID: library.ClientID, ClientSecret: library.ClientSecret, TokenURL: h.URL + "/oauth2/token"}).Token(context.Background())
	if err != nil {
		t.Fatalf("library token: %v", err)
	}
	if aud := jwtClaims(t, libTok.AccessToken)["aud"]; !strings.Contains(strings.Join(strings.Fields(strings.Trim(jsonString(aud), "[]\"")), " "), "library.test") {
		t.Fatalf("library token aud = %v", aud)
	}

	offline, _ := startSchoolAPI(t, h.URL)
	introspecting, _ := startSchoolAPI(t, h.URL, "SCHOOLAPI_CLIENT_ID="+introspector.ClientID, "SCHOOLAPI_CLIENT_SECRET="+introspector.ClientSecret)

	const scope = "openid profile offline_access results:read results:write schedule:write"
	bob := userToken(t, h, "bob", scope).AccessToken
	alice := userToken(t, h, "alice", scope).AccessToken
	if got := jwtClaims(t, bob)["scope"]; got != "openid profile offline_access results:read" {
		t.Errorf("bob (student) was granted %q", got)
	}
	if c := jwtClaims(t, alice); !strings.Contains(c["scope"].(string), "results:write") || c["username"] != "alice" {
		t.Errorf("alice (teacher) token claims = %v", c)
	}

	const publish = `{"student":"bob","course":"Chemistry","grade":"A"}`
	for _, api := range []struct{ name, url string }{{"offline", offline}, {"introspecting", introspecting}} {
		t.Run(api.name, func(t *testing.T) {
			tests := []struct {
				name, method, path, token, body string
				status                          int
				errCode                         string
			}{
				{"the school page is public", "GET", "/school", "", "", 200, ""},
				{"results need a token", "GET", "/results", "", "", 401, ""}, // RFC 6750 §3.1: no error code
				{"a forged token is refused", "GET", "/results", "eyJhbGciOiJub25lIn0.e30.x", "", 401, "invalid_token"},
				{"another API's token is refused", "GET", "/results", libTok.AccessToken, "", 401, "invalid_token"},
				{"another API's token cannot publish", "POST", "/results", libTok.AccessToken, publish, 401, "invalid_token"},
				{"a student reads", "GET", "/results", bob, "", 200, ""},
				{"a student reads the schedule", "GET", "/schedule", bob, "", 200, ""},
				{"a student cannot publish", "POST", "/results", bob, publish, 403, "insufficient_scope"},
				{"a student cannot set the schedule", "PUT", "/schedule", bob, `[]`, 403, "insufficient_scope"},
				{"a teacher publishes", "POST", "/results", alice, publish, 201, ""},
				{"a teacher's bad result is refused", "POST", "/results", alice, `{"student":"bob","course":"Chemistry","grade":"excellent"}`, 400, "invalid_request"},
				{"a teacher sets the schedule", "PUT", "/schedule", alice, `[{"course":"Chemistry","date":"2026-06-19","start":"09:00","room":"Lab 1"}]`, 200, ""},
			}
			for _, tt := range tests {
				a := callAPI(t, tt.method, api.url+tt.path, tt.token, tt.body)
				if a.status != tt.status || a.errorCode() != tt.errCode {
					t.Errorf("%s: %s %s = %d %s, want %d %q", tt.name, tt.method, tt.path, a.status, a.body, tt.status, tt.errCode)
				}
				if tt.errCode == "insufficient_scope" && !strings.Contains(a.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
					t.Errorf("%s: WWW-Authenticate = %q", tt.name, a.header.Get("WWW-Authenticate"))
				}
			}
			if got := students(t, callAPI(t, "GET", api.url+"/results", bob, "")); len(got) < 3 || slices.ContainsFunc(got, func(s string) bool { return s != "bob" }) {
				t.Errorf("bob sees the results of %v, want only (at least 3 of) his own", got)
			}
			if got := students(t, callAPI(t, "GET", api.url+"/results", alice, "")); !slices.Contains(got, "carol") || !slices.Contains(got, "bob") {
				t.Errorf("alice (teacher) sees the results of %v, want everyone's", got)
			}
		})
	}

	// Revoke every token of the --dev client at hallpass: the introspecting
	// API refuses alice's token on its write routes at once, while offline
	// checks (its reads, and the other API) accept it until it expires.
	h.admin(t, http.MethodPost, "/admin/clients/hallpass-dev/revoke-tokens", nil, http.StatusNoContent, nil)
	if a := callAPI(t, "POST", introspecting+"/results", alice, publish); a.status != 401 || a.errorCode() != "invalid_token" {
		t.Errorf("revoked token on the introspecting write route: %d %s, want 401 invalid_token", a.status, a.body)
	}
	if a := callAPI(t, "GET", introspecting+"/results", alice, ""); a.status != 200 {
		t.Errorf("revoked token on an offline read route: %d %s, want 200 until it expires", a.status, a.body)
	}
	if a := callAPI(t, "POST", offline+"/results", alice, publish); a.status != 201 {
		t.Errorf("revoked token on the offline API: %d %s, want 201 until it expires", a.status, a.body)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestHealthchecks runs the container health checks against live servers:
// 0 when serving, 1 when nothing listens, and a wildcard listen address
// (what the images set) probed on 127.0.0.1.
func TestHealthchecks(t *testing.T) {
	h := startHallpass(t)
	api, apiProc := startSchoolAPI(t, h.URL)
	apiPort := api[strings.LastIndex(api, ":")+1:]
	closed := strconv.Itoa(freePort(t))
	_, hpPort, _ := strings.Cut(h.Addr, ":")

	tests := []struct {
		name string
		bin  string
		env  string
		args []string
		want int
	}{
		{"hallpass ready", "hallpass", "HALLPASS_ADDR=0.0.0.0:" + hpPort, []string{"healthcheck"}, 0},
		{"hallpass --addr", "hallpass", "", []string{"healthcheck", "--addr", h.Addr}, 0},
		{"hallpass down", "hallpass", "HALLPASS_ADDR=127.0.0.1:" + closed, []string{"healthcheck"}, 1},
		{"schoolapi up", "schoolapi", "SCHOOLAPI_ADDR=0.0.0.0:" + apiPort, []string{"-healthcheck"}, 0},
		{"schoolapi down", "schoolapi", "SCHOOLAPI_ADDR=[::]:" + closed, []string{"-healthcheck"}, 1},
		{"demoapp down", "demoapp", "DEMOAPP_ADDR=0.0.0.0:" + closed, []string{"-healthcheck"}, 1},
	}
	for _, tt := range tests {
		cmd := exec.Command(bin(tt.bin), tt.args...)
		cmd.Env = append(cleanEnv(), tt.env)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.want {
			t.Errorf("%s: %s %v exited %d, want %d:\n%s", tt.name, tt.bin, tt.args, code, tt.want, out.String())
		}
	}

	// SIGTERM stops schoolapi gracefully.
	if code := apiProc.stop(t); code != 0 || !strings.Contains(apiProc.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("schoolapi after SIGTERM: exit %d\n%s", code, apiProc.stderr.String())
	}
}
