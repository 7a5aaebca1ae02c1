//go:build linux

package main

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
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
		_, err := g.secret(slog.New(slog.NewTextHandler(io.Discard, nil)))
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
