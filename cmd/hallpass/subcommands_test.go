package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestUnknownSubcommandRefused: a group command (users, keys…) given a
// subcommand it does not have exits 1 naming it, as the root does, rather
// than printing help and exiting 0 as if it had run; alone it shows its
// help and exits 0.
func TestUnknownSubcommandRefused(t *testing.T) {
	for _, group := range []string{"users", "clients", "roles", "scopes", "keys", "admin-token", "audit"} {
		t.Run(group, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{group, "frobnicate"}, &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
				t.Errorf("hallpass %s frobnicate: exit %d, stderr %q; want 1 and unknown command", group, code, stderr.String())
			}
			stdout.Reset()
			if code := run(context.Background(), []string{group}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Available Commands") {
				t.Errorf("hallpass %s: exit %d, stdout %q; want its help and 0", group, code, stdout.String())
			}
		})
	}
}
