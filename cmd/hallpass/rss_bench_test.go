package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// concurrentLogins is how many fresh sign-ins each round sends at once.
const concurrentLogins = 64

// peakRSSLimitMB is what the default bound on password checks must keep
// the server's peak memory under during a round, on machines with few
// enough CPUs that the bound itself allows it (each check takes 19 MiB).
const peakRSSLimitMB = 150

// BenchmarkLoginPeakRSS measures the memory of a real hallpass under
// concurrentLogins fresh sign-ins at once: it builds the binary, runs
// `hallpass serve --dev` as a child process (memory measured in-process
// would include the test harness), creates that many users through the
// admin API, and in every iteration opens a login page for each user, in
// a browser of its own, then submits them all together. Each login's argon2id check takes 19 MiB; the peak resident
// set of the child (VmHWM in /proc/PID/status) is reported as peak-MB.
// Logins answered 503 (no password check could start within 2 s) are
// retried after Retry-After, as a user would, and counted as 503s/op.
//
// The "default" case uses the default bound (the number of CPUs) and
// fails above peakRSSLimitMB where that bound is at most 4; "unbounded"
// lets every login check its password at once, as hallpass did before
// the bound, for comparison (it needs about 1.5 GB).
//
//	go test -run '^$' -bench LoginPeakRSS/default -benchtime 3x ./cmd/hallpass
func BenchmarkLoginPeakRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the child's peak memory from /proc")
	}
	bin := buildHallpass(b)
	b.Run("default", func(b *testing.B) {
		peak := benchLogins(b, bin)
		if runtime.NumCPU() <= 4 && peak > peakRSSLimitMB {
			b.Errorf("peak RSS %.0f MB under %d concurrent logins with %d password checks at once, want at most %d MB", peak, concurrentLogins, runtime.NumCPU(), peakRSSLimitMB)
		}
	})
	b.Run("unbounded", func(b *testing.B) {
		benchLogins(b, bin, "--max-password-checks", strconv.Itoa(concurrentLogins))
	})
}

// benchLogins runs the rounds against a fresh child started with args and
// returns its peak RSS in MB.
func benchLogins(b *testing.B, bin string, args ...string) float64 {
	srv := startChild(b, bin, args...)
	users := srv.createUsers(b, concurrentLogins)
	idle := srv.memMB(b, "VmRSS")
	var busy atomic.Int64
	for b.Loop() {
		pages := make([]loginForm, concurrentLogins)
		for i := range pages {
			pages[i] = srv.openLogin(b)
		}
		errs := make([]error, concurrentLogins)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range pages {
			wg.Go(func() {
				<-start
				// Distinct clients behind a trusted proxy, as a school's
				// users would be.
				errs[i] = srv.submit(pages[i], users[i], fmt.Sprintf("198.51.100.%d", i), &busy)
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			b.Fatalf("logins: %v\n%s", err, srv.stderr.String())
		}
	}
	peak := srv.memMB(b, "VmHWM")
	b.ReportMetric(peak, "peak-MB")
	b.ReportMetric(idle, "idle-MB")
	b.ReportMetric(float64(busy.Load())/float64(b.N), "503s/op")
	return peak
}

// buildHallpass builds this command into a temporary directory.
func buildHallpass(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "hallpass")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// child is `hallpass serve --dev` running as a child process.
type child struct {
	cmd    *exec.Cmd
	base   string
	link   string // the dev sign-in link
	stderr *syncBuffer
}

// benchAdminToken is the child's admin token.
const benchAdminToken = "bench-admin-token-bench-admin-token"

// credentials are a user's username and password.
type credentials struct{ username, password string }

// createUsers creates n users with random passwords through the admin API.
func (c *child) createUsers(b *testing.B, n int) []credentials {
	b.Helper()
	users := make([]credentials, n)
	for i := range users {
		users[i] = credentials{fmt.Sprintf("student%02d", i), rand.Text()}
		body, _ := json.Marshal(map[string]any{"username": users[i].username, "password": users[i].password})
		r, err := http.NewRequest(http.MethodPost, c.base+"/admin/users", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+benchAdminToken)
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("create user %s: %d %s", users[i].username, resp.StatusCode, msg)
		}
	}
	return users
}

func startChild(b *testing.B, bin string, args ...string) *child {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := b.TempDir()
	c := &child{base: "http://" + addr, stderr: &syncBuffer{}}
	var stdout syncBuffer
	c.cmd = exec.Command(bin, append([]string{"serve", "--dev", "--addr", addr, "--issuer", c.base,
		"--database", "sqlite:" + filepath.Join(dir, "hallpass.db"), "--key-refresh", "0",
		"--trusted-proxies", "127.0.0.1", "--log-level", "warn"}, args...)...)
	c.cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HALLPASS_") {
			env = append(env, kv)
		}
	}
	c.cmd.Env = append(env, "HALLPASS_SECRET="+strings.Repeat("s", 40), "HALLPASS_ADMIN_TOKEN="+benchAdminToken)
	c.cmd.Stdout, c.cmd.Stderr = &stdout, c.stderr
	if err := c.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	link := regexp.MustCompile(regexp.QuoteMeta(c.base) + `/oauth2/authorize\?\S+`)
	for deadline := time.Now().Add(30 * time.Second); ; {
		out := stdout.String()
		if l := link.FindString(out); l != "" {
			if r, err := http.Get(c.base + "/healthz"); err == nil {
				r.Body.Close()
				if r.StatusCode == http.StatusOK {
					c.link = l
					return c
				}
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("hallpass did not start:\n%s\n%s", out, c.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memMB reads a memory figure (VmRSS, VmHWM) of the child in MB.
func (c *child) memMB(b *testing.B, field string) float64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			b.Fatalf("%s: %q: %v", field, value, err)
		}
		return kb / 1024
	}
	b.Fatalf("no %s in /proc/%d/status", field, c.cmd.Process.Pid)
	return 0
}

// loginForm is a login page opened in a browser of its own.
type loginForm struct {
	client        *http.Client
	request, csrf string
}

var (
	requestField = regexp.MustCompile(`name="request" value="([^"]+)"`)
	csrfField    = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func (c *child) openLogin(b *testing.B) loginForm {
	b.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute}
	r, err := hc.Get(c.link)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	m, tok := requestField.FindSubmatch(body), csrfField.FindSubmatch(body)
	if m == nil || tok == nil {
		b.Fatalf("no login page: %d %s", r.StatusCode, body)
	}
	return loginForm{client: hc, request: string(m[1]), csrf: string(tok[1])}
}

// submit signs u in on page f as client addr, retrying after
// Retry-After while the server answers 503.
func (c *child) submit(f loginForm, u credentials, addr string, busy *atomic.Int64) error {
	form := url.Values{"request": {f.request}, "csrf": {f.csrf}, "username": {u.username}, "password": {u.password}}.Encode()
	for range 20 {
		r, err := http.NewRequest(http.MethodPost, c.base+"/login", strings.NewReader(form))
		if err != nil {
			return err
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Forwarded-For", addr)
		resp, err := f.client.Do(r)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`value="allow"`)):
			return nil
		case resp.StatusCode == http.StatusServiceUnavailable:
			busy.Add(1)
			secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil {
				return fmt.Errorf("503 without Retry-After")
			}
			time.Sleep(time.Duration(secs) * time.Second)
		default:
			return fmt.Errorf("login: status %d", resp.StatusCode)
		}
	}
	return errors.New("still busy after 20 tries")
}
