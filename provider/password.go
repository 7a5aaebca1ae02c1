package provider

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/hallpass/hallpass/directory"
)

// errPasswordsBusy is returned when no password check could start within
// the wait: the request is answered 503 with Retry-After.
var errPasswordsBusy = errors.New("too many password checks at once")

// passwordGate bounds how many argon2id computations run at once. Each
// takes 19 MiB of memory (directory.HashPassword) and a CPU for tens of milliseconds, so
// without a bound a burst of sign-ins (or of guesses) would take the
// process's memory with it: 16 at once are about 450 MB. With it, a
// burst costs about base + n × 19 MiB (BenchmarkLoginPeakRSS in
// cmd/hallpass measures it).
type passwordGate struct {
	slots chan struct{}
	wait  time.Duration
	// observe, when set, is told how long each enter waited, whether it
	// got a slot or not (metrics).
	observe func(waited time.Duration)
}

func newPasswordGate(n int, wait time.Duration) *passwordGate {
	return &passwordGate{slots: make(chan struct{}, n), wait: wait}
}

// enter waits, at most g.wait and no longer than ctx lasts, until fewer
// than the bound of password checks run, and returns the function that
// ends this one; errPasswordsBusy when none could start.
func (g *passwordGate) enter(ctx context.Context) (leave func(), err error) {
	if g.observe != nil {
		start := time.Now()
		defer func() { g.observe(time.Since(start)) }()
	}
	leave = func() {
		// The check's 19 MiB are garbage now; the pacer would let them
		// pile up to GOGC percent of the live heap, which a check in
		// flight makes large (serve runs with GOGC 400: five times a
		// check's memory and more). So they are collected now. When
		// every slot is taken (a burst: others wait), before the next
		// check allocates its own, so the bound limits memory as well
		// as CPU; otherwise after the slot is free and without making
		// this request wait for it.
		if len(g.slots) == cap(g.slots) {
			runtime.GC()
			<-g.slots
			return
		}
		<-g.slots
		go runtime.GC()
	}
	select {
	case g.slots <- struct{}{}:
		return leave, nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return leave, nil
	case <-t.C:
		return nil, errPasswordsBusy
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errPasswordsBusy, ctx.Err())
	}
}

// retryAfter is what a refused caller is told to wait: about as long as
// it already waited in vain.
func (g *passwordGate) retryAfter() string { return retryAfter(g.wait) }

// gatedHasher hashes the passwords set through the admin API within the
// bound that sign-ins share, so a burst of either cannot exhaust memory.
type gatedHasher struct{ gate *passwordGate }

// Enter waits for a slot of the gate.
func (h gatedHasher) Enter(ctx context.Context) (func(), error) { return h.gate.enter(ctx) }

// Hash returns directory.HashPassword(password).
func (gatedHasher) Hash(password string) (string, error) { return directory.HashPassword(password) }
