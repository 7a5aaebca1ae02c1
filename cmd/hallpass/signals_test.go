//go:build unix

package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeSurvivesSIGHUP: a SIGHUP (an operator expecting a reload, a
// closed terminal) neither ends serve nor drops requests: it is logged as
// ignored and the server answers on; SIGTERM's drain stays the way to stop.
// Without the handler Go ends the process, this test binary included.
func TestServeSurvivesSIGHUP(t *testing.T) {
	chdirTemp(t)
	in := startServe(t)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatalf("send SIGHUP: %v", err)
	}
	if !eventually(10*time.Second, func() bool { return strings.Contains(in.stderr.String(), "received SIGHUP") }) {
		t.Fatalf("no log line says the SIGHUP was received:\n%s", in.stderr.String())
	}
	resp, err := http.Get(in.base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz after SIGHUP: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz after SIGHUP: %d, want 200", resp.StatusCode)
	}
	if code := in.stop(); code != 0 {
		t.Errorf("serve exited %d after SIGHUP and a stop, want 0:\n%s", code, in.stderr.String())
	}
}
