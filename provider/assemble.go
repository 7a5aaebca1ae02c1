package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hallpass/hallpass/keys"
)

// Wiring is what Assemble needs besides the Config: how the secrets at
// rest are sealed, how the signing keys are scheduled, and the admin
// token.
type Wiring struct {
	// Sealer seals the signing keys and the token secret in the store.
	Sealer *keys.Sealer
	// Keys are the key manager's options; a nil Logger becomes the
	// Config's.
	Keys keys.Options
	// AdminToken is the operator's admin bearer token. Empty keeps the
	// stored digest or, on first start, generates a token (see
	// AdminTokenDigest and Assembly.GeneratedAdminToken).
	AdminToken string
	// Adjust, when set, edits the finished Config just before New. It
	// exists for tests, which wrap the store the provider sees or swap
	// its key manager; the key manager and the secrets are made from the
	// Config's store before Adjust runs.
	Adjust func(*Config)
}

// Assembly is a wired provider and the parts its runner keeps driving.
type Assembly struct {
	Provider *Provider
	// Keys is the signing-key manager the provider signs with; the runner
	// ticks it on its schedule.
	Keys *keys.Manager
	// GeneratedAdminToken is set only when this start generated the admin
	// token: the caller shows it once, it is stored only as a digest.
	GeneratedAdminToken string
}

// Assemble is the one way hallpass is wired, for `hallpass serve` and for
// the tests that run the real server: it opens the signing keys on
// cfg.Store (running any rotation step that came due while no server
// ran), loads or creates the token secret and the admin token digest,
// fills them into cfg and calls New. The store must be migrated already.
func Assemble(ctx context.Context, cfg Config, w Wiring) (*Assembly, error) {
	if cfg.Store == nil {
		return nil, errors.New("assemble provider: no store")
	}
	if w.Keys.Logger == nil {
		w.Keys.Logger = cfg.Logger
	}
	km, err := keys.NewManager(cfg.Store, w.Sealer, w.Keys)
	if err != nil {
		return nil, err
	}
	if err := km.Tick(ctx); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	tokenSecret, err := TokenSecret(ctx, cfg.Store, w.Sealer)
	if err != nil {
		return nil, err
	}
	digest, generated, err := AdminTokenDigest(ctx, cfg.Store, w.AdminToken)
	if err != nil {
		return nil, err
	}
	cfg.Keys, cfg.TokenSecret, cfg.AdminTokenDigest, cfg.Sealer = km, tokenSecret, digest, w.Sealer
	// A token given by the operator is the only one accepted: a stored
	// one (generated or rotated earlier) never shadows it.
	cfg.AdminTokenStored = w.AdminToken == ""
	if w.Adjust != nil {
		w.Adjust(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := p.EnsureSelfClient(ctx); err != nil {
		// The console and the account page cannot sign anyone in, but
		// everything else works: a warning, not a failed start.
		cfg.Logger.Warn("the admin console and the account page are unavailable", "err", err)
	}
	return &Assembly{Provider: p, Keys: km, GeneratedAdminToken: generated}, nil
}
