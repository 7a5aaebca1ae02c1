package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the binaries TestMain built; it is set once, before any
// test runs, and only read after.
var binDir string

// repoRoot is the module root, relative to this package.
const repoRoot = "../.."

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hallpass-deploytest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploytest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploytest: the go command is needed to build the binaries:", err)
		return 1
	}
	build := exec.Command(goBin, "build", "-o", dir+string(os.PathSeparator), "./cmd/hallpass", "./cmd/schoolapi", "./cmd/demoapp")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "deploytest: go build: %v\n%s", err, out)
		return 1
	}
	binDir = dir
	return m.Run()
}

// bin returns the path of a built binary.
func bin(name string) string { return filepath.Join(binDir, name) }

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is one binary running as a child process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	once   sync.Once
	code   int
}

// cleanEnv is the test's environment without any setting of the three
// binaries, so that nothing from the caller's shell leaks in.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HALLPASS_") || strings.HasPrefix(kv, "SCHOOLAPI_") || strings.HasPrefix(kv, "DEMOAPP_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// start runs a built binary with env added to a clean environment; it is
// stopped (SIGTERM, then killed) when the test ends.
func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin(name), args...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Dir = t.TempDir()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, p.stdout.String(), name, p.stderr.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for the process to end (killing it after
// 15s), and returns its exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop within 15s of SIGTERM; killing it", p.name)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p.code
}

// waitLog polls the process's stderr until re matches, and returns the
// submatches; it fails if the process exits first or 30s pass.
func (p *proc) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %s within 30s:\n%s", p.name, re, p.stderr.String())
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited with %d before logging %s:\n%s", p.name, p.code, re, p.stderr.String())
		case <-tick.C:
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// For servers whose own URL must be known before they start (an issuer, a
// redirect URI); the others listen on port 0 and log the port they got.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

const (
	testAdminToken = "deploytest-admin-token-0123456789abcdef"
	testSecret     = "deploytest-secret-0123456789abcdefghijklmnop"
	// schoolAudience is the audience --dev gives the school scopes, which
	// schoolapi expects by default.
	schoolAudience = "http://localhost:8081"
)

// hallpass is a `hallpass serve --dev` process.
type hallpass struct {
	*proc
	URL       string
	Addr      string
	Passwords map[string]string // of the users --dev made
}

// startHallpass runs `hallpass serve --dev` on a free port, its issuer
// http://127.0.0.1:PORT, with a fresh SQLite database; extra adds settings.
func startHallpass(t *testing.T, extra ...string) *hallpass {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	h := &hallpass{URL: "http://" + addr, Addr: addr, Passwords: map[string]string{}}
	env := append([]string{
		"HALLPASS_ADDR=" + addr,
		"HALLPASS_ISSUER=" + h.URL,
		"HALLPASS_DATABASE=sqlite:" + filepath.Join(t.TempDir(), "hallpass.db"),
		"HALLPASS_SECRET=" + testSecret,
		"HALLPASS_ADMIN_TOKEN=" + testAdminToken,
		"HALLPASS_KEY_REFRESH=0",
	}, extra...)
	h.proc = start(t, "hallpass", env, "serve", "--dev")
	h.waitLog(t, regexp.MustCompile(`"msg":"hallpass serving"`))
	// stdout and stderr are copied by separate goroutines, so the seed's
	// printout may land after the log line that follows it.
	passwords := regexp.MustCompile(`(?m)(alice|bob)\s+\((?:teacher|student)\)\s+password (\S+)`)
	for deadline := time.Now().Add(10 * time.Second); len(passwords.FindAllString(h.stdout.String(), -1)) < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range passwords.FindAllStringSubmatch(h.stdout.String(), -1) {
		h.Passwords[m[1]] = m[2]
	}
	if len(h.Passwords) != 2 {
		t.Fatalf("--dev printed no passwords for alice and bob:\n%s", h.stdout.String())
	}
	return h
}

// admin calls hallpass's admin API and decodes the JSON answer into out
// (when not nil), failing the test unless the status is want.
func (h *hallpass) admin(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, h.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// startSchoolAPI runs schoolapi for issuer on a port of its choosing and
// returns its base URL.
func startSchoolAPI(t *testing.T, issuer string, extra ...string) (string, *proc) {
	t.Helper()
	env := append([]string{"SCHOOLAPI_ADDR=127.0.0.1:0", "SCHOOLAPI_ISSUER=" + issuer}, extra...)
	p := start(t, "schoolapi", env)
	m := p.waitLog(t, regexp.MustCompile(`"msg":"schoolapi serving","addr":"([^"]+)"`))
	return "http://" + m[1], p
}
