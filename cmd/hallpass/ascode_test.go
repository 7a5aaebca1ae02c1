package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// cli runs the CLI with args, stdin as its input, and returns its exit code and output.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd(&stdout, &stderr)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			code = exit.code
		} else {
			code = 1
			stderr.WriteString(errorText(err))
		}
	}
	return code, stdout.String(), stderr.String()
}

// The plan, apply and export commands on both backends: plan's exit
// codes, apply once and idempotently, export → plan without changes,
// --prune, errors exiting 1.
func TestPlanApplyExportCommands(t *testing.T) {
	school := filepath.Join("..", "..", "examples", "school.yaml")
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := migrated(t, b.DSN(t))
			code, out, errOut := cli(t, "", "plan", "-f", school, "--database", db)
			if code != 2 || !strings.Contains(out, "+ create role teacher") {
				t.Fatalf("plan on an empty database: exit %d\n%s%s", code, out, errOut)
			}
			if code, out, errOut := cli(t, "", "apply", "-f", school, "--database", db); code != 0 || !strings.Contains(out, "Applied.") {
				t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
			}
			if code, out, _ := cli(t, "", "plan", "-f", school, "--database", db); code != 0 || !strings.Contains(out, "No changes") {
				t.Errorf("plan after apply: exit %d\n%s", code, out)
			}
			if code, out, _ := cli(t, "", "apply", "-f", school, "--database", db); code != 0 || strings.Contains(out, "Applied.") {
				t.Errorf("second apply: exit %d\n%s", code, out)
			}

			// A client added outside the file: export holds it, and the
			// export plans no change; the school file plans none either
			// until --prune.
			extra := "clients:\n  - client_id: svc\n    grant_types: [client_credentials]\n    response_types: []\n"
			code, out, errOut = cli(t, extra, "apply", "-f", "-", "--database", db)
			if code != 0 || !strings.Contains(out, "Generated secret of client svc (shown only now)") {
				t.Fatalf("apply from stdin: exit %d\n%s%s", code, out, errOut)
			}
			code, exported, errOut := cli(t, "", "export", "--database", db)
			if code != 0 || !strings.Contains(exported, "client_id: svc") || strings.Contains(exported, "client_secret:") {
				t.Fatalf("export: exit %d\n%s%s", code, exported, errOut)
			}
			if code, out, _ := cli(t, exported, "plan", "-f", "-", "--prune", "--database", db); code != 0 {
				t.Errorf("plan --prune of the export: exit %d\n%s", code, out)
			}
			if code, out, _ := cli(t, "", "plan", "-f", school, "--database", db); code != 0 || !strings.Contains(out, "1 stored objects are not in the file") {
				t.Errorf("plan of the school without --prune: exit %d\n%s", code, out)
			}
			if code, out, _ := cli(t, "", "plan", "-f", school, "--prune", "--database", db); code != 2 || !strings.Contains(out, "- delete client svc") {
				t.Errorf("plan --prune: exit %d\n%s", code, out)
			}
			if code, _, errOut := cli(t, "", "apply", "-f", school, "--prune", "--database", db); code != 0 {
				t.Fatalf("apply --prune: exit %d\n%s", code, errOut)
			}
			if code, out, _ := cli(t, "", "plan", "-f", school, "--prune", "--database", db); code != 0 {
				t.Errorf("plan --prune after apply --prune: exit %d\n%s", code, out)
			}

			// Errors exit 1 and change nothing.
			bad := string(mustRead(t, school)) + "  - username: carol\n    roles: [headmaster]\n"
			bad = strings.Replace(bad, "scopes: [results:read]", "scopes: []", 1)
			code, _, errOut = cli(t, bad, "apply", "-f", "-", "--database", db)
			if code != 1 || !strings.Contains(errOut, "headmaster") {
				t.Errorf("failing apply: exit %d\n%s", code, errOut)
			}
			if code, out, _ := cli(t, "", "plan", "-f", school, "--prune", "--database", db); code != 0 {
				t.Errorf("a failed apply changed something: exit %d\n%s", code, out)
			}
			if code, _, errOut := cli(t, "bogus: []\n", "plan", "-f", "-", "--database", db); code != 1 || !strings.Contains(errOut, `unknown key "bogus"`) {
				t.Errorf("plan of a bad file: exit %d\n%s", code, errOut)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// onDatabase returns a runner of hallpass commands on database db, with
// stdin (cli with --database db): what they printed to stdout and stderr
// (a failure's error appended to stderr) and the exit code.
func onDatabase(t *testing.T, db string) func(stdin string, args ...string) (stdout, stderr string, code int) {
	return func(stdin string, args ...string) (string, string, int) {
		code, out, errb := cli(t, stdin, append([]string{"--database", db}, args...)...)
		return out, errb, code
	}
}

// migrated runs 'hallpass migrate' on db, which the admin commands need:
// they refuse to create an SQLite file.
func migrated(t *testing.T, db string) string {
	t.Helper()
	var out, errb syncBuffer
	if code := run(context.Background(), []string{"migrate", "--database", db}, &out, &errb); code != 0 {
		t.Fatalf("migrate %s: %s", db, errb.String())
	}
	return db
}

// plan checks a new user's password against the password policy, as
// apply would: a weak one fails the plan (exit 1) naming the user and the
// reason, never printing the password; a good one plans the creation.
func TestPlanChecksPasswordPolicy(t *testing.T) {
	db := migrated(t, testdb.SQLite(t))
	file := "users:\n  - username: carol\n    password_env: CAROL_PASSWORD\n"
	for _, tc := range []struct {
		password string
		code     int
		want     string
	}{
		{"password1234", 1, `user "carol": password is too easy to guess`},
		{"Tr0ub4dor&", 1, `user "carol": password is too short`},
		{"her very own passphrase, 42 times", 2, "+ create user carol"},
	} {
		t.Setenv("CAROL_PASSWORD", tc.password)
		code, out, errOut := cli(t, file, "plan", "-f", "-", "--database", db)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("plan with password %d characters long: exit %d, want %d saying %q\n%s%s", len(tc.password), code, tc.code, tc.want, out, errOut)
		}
		if strings.Contains(out+errOut, tc.password) {
			t.Errorf("plan printed the password:\n%s%s", out, errOut)
		}
	}
}

// plan and apply take the console's role from --console-admin-role (its
// variable, its config key), as serve does, and refuse a file after which
// no enabled user would hold it: --prune of a file naming neither the
// role nor an administrator had locked everyone out of the console.
func TestPlanKeepsConsoleAdmins(t *testing.T) {
	db := migrated(t, testdb.SQLite(t))
	admins := "roles:\n  - name: admin\n  - name: ops\nusers:\n  - username: root\n    roles: [admin, ops]\n"
	if code, out, errOut := cli(t, admins, "apply", "-f", "-", "--database", db); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	config := filepath.Join(t.TempDir(), "hallpass.yaml")
	if err := os.WriteFile(config, []byte("console-admin-role: ops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		args       []string
		code       int
		want       string
	}{
		{"prune, default role", "roles: []\n", []string{"--prune"}, 1, `no enabled user would hold the role "admin"`},
		{"apply prune, default role", "roles: []\n", []string{"--prune"}, 1, `no enabled user would hold the role "admin"`},
		{"role given", "roles:\n  - name: admin\nusers:\n  - username: root\n    roles: [admin]\n", []string{"--prune", "--console-admin-role", "ops"}, 1, `the role "ops"`},
		{"role from the config file", "roles:\n  - name: admin\nusers:\n  - username: root\n    roles: [admin]\n", []string{"--prune", "--config", config}, 1, `the role "ops"`},
		{"holder kept", "roles:\n  - name: admin\nusers:\n  - username: root\n    roles: [admin]\n", []string{"--prune"}, 2, "- delete role ops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := "plan"
			if strings.HasPrefix(tc.name, "apply") {
				cmd = "apply"
			}
			code, out, errOut := cli(t, tc.file, append([]string{cmd, "-f", "-", "--database", db}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, want %d saying %q\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
	if code, out, _ := cli(t, admins, "plan", "-f", "-", "--database", db); code != 0 {
		t.Errorf("apply changed the directory: plan exit %d\n%s", code, out)
	}
}

// plan prints its digest; apply --expect with it applies, and refuses
// (exit 1, nothing changed) once the directory no longer gives that plan.
func TestApplyExpect(t *testing.T) {
	db := migrated(t, testdb.SQLite(t))
	file := "roles:\n  - name: teacher\n"
	_, out, _ := cli(t, file, "plan", "-f", "-", "--database", db)
	digest := regexp.MustCompile(`Plan (sha256:[0-9a-f]{32})`).FindStringSubmatch(out)
	if digest == nil {
		t.Fatalf("plan printed no digest:\n%s", out)
	}
	if code, _, _ := cli(t, "roles:\n  - name: teacher\n    description: meanwhile\n", "apply", "-f", "-", "--database", db); code != 0 {
		t.Fatalf("apply meanwhile: exit %d", code)
	}
	code, out, errOut := cli(t, file, "apply", "-f", "-", "--expect", digest[1], "--database", db)
	if code != 1 || !strings.Contains(errOut, "the directory changed since the plan") {
		t.Errorf("apply --expect after a change: exit %d, want 1\n%s%s", code, out, errOut)
	}
	_, out, _ = cli(t, file, "plan", "-f", "-", "--database", db)
	digest = regexp.MustCompile(`Plan (sha256:[0-9a-f]{32})`).FindStringSubmatch(out)
	if !strings.Contains(out, "~ update role teacher (description)") || digest == nil {
		t.Fatalf("plan after the refused apply:\n%s", out)
	}
	if code, out, errOut := cli(t, file, "apply", "-f", "-", "--expect", digest[1], "--database", db); code != 0 || !strings.Contains(out, "Applied.") {
		t.Errorf("apply --expect of the current plan: exit %d\n%s%s", code, out, errOut)
	}
}
