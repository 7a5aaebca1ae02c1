package storagetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/hallpass/hallpass/storage"
)

// afterLog records what AfterCommit ran, in order.
type afterLog struct {
	mu  sync.Mutex
	ran []string
}

func (l *afterLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ran = append(l.ran, s)
}

func (l *afterLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ran := l.ran
	l.ran = nil
	return ran
}

// testAfterCommit: AfterCommit runs its work at once without a
// transaction; inside one, only after the commit (in order, with a
// context it may write with), and never when the transaction rolls back,
// whether InTransaction's or BeginTX's, nested or not.
func testAfterCommit(t *testing.T, s storage.Store) {
	ctx := t.Context()
	boom := errors.New("boom")
	var log afterLog
	queue := func(ctx context.Context, name string) {
		s.AfterCommit(ctx, func(context.Context) { log.add(name) })
	}
	want := func(what string, names ...string) {
		t.Helper()
		if got := log.take(); !slices.Equal(got, names) {
			t.Fatalf("%s: ran %q, want %q", what, got, names)
		}
	}

	queue(ctx, "now")
	want("without a transaction", "now")

	// Committed: runs after the commit, in order, once; the work's
	// context carries no transaction (its write commits on its own, and
	// on SQLite does not wait for the turn the transaction held).
	noErr(t, s.InTransaction(ctx, func(tx context.Context) error {
		queue(tx, "first")
		noErr(t, s.CreateRole(tx, &storage.Role{Name: "after-role", CreatedAt: baseTime(), UpdatedAt: baseTime()}), "CreateRole in tx")
		s.AfterCommit(tx, func(ctx context.Context) {
			// The change is there for a reader outside it.
			mustGetRole(t, ctx, s, "after-role")
			noErr(t, s.PutSetting(ctx, "after-commit", []byte("1")), "a write of the work after the commit")
			log.add("second")
		})
		want("inside the transaction")
		return nil
	}), "InTransaction")
	want("after the commit", "first", "second")
	if v, err := s.GetSetting(ctx, "after-commit"); err != nil || string(v) != "1" {
		t.Fatalf("the work's write: %q, %v", v, err)
	}

	// Rolled back: dropped.
	err := s.InTransaction(ctx, func(tx context.Context) error {
		queue(tx, "rolled back")
		return boom
	})
	errIs(t, err, boom, "failed InTransaction")
	want("after a rollback")

	// Nested: waits for the outer commit, and goes with its failure.
	noErr(t, s.InTransaction(ctx, func(outer context.Context) error {
		noErr(t, s.InTransaction(outer, func(inner context.Context) error {
			queue(inner, "nested")
			return nil
		}), "nested InTransaction")
		want("after the nested call, before the outer commit")
		return nil
	}), "outer InTransaction")
	want("after the outer commit", "nested")
	err = s.InTransaction(ctx, func(outer context.Context) error {
		noErr(t, s.InTransaction(outer, func(inner context.Context) error {
			queue(inner, "nested, outer failed")
			return nil
		}), "nested InTransaction")
		return boom
	})
	errIs(t, err, boom, "outer InTransaction")
	want("after the outer rollback")

	// BeginTX, Commit and Rollback.
	tx, err := s.BeginTX(ctx)
	noErr(t, err, "BeginTX")
	queue(tx, "begun, committed")
	want("before Commit")
	noErr(t, s.Commit(tx), "Commit")
	want("after Commit", "begun, committed")
	tx, err = s.BeginTX(ctx)
	noErr(t, err, "BeginTX")
	queue(tx, "begun, rolled back")
	noErr(t, s.Rollback(tx), "Rollback")
	want("after Rollback")
}
