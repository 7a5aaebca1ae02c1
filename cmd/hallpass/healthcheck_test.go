package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHealthcheckCommand(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	ctx := context.Background()

	var out syncBuffer
	if code := run(ctx, []string{"healthcheck", "--addr", addr}, &out, io.Discard); code != 0 || out.String() != "ready\n" {
		t.Errorf("ready server: exit %d, %q", code, out.String())
	}
	t.Setenv("HALLPASS_ADDR", "0.0.0.0:"+port)
	if code := run(ctx, []string{"healthcheck"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("HALLPASS_ADDR=0.0.0.0:%s: exit %d, want 0 (probed on 127.0.0.1)", port, code)
	}
	status.Store(http.StatusServiceUnavailable)
	var errb syncBuffer
	if code := run(ctx, []string{"healthcheck"}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "503") {
		t.Errorf("not ready: exit %d, %s", code, errb.String())
	}
	srv.Close()
	if code := run(ctx, []string{"healthcheck"}, io.Discard, io.Discard); code != 1 {
		t.Errorf("nothing listening: exit %d, want 1", code)
	}
}
