package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// concurrencyRounds is how often each race is repeated on the same store.
const concurrencyRounds = 20

// roundTimeout bounds one round of a race, so that a backend that deadlocks
// (e.g. a method that ignores the ctx transaction and waits for a second
// pooled connection) fails instead of hanging.
const roundTimeout = 30 * time.Second

// RunConcurrency runs races between goroutines sharing one store and checks
// that exactly one contender wins each: conditional token deactivation,
// creation of an active signing key, and transactions that read then
// deactivate a token. Losers must fail with storage.ErrConflict. Each race
// is repeated concurrencyRounds times. newStore has the same contract as
// for Run.
func RunConcurrency(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("DeactivateTokenRace", func(t *testing.T) {
		testDeactivateTokenRace(t, newStore(t))
	})
	t.Run("CreateActiveKeyRace", func(t *testing.T) {
		testCreateActiveKeyRace(t, newStore(t))
	})
	t.Run("TxDeactivateTokenRace", func(t *testing.T) {
		testTxDeactivateTokenRace(t, newStore(t))
	})
}

// race runs fn(0) … fn(n-1) in n goroutines released together and returns
// their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner fails the test unless exactly one error is nil and every other
// one matches storage.ErrConflict. It returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner, wins := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			wins++
		case errors.Is(err, storage.ErrConflict):
		default:
			t.Errorf("%s: contender %d: unexpected error: %v", what, i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%s: %d of %d contenders won, want exactly 1", what, wins, len(errs))
	}
	return winner
}

func testDeactivateTokenRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 20
	for round := range concurrencyRounds {
		sig := fmt.Sprintf("race-%d", round)
		noErr(t, s.CreateToken(ctx, fullToken(storage.KindAuthorizeCode, sig, "req", "client")), "CreateToken")
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(int) error {
			return s.DeactivateToken(rctx, storage.KindAuthorizeCode, sig)
		})
		cancel()
		oneWinner(t, fmt.Sprintf("round %d: DeactivateToken", round), errs)
		if mustGetToken(t, ctx, s, storage.KindAuthorizeCode, sig).Active {
			t.Fatalf("round %d: token still active after the race", round)
		}
	}
}

func testCreateActiveKeyRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 10
	for round := range concurrencyRounds {
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(i int) error {
			return s.CreateKey(rctx, &storage.Key{
				ID:        fmt.Sprintf("kid-%d-%d", round, i),
				Algorithm: "RS256",
				State:     storage.KeyActive,
				CreatedAt: baseTime(),
			})
		})
		cancel()
		w := oneWinner(t, fmt.Sprintf("round %d: CreateKey(active)", round), errs)
		var active []string
		for _, k := range mustListKeys(t, s) {
			if k.State == storage.KeyActive {
				active = append(active, k.ID)
			}
		}
		if want := fmt.Sprintf("kid-%d-%d", round, w); len(active) != 1 || active[0] != want {
			t.Fatalf("round %d: active keys %q, want [%q]", round, active, want)
		}
		// Retire the winner so that the next round can race again.
		noErr(t, s.UpdateKey(ctx, &storage.Key{ID: active[0], State: storage.KeyRetired}), "UpdateKey(retire)")
	}
}

func testTxDeactivateTokenRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 10
	for round := range concurrencyRounds {
		sig := fmt.Sprintf("tx-race-%d", round)
		noErr(t, s.CreateToken(ctx, fullToken(storage.KindRefreshToken, sig, "req", "client")), "CreateToken")
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(int) error {
			tx, err := s.BeginTX(rctx)
			if err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			err = func() error {
				tok, err := s.GetToken(tx, storage.KindRefreshToken, sig)
				if err != nil {
					return err
				}
				if !tok.Active {
					return fmt.Errorf("read an inactive token: %w", storage.ErrConflict)
				}
				return s.DeactivateToken(tx, storage.KindRefreshToken, sig)
			}()
			if err != nil {
				if rbErr := s.Rollback(tx); rbErr != nil {
					// Not wrapped: a failing rollback is never a clean loss.
					return fmt.Errorf("rollback after %v: %v", err, rbErr)
				}
				return err
			}
			return s.Commit(tx)
		})
		cancel()
		oneWinner(t, fmt.Sprintf("round %d: BeginTX+GetToken+DeactivateToken+Commit", round), errs)
		if mustGetToken(t, ctx, s, storage.KindRefreshToken, sig).Active {
			t.Fatalf("round %d: token still active after the race", round)
		}
	}
}
