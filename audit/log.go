package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/internal/jws"
	"github.com/hallpass/hallpass/storage"
)

// Store is what the Log needs of storage.
type Store interface {
	AppendAudit(ctx context.Context, e *storage.AuditEntry, seal func(*storage.AuditEntry) string) error
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
	CreateAuditCheckpoint(ctx context.Context, c *storage.AuditCheckpoint) error
	ListAuditCheckpoints(ctx context.Context) ([]storage.AuditCheckpoint, error)
	PruneAudit(ctx context.Context, through int64) (int, error)
	// AfterCommit runs fn once the transaction ctx carries has
	// committed, at once without one (storage.Store's).
	AfterCommit(ctx context.Context, fn func(ctx context.Context))
}

// Signer signs checkpoints: keys.Manager.
type Signer interface {
	// Sign returns payload as a compact JWS with a kid header.
	Sign(payload []byte, typ string) (string, error)
}

// SignerFunc adapts a function to Signer.
type SignerFunc func(payload []byte, typ string) (string, error)

// Sign calls f.
func (f SignerFunc) Sign(payload []byte, typ string) (string, error) { return f(payload, typ) }

// Options tunes a Log; the zero value records without checkpoints.
type Options struct {
	// Logger receives one structured line per entry (message "audit"),
	// so entries can ship to a SIEM; nil means slog.Default().
	Logger *slog.Logger
	// Now stamps entries and checkpoints; nil means time.Now.
	Now func() time.Time
	// Signer signs checkpoints; nil makes none.
	Signer Signer
	// CheckpointEvery makes a checkpoint at every entry whose Seq is a
	// multiple of it; 0 means 100. Checkpoint makes the others (every
	// minute, from housekeeping).
	CheckpointEvery int
}

// CheckpointType is the typ header of a checkpoint's JWS.
const CheckpointType = "hallpass-audit-checkpoint+jws"

// Log appends events to the audit chain and signs its checkpoints. It is
// safe for concurrent use, and any number of replicas may share a store.
type Log struct {
	store Store
	opts  Options
	// lastCheckpoint is the highest Seq this process knows a checkpoint
	// for, so an idle minute makes none.
	lastCheckpoint atomic.Int64
	// failures counts entries that could not be stored (metrics).
	failures atomic.Int64
}

// New returns a Log on store.
func New(store Store, opts Options) *Log {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 100
	}
	return &Log{store: store, opts: opts}
}

// Failures returns how many entries could not be stored since New.
func (l *Log) Failures() int64 {
	if l == nil {
		return 0
	}
	return l.failures.Load()
}

// Record appends ev to the chain, with the actor and request of ctx, and
// writes it as one structured log line. It does not fail the caller's
// operation, which has already happened: an entry the store refuses is
// logged at error level with every field (and counted), so the record
// survives in the logs. A nil Log records nothing.
//
// Inside a transaction ctx carries, only the entry's row is written in
// it: the log line (or the failure's), the count and the checkpoint due
// follow once it commits (Store.AfterCommit). Rolled back, the entry was
// never stored and the line would show it, and its seq, which the next
// entry takes; run again (a retried transaction), it is recorded again.
func (l *Log) Record(ctx context.Context, ev Event) {
	if l == nil {
		return
	}
	req := requestOf(ctx)
	e := &storage.AuditEntry{
		Time: l.opts.Now(), Actor: ev.Actor, Action: keepable(ev.Action), Object: keepable(ev.Object),
		ClientAddr: keepable(req.clientAddr), UserAgent: keepable(req.userAgent), ClientID: keepable(ev.ClientID),
	}
	if e.Actor == "" {
		e.Actor = Actor(ctx)
	}
	e.Actor = keepable(e.Actor)
	if len(ev.Details) > 0 {
		b, err := json.Marshal(ev.Details)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"error": "details not encodable: " + err.Error()})
		}
		e.Details = string(b)
	}
	// Stored even if the request is cancelled meanwhile: it records
	// what already happened. A transaction ctx carries would hold the
	// chain's lock until it ends, so callers record after committing
	// where they can.
	err := l.store.AppendAudit(context.WithoutCancel(ctx), e, Hash)
	l.store.AfterCommit(ctx, func(after context.Context) { l.written(ctx, after, e, err) })
}

