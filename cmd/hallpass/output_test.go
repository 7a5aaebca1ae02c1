package main

import (
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// TestPrintYAML checks that -o yaml prints numbers as JSON spells them:
// a Unix timestamp (client_id_issued_at) stays an integer, not
// 1.79664025e+09.
func TestPrintYAML(t *testing.T) {
	type record struct {
		IssuedAt  int64              `json:"client_id_issued_at"`
		ExpiresAt int64              `json:"client_secret_expires_at"`
		Ratio     float64            `json:"ratio"`
		Nested    []map[string]int64 `json:"nested"`
	}
	tests := []struct {
		name string
		v    any
		want []string
	}{
		{"timestamp", record{IssuedAt: 1796640250, Ratio: 0.5, Nested: []map[string]int64{{"count": 1796640253}}},
			[]string{"client_id_issued_at: 1796640250\n", "client_secret_expires_at: 0\n", "ratio: 0.5\n", "- count: 1796640253\n"}},
		{"large integer", map[string]int64{"seq": 9007199254740993}, []string{"seq: 9007199254740993\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := printYAML(&b, tt.v); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("YAML lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// TestBadOutputFormatChangesNothing checks that a command given an
// --output it cannot print is refused before it changes anything. The
// format was checked only when printing, after the change: `clients
// create -o xml` created the client and lost its secret, `keys rotate -o
// xml` rotated the key, and both exited 1 as if refused.
func TestBadOutputFormatChangesNothing(t *testing.T) {
	t.Setenv("HALLPASS_SECRET", strings.Repeat("o", 40))
	db := migrated(t, testdb.SQLite(t))
	keysBefore, _, code := hallpass(t, db, "keys", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("keys list: exit %d", code)
	}
	for _, args := range [][]string{
		{"clients", "create", "--id", "app", "--grant-type", "client_credentials"},
		{"users", "create", "--username", "dana"},
		{"roles", "create", "teacher"},
		{"scopes", "create", "results:read"},
		{"keys", "rotate"},
	} {
		code, out, errOut := cli(t, "", append([]string{"--database", db, "-o", "xml"}, args...)...)
		if code != 1 || !strings.Contains(errOut, `--output "xml"`) || out != "" {
			t.Errorf("%q -o xml: exit %d, want 1 refusing the format\n%s%s", args, code, out, errOut)
		}
	}
	for _, get := range [][]string{{"clients", "get", "app"}, {"users", "get", "dana"}, {"roles", "get", "teacher"}, {"scopes", "get", "results:read"}} {
		if code, out, _ := cli(t, "", append([]string{"--database", db}, get...)...); code != 1 {
			t.Errorf("%q after the refused create: exit %d, want 1 (not found)\n%s", get, code, out)
		}
	}
	if keysAfter, _, _ := hallpass(t, db, "keys", "list", "-o", "json"); keysAfter != keysBefore {
		t.Errorf("keys changed by the refused rotate:\nbefore %s\nafter  %s", keysBefore, keysAfter)
	}
}
