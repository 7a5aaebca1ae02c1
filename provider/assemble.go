package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/storage"
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
	if cfg.Logger != nil {
		// Log lines of a traced request carry its trace and span ids,
		// and those logged with a request's context its request id.
		cfg.Logger = observedLogger(cfg.Logger)
	}
	if w.Keys.Logger == nil {
		w.Keys.Logger = cfg.Logger
	}
	// The audit log records the key manager's changes and has its
	// checkpoints signed by it: made first, signing through km once it
	// exists (no checkpoint is due before the keys are loaded).
	var km *keys.Manager
	if cfg.Audit == nil {
		cfg.Audit = audit.New(cfg.Store, audit.Options{Logger: cfg.Logger, Now: cfg.Now, CheckpointEvery: cfg.AuditCheckpointEvery,
			Signer: audit.SignerFunc(func(payload []byte, typ string) (string, error) { return km.Sign(payload, typ) })})
	}
	if w.Keys.Audit == nil {
		w.Keys.Audit = cfg.Audit
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
	if err := recordAdminToken(ctx, cfg.Store, cfg.Audit, digest, generated != ""); err != nil {
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

// adminTokenFingerprint names an admin token in the audit log by the
// start of a hash of its stored digest.
func adminTokenFingerprint(digest []byte) string {
	sum := sha256.Sum256(digest)
	return hex.EncodeToString(sum[:8])
}

// recordAdminToken records in the audit log that the admin token was
// generated, or that the token this start was configured with is not the
// one the log last saw (it was changed). It names the token by a
// fingerprint of its digest: enough to tell tokens apart, nothing to
// guess one from.
func recordAdminToken(ctx context.Context, s storage.Store, log *audit.Log, digest []byte, generated bool) error {
	fp := adminTokenFingerprint(digest)
	ctx = audit.WithActor(ctx, "hallpass")
	if generated {
		log.Record(ctx, audit.Event{Action: "admin_token.generated", Object: "admin_token", Details: map[string]any{"fingerprint": fp}})
		return nil
	}
	es, err := s.ListAudit(ctx, storage.AuditQuery{Action: "admin_token"})
	if err != nil {
		return fmt.Errorf("read the admin token's audit entries: %w", err)
	}
	action := "admin_token.configured"
	if len(es) > 0 {
		if strings.Contains(es[len(es)-1].Details, `"fingerprint":"`+fp+`"`) {
			return nil
		}
		action = "admin_token.changed"
	}
	log.Record(ctx, audit.Event{Action: action, Object: "admin_token", Details: map[string]any{"fingerprint": fp}})
	return nil
}
