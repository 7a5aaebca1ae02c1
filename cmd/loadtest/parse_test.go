package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	withToken := func(k string) string {
		if k == "HALLPASS_ADMIN_TOKEN" {
			return "from-env"
		}
		return ""
	}
	none := func(string) string { return "" }
	for _, tc := range []struct {
		name    string
		args    []string
		getenv  func(string) string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{"defaults", nil, withToken, "", func(t *testing.T, c config) {
			if c.AdminToken != "from-env" || c.C != 16 || c.Duration != 5*time.Second || len(c.Scenarios) != len(allScenarios) {
				t.Errorf("got %+v", c)
			}
		}},
		{"flag token wins", []string{"-admin-token", "flag", "-url", "http://x:1/"}, withToken, "", func(t *testing.T, c config) {
			if c.AdminToken != "flag" || c.BaseURL != "http://x:1" {
				t.Errorf("got token %q url %q", c.AdminToken, c.BaseURL)
			}
		}},
		{"subset", []string{"-scenarios", "jwks, discovery"}, withToken, "", func(t *testing.T, c config) {
			if strings.Join(c.Scenarios, ",") != "jwks,discovery" {
				t.Errorf("scenarios %v", c.Scenarios)
			}
		}},
		{"no token", nil, none, "no admin token", nil},
		{"unknown scenario", []string{"-scenarios", "jwks,bogus"}, withToken, `unknown scenario "bogus"`, nil},
		{"zero concurrency", []string{"-c", "0"}, withToken, "want at least 1", nil},
		{"negative n", []string{"-n", "-1"}, withToken, "want 0 or more", nil},
		{"no duration", []string{"-duration", "0"}, withToken, "-duration must be positive", nil},
		{"stray argument", []string{"jwks"}, withToken, "unexpected arguments", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, tc.getenv, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	// utime 250 and stime 50 ticks; the command name holds a space and a ')'.
	stat := "1234 (hall pass) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0"
	got, err := parseStatCPU(stat)
	if err != nil || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u s"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) succeeded", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tc := range []struct{ p, want int }{{50, 50}, {99, 99}, {100, 100}, {1, 1}} {
		if got := percentile(d, tc.p); got != time.Duration(tc.want) {
			t.Errorf("p%d = %d, want %d", tc.p, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one = %d", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of none = %d", got)
	}
}
