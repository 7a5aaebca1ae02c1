package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestServeClosesProviderOnError checks that serve stops the provider's
// back-channel logout worker also when serving ends in an error: here a
// request still being read when --shutdown-timeout is up.
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
	// A first request answered proves the server serves the connection;
	// the second, whose body never ends, keeps its handler busy when the
	// shutdown begins.
	if _, err := conn.Write([]byte("GET /.well-known/openid-configuration HTTP/1.1\r\nHost: hallpass\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := conn.Write([]byte("POST /oauth2/token HTTP/1.1\r\nHost: hallpass\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if code := in.stop(); code != 1 {
		t.Fatalf("serve exited with %d, want 1 (shutdown timed out):\n%s", code, in.stderr.String())
	}
	// The request cut off has its connection closed, and the failure is
	// a JSON log line like every other line serve writes.
	if _, err := br.ReadByte(); err == nil {
		t.Error("the connection of the request still running at the shutdown's end is open")
	}
	cutOff := false
	for _, line := range strings.Split(strings.TrimSpace(in.stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("serve wrote a line that is not JSON: %q", line)
			continue
		}
		if rec["level"] == "ERROR" && strings.Contains(fmt.Sprint(rec["err"]), "cut off") {
			cutOff = true
		}
	}
	if !cutOff {
		t.Errorf("no ERROR line saying the requests were cut off:\n%s", in.stderr.String())
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
