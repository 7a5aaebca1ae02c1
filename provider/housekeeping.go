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

// RunHousekeeping calls Housekeep every interval until ctx ends.
func (p *Provider) RunHousekeeping(ctx context.Context, every time.Duration) {
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
			n, err := p.Housekeep(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				p.log.ErrorContext(ctx, "housekeeping failed", "deleted", n, "err", err)
			case n > 0:
				p.log.InfoContext(ctx, "housekeeping", "deleted", n)
			}
		}
	}
}
