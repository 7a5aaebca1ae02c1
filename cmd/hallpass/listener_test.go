package main

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var adminAddrRE = regexp.MustCompile(`"msg":"admin API serving","admin_addr":"([^"]+)"`)

func getStatus(t *testing.T, u, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// serve --admin-addr moves the admin API and /metrics to their own
// listener; the public one answers 404 there.
func TestServeAdminAddr(t *testing.T) {
	chdirTemp(t)
	const token = "test-admin-token-test-admin-token"
	t.Setenv("HALLPASS_SECRET", strings.Repeat("d", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", token)
	in := startServe(t, "--admin-addr", "127.0.0.1:0", "--database", "sqlite:split.db")
	m := adminAddrRE.FindStringSubmatch(in.stderr.String())
	if m == nil {
		t.Fatalf("no admin listener logged:\n%s", in.stderr.String())
	}
	admin := "http://" + m[1]
	for _, tc := range []struct {
		url  string
		want int
	}{
		{in.base + "/admin/users", http.StatusNotFound},
		{in.base + "/metrics", http.StatusNotFound},
		{in.base + "/.well-known/openid-configuration", http.StatusOK},
		{admin + "/admin/users", http.StatusOK},
		{admin + "/metrics", http.StatusOK},
		{admin + "/.well-known/openid-configuration", http.StatusNotFound},
	} {
		if got := getStatus(t, tc.url, token); got != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.url, got, tc.want)
		}
	}
	if strings.Contains(in.stderr.String(), "set --admin-addr") {
		t.Errorf("warned about the admin API on the public listener although it is not:\n%s", in.stderr.String())
	}
}

// Without --admin-addr, an issuer beyond this machine draws a warning:
// the admin API is on the public listener.
func TestServeWarnsAdminOnPublicListener(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("d", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	in := startServe(t, "--issuer", "https://login.example.com", "--database", "sqlite:public.db")
	if !strings.Contains(in.stderr.String(), "set --admin-addr (HALLPASS_ADMIN_ADDR)") {
		t.Errorf("no warning about the admin API on the public listener:\n%s", in.stderr.String())
	}
	local := startServe(t, "--database", "sqlite:local.db")
	if strings.Contains(local.stderr.String(), "set --admin-addr") {
		t.Errorf("warned on a loopback issuer:\n%s", local.stderr.String())
	}
}

// serve binds its port before anything else: on a busy port --dev fails
// without creating a database or printing passwords.
func TestServeBindsFirst(t *testing.T) {
	dir := chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("d", 40))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var out, errOut syncBuffer
	code := run(context.Background(), []string{"serve", "--dev", "--addr", busy.Addr().String(), "--database", "sqlite:busy.db"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "listen") {
		t.Errorf("serve on a busy port: exit %d\n%s", code, errOut.String())
	}
	if strings.Contains(out.String(), "password") {
		t.Errorf("passwords printed for a demo that is not served:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "busy.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("database created on a failed start: %v", err)
	}
}
