package provider_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

// TestLogLinesCarryRequestID: every line logged with a request's context
// names its request once, also where the call site did not add it
// (introspection of a token that is not active, at debug level), so an
// operator finds all of a request's lines from its X-Request-Id.
func TestLogLinesCarryRequestID(t *testing.T) {
	logs := &syncBuffer{}
	ts := newTestServer(t, testdb.SQLite(t), func(c *provider.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	svc := ts.registerService(t, "client_secret_basic", "results:read")
	res := ts.do(t, req{Method: http.MethodPost, Path: provider.PathIntrospect, ContentType: formType,
		Auth: basic(svc.ClientID, svc.ClientSecret), Body: "token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"})
	if res.Status != http.StatusOK {
		t.Fatalf("introspect: %d %s", res.Status, res.Body)
	}
	id := res.Header.Get("X-Request-Id")
	found := false
	for _, r := range logs.records(t) {
		if r["msg"] == "introspection: token not active" {
			found = true
			if r["request_id"] != id {
				t.Errorf("introspection's debug line has request_id %v, want %s (X-Request-Id)", r["request_id"], id)
			}
		}
	}
	if !found {
		t.Fatalf("no debug line for the inactive token:\n%s", logs.buf.String())
	}
	for line := range strings.Lines(logs.buf.String()) {
		if n := strings.Count(line, `"request_id"`); n > 1 {
			t.Errorf("a line names request_id %d times: %s", n, line)
		}
	}
}
