package storagetest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// mustGetThrottle returns the entry of id (only ID set when there is none).
func mustGetThrottle(t *testing.T, ctx context.Context, s storage.Store, id string) storage.ThrottleEntry {
	t.Helper()
	es, err := s.GetThrottle(ctx, []string{id})
	noErr(t, err, "GetThrottle("+id+")")
	if len(es) != 1 {
		t.Fatalf("GetThrottle(%s) returned %d entries, want 1", id, len(es))
	}
	return es[0]
}

// put stores entries with UpdateThrottle.
func put(t *testing.T, ctx context.Context, s storage.Store, entries ...storage.ThrottleEntry) {
	t.Helper()
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	noErr(t, s.UpdateThrottle(ctx, ids, func([]storage.ThrottleEntry) []storage.ThrottleEntry { return entries }), "UpdateThrottle(put)")
}

func testThrottle(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a, b := "account-digest-a", "addr-digest-b"

	got, err := s.GetThrottle(ctx, []string{a, b})
	noErr(t, err, "GetThrottle of unknown ids")
	if len(got) != 2 {
		t.Fatalf("GetThrottle of 2 unknown ids returned %d entries", len(got))
	}
	check(t, "GetThrottle(unknown a)", storage.ThrottleEntry{ID: a}, got[0])
	check(t, "GetThrottle(unknown b)", storage.ThrottleEntry{ID: b}, got[1])
	none, err := s.GetThrottle(ctx, nil)
	noErr(t, err, "GetThrottle of no ids")
	if len(none) != 0 {
		t.Fatalf("GetThrottle of no ids returned %d entries", len(none))
	}

	// update sees the entries in the order of ids, absent ones empty.
	wantA := storage.ThrottleEntry{ID: a, Attempts: 3, LockedUntil: baseTime().Add(time.Minute), ExpiresAt: baseTime().Add(time.Hour)}
	wantB := storage.ThrottleEntry{ID: b, Attempts: 1, ExpiresAt: baseTime().Add(15 * time.Minute)}
	calls := 0
	noErr(t, s.UpdateThrottle(ctx, []string{b, a}, func(es []storage.ThrottleEntry) []storage.ThrottleEntry {
		calls++
		if len(es) != 2 || es[0].ID != b || es[1].ID != a || es[0].Attempts != 0 || !es[1].ExpiresAt.IsZero() {
			t.Errorf("update of absent entries was given %+v, want empty entries of %s, %s", es, b, a)
		}
		return []storage.ThrottleEntry{wantA, wantB}
	}), "UpdateThrottle(create)")
	if calls != 1 {
		t.Errorf("update ran %d times without contention, want 1", calls)
	}
	wantA.LockedUntil, wantA.ExpiresAt = stored(wantA.LockedUntil), stored(wantA.ExpiresAt)
	wantB.ExpiresAt = stored(wantB.ExpiresAt)
	check(t, "GetThrottle(a) after create", wantA, mustGetThrottle(t, ctx, s, a))
	check(t, "GetThrottle(b) after create", wantB, mustGetThrottle(t, ctx, s, b))

	// update sees the stored entries; what it does not return is kept.
	noErr(t, s.UpdateThrottle(ctx, []string{a, b}, func(es []storage.ThrottleEntry) []storage.ThrottleEntry {
		check(t, "update given a", wantA, es[0])
		check(t, "update given b", wantB, es[1])
		e := es[1]
		e.Attempts++
		e.LockedUntil = time.Time{}
		return []storage.ThrottleEntry{e}
	}), "UpdateThrottle(increment b)")
	wantB.Attempts = 2
	check(t, "GetThrottle(b) after an increment", wantB, mustGetThrottle(t, ctx, s, b))
	check(t, "GetThrottle(a), which update did not return", wantA, mustGetThrottle(t, ctx, s, a))

	// A lock can be lifted: a zero LockedUntil reads back zero.
	lifted := wantA
	lifted.LockedUntil = time.Time{}
	put(t, ctx, s, lifted)
	check(t, "GetThrottle(a) after lifting the lock", lifted, mustGetThrottle(t, ctx, s, a))
	put(t, ctx, s, wantA)

	// Returning nothing changes nothing.
	noErr(t, s.UpdateThrottle(ctx, []string{a}, func([]storage.ThrottleEntry) []storage.ThrottleEntry { return nil }), "UpdateThrottle(no change)")
	check(t, "GetThrottle(a) after no change", wantA, mustGetThrottle(t, ctx, s, a))

	// Bad calls fail and store nothing.
	changeA := func([]storage.ThrottleEntry) []storage.ThrottleEntry {
		return []storage.ThrottleEntry{{ID: a, Attempts: 99, ExpiresAt: baseTime()}}
	}
	anyErr(t, s.UpdateThrottle(ctx, nil, changeA), "UpdateThrottle without ids")
	anyErr(t, s.UpdateThrottle(ctx, []string{a, a}, changeA), "UpdateThrottle with an id twice")
	anyErr(t, s.UpdateThrottle(ctx, []string{a, ""}, changeA), "UpdateThrottle with an empty id")
	anyErr(t, s.UpdateThrottle(ctx, []string{b}, changeA), "UpdateThrottle returning an id it was not given")
	anyErr(t, s.UpdateThrottle(ctx, []string{a}, func([]storage.ThrottleEntry) []storage.ThrottleEntry {
		return []storage.ThrottleEntry{{ID: a, Attempts: 7, ExpiresAt: baseTime()}, {ID: a, Attempts: 8, ExpiresAt: baseTime()}}
	}), "UpdateThrottle returning an id twice")
	check(t, "GetThrottle(a) after refused updates", wantA, mustGetThrottle(t, ctx, s, a))

	// Inside a transaction: visible there, undone by Rollback.
	tx := beginTX(t, ctx, s)
	noErr(t, s.UpdateThrottle(tx, []string{a}, changeA), "UpdateThrottle in a transaction")
	if got := mustGetThrottle(t, tx, s, a); got.Attempts != 99 {
		t.Fatalf("inside the transaction, attempts = %d, want 99", got.Attempts)
	}
	noErr(t, s.Rollback(tx), "Rollback")
	check(t, "GetThrottle(a) after a rolled-back update", wantA, mustGetThrottle(t, ctx, s, a))

	// A zero ExpiresAt deletes the entry.
	noErr(t, s.UpdateThrottle(ctx, []string{a, b}, func(es []storage.ThrottleEntry) []storage.ThrottleEntry {
		return []storage.ThrottleEntry{{ID: a}}
	}), "UpdateThrottle(delete a)")
	check(t, "GetThrottle(a) after delete", storage.ThrottleEntry{ID: a}, mustGetThrottle(t, ctx, s, a))
	check(t, "GetThrottle(b) after deleting a", wantB, mustGetThrottle(t, ctx, s, b))
	// Deleting what does not exist is no error.
	noErr(t, s.UpdateThrottle(ctx, []string{a}, func(es []storage.ThrottleEntry) []storage.ThrottleEntry {
		return []storage.ThrottleEntry{{ID: a}}
	}), "UpdateThrottle(delete absent a)")

	// Ids are opaque strings, compared exactly.
	opaque := []string{"A", "a", "a ", "ä", strings.Repeat("f", 200)}
	for _, id := range opaque {
		put(t, ctx, s, storage.ThrottleEntry{ID: "k" + id, Attempts: len(id), ExpiresAt: baseTime()})
	}
	for _, id := range opaque {
		if got := mustGetThrottle(t, ctx, s, "k"+id); got.Attempts != len(id) {
			t.Errorf("GetThrottle(%q): attempts %d, want %d", "k"+id, got.Attempts, len(id))
		}
	}
}

