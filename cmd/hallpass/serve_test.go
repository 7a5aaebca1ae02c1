package main

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestServeClosesProviderOnError checks that serve stops the provider's
// back-channel logout worker also when serving ends in an error: here a
// connection still open when --shutdown-timeout is up.
func TestServeClosesProviderOnError(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("d", 40))
	before := logoutWorkers()
	in := startServe(t, "--shutdown-timeout", "100ms", "--database", "sqlite:close.db")
	if n := logoutWorkers(); n != before+1 {
		t.Fatalf("%d back-channel logout workers while serving, want %d", n, before+1)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(in.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A request whose headers never end: the server has the connection
	// (a new one counts as busy for 5 seconds) when the shutdown begins.
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if code := in.stop(); code != 1 {
		t.Fatalf("serve exited with %d, want 1 (shutdown timed out):\n%s", code, in.stderr.String())
	}
	deadline := time.Now().Add(2 * time.Second)
	for logoutWorkers() != before {
		if time.Now().After(deadline) {
			t.Fatalf("%d back-channel logout workers after serve failed, want %d: the provider was not closed", logoutWorkers(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logoutWorkers counts the goroutines running a back-channel logout
// worker, in this process.
func logoutWorkers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "provider.(*backchannel).run(")
		}
		buf = make([]byte, 2*len(buf))
	}
}
