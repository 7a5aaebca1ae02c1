package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/otlptest"
)

// TestServeExportsSpans: `hallpass serve` with OTEL_EXPORTER_OTLP_ENDPOINT
// set exports a span per request to that collector, and flushes them when
// it stops; without it, serve says nothing of tracing.
func TestServeExportsSpans(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
	col := otlptest.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.URL)

	in := startServe(t)
	res, err := http.Get(in.base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if code := in.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, in.stderr.String())
	}
	var names []string
	for _, s := range col.Spans() {
		names = append(names, s.Name)
		if s.Name == "GET /.well-known/openid-configuration" && s.Service == "hallpass" && s.Attributes["http.response.status_code"] == "200" {
			return
		}
	}
	t.Fatalf("the collector got no span of the discovery request from service hallpass; spans: %q\n%s", names, in.stderr.String())
}
