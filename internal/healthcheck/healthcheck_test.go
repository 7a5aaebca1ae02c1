package healthcheck

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct {
		addr, want string
		ok         bool
	}{
		{"localhost:8080", "http://localhost:8080/readyz", true},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/readyz", true},
		{"[::]:8080", "http://127.0.0.1:8080/readyz", true},
		{":8080", "http://127.0.0.1:8080/readyz", true},
		{"[::1]:8080", "http://[::1]:8080/readyz", true},
		{"10.1.2.3:9", "http://10.1.2.3:9/readyz", true},
		{"localhost", "", false},
		{"localhost:0", "", false},
	}
	for _, tt := range tests {
		got, err := URL(tt.addr, "/readyz")
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("URL(%q) = %q, %v; want %q (ok %v)", tt.addr, got, err, tt.want, tt.ok)
		}
	}
}

func TestCheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("database unreachable"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	if err := Check(ctx, srv.Client(), addr, "/readyz"); err != nil {
		t.Errorf("200: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := Check(ctx, srv.Client(), addr, "/readyz"); err == nil || !strings.Contains(err.Error(), "database unreachable") {
		t.Errorf("503: %v, want an error with the body", err)
	}
	srv.Close()
	if err := Check(ctx, &http.Client{}, addr, "/readyz"); err == nil {
		t.Error("nothing listening: no error")
	}
}
