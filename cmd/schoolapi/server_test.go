package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/resource"
)

// The handlers behind fake authentication: testClaims puts the claims of a
// named caller in the context, as resource's middleware would for a real
// token (real tokens: internal/deploytest).
var testCallers = map[string]*resource.Claims{
	"bob": {Subject: "u-bob", Username: "bob", Roles: []string{"student"}, Scopes: []string{"openid", "results:read"}},
	"alice": {Subject: "u-alice", Username: "alice", Roles: []string{"teacher"}, Scopes: []string{"results:read", "results:write", "schedule:write"},
		ACR: "urn:hallpass:acr:mfa", AMR: []string{"pwd", "otp", "mfa"}},
	// alice-pwd is alice signed in with her password alone.
	"alice-pwd": {Subject: "u-alice", Username: "alice", Roles: []string{"teacher"}, Scopes: []string{"results:read", "results:write", "schedule:write"},
		ACR: "urn:hallpass:acr:pwd", AMR: []string{"pwd"}},
	"service": {Subject: "svc", ClientID: "svc", Scopes: []string{"results:read", "results:write"}},
	"nobody":  {Subject: "u-x", Username: "x", Scopes: []string{"openid"}},
}

// testAuth accepts the caller named by X-Test-Caller; without one it
// answers 401, the status the real middleware answers without a token
// (its answer has no body, only the bare challenge; this one's error code
// lets the table below name the refusal).
func testAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := testCallers[r.Header.Get("X-Test-Caller")]
		if !ok {
			writeError(w, http.StatusUnauthorized, "unauthorized", "no token")
			return
		}
		next.ServeHTTP(w, r.WithContext(resource.NewContext(r.Context(), c)))
	})
}

