package provider_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
)

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
