package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/version"
)

// The version the binary reports is the same in `hallpass version`,
// /healthz and the start log line.
func TestVersionReported(t *testing.T) {
	want := version.Read()
	var out syncBuffer
	if code := run(context.Background(), []string{"version", "-o", "json"}, &out, io.Discard); code != 0 {
		t.Fatalf("version -o json exited %d", code)
	}
	var got version.Info
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil || got != want {
		t.Errorf("version -o json = %q (%v), want %+v", out.String(), err, want)
	}

	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("d", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	in := startServe(t, "--database", "sqlite:v.db")
	resp, err := http.Get(in.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\nversion: "+want.String()+"\n" {
		t.Errorf("/healthz = %d %q, want the version %q", resp.StatusCode, body, want.String())
	}
	if line, _ := json.Marshal(want.String()); !strings.Contains(in.stderr.String(), `"version":`+string(line)) {
		t.Errorf("start log line lacks the version %s:\n%s", line, in.stderr.String())
	}
}
