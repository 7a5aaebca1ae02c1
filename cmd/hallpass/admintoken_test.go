package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/audit"
)

var (
	generatedTokenRE = regexp.MustCompile(`Generated admin token[^\n]*\n\n    (\S+)`)
	rotatedTokenRE   = regexp.MustCompile(`New admin token[^\n]*\n\n    (\S+)`)
)

// admin-token rotate replaces the stored token: a running server refuses
// the old one at once and accepts the new one. A token given by
// HALLPASS_ADMIN_TOKEN is never shadowed by a stored one.
func TestAdminTokenRotate(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("d", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "")
	db := "sqlite:rotate.db"
	in := startServe(t, "--database", db)
	m := generatedTokenRE.FindStringSubmatch(in.stdout.String())
	if m == nil {
		t.Fatalf("no generated token printed:\n%s", in.stdout.String())
	}
	old := m[1]
	if got := getStatus(t, in.base+"/admin/users", old); got != http.StatusOK {
		t.Fatalf("generated token: %d", got)
	}

	out, errOut, code := hallpass(t, db, "admin-token", "rotate")
	r := rotatedTokenRE.FindStringSubmatch(out)
	if code != 0 || r == nil {
		t.Fatalf("admin-token rotate: exit %d\n%s%s", code, out, errOut)
	}
	if got := getStatus(t, in.base+"/admin/users", old); got != http.StatusUnauthorized {
		t.Errorf("old token after rotate: %d, want 401", got)
	}
	if got := getStatus(t, in.base+"/admin/users", r[1]); got != http.StatusOK {
		t.Errorf("new token after rotate: %d, want 200", got)
	}
	// The audit log says who replaced the token (README "The audit log":
	// admin_token.changed), once: a restart on the rotated token adds
	// nothing.
	in.stop()
	restarted := startServe(t, "--database", db)
	restarted.stop()
	listed, errOut, code := hallpass(t, db, "audit", "list", "--type", "admin_token", "-o", "json")
	var entries []audit.EntryView
	if code != 0 || json.Unmarshal([]byte(listed), &entries) != nil {
		t.Fatalf("audit list: exit %d\n%s%s", code, listed, errOut)
	}
	if n := len(entries); n != 2 || entries[1].Type != "admin_token.changed" || entries[1].Actor != cliActor() {
		t.Errorf("admin_token entries after rotate and restart = %+v, want generated then changed by %s", entries, cliActor())
	}

	// The operator's token wins over the stored (rotated) one, which
	// stops working, and cannot be rotated from under them.
	const chosen = "operator-chosen-admin-token-0123456789"
	t.Setenv("HALLPASS_ADMIN_TOKEN", chosen)
	again := startServe(t, "--database", db)
	if got := getStatus(t, again.base+"/admin/users", chosen); got != http.StatusOK {
		t.Errorf("HALLPASS_ADMIN_TOKEN: %d, want 200", got)
	}
	if got := getStatus(t, again.base+"/admin/users", r[1]); got != http.StatusUnauthorized {
		t.Errorf("stored token with HALLPASS_ADMIN_TOKEN set: %d, want 401", got)
	}
	if _, errOut, code := hallpass(t, db, "admin-token", "rotate"); code != 1 || !strings.Contains(errOut, "HALLPASS_ADMIN_TOKEN is set") {
		t.Errorf("rotate with HALLPASS_ADMIN_TOKEN set: exit %d\n%s", code, errOut)
	}
}
