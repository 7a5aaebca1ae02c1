package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// TestCredentialOutputOnFullDisk runs the commands that make a change
// and show a credential only then (a generated admin token, client
// secret or password) with that output going to a full disk (/dev/full:
// every write fails with ENOSPC), as with `hallpass apply -f x.yaml >
// apply.log` on a full volume. The change is made, and the credential
// is lost: the command must exit 1 saying so, not 0 as though the token
// had been shown, nor with a bare write error that reads as if nothing
// had been done (run again, the command then answers "already exists",
// or apply "No changes", and the secret is never shown).
func TestCredentialOutputOnFullDisk(t *testing.T) {
	full := fullDisk(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("f", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "")
	db := migrated(t, testdb.SQLite(t))
	file := filepath.Join(t.TempDir(), "dir.yaml")
	if err := os.WriteFile(file, []byte("clients:\n  - client_id: applied\n    grant_types: [client_credentials]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		stdout bool // the credential goes to stdout (else to stderr)
		want   string
		// not is what the error must not say: the generated password
		// went to stderr, which worked, so it is not lost.
		not string
	}{
		{"admin-token rotate", []string{"admin-token", "rotate"}, true, "the admin token was replaced", ""},
		{"apply", []string{"apply", "-f", file}, true, "applied", ""},
		{"clients create", []string{"clients", "create", "--id", "created", "--grant-type", "client_credentials"}, true, "client created was created", ""},
		{"users create", []string{"users", "create", "--username", "carol"}, false, "user carol was created", ""},
		{"users create, record lost", []string{"users", "create", "--username", "dave"}, true, "user dave was created", "password is lost"},
		// No credential, but a change all the same: run again, a second
		// immediate rotation makes a key just published sign.
		{"keys rotate", []string{"keys", "rotate", "--immediate"}, true, "the signing key was rotated", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut syncBuffer
			var code int
			if tc.stdout {
				code = run(context.Background(), append([]string{"--database", db, "-o", "json"}, tc.args...), full, &errOut)
			} else {
				code = run(context.Background(), append([]string{"--database", db, "-o", "json"}, tc.args...), &out, full)
				// point: the password went to stderr, which failed.
			}
			if !tc.stdout {
				// The error goes to the full stderr too: the exit
				// status is all there is to see.
				if code != 1 {
					t.Errorf("exit %d, want 1", code)
				}
				return
			}
			if code != 1 || !strings.Contains(errOut.String(), tc.want) || !strings.Contains(errOut.String(), "could not be written") ||
				(tc.not != "" && strings.Contains(errOut.String(), tc.not)) {
				t.Errorf("exit %d, want 1 saying %q and that the credential could not be written\n%s", code, tc.want, errOut.String())
			}
		})
	}
}

// TestGeneratedAdminTokenOnFullDisk checks that serve, first started
// without HALLPASS_ADMIN_TOKEN, says so in its log when the admin token
// it generated could not be printed (stdout on a full disk): the token
// exists only as a digest, and nothing else told the operator that the
// admin API had a token nobody knew, nor how to get one.
func TestGeneratedAdminTokenOnFullDisk(t *testing.T) {
	full := fullDisk(t)
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("g", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "")
	in := startServeTo(t, full, "--database", "sqlite:full.db")
	in.stop()
	if log := in.stderr.String(); !strings.Contains(log, "generated admin token could not be printed") || !strings.Contains(log, "hallpass admin-token rotate") {
		t.Errorf("serve's log says nothing of the admin token it could not print:\n%s", log)
	}
}

// TestApplyWithoutChangesOnFullDisk checks that apply of a file the
// directory already matches, its output going to a full disk, does not
// say it applied changes: it said "the changes were applied, but its
// output could not be written" where nothing had been changed.
func TestApplyWithoutChangesOnFullDisk(t *testing.T) {
	full := fullDisk(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("f", 40))
	db := migrated(t, testdb.SQLite(t))
	file := filepath.Join(t.TempDir(), "dir.yaml")
	if err := os.WriteFile(file, []byte("roles:\n  - name: tutor\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli(t, "", "--database", db, "apply", "-f", file); code != 0 {
		t.Fatalf("first apply: exit %d\n%s%s", code, out, errOut)
	}
	var errOut syncBuffer
	code := run(context.Background(), []string{"--database", db, "apply", "-f", file}, full, &errOut)
	if code != 1 || strings.Contains(errOut.String(), "applied") || !strings.Contains(errOut.String(), "nothing was changed") {
		t.Errorf("apply with nothing to change, output lost: exit %d, want 1 saying nothing was changed\n%s", code, errOut.String())
	}
}

// TestRecordOutputOnFullDisk checks the commands that print the record
// they created or changed, with no credential in it, on a full disk: the
// change is made, so the command must say so, as clients create and
// update do, not exit with a bare write error that reads as a refusal
// (run again, create answers "already exists").
func TestRecordOutputOnFullDisk(t *testing.T) {
	full := fullDisk(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("f", 40))
	db := migrated(t, testdb.SQLite(t))
	if code, out, errOut := cli(t, "maple-cinder-quartz-58\n", "--database", db, "users", "create", "--username", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("users create: exit %d\n%s%s", code, out, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"roles", "create", "tutor"}, "role tutor was created"},
		{[]string{"roles", "update", "tutor", "--description", "Tutors"}, "role tutor was changed"},
		{[]string{"scopes", "create", "grades:read"}, "scope grades:read was created"},
		{[]string{"scopes", "update", "grades:read", "--description", "Grades"}, "scope grades:read was changed"},
		{[]string{"users", "update", "alice", "--name", "Alice"}, "user alice was changed"},
	} {
		var errOut syncBuffer
		code := run(context.Background(), append([]string{"--database", db, "-o", "json"}, tc.args...), full, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), tc.want) || !strings.Contains(errOut.String(), "could not be written") {
			t.Errorf("%s: exit %d, want 1 saying %q and that the output could not be written\n%s", strings.Join(tc.args, " "), code, tc.want, errOut.String())
		}
	}
}

