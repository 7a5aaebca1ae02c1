package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// testConfirmUserCredential checks the compare that closes the race
// between a sign-in and a password reset: it holds only while the user
// exists, is enabled and has the hash the sign-in checked, and it waits for
// a concurrent change of the user to commit before it judges.
func testConfirmUserCredential(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := &storage.User{ID: "u1", Username: "alice", PasswordHash: "hash-a"}
	noErr(t, s.CreateUser(ctx, u), "CreateUser")

	noErr(t, s.ConfirmUserCredential(ctx, "u1", "hash-a"), "ConfirmUserCredential with the current hash")
	errIs(t, s.ConfirmUserCredential(ctx, "u1", "hash-b"), storage.ErrNotFound, "ConfirmUserCredential with another hash")
	errIs(t, s.ConfirmUserCredential(ctx, "nobody", "hash-a"), storage.ErrNotFound, "ConfirmUserCredential of an unknown user")

	// A change still in flight: the confirmation waits for it and then
	// sees the new hash. (The pause only makes it likely that the
	// confirmation starts while the change is open; a confirmation that
	// does not wait reads the old hash and succeeds, which fails the test.)
	tx, err := s.BeginTX(ctx)
	noErr(t, err, "BeginTX")
	changed := *u
	changed.PasswordHash = "hash-b"
	if err := s.UpdateUser(tx, &changed); err != nil {
		_ = s.Rollback(tx)
		t.Fatalf("UpdateUser in a transaction: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ConfirmUserCredential(ctx, "u1", "hash-a") }()
	select {
	case err := <-done:
		_ = s.Rollback(tx)
		t.Fatalf("ConfirmUserCredential returned %v while a change of the user was open, want it to wait", err)
	case <-time.After(300 * time.Millisecond):
	}
	noErr(t, s.Commit(tx), "Commit")
	if err := <-done; !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ConfirmUserCredential of the old hash, once the change committed: %v, want storage.ErrNotFound", err)
	}
	noErr(t, s.ConfirmUserCredential(ctx, "u1", "hash-b"), "ConfirmUserCredential with the new hash")

	changed.Disabled = true
	noErr(t, s.UpdateUser(ctx, &changed), "disable")
	errIs(t, s.ConfirmUserCredential(ctx, "u1", "hash-b"), storage.ErrNotFound, "ConfirmUserCredential of a disabled user")
}
