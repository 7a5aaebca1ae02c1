//go:build unix

package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

// secondSignalChildEnv, in the environment of this test binary run again
// as a child, makes it run main with the serve command line it holds.
const secondSignalChildEnv = "SECOND_SIGNAL_CHILD"

// TestSecondSignalEndsDrain: a first SIGTERM starts serve's drain, which
// a request still being read holds up; a second SIGTERM ends the process
// at once, where it was caught and ignored until --shutdown-timeout was
// up. main runs in a child process, which the signal kills.
func TestSecondSignalEndsDrain(t *testing.T) {
	if args := os.Getenv(secondSignalChildEnv); args != "" {
		os.Args = append([]string{"hallpass"}, strings.Split(args, "\n")...)
		main()
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondSignalEndsDrain$")
	cmd.Env = append(os.Environ(), secondSignalChildEnv+"="+strings.Join([]string{"serve",
		"--addr", "127.0.0.1:0", "--key-refresh", "0", "--shutdown-timeout", "10m",
		"--database", "sqlite:" + filepath.Join(dir, "hp.db"), "--secret-file", filepath.Join(dir, "secret")}, "\n"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	waitFor := func(msg string) string {
		t.Helper()
		for lines.Scan() {
			if strings.Contains(lines.Text(), msg) {
				return lines.Text()
			}
		}
		t.Fatalf("the child's log ended before %q", msg)
		return ""
	}
	m := addrRE.FindStringSubmatch(waitFor(`"msg":"hallpass serving"`))
	if m == nil {
		t.Fatal("no address in the serving line")
	}
	conn, err := net.Dial("tcp", m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /oauth2/token HTTP/1.1\r\nHost: hallpass\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(`"msg":"shutting down"`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child after a second SIGTERM: %v, want it killed by the signal", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("child after a second SIGTERM: %v, want it killed by SIGTERM", err)
	}
}
