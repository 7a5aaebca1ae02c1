package storagetest

import (
	"context"
	"slices"
	"testing"

	"github.com/hallpass/hallpass/storage"
)

// testUsernameFold: FindUsersByUsernameFold finds every user whose
// username equals the one asked about under strings.EqualFold (usernames
// are ASCII; the one asked about may hold the two other characters that
// fold to ASCII letters), and no other;
// inside a transaction it sees that transaction's writes. Usernames that
// differ by case alone can be stored (databases from before the
// directory refused them hold some) and are all found.
func testUsernameFold(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, name := range []string{
		"alice", "ALICE", "alice2", "bob", "kim", "sam", "a_b", "a%c",
	} {
		noErr(t, s.CreateUser(ctx, &storage.User{ID: "id-" + name, Username: name}), "CreateUser("+name+")")
	}
	for _, tc := range []struct {
		ask  string
		want []string
	}{
		{"alice", []string{"ALICE", "alice"}},
		{"Alice", []string{"ALICE", "alice"}},
		{"aLiCe2", []string{"alice2"}},
		{"BOB", []string{"bob"}},
		{"Sam", []string{"sam"}},
		{"\u212aim", []string{"kim"}}, // KELVIN SIGN folds to k
		{"\u017fAM", []string{"sam"}}, // LATIN SMALL LETTER LONG S folds to s
		{"k\u0131m", nil},             // dotless i folds to nothing ASCII
		{"A_B", []string{"a_b"}},
		// No pattern matching: _ and % are characters like any other.
		{"axb", nil},
		{"A%C", []string{"a%c"}},
		{"a%", nil},
		{"alic", nil},
		{"", nil},
		{"nobody", nil},
	} {
		got, err := s.FindUsersByUsernameFold(ctx, tc.ask)
		noErr(t, err, "FindUsersByUsernameFold("+tc.ask+")")
		if !slices.Equal(usernames(got), tc.want) {
			t.Errorf("FindUsersByUsernameFold(%q): got %q, want %q", tc.ask, usernames(got), tc.want)
		}
	}
	got, err := s.FindUsersByUsernameFold(ctx, "bob")
	noErr(t, err, "FindUsersByUsernameFold(bob)")
	if len(got) == 1 {
		check(t, "FindUsersByUsernameFold(bob)", mustGetUser(t, ctx, s, "id-bob"), &got[0])
	}

	// A transaction sees the user it created before committing.
	err = s.InTransaction(ctx, func(tx context.Context) error {
		if err := s.CreateUser(tx, &storage.User{ID: "id-carol", Username: "Carol"}); err != nil {
			return err
		}
		got, err := s.FindUsersByUsernameFold(tx, "CAROL")
		if err != nil {
			return err
		}
		if !slices.Equal(usernames(got), []string{"Carol"}) {
			t.Errorf("FindUsersByUsernameFold(CAROL) in the transaction that created Carol: got %q", usernames(got))
		}
		return nil
	})
	noErr(t, err, "InTransaction creating Carol")
}

// testLockUsernames: LockUsernames needs a transaction, may be taken
// twice in one, and ends with its transaction however it ends.
func testLockUsernames(t *testing.T, s storage.Store) {
	ctx := t.Context()
	anyErr(t, s.LockUsernames(ctx), "LockUsernames without a transaction")

	tx := beginTX(t, ctx, s)
	noErr(t, s.LockUsernames(tx), "LockUsernames in a transaction")
	noErr(t, s.LockUsernames(tx), "LockUsernames twice in one transaction")
	noErr(t, s.CreateUser(tx, &storage.User{ID: "id-locked", Username: "locked"}), "CreateUser under the lock")
	noErr(t, s.Commit(tx), "Commit")
	mustGetUser(t, ctx, s, "id-locked")

	lctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	tx = beginTX(t, lctx, s)
	noErr(t, s.LockUsernames(tx), "LockUsernames after a committed lock")
	noErr(t, s.Rollback(tx), "Rollback")
	tx = beginTX(t, lctx, s)
	noErr(t, s.LockUsernames(tx), "LockUsernames after a rolled-back lock")
	noErr(t, s.Commit(tx), "Commit")
}
