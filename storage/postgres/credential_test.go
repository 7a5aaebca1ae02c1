package postgres_test

import (
	"context"
	"testing"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
)

// TestConfirmUserCredentialWritesNothing checks that confirming a
// credential, which every sign-in and refresh does, leaves the user row's
// version as it was (its xmin, the transaction that wrote it): it waits
// for a change under a shared lock instead of writing a dead row version
// and its WAL. The conformance suite checks that it still waits.
func TestConfirmUserCredentialWritesNothing(t *testing.T) {
	s := newStore(t).(*postgres.Store)
	ctx := t.Context()
	if err := s.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice", PasswordHash: "hash-a"}); err != nil {
		t.Fatal(err)
	}
	xmin := func() string {
		t.Helper()
		var x string
		if err := postgres.DB(s).QueryRowContext(ctx, `SELECT xmin::text FROM users WHERE id = 'u1'`).Scan(&x); err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, tc := range []struct {
		name    string
		confirm func(ctx context.Context) error
	}{
		{"alone", func(ctx context.Context) error { return s.ConfirmUserCredential(ctx, "u1", "hash-a") }},
		{"in a transaction", func(ctx context.Context) error {
			return s.InTransaction(ctx, func(tx context.Context) error { return s.ConfirmUserCredential(tx, "u1", "hash-a") })
		}},
	} {
		before := xmin()
		if err := tc.confirm(ctx); err != nil {
			t.Fatalf("%s: ConfirmUserCredential: %v", tc.name, err)
		}
		if after := xmin(); after != before {
			t.Errorf("%s: the user row's xmin went from %s to %s: ConfirmUserCredential wrote a row version", tc.name, before, after)
		}
	}
}
