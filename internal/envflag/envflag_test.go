package envflag

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"
)

type settings struct {
	addr    string
	timeout time.Duration
	secret  string
	probe   bool
}

func newSet(s *settings, out *bytes.Buffer) *FlagSet {
	f := New("app", "APP", out)
	f.String(&s.addr, "listen-addr", "localhost:1", "address")
	f.Duration(&s.timeout, "timeout", time.Second, "timeout")
	f.Secret(&s.secret, "client-secret", "the secret")
	f.Bool(&s.probe, "probe", false, "probe mode")
	return f
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    settings
		wantErr string
	}{
		{"defaults", nil, nil, settings{addr: "localhost:1", timeout: time.Second}, ""},
		{"variables", nil, map[string]string{"APP_LISTEN_ADDR": ":2", "APP_TIMEOUT": "3s", "APP_CLIENT_SECRET": "x"}, settings{addr: ":2", timeout: 3 * time.Second, secret: "x"}, ""},
		{"flags win", []string{"-listen-addr", ":9"}, map[string]string{"APP_LISTEN_ADDR": ":2"}, settings{addr: ":9", timeout: time.Second}, ""},
		{"modes have no variable", nil, map[string]string{"APP_PROBE": "true"}, settings{addr: "localhost:1", timeout: time.Second}, ""},
		{"bad variable", nil, map[string]string{"APP_TIMEOUT": "soon"}, settings{}, `APP_TIMEOUT="soon"`},
		{"stray arguments", []string{"serve"}, nil, settings{}, "unexpected arguments"},
		{"secrets are not flags", []string{"-client-secret", "x"}, nil, settings{}, "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s settings
			err := newSet(&s, &bytes.Buffer{}).Parse(tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || s != tt.want {
				t.Errorf("got %+v, %v; want %+v", s, err, tt.want)
			}
		})
	}
}

func TestUsageNamesEveryVariable(t *testing.T) {
	var s settings
	var out bytes.Buffer
	f := newSet(&s, &out)
	want := []string{"APP_CLIENT_SECRET", "APP_LISTEN_ADDR", "APP_TIMEOUT"}
	if got := f.EnvNames(); !slices.Equal(got, want) {
		t.Errorf("EnvNames = %v, want %v", got, want)
	}
	if err := f.Parse([]string{"-h"}, func(string) (string, bool) { return "", false }); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, v := range want {
		if !strings.Contains(out.String(), v) {
			t.Errorf("usage lacks %s:\n%s", v, out.String())
		}
	}
}
