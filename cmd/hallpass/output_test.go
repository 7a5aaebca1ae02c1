package main

import (
	"strings"
	"testing"
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
