package provider_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/otlptest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/telemetry"
)

// TestTracingExportsSpans configures tracing through the OTEL_* variables
// alone, runs a sign-in and a token request through the real server, and
// checks what a local OTLP/HTTP collector received: a span per request
// named by its route with status and client_id, child spans for the
// storage statements, the password check and the signature, and the
// request's log line carrying the span's trace and span ids.
func TestTracingExportsSpans(t *testing.T) {
	col := otlptest.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.URL)
	t.Setenv("OTEL_SERVICE_NAME", "hallpass-under-test")
	tp, shutdown, err := telemetry.Setup(t.Context(), func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL, "OTEL_SERVICE_NAME": "hallpass-under-test"}[k]
	})
	if err != nil || tp == nil {
		t.Fatalf("telemetry.Setup = %v, %v; want a tracer provider", tp, err)
	}
	logs := &lockedBuffer{}
	e := newSSOEnv(t, testdb.SQLite(t), func(c *provider.Config) {
		c.TracerProvider = tp
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	b := e.newBrowser(t)
	e.grant(t, b, e.Confidential, "alice", alicePassword, "openid results:read")
	if err := shutdown(t.Context()); err != nil {
		t.Fatalf("flush spans: %v", err)
	}

	spans := col.Spans()
	find := func(name string) otlptest.Span {
		t.Helper()
		for _, s := range spans {
			if s.Name == name {
				return s
			}
		}
		var names []string
		for _, s := range spans {
			names = append(names, s.Name)
		}
		t.Fatalf("no span %q among %q", name, names)
		return otlptest.Span{}
	}
	// descendants are the names of the spans under parent (fosite's own
	// spans come between a request and some of hallpass's).
	var descendants func(parent otlptest.Span) []string
	descendants = func(parent otlptest.Span) []string {
		var out []string
		for _, s := range spans {
			if s.ParentSpanID == parent.SpanID && s.TraceID == parent.TraceID {
				out = append(append(out, s.Name), descendants(s)...)
			}
		}
		return out
	}

	tok := find("POST " + provider.PathToken)
	if tok.Service != "hallpass-under-test" {
		t.Errorf("service.name %q, want OTEL_SERVICE_NAME's", tok.Service)
	}
	for k, want := range map[string]string{"http.route": provider.PathToken, "http.response.status_code": "200", "client_id": confidentialID} {
		if tok.Attributes[k] != want {
			t.Errorf("token request span: %s = %q, want %q (%v)", k, tok.Attributes[k], want, tok.Attributes)
		}
	}
	kids := strings.Join(descendants(tok), ",")
	// The client is read from memory (storage/cached); the code's rows are
	// not.
	if !strings.Contains(kids, "storage SELECT tokens") || !strings.Contains(kids, "sign") {
		t.Errorf("token request's spans %s, want the code's lookup and a signature", kids)
	}
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "storage ") && strings.Contains(s.Attributes["db.statement"], alicePassword) {
			t.Errorf("a storage span holds a password: %v", s.Attributes)
		}
	}
	login := find("POST " + provider.PathLogin)
	if !strings.Contains(strings.Join(descendants(login), ","), "password check") {
		t.Errorf("login's spans %q, want a password check", descendants(login))
	}

	// The token request's log line names its trace and span.
	found := false
	for line := range strings.Lines(logs.String()) {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "request" && l["route"] == provider.PathToken {
			found = l["trace_id"] == tok.TraceID && l["span_id"] == tok.SpanID
			if ua, _ := l["user_agent"].(string); ua == "" || l["client"] != "127.0.0.1" {
				t.Errorf("request log line without client address or user agent: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no request log line for %s with trace_id %s and span_id %s:\n%s", provider.PathToken, tok.TraceID, tok.SpanID, logs.String())
	}
}

// TestTracingSurvivesBadText: a request whose user agent, path or Basic
// client id is not UTF-8 is traced like any other, its text with U+FFFD,
// and the spans exported with it too. The OTLP exporter refuses to encode
// a string attribute that is not UTF-8, and dropped the whole batch: one
// such byte per request hid every request from tracing.
func TestTracingSurvivesBadText(t *testing.T) {
	col := otlptest.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.URL)
	tp, shutdown, err := telemetry.Setup(t.Context(), func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL, "OTEL_SERVICE_NAME": "hallpass-under-test"}[k]
	})
	if err != nil || tp == nil {
		t.Fatalf("telemetry.Setup = %v, %v; want a tracer provider", tp, err)
	}
	ts := newTestServer(t, testdb.SQLite(t), func(c *provider.Config) { c.TracerProvider = tp })
	ts.do(t, req{Path: "/healthz", Header: http.Header{"User-Agent": {"agent \xff"}}})
	ts.do(t, req{Path: "/no/such/%ff"})
	ts.do(t, req{Method: http.MethodPost, Path: provider.PathToken, Auth: "Basic " + b64("\xfe:secret"), ContentType: formType, Body: "grant_type=client_credentials"})
	ts.do(t, req{Path: provider.PathDiscovery})
	if err := shutdown(t.Context()); err != nil {
		t.Fatalf("flush spans: %v", err)
	}
	got := map[string]map[string]string{}
	for _, s := range col.Spans() {
		got[s.Name] = s.Attributes
	}
	for name, attr := range map[string][2]string{
		"GET /healthz":                  {"user_agent.original", "agent \uFFFD"},
		"GET unmatched":                 {"url.path", "/no/such/\uFFFD"},
		"POST unmatched":                {"client_id", "\uFFFD"},
		"GET " + provider.PathDiscovery: {"http.route", provider.PathDiscovery},
	} {
		a, ok := got[name]
		if !ok {
			t.Errorf("no span %q exported (spans: %d)", name, len(got))
			continue
		}
		if a[attr[0]] != attr[1] {
			t.Errorf("span %q: %s = %q, want %q", name, attr[0], a[attr[0]], attr[1])
		}
	}
}
