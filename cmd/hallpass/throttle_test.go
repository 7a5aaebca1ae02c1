package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeLoginFlagsRefused: a bad --trusted-proxies or
// --max-password-checks, as flag or variable, stops serve before it
// touches the database, naming the setting. So do negative intervals,
// which would otherwise quietly disable what they schedule.
func TestServeLoginFlagsRefused(t *testing.T) {
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"proxy host name", nil, []string{"--trusted-proxies", "proxy.example"}, "--trusted-proxies"},
		{"proxy prefix too long", map[string]string{"HALLPASS_TRUSTED_PROXIES": "10.0.0.0/8,10.0.0.0/33"}, nil, "--trusted-proxies"},
		{"no password checks", nil, []string{"--max-password-checks", "0"}, "--max-password-checks"},
		{"password checks not a number", map[string]string{"HALLPASS_MAX_PASSWORD_CHECKS": "many"}, nil, "HALLPASS_MAX_PASSWORD_CHECKS"},
		{"negative housekeeping interval", nil, []string{"--housekeeping-interval", "-1s"}, "--housekeeping-interval"},
		{"negative housekeeping interval by variable", map[string]string{"HALLPASS_HOUSEKEEPING_INTERVAL": "-10m"}, nil, "--housekeeping-interval"},
		{"negative audit checkpoint interval", nil, []string{"--audit-checkpoint-interval", "-1s"}, "--audit-checkpoint-interval"},
		{"negative key refresh", nil, []string{"--key-refresh", "-1s"}, "--key-refresh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			path := filepath.Join(t.TempDir(), "hallpass.db")
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database", "sqlite:" + path}, tc.args...)
			code, _, stderr := runWithin(t, time.Minute, args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want an error naming %s:\n%s", code, tc.want, stderr)
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("the database was created before the setting was checked")
			}
		})
	}
}

// TestServeTrustedProxies: with HALLPASS_TRUSTED_PROXIES naming the
// loopback proxy, a failed login is attributed (in the log) to the
// address X-Forwarded-For names; without it, to the TCP peer.
func TestServeTrustedProxies(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	for _, tc := range []struct {
		name, proxies, want string
	}{
		{"unset", "", "127.0.0.1"},
		{"loopback trusted", "10.0.0.0/8, 127.0.0.1", "198.51.100.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HALLPASS_TRUSTED_PROXIES", tc.proxies)
			in := startServe(t, "--dev", "--database", "sqlite:"+filepath.Join(t.TempDir(), "dev.db"))
			hc, request, csrf := devLoginPage(t, in)
			form := url.Values{"request": {request}, "csrf": {csrf}, "username": {"alice"}, "password": {"not-her-password"}}
			r, err := http.NewRequest(http.MethodPost, in.base+"/login", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-Forwarded-For", "203.0.113.1, 198.51.100.9")
			resp, err := hc.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("wrong password: status %d, want the form again", resp.StatusCode)
			}
			var client any
			for line := range strings.Lines(in.stderr.String()) {
				var rec map[string]any
				if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "login failed" {
					client = rec["client"]
				}
			}
			if client != tc.want {
				t.Errorf("failed login logged from %v, want %s:\n%s", client, tc.want, in.stderr.String())
			}
		})
	}
}

// devLoginPage follows the sign-in link --dev printed up to the login
// page and returns the browser's client, the pending request id and the
// form's CSRF token.
func devLoginPage(t *testing.T, in *instance) (*http.Client, string, string) {
	t.Helper()
	link := regexp.MustCompile(`http://localhost:8080(/oauth2/authorize\?\S+)`).FindStringSubmatch(in.stdout.String())
	if link == nil {
		t.Fatalf("no sign-in link in:\n%s", in.stdout.String())
	}
	jar, _ := cookiejar.New(nil)
	// The link names the default issuer; the test server listens elsewhere.
	hc := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		r.URL.Host = strings.TrimPrefix(in.base, "http://")
		return nil
	}}
	resp, err := hc.Get(in.base + link[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`name="request" value="([^"]+)"`).FindSubmatch(body)
	c := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil || c == nil {
		t.Fatalf("the sign-in link did not lead to the login page:\n%s", body)
	}
	return hc, string(m[1]), string(c[1])
}