// fullDisk opens /dev/full, where every write fails with "no space left
// on device", for the test's output; closed when the test ends.
func fullDisk(t *testing.T) *os.File {
	t.Helper()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	t.Cleanup(func() { full.Close() })
	return full
}

// TestConfirmationOnFullDisk checks the commands that make a change and
// print only a line saying so (deletes, revocations, a factor reset, a
// migration, a re-encryption) with that line going to a full disk: the
// change is made, so the command must exit 1 saying on stderr what was
// changed, not 0 as though the line had been written.
func TestConfirmationOnFullDisk(t *testing.T) {
	full := fullDisk(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("f", 40))
	db := migrated(t, testdb.SQLite(t))
	for _, args := range [][]string{
		{"users", "create", "--username", "alice", "--password-stdin"},
		{"users", "create", "--username", "bob", "--password-stdin"},
		{"roles", "create", "tutor"},
		{"scopes", "create", "grades:read"},
		{"clients", "create", "--id", "gone", "--grant-type", "client_credentials"},
		{"clients", "create", "--id", "kept", "--grant-type", "client_credentials"},
	} {
		if code, out, errOut := cli(t, "maple-cinder-quartz-58\n", append([]string{"--database", db}, args...)...); code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
		// gone, when set, is a get that must fail after the change: it
		// was made.
		gone []string
	}{
		{[]string{"users", "delete", "alice"}, "user alice was deleted", []string{"users", "get", "alice"}},
		{[]string{"roles", "delete", "tutor"}, "role tutor was deleted", []string{"roles", "get", "tutor"}},
		{[]string{"scopes", "delete", "grades:read"}, "scope grades:read was deleted", []string{"scopes", "get", "grades:read"}},
		{[]string{"clients", "delete", "gone"}, "client gone was deleted", []string{"clients", "get", "gone"}},
		{[]string{"clients", "revoke-tokens", "kept"}, "every token of client kept was revoked", nil},
		{[]string{"users", "reset-factors", "bob"}, "the second factors of user bob were reset", nil},
		{[]string{"migrate"}, "the schema was up to date, so nothing was changed", nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var errOut syncBuffer
			code := run(context.Background(), append([]string{"--database", db}, tc.args...), full, &errOut)
			if code != 1 || !strings.Contains(errOut.String(), tc.want) || !strings.Contains(errOut.String(), "could not be written") {
				t.Errorf("exit %d, want 1 saying %q and that the output could not be written\n%s", code, tc.want, errOut.String())
			}
			if tc.gone != nil {
				if code, out, _ := cli(t, "", append([]string{"--database", db}, tc.gone...)...); code == 0 {
					t.Errorf("%s after the delete: exit 0, want it gone\n%s", strings.Join(tc.gone, " "), out)
				}
			}
		})
	}
	t.Run("migrate a new database", func(t *testing.T) {
		var errOut syncBuffer
		code := run(context.Background(), []string{"--database", testdb.SQLite(t), "migrate"}, full, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), "migration(s) were applied") || !strings.Contains(errOut.String(), "could not be written") {
			t.Errorf("exit %d, want 1 saying the migrations were applied and the output could not be written\n%s", code, errOut.String())
		}
	})
	t.Run("keys reencrypt", func(t *testing.T) {
		t.Setenv("HALLPASS_NEW_SECRET", strings.Repeat("n", 40))
		var errOut syncBuffer
		code := run(context.Background(), []string{"--database", db, "keys", "reencrypt"}, full, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), "the database now uses HALLPASS_NEW_SECRET") ||
			!strings.Contains(errOut.String(), "set HALLPASS_SECRET to the new secret") || !strings.Contains(errOut.String(), "could not be written") {
			t.Errorf("exit %d, want 1 saying the secret changed, what to do, and that the output could not be written\n%s", code, errOut.String())
		}
	})
}
