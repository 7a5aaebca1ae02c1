package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/hallpass/hallpass/storage"
)

// testFailuresMarked checks that a failure of the database itself comes
// back marked storage.ErrUnavailable, and never as ErrNotFound or
// ErrConflict: callers answer the mark with a server error, where an
// unmarked failure could pass for "no such client" or bad input. Two
// failures every backend can be made to have: a context that ended (a
// request timeout), and a store whose connections are gone.
func testFailuresMarked(t *testing.T, s storage.Store) {
	ctx := t.Context()
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "client"}), "CreateClient")

	check := func(what string, err error) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s: no error from a failed store", what)
		case !errors.Is(err, storage.ErrUnavailable):
			t.Errorf("%s: %v, want it marked storage.ErrUnavailable", what, err)
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict):
			t.Errorf("%s: %v, a failure of the store passed off as not found or a conflict", what, err)
		}
	}

	ended, cancel := context.WithCancel(ctx)
	cancel()
	_, err := s.GetClient(ended, "client")
	check("GetClient with an ended context", err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("GetClient with an ended context: %v, want context.Canceled kept in the chain", err)
	}
	_, err = s.GetUserByUsername(ended, "nobody")
	check("GetUserByUsername (unknown user) with an ended context", err)

	noErr(t, s.Close(), "Close")
	_, err = s.GetClient(ctx, "client")
	check("GetClient on a closed store", err)
	_, err = s.GetClient(ctx, "missing")
	check("GetClient (unknown id) on a closed store", err)
	_, err = s.ListScopes(ctx)
	check("ListScopes on a closed store", err)
	check("CreateClient on a closed store", s.CreateClient(ctx, &storage.Client{ID: "other"}))
	_, err = s.GetToken(ctx, storage.KindAccessToken, "sig")
	check("GetToken on a closed store", err)
	check("Ping on a closed store", s.Ping(ctx))
}
