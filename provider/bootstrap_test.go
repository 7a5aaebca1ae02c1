package provider_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

// TestAdminTokenLength: an operator's admin token shorter than 32 bytes is
// refused with the command that makes a good one; a generated token is
// long enough itself.
func TestAdminTokenLength(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, token string
		ok          bool
	}{
		{"compose's old default", "change-me-demo-admin-token", false},
		{"31 bytes", strings.Repeat("a", 31), false},
		{"32 bytes", strings.Repeat("a", 32), true},
		{"openssl rand -base64 32", "q0lNMFl6bFJQQ0x5ZWJ6b1RqRWQ0bHVvUGtGZ3JhS0E=", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testdb.Open(t, testdb.SQLite(t))
			digest, generated, err := provider.AdminTokenDigest(ctx, st, tc.token)
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "openssl rand -base64 32") || !strings.Contains(err.Error(), "at least 32") {
					t.Fatalf("AdminTokenDigest(%d bytes) = %v, want a refusal saying how to generate one", len(tc.token), err)
				}
				if _, err := st.GetSetting(ctx, "admin_token_sha256"); err == nil {
					t.Error("a refused token still stored a digest")
				}
				return
			}
			sum := sha256.Sum256([]byte(tc.token))
			if err != nil || generated != "" || string(digest) != string(sum[:]) {
				t.Fatalf("AdminTokenDigest(%d bytes) = %x, %q, %v; want the token's digest", len(tc.token), digest, generated, err)
			}
		})
	}

	t.Run("generated", func(t *testing.T) {
		st := testdb.Open(t, testdb.SQLite(t))
		_, generated, err := provider.AdminTokenDigest(ctx, st, "")
		if err != nil || generated == "" {
			t.Fatalf("AdminTokenDigest(\"\") = %q, %v", generated, err)
		}
		if err := provider.CheckAdminToken(generated); err != nil || len(generated) < provider.MinAdminTokenLen {
			t.Errorf("generated token of %d bytes is refused: %v", len(generated), err)
		}
	})
}
