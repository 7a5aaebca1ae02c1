//go:build linux

package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// secretChildEnv names, in the environment of this test binary run again
// as a child, the secret file the child is to write under a file-size
// limit.
const secretChildEnv = "SECRET_FILE_WRITE_CHILD"

// TestSecretFileWriteFailureLeavesNothing: when writing the generated
// secret fails (a full disk, here a file-size limit), the start fails and
// no secret file is left behind, where an empty one would make every
// later start fail with "holds fewer than 32 characters" until deleted.
// The limit is the process's, so a child process writes the file; the
// child answers by its exit status, as its own output is limited too.
func TestSecretFileWriteFailureLeavesNothing(t *testing.T) {
	if path := os.Getenv(secretChildEnv); path != "" {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 8, Max: 8}); err != nil {
			os.Exit(4)
		}
		g := &globalOptions{secretFile: path}
		_, err := g.secret(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		if err == nil {
			os.Exit(2) // the write was not refused
		}
		if _, err := os.Stat(path); err == nil {
			os.Exit(3) // a secret file was left behind
		}
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "hallpass.secret")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecretFileWriteFailureLeavesNothing$")
	cmd.Env = append(os.Environ(), secretChildEnv+"="+path)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run the child: %v", err)
	}
	switch code {
	case 0:
	case 2:
		t.Error("writing the secret under a file-size limit reported no error")
	case 3:
		t.Error("a failed write of the secret left the secret file behind")
	default:
		t.Fatalf("child exited %d", code)
	}
}

// TestSecretFileDirectorySynced: the new secret file's directory is synced
// after the file, or a crash could lose the file's name while the keys
// encrypted under it are in the database; a sync that fails fails the
// write and leaves no file.
func TestSecretFileDirectorySynced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hallpass.secret")
	var synced []string
	if err := writeSecretFile(path, strings.Repeat("s", 40)+"\n", func(dir string) error {
		synced = append(synced, dir)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != filepath.Dir(path) {
		t.Errorf("directories synced: %q, want [%q]", synced, filepath.Dir(path))
	}
	failed := filepath.Join(t.TempDir(), "hallpass.secret")
	if err := writeSecretFile(failed, strings.Repeat("s", 40)+"\n", func(string) error { return errors.New("EIO") }); err == nil {
		t.Error("a failed sync of the directory reported no error")
	}
	if _, err := os.Stat(failed); err == nil {
		t.Error("a failed sync of the directory left the secret file behind")
	}
	// The real sync works on a real directory.
	if err := writeNewSecretFile(filepath.Join(t.TempDir(), "s"), "x\n"); err != nil {
		t.Errorf("writeNewSecretFile: %v", err)
	}
}

// TestSecretFileOthersWarned: a secret file others may read or write is
// used, with a warning naming the file and its mode; a private one gets
// none.
func TestSecretFileOthersWarned(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o400, false}, {0o644, true}, {0o660, true}} {
		path := filepath.Join(t.TempDir(), "hallpass.secret")
		if err := os.WriteFile(path, []byte(strings.Repeat("w", 40)), tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil { // past the umask
			t.Fatal(err)
		}
		var logged strings.Builder
		g := &globalOptions{secretFile: path}
		if _, err := g.secret(slog.New(slog.NewTextHandler(&logged, nil)), nil); err != nil {
			t.Fatalf("mode %#o: %v", tc.mode, err)
		}
		if got := strings.Contains(logged.String(), "chmod 600"); got != tc.warn {
			t.Errorf("mode %#o: warned %v, want %v:\n%s", tc.mode, got, tc.warn, logged.String())
		}
	}
}

// TestSecretFileDanglingSymlink: a symbolic link at the secret file's path
// to a file that does not exist is refused saying so, and nothing is
// created through it; a link to a secret file is read.
func TestSecretFileDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "mounted", "secret")
	link := filepath.Join(dir, "hallpass.secret")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	g := &globalOptions{secretFile: link}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err := g.secret(log, nil)
	if err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), target) {
		t.Errorf("secret through a dangling link: %v, want a refusal naming the link and %s", err, target)
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("a secret file was created through the link")
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte(strings.Repeat("l", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := g.secret(log, nil); err != nil || string(s) != strings.Repeat("l", 40) {
		t.Errorf("secret through a link to a file: %q, %v", s, err)
	}
}

// TestSecretFromEnvironmentWhitespace: HALLPASS_SECRET is measured
// without whitespace at either end, as the file is, so a blank or padded
// short value is refused; a padded secret long enough is used as given
// (the keys may be sealed under it) with a warning, which says why a
// start with the file's trimmed copy of it does not match.
func TestSecretFromEnvironmentWhitespace(t *testing.T) {
	long := strings.Repeat("e", 40)
	for _, tc := range []struct {
		name, secret string
		refused      bool
		warned       bool
	}{
		{"plain", long, false, false},
		{"blank", strings.Repeat(" ", 40), true, false},
		{"short padded", strings.Repeat("e", 20) + strings.Repeat("\n", 20), true, false},
		{"trailing newline", long + "\n", false, true},
		{"leading space", " " + long, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HALLPASS_SECRET", tc.secret)
			var logged strings.Builder
			g := &globalOptions{secretFile: filepath.Join(t.TempDir(), "unused.secret")}
			got, err := g.secret(slog.New(slog.NewTextHandler(&logged, nil)), nil)
			if refused := err != nil; refused != tc.refused {
				t.Fatalf("refused %v (%v), want %v", refused, err, tc.refused)
			}
			if !tc.refused && string(got) != tc.secret {
				t.Errorf("secret %q, want %q as given", got, tc.secret)
			}
			if warned := strings.Contains(logged.String(), "whitespace"); warned != tc.warned {
				t.Errorf("warned %v, want %v:\n%s", warned, tc.warned, logged.String())
			}
		})
	}
}
