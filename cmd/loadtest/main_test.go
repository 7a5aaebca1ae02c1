package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

const testAdminToken = "loadtest-admin-token-0123456789abcdef"

// TestSmoke is the tool's one run in CI: every scenario, briefly, against
// a real hallpass on SQLite, with zero errors and a line per scenario.
// Its own pid stands in for the server's, which runs in this process.
func TestSmoke(t *testing.T) {
	srv := hallpasstest.Start(t, testdb.SQLite(t), hallpasstest.Options{AdminToken: testAdminToken})
	var out, errOut bytes.Buffer
	env := map[string]string{"HALLPASS_ADMIN_TOKEN": testAdminToken}
	args := []string{"-url", srv.URL, "-c", "4", "-n", "50", "-pid", itoa(os.Getpid()), "-reference", "100ms"}
	start := time.Now()
	cfg, err := parseFlags(args, func(k string) string { return env[k] }, &errOut)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	results, err := runAll(t.Context(), cfg, &out)
	t.Logf("loadtest output (%s):\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("runAll: %v", err)
	}
	if len(results) != len(allScenarios) {
		t.Fatalf("%d results, want one per scenario (%d)", len(results), len(allScenarios))
	}
	for i, r := range results {
		if r.Scenario != allScenarios[i] {
			t.Errorf("result %d is %q, want %q", i, r.Scenario, allScenarios[i])
		}
		if r.Errors != 0 {
			t.Errorf("%s: %d errors: %v", r.Scenario, r.Errors, r.Samples)
		}
		if r.Ops != 50 {
			t.Errorf("%s: %d ops, want exactly -n 50", r.Scenario, r.Ops)
		}
		if r.Rate() <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: rate %.1f/s, p50 %s, p99 %s: want a positive rate and 0 < p50 ≤ p99", r.Scenario, r.Rate(), r.P50, r.P99)
		}
		if !r.HaveCPU {
			t.Errorf("%s: no CPU figure despite -pid", r.Scenario)
		}
		// Each scenario with a limit measured it in the same run, and its
		// line says how far it is from it.
		switch r.Scenario {
		case "client-credentials", "introspection", "signed-in":
			if r.Ref.SignCPU <= 0 || !strings.Contains(r.line(), "× sign") {
				t.Errorf("%s: no bare signature reference (%v) in %q", r.Scenario, r.Ref.SignCPU, r.line())
			}
		case "fresh-login":
			if r.Ref.Argon2Rate <= 0 || !strings.Contains(r.line(), "of argon2id") {
				t.Errorf("%s: no argon2id ceiling (%v) in %q", r.Scenario, r.Ref.Argon2Rate, r.line())
			}
		}
		if !strings.Contains(out.String(), r.line()) {
			t.Errorf("output lacks the line of %s", r.Scenario)
		}
	}
	// A fresh login hashes a password (argon2id); the signed-in flow
	// must not, so it is clearly cheaper: proof that the session, not a
	// new login, carried each signed-in flow.
	if si, fl := results[4], results[5]; si.P50 >= fl.P50 {
		t.Errorf("signed-in p50 %s ≥ fresh-login p50 %s: signed-in flows seem to log in", si.P50, fl.P50)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestFreshLoginsWithManyPasswordChecks runs fresh logins against a
// server that checks eight passwords at once, more than the five of one
// account's logins the login throttle lets be in flight at once (each
// counts as a failure until its password proves right): the tool spreads
// its browsers over users, so none is refused.
func TestFreshLoginsWithManyPasswordChecks(t *testing.T) {
	srv := hallpasstest.Start(t, testdb.SQLite(t), hallpasstest.Options{
		AdminToken: testAdminToken,
		Config:     func(c *provider.Config) { c.MaxPasswordChecks = 8 },
	})
	env := map[string]string{"HALLPASS_ADMIN_TOKEN": testAdminToken}
	cfg, err := parseFlags([]string{"-url", srv.URL, "-c", "16", "-n", "48", "-scenarios", "signed-in,fresh-login", "-reference", "0"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	var out bytes.Buffer
	results, err := runAll(t.Context(), cfg, &out)
	if err != nil {
		t.Fatalf("runAll: %v\n%s", err, out.String())
	}
	for _, r := range results {
		if r.Errors != 0 || r.Ops != 48 {
			t.Errorf("%s: %d of %d flows failed: %v", r.Scenario, r.Errors, r.Ops, r.Samples)
		}
	}
}