// throttleLimit is how many attempts the reserve races allow.
const throttleLimit = 5

// reserve counts one attempt on both ids unless either already has
// throttleLimit, and reports whether it did: the check-then-count step a
// login makes before it checks a password.
func reserve(ctx context.Context, s storage.Store, ids []string) (bool, error) {
	var allowed bool
	err := s.UpdateThrottle(ctx, ids, func(es []storage.ThrottleEntry) []storage.ThrottleEntry {
		allowed = true
		for _, e := range es {
			if e.Attempts >= throttleLimit {
				allowed = false
			}
		}
		if !allowed {
			return nil
		}
		out := make([]storage.ThrottleEntry, len(es))
		for i, e := range es {
			e.Attempts++
			e.ExpiresAt = baseTime()
			out[i] = e
		}
		return out
	})
	return allowed, err
}

// testThrottleRace has contenders (spread over stores) each count attempts
// on a shared id at once: one round adds to a counter from every
// contender and must lose no increment; the next lets contenders reserve
// an attempt on (shared account, own address), where exactly
// throttleLimit may win, as parallel guesses for one account must not
// outrun its limit.
func testThrottleRace(t *testing.T, stores []storage.Store) {
	ctx := t.Context()
	const (
		contenders = 8
		increments = 5
	)
	for round := range concurrencyRounds / 2 {
		shared := fmt.Sprintf("shared-%d", round)
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		var calls atomic.Int64
		errs := race(contenders, func(i int) error {
			s := stores[i%len(stores)]
			for range increments {
				own := fmt.Sprintf("own-%d-%d", round, i)
				err := s.UpdateThrottle(rctx, []string{own, shared}, func(es []storage.ThrottleEntry) []storage.ThrottleEntry {
					calls.Add(1)
					for j := range es {
						es[j].Attempts++
						es[j].ExpiresAt = baseTime()
					}
					return es
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: contender %d: UpdateThrottle: %v", round, i, err)
			}
		}
		if got := mustGetThrottle(t, ctx, stores[0], shared); got.Attempts != contenders*increments {
			t.Fatalf("round %d: %d contenders each counted %d attempts on one id: it holds %d (update ran %d times)", round, contenders, increments, got.Attempts, calls.Load())
		}
		for i := range contenders {
			if got := mustGetThrottle(t, ctx, stores[0], fmt.Sprintf("own-%d-%d", round, i)); got.Attempts != increments {
				t.Fatalf("round %d: contender %d's own id holds %d attempts, want %d", round, i, got.Attempts, increments)
			}
		}

		account := fmt.Sprintf("account-%d", round)
		allowed := make([]bool, contenders*2)
		errs = race(len(allowed), func(i int) error {
			ok, err := reserve(rctx, stores[i%len(stores)], []string{fmt.Sprintf("addr-%d-%d", round, i), account})
			allowed[i] = ok
			return err
		})
		cancel()
		wins := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: reserver %d: %v", round, i, err)
			}
			if allowed[i] {
				wins++
			}
		}
		if wins != throttleLimit {
			t.Fatalf("round %d: %d parallel reservations on one account with limit %d: %d allowed", round, len(allowed), throttleLimit, wins)
		}
		if got := mustGetThrottle(t, ctx, stores[0], account); got.Attempts != throttleLimit {
			t.Fatalf("round %d: the account holds %d attempts, want %d", round, got.Attempts, throttleLimit)
		}
	}
}
