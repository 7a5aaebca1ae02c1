package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/hallpass/hallpass/storage"
)

// testFailedStatementAborts: once a statement of a caller's transaction
// fails at the database (a unique or foreign-key violation), the
// transaction is aborted on every backend, as PostgreSQL aborts it: a
// caller that goes on past the error (taking a conflict for "exists
// already") gets the earlier failure, with its mark, from the later
// statements and the commit, never a failure of the store
// (storage.ErrUnavailable), and nothing of the transaction is written,
// where SQLite alone would have committed the rest. Answers that are not
// failures of a statement (a row not found, a value refused before the
// database saw it, storage.ErrInvalidInput) leave the transaction going.
func testFailedStatementAborts(t *testing.T, s storage.Store) {
	ctx := t.Context()
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "dup"}), "CreateClient(dup)")
	marked := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) || errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s: got %v, want %v (and not storage.ErrUnavailable)", what, err, want)
		}
	}

	// A conflict taken for "exists already" by InTransaction's fn.
	err := s.InTransaction(ctx, func(tx context.Context) error {
		marked("CreateClient(dup) in the transaction", s.CreateClient(tx, &storage.Client{ID: "dup"}), storage.ErrConflict)
		marked("CreateClient(new) after the conflict", s.CreateClient(tx, &storage.Client{ID: "new"}), storage.ErrConflict)
		_, err := s.GetClient(tx, "dup")
		marked("GetClient(dup) after the conflict", err, storage.ErrConflict)
		return nil
	})
	marked("InTransaction that went on past a conflict", err, storage.ErrConflict)
	_, err = s.GetClient(ctx, "new")
	errIs(t, err, storage.ErrNotFound, "GetClient(new) after the aborted InTransaction")

	// A foreign-key violation in a transaction of BeginTX's: Commit
	// rolls back.
	tx := beginTX(t, ctx, s)
	marked("PutConsent of an unknown user", s.PutConsent(tx, &storage.Consent{UserID: "nobody", ClientID: "dup", GrantedAt: baseTime()}),
		storage.ErrInvalidReference)
	marked("CreateRole after the violation", s.CreateRole(tx, &storage.Role{Name: "late"}), storage.ErrInvalidReference)
	marked("Commit after the violation", s.Commit(tx), storage.ErrInvalidReference)
	_, err = s.GetRole(ctx, "late")
	errIs(t, err, storage.ErrNotFound, "GetRole(late) after the rolled-back transaction")

	// Not failures of a statement: the transaction goes on and commits.
	err = s.InTransaction(ctx, func(tx context.Context) error {
		errIs(t, s.UpdateClient(tx, &storage.Client{ID: "missing"}), storage.ErrNotFound, "UpdateClient(missing) in the transaction")
		_, err := s.GetClient(tx, "missing")
		errIs(t, err, storage.ErrNotFound, "GetClient(missing) in the transaction")
		errIs(t, s.CreateRole(tx, &storage.Role{Name: "a\x00b"}), storage.ErrInvalidInput, "CreateRole(NUL) in the transaction")
		errIs(t, s.CreateUser(tx, &storage.User{ID: "u", Username: "u", Roles: []string{"no-such-role"}}), storage.ErrInvalidReference,
			"CreateUser with a missing role (checked before the insert)")
		return s.CreateRole(tx, &storage.Role{Name: "kept"})
	})
	noErr(t, err, "InTransaction past answers that are not failures")
	mustGetRole(t, ctx, s, "kept")
}
