package provider

import (
	"context"
	"fmt"
	"time"
)

// housekeepingBatch bounds each delete, so housekeeping never holds a
// long lock on a busy table.
const housekeepingBatch = 500

// Housekeep deletes everything that has expired — codes, tokens, browser
// sessions, pending authorization requests, client-assertion JTIs, login
// throttle counts — in
// batches until none is left, and returns how many rows went. Replicas may
// run it at once: a row deleted by one is simply not there for another.
// Refresh tokens stay until they expire even when spent, so reuse is
// detected for as long as it matters.
func (p *Provider) Housekeep(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := p.cfg.Store.DeleteExpired(ctx, p.cfg.Now().UTC(), housekeepingBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("housekeeping: %w", err)
		}
		if n < housekeepingBatch {
			return total, nil
		}
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// RunHousekeeping calls Housekeep, then PruneAudit, every interval until
// ctx ends.
func (p *Provider) RunHousekeeping(ctx context.Context, every time.Duration) {
	repeat(ctx, every, func() {
		n, err := p.Housekeep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			p.log.ErrorContext(ctx, "housekeeping failed", "deleted", n, "err", err)
		case n > 0:
			p.log.InfoContext(ctx, "housekeeping", "deleted", n)
		}
		if n, err := p.PruneAudit(ctx); err != nil && ctx.Err() == nil {
			p.log.ErrorContext(ctx, "audit log pruning failed", "err", err)
		} else if n > 0 {
			p.log.InfoContext(ctx, "audit log pruned", "deleted", n)
		}
	})
}

// repeat calls fn every interval until ctx ends; a non-positive interval
// never calls it. The background loops of a server share it.
func repeat(ctx context.Context, every time.Duration, fn func()) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// PruneAudit deletes the audit entries older than Config.AuditRetention
// that a signed checkpoint covers, recording that it did (audit.Log.Prune),
// and returns how many went; with no retention set it keeps everything.
func (p *Provider) PruneAudit(ctx context.Context) (int, error) {
	if p.cfg.AuditRetention <= 0 {
		return 0, nil
	}
	return p.audit.Prune(ctx, p.cfg.Now().Add(-p.cfg.AuditRetention))
}

// AuditCheckpoint signs the audit chain's head unless a checkpoint covers
// it already.
func (p *Provider) AuditCheckpoint(ctx context.Context) error {
	return p.audit.Checkpoint(ctx)
}

// RunAuditCheckpoints calls AuditCheckpoint every interval until ctx
// ends, so that no entry stays unsigned much longer than that however few
// follow it.
func (p *Provider) RunAuditCheckpoints(ctx context.Context, every time.Duration) {
	repeat(ctx, every, func() {
		if err := p.AuditCheckpoint(ctx); err != nil && ctx.Err() == nil {
			p.log.ErrorContext(ctx, "audit checkpoint failed", "err", err)
		}
	})
}