func newTestServer(t *testing.T) http.Handler {
	t.Helper()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	return newServer(serverConfig{Read: testAuth, Write: testAuth, Now: func() time.Time { return now }})
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, h http.Handler, method, path, caller, contentType, body string) answer {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), method, path, strings.NewReader(body))
	if caller != "" {
		req.Header.Set("X-Test-Caller", caller)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw, _ := io.ReadAll(rec.Body)
	a := answer{status: rec.Code, header: rec.Header(), raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func TestRoutes(t *testing.T) {
	const js = "application/json"
	bigResult := `{"student":"bob","course":"` + strings.Repeat("x", maxBody) + `","grade":"A"}`
	tests := []struct {
		name, method, path, caller, ctype, body string
		status                                  int
		errCode                                 string
	}{
		{"school is public", "GET", "/school", "", "", "", 200, ""},
		{"healthz is public", "GET", "/healthz", "", "", "", 200, ""},
		{"results need a token", "GET", "/results", "", "", "", 401, "unauthorized"},
		{"results need results:read", "GET", "/results", "nobody", "", "", 403, "insufficient_scope"},
		{"a student reads", "GET", "/results", "bob", "", "", 200, ""},
		{"a student cannot publish", "POST", "/results", "bob", js, `{"student":"bob","course":"Art","grade":"A"}`, 403, "insufficient_scope"},
		{"a teacher publishes", "POST", "/results", "alice", js, `{"student":"bob","course":"Art","grade":"A+"}`, 201, ""},
		{"a service with results:write publishes", "POST", "/results", "service", js, `{"student":"carol","course":"Art","grade":"C"}`, 201, ""},
		{"grade is checked", "POST", "/results", "alice", js, `{"student":"bob","course":"Art","grade":"Z"}`, 400, "invalid_request"},
		{"student is checked", "POST", "/results", "alice", js, `{"student":"bob smith","course":"Art","grade":"A"}`, 400, "invalid_request"},
		{"course is required", "POST", "/results", "alice", js, `{"student":"bob","course":" ","grade":"A"}`, 400, "invalid_request"},
		{"control characters refused", "POST", "/results", "alice", js, `{"student":"bob","course":"Art\u0007","grade":"A"}`, 400, "invalid_request"},
		{"unknown fields refused", "POST", "/results", "alice", js, `{"student":"bob","course":"Art","grade":"A","extra":1}`, 400, "invalid_request"},
		{"two JSON values refused", "POST", "/results", "alice", js, `{"student":"bob","course":"Art","grade":"A"}{}`, 400, "invalid_request"},
		{"malformed JSON", "POST", "/results", "alice", js, `{"student":`, 400, "invalid_request"},
		{"JSON only", "POST", "/results", "alice", "text/plain", `{"student":"bob","course":"Art","grade":"A"}`, 415, "invalid_request"},
		{"body size capped", "POST", "/results", "alice", js, bigResult, 413, "invalid_request"},
		{"a student reads the schedule", "GET", "/schedule", "bob", "", "", 200, ""},
		{"a student cannot set the schedule", "PUT", "/schedule", "bob", js, `[]`, 403, "insufficient_scope"},
		{"a service without schedule:write cannot", "PUT", "/schedule", "service", js, `[]`, 403, "insufficient_scope"},
		{"a teacher without a second factor cannot set the schedule", "PUT", "/schedule", "alice-pwd", js, `[]`, 403, "insufficient_user_authentication"},
		{"a teacher without a second factor still publishes", "POST", "/results", "alice-pwd", js, `{"student":"bob","course":"Art","grade":"B"}`, 201, ""},
		{"a teacher sets the schedule", "PUT", "/schedule", "alice", js, `[{"course":"Art","date":"2026-06-20","start":"10:00","room":"C3"}]`, 200, ""},
		{"an empty schedule is a schedule", "PUT", "/schedule", "alice", js, `[]`, 200, ""},
		{"the schedule must be a list", "PUT", "/schedule", "alice", js, `null`, 400, "invalid_request"},
		{"exam date checked", "PUT", "/schedule", "alice", js, `[{"course":"Art","date":"20 June","start":"10:00"}]`, 400, "invalid_request"},
		{"exam start checked", "PUT", "/schedule", "alice", js, `[{"course":"Art","date":"2026-06-20","start":"25:00"}]`, 400, "invalid_request"},
		{"too many exams", "PUT", "/schedule", "alice", js, "[" + strings.Repeat(`{"course":"A","date":"2026-06-20","start":"10:00"},`, maxExams) + `{"course":"A","date":"2026-06-20","start":"10:00"}]`, 400, "invalid_request"},
		{"unknown path", "GET", "/nope", "", "", "", 404, "not_found"},
		{"wrong method", "DELETE", "/results", "alice", "", "", 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, newTestServer(t), tt.method, tt.path, tt.caller, tt.ctype, tt.body)
			if a.status != tt.status {
				t.Fatalf("%s %s as %q = %d %s, want %d", tt.method, tt.path, tt.caller, a.status, a.raw, tt.status)
			}
			if got, _ := a.body["error"].(string); got != tt.errCode {
				t.Errorf("error = %q, want %q (%s)", got, tt.errCode, a.raw)
			}
			if tt.errCode == "insufficient_user_authentication" {
				if h := a.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_user_authentication"`) || !strings.Contains(h, `acr_values="urn:hallpass:acr:mfa"`) {
					t.Errorf("WWW-Authenticate = %q, want an RFC 9470 challenge naming the acr", h)
				}
			}
			if tt.status >= 400 && a.header.Get("Content-Type") != "application/json" {
				t.Errorf("error Content-Type = %q, want JSON", a.header.Get("Content-Type"))
			}
		})
	}
}

func results(t *testing.T, h http.Handler, caller string) []Result {
	t.Helper()
	a := do(t, h, "GET", "/results", caller, "", "")
	if a.status != http.StatusOK {
		t.Fatalf("GET /results as %s = %d %s", caller, a.status, a.raw)
	}
	var out struct{ Results []Result }
	if err := json.Unmarshal([]byte(a.raw), &out); err != nil {
		t.Fatal(err)
	}
	return out.Results
}

