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

// testLockUsernames: LockUsernames is a row lock like LockKeys.
func testLockUsernames(t *testing.T, s storage.Store) {
	testRowLock(t, s, "LockUsernames", s.LockUsernames,
		func(tx context.Context) error {
			return s.CreateUser(tx, &storage.User{ID: "id-locked", Username: "locked"})
		},
		func(ctx context.Context) { mustGetUser(t, ctx, s, "id-locked") })
}
