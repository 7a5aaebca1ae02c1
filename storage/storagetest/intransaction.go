package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/hallpass/hallpass/storage"
)

// testInTransaction: InTransaction commits what fn wrote when fn
// succeeds, keeps nothing when it fails or panics, and a nested call
// joins the outer transaction, so the outer failure undoes it too.
func testInTransaction(t *testing.T, s storage.Store) {
	ctx := t.Context()
	boom := errors.New("boom")

	err := s.InTransaction(ctx, func(tx context.Context) error {
		noErr(t, s.CreateScope(tx, &storage.Scope{Name: "failed:scope", CreatedAt: baseTime(), UpdatedAt: baseTime()}), "CreateScope in tx")
		noErr(t, s.CreateRole(tx, &storage.Role{Name: "failed-role", Scopes: []string{"failed:scope"}, CreatedAt: baseTime(), UpdatedAt: baseTime()}), "CreateRole in tx")
		// The transaction sees its own writes.
		mustGetRole(t, tx, s, "failed-role")
		return boom
	})
	errIs(t, err, boom, "InTransaction returns fn's error unchanged")
	_, err = s.GetScope(ctx, "failed:scope")
	errIs(t, err, storage.ErrNotFound, "scope after a failed InTransaction")
	_, err = s.GetRole(ctx, "failed-role")
	errIs(t, err, storage.ErrNotFound, "role after a failed InTransaction")

	// A nested call joins: its writes go with the outer failure.
	err = s.InTransaction(ctx, func(outer context.Context) error {
		noErr(t, s.InTransaction(outer, func(inner context.Context) error {
			return s.CreateRole(inner, &storage.Role{Name: "nested-role", CreatedAt: baseTime(), UpdatedAt: baseTime()})
		}), "nested InTransaction")
		mustGetRole(t, outer, s, "nested-role")
		return boom
	})
	errIs(t, err, boom, "outer InTransaction")
	_, err = s.GetRole(ctx, "nested-role")
	errIs(t, err, storage.ErrNotFound, "nested write after the outer transaction failed")

	// A panic rolls back, and the store stays usable.
	func() {
		defer func() { _ = recover() }()
		_ = s.InTransaction(ctx, func(tx context.Context) error {
			noErr(t, s.CreateRole(tx, &storage.Role{Name: "panicked-role", CreatedAt: baseTime(), UpdatedAt: baseTime()}), "CreateRole in tx")
			panic("boom")
		})
	}()
	_, err = s.GetRole(ctx, "panicked-role")
	errIs(t, err, storage.ErrNotFound, "role after a panic in InTransaction")

	// Success commits every write.
	noErr(t, s.InTransaction(ctx, func(tx context.Context) error {
		if err := s.CreateScope(tx, &storage.Scope{Name: "kept:scope", CreatedAt: baseTime(), UpdatedAt: baseTime()}); err != nil {
			return err
		}
		return s.CreateRole(tx, &storage.Role{Name: "kept-role", Scopes: []string{"kept:scope"}, CreatedAt: baseTime(), UpdatedAt: baseTime()})
	}), "InTransaction")
	mustGetScope(t, ctx, s, "kept:scope")
	mustGetRole(t, ctx, s, "kept-role")
}
