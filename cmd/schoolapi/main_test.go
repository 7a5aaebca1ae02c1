package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want config
	}{
		{"defaults", nil, nil, config{addr: "localhost:8081", issuer: "http://localhost:8080", audience: "http://localhost:8081"}},
		{"environment", nil, map[string]string{"SCHOOLAPI_ADDR": "0.0.0.0:9000", "SCHOOLAPI_ISSUER": "https://id.example", "SCHOOLAPI_AUDIENCE": "https://api.example", "SCHOOLAPI_HALLPASS_URL": "http://hallpass:8080", "SCHOOLAPI_CLIENT_ID": "api", "SCHOOLAPI_CLIENT_SECRET": "s3cret"},
			config{addr: "0.0.0.0:9000", issuer: "https://id.example", audience: "https://api.example", hallpassURL: "http://hallpass:8080", clientID: "api", clientSecret: "s3cret"}},
		{"a flag wins over its variable", []string{"-addr", "127.0.0.1:1"}, map[string]string{"SCHOOLAPI_ADDR": "0.0.0.0:9000"}, config{addr: "127.0.0.1:1", issuer: "http://localhost:8080", audience: "http://localhost:8081"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c config
			if err := flags(&c, &bytes.Buffer{}).Parse(tt.args, env(tt.env)); err != nil {
				t.Fatal(err)
			}
			got := config{addr: c.addr, issuer: c.issuer, audience: c.audience, hallpassURL: c.hallpassURL, clientID: c.clientID, clientSecret: c.clientSecret}
			if got != tt.want {
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"-h"}, env(nil), &out, &errb); code != 0 || !strings.Contains(errb.String(), "SCHOOLAPI_CLIENT_SECRET") {
		t.Errorf("-h: %d %s", code, errb.String())
	}
	if code := run(ctx, []string{"-nope"}, env(nil), &out, &errb); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	errb.Reset()
	if code := run(ctx, nil, env(map[string]string{"SCHOOLAPI_CLIENT_ID": "api"}), &out, &errb); code != 1 || !strings.Contains(errb.String(), "or neither") {
		t.Errorf("client id without secret: %d %s", code, errb.String())
	}

	srv := httptest.NewServer(newServer(serverConfig{Read: testAuth, Write: testAuth}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	out.Reset()
	if code := run(ctx, []string{"-healthcheck"}, env(map[string]string{"SCHOOLAPI_ADDR": "0.0.0.0:" + port}), &out, &errb); code != 0 || out.String() != "ok\n" {
		t.Errorf("-healthcheck against a serving schoolapi: %d %q %s", code, out.String(), errb.String())
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if code := run(ctx, []string{"-healthcheck", "-addr", strings.TrimPrefix(closed.URL, "http://")}, env(nil), &out, &errb); code != 1 {
		t.Errorf("-healthcheck against nothing: exit %d, want 1", code)
	}
}