// written logs e, which AppendAudit stored, or failed to with err, and
// makes the checkpoint due, once the entry's transaction committed. The
// line is logged with ctx, Record's; the checkpoint is made in after,
// which carries no transaction.
func (l *Log) written(ctx, after context.Context, e *storage.AuditEntry, err error) {
	attrs := []slog.Attr{
		slog.Int64("seq", e.Seq), slog.String("action", e.Action), slog.String("actor", e.Actor),
		slog.String("object", e.Object), slog.String("client_addr", e.ClientAddr),
		slog.String("user_agent", e.UserAgent), slog.String("client_id", e.ClientID),
		slog.String("details", e.Details), slog.String("hash", e.Hash),
	}
	if err != nil {
		l.failures.Add(1)
		l.opts.Logger.LogAttrs(ctx, slog.LevelError, "audit entry not stored", append(attrs, slog.Any("err", err))...)
		return
	}
	l.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
	if l.opts.Signer != nil && e.Seq%int64(l.opts.CheckpointEvery) == 0 {
		if err := l.checkpoint(after, e.Seq, e.Hash); err != nil {
			l.opts.Logger.Error("audit checkpoint not made", "seq", e.Seq, "err", err)
		}
	}
}

// checkpointClaims is the payload of a checkpoint's JWS.
type checkpointClaims struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// Checkpoint signs the chain's head, unless it has a checkpoint already.
// Housekeeping calls it every minute; a checkpoint another replica made
// at the same head is no failure.
func (l *Log) Checkpoint(ctx context.Context) error {
	if l == nil || l.opts.Signer == nil {
		return nil
	}
	seq, hash, err := l.store.AuditHead(ctx)
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	if seq == 0 || seq <= l.lastCheckpoint.Load() {
		return nil
	}
	return l.checkpoint(ctx, seq, hash)
}

func (l *Log) checkpoint(ctx context.Context, seq int64, hash string) error {
	now := l.opts.Now().UTC().Truncate(time.Microsecond)
	payload, err := json.Marshal(checkpointClaims{Seq: seq, Hash: hash, Time: now})
	if err != nil {
		return fmt.Errorf("audit checkpoint %d: %w", seq, err)
	}
	jws, err := l.opts.Signer.Sign(payload, CheckpointType)
	if err != nil {
		return fmt.Errorf("audit checkpoint %d: sign: %w", seq, err)
	}
	kid, err := keyID(jws)
	if err != nil {
		return fmt.Errorf("audit checkpoint %d: %w", seq, err)
	}
	err = l.store.CreateAuditCheckpoint(ctx, &storage.AuditCheckpoint{Seq: seq, Hash: hash, Time: now, KeyID: kid, Signature: jws})
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("audit checkpoint %d: %w", seq, err)
	}
	for {
		last := l.lastCheckpoint.Load()
		if seq <= last || l.lastCheckpoint.CompareAndSwap(last, seq) {
			return nil
		}
	}
}

// keyID returns the kid header of a compact JWS.
func keyID(compact string) (string, error) {
	if _, err := jws.Parse(compact); err != nil {
		return "", fmt.Errorf("parse signature: %w", err)
	}
	sig, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "", fmt.Errorf("parse signature: %w", err)
	}
	if len(sig.Signatures) != 1 || sig.Signatures[0].Header.KeyID == "" {
		return "", errors.New("signature without a kid")
	}
	return sig.Signatures[0].Header.KeyID, nil
}

// Prune deletes the entries older than cutoff that a checkpoint covers:
// those up to the newest checkpoint made before cutoff (so each of them
// was appended before it too). The checkpoint stays, and the chain that
// remains is verified from it. Pruning is itself recorded, as
// "audit.pruned" with the seq it pruned through, which Verify requires
// of a chain that does not start at 1. It returns how many entries it
// deleted.
func (l *Log) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	cps, err := l.store.ListAuditCheckpoints(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	var through int64
	for _, c := range cps {
		if c.Time.Before(cutoff) {
			through = c.Seq
		}
	}
	if through == 0 {
		return 0, nil
	}
	n, err := l.store.PruneAudit(ctx, through)
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	if n > 0 {
		l.Record(WithActor(ctx, "hallpass"), Event{Action: "audit.pruned", Object: "audit",
			Details: map[string]any{"through": through, "entries": n, "cutoff": cutoff.UTC().Format(time.RFC3339)}})
	}
	return n, nil
}
