package provider_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/keys"
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

// TestAssemble checks the one wiring path on every backend: a first start
// generates the admin token and a signing key, a restart on the same
// database keeps both (no new token to show, the same key signing), and
// a missing store or sealer is refused before anything is written.
func TestAssemble(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := testdb.Open(t, dsn)
		sealer, err := keys.NewSealer(bytes.Repeat([]byte("s"), keys.MinSecretLen))
		if err != nil {
			t.Fatal(err)
		}
		cfg := provider.Config{Issuer: "https://id.example.test", Store: st, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
		first, err := provider.Assemble(ctx, cfg, provider.Wiring{Sealer: sealer})
		if err != nil {
			t.Fatalf("first Assemble: %v", err)
		}
		// Its back-channel logout worker polls the store until closed,
		// and logs into this test's output.
		t.Cleanup(first.Provider.Close)
		if err := provider.CheckAdminToken(first.GeneratedAdminToken); err != nil {
			t.Errorf("first start generated admin token %q: %v", first.GeneratedAdminToken, err)
		}
		kid := first.Keys.ActiveKeyID()
		if kid == "" || first.Provider == nil {
			t.Fatalf("first Assemble: active key %q, provider %v", kid, first.Provider)
		}

		adjusted := false
		again, err := provider.Assemble(ctx, cfg, provider.Wiring{Sealer: sealer, Adjust: func(*provider.Config) { adjusted = true }})
		if err != nil {
			t.Fatalf("second Assemble: %v", err)
		}
		t.Cleanup(again.Provider.Close)
		if again.GeneratedAdminToken != "" {
			t.Error("a restart generated another admin token")
		}
		if got := again.Keys.ActiveKeyID(); got != kid {
			t.Errorf("a restart signs with key %q, want the stored %q", got, kid)
		}
		if !adjusted {
			t.Error("Wiring.Adjust was not called")
		}

		if _, err := provider.Assemble(ctx, provider.Config{Issuer: cfg.Issuer}, provider.Wiring{Sealer: sealer}); err == nil || !strings.Contains(err.Error(), "no store") {
			t.Errorf("Assemble without a store: %v, want a refusal naming the store", err)
		}
		if _, err := provider.Assemble(ctx, cfg, provider.Wiring{}); err == nil || !strings.Contains(err.Error(), "sealer") {
			t.Errorf("Assemble without a sealer: %v, want a refusal naming the sealer", err)
		}
	})
}