func TestWhoSeesWhichResults(t *testing.T) {
	h := newTestServer(t)
	a := do(t, h, "POST", "/results", "alice", "application/json", `{"student":"  carol ","course":"Physics","grade":"B"}`)
	if a.status != http.StatusCreated || a.body["student"] != "carol" || a.body["published_by"] != "alice" || a.header.Get("Location") == "" {
		t.Fatalf("publish = %d %s", a.status, a.raw)
	}
	all := results(t, h, "alice")
	if len(all) != 4 {
		t.Errorf("a teacher sees %d results, want all 4: %+v", len(all), all)
	}
	bobs := results(t, h, "bob")
	if len(bobs) != 2 {
		t.Errorf("bob sees %d results, want his 2: %+v", len(bobs), bobs)
	}
	for _, r := range bobs {
		if r.Student != "bob" {
			t.Errorf("bob sees %s's result: %+v", r.Student, r)
		}
	}
	if svc := results(t, h, "service"); len(svc) != 0 {
		t.Errorf("a token without a user and without the teacher role sees %+v, want none", svc)
	}

	do(t, h, "POST", "/results", "service", "application/json", `{"student":"bob","course":"Art","grade":"C"}`)
	if got := results(t, h, "bob"); len(got) != 3 || got[2].PublishedBy != "svc" {
		t.Errorf("after a service published for bob: %+v", got)
	}
}

func TestScheduleRoundTrip(t *testing.T) {
	h := newTestServer(t)
	body := `[{"course":"Art","date":"2026-06-20","start":"10:00","room":"C3"},{"course":"Music","date":"2026-06-21","start":"09:15"}]`
	if a := do(t, h, "PUT", "/schedule", "alice", "application/json; charset=utf-8", body); a.status != http.StatusOK {
		t.Fatalf("PUT = %d %s", a.status, a.raw)
	}
	a := do(t, h, "GET", "/schedule", "bob", "", "")
	var got struct{ Exams []Exam }
	if err := json.Unmarshal([]byte(a.raw), &got); err != nil || len(got.Exams) != 2 || got.Exams[1] != (Exam{Course: "Music", Date: "2026-06-21", Start: "09:15"}) {
		t.Fatalf("GET /schedule = %s, %v", a.raw, err)
	}
}

func TestRequestLog(t *testing.T) {
	var logs bytes.Buffer
	log, err := newLogger("info", &logs)
	if err != nil {
		t.Fatal(err)
	}
	h := newServer(serverConfig{Read: testAuth, Write: testAuth, Logger: log})
	req := httptest.NewRequest("GET", "/results?secret=do-not-log", nil)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if s := logs.String(); !strings.Contains(s, `"path":"/results"`) || !strings.Contains(s, `"status":401`) || strings.Contains(s, "do-not-log") {
		t.Errorf("request log = %s", s)
	}
	if _, err := newLogger("loud", io.Discard); err == nil {
		t.Error("an unknown log level was accepted")
	}
}

// TestMetadata checks that the API serves its RFC 9728 metadata where
// the challenges of its verifier point (resource.MetadataURL of its
// audience), naming hallpass and the scopes it checks.
func TestMetadata(t *testing.T) {
	c := &config{audience: "http://localhost:8081", issuer: "http://localhost:8080"}
	md, path, err := metadata(c)
	if err != nil {
		t.Fatal(err)
	}
	if path != "/.well-known/oauth-protected-resource" {
		t.Errorf("path = %q", path)
	}
	h := newServer(serverConfig{Read: testAuth, Write: testAuth, Metadata: md, MetadataPath: path})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
		BearerMethods        []string `json:"bearer_methods_supported"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if doc.Resource != c.audience || len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != c.issuer ||
		len(doc.ScopesSupported) != 3 || len(doc.BearerMethods) != 1 || doc.BearerMethods[0] != "header" {
		t.Errorf("metadata = %+v", doc)
	}
	// An audience that is no URL has no metadata, and the API still runs.
	if _, _, err := metadata(&config{audience: "school-api", issuer: c.issuer}); err == nil {
		t.Error("metadata for audience school-api: want an error")
	}
}
