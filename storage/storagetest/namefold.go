package storagetest

import (
	"context"
	"slices"
	"testing"

	"github.com/hallpass/hallpass/storage"
)

// testNameFold: FindRoleNamesFold, FindScopeNamesFold and
// FindClientIDsFold find every name of their kind that equals the one
// asked about under strings.EqualFold, and no other, nor a name of
// another kind; inside a transaction they see its writes. Names that
// differ by case alone can be stored (databases from before the
// directory refused them hold some) and are all found.
func testNameFold(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, n := range []string{"admin", "Admin", "admin2", "a_b", "a%c", "kim", "sam"} {
		noErr(t, s.CreateRole(ctx, &storage.Role{Name: n}), "CreateRole("+n+")")
		noErr(t, s.CreateScope(ctx, &storage.Scope{Name: "s-" + n}), "CreateScope(s-"+n+")")
		noErr(t, s.CreateClient(ctx, &storage.Client{ID: "c-" + n}), "CreateClient(c-"+n+")")
	}
	kinds := []struct {
		name, prefix string
		find         func(context.Context, string) ([]string, error)
	}{
		{"FindRoleNamesFold", "", s.FindRoleNamesFold},
		{"FindScopeNamesFold", "s-", s.FindScopeNamesFold},
		{"FindClientIDsFold", "c-", s.FindClientIDsFold},
	}
	for _, k := range kinds {
		for _, tc := range []struct {
			ask  string
			want []string
		}{
			{"admin", []string{"Admin", "admin"}},
			{"ADMIN", []string{"Admin", "admin"}},
			{"aDmIn2", []string{"admin2"}},
			{"\u212aim", []string{"kim"}}, // KELVIN SIGN folds to k
			{"\u017fAM", []string{"sam"}}, // LATIN SMALL LETTER LONG S folds to s
			{"A_B", []string{"a_b"}},
			// No pattern matching: _ and % are characters like any other.
			{"axb", nil},
			{"A%C", []string{"a%c"}},
			{"a%", nil},
			{"admi", nil},
			{"nobody", nil},
		} {
			var want []string
			for _, w := range tc.want {
				want = append(want, k.prefix+w)
			}
			got, err := k.find(ctx, k.prefix+tc.ask)
			noErr(t, err, k.name+"("+k.prefix+tc.ask+")")
			if !slices.Equal(got, want) {
				t.Errorf("%s(%q): got %q, want %q", k.name, k.prefix+tc.ask, got, want)
			}
		}
		// A name of another kind is not one of this kind's.
		if got, err := k.find(ctx, "x-admin"); err != nil || len(got) != 0 {
			t.Errorf("%s(x-admin): got %q, %v; want none", k.name, got, err)
		}
	}

	// A transaction sees the names it created before committing.
	err := s.InTransaction(ctx, func(tx context.Context) error {
		noErr(t, s.CreateRole(tx, &storage.Role{Name: "Carol"}), "CreateRole(Carol)")
		noErr(t, s.CreateScope(tx, &storage.Scope{Name: "s-Carol"}), "CreateScope(s-Carol)")
		noErr(t, s.CreateClient(tx, &storage.Client{ID: "c-Carol"}), "CreateClient(c-Carol)")
		for _, k := range kinds {
			got, err := k.find(tx, k.prefix+"CAROL")
			if err != nil {
				return err
			}
			if !slices.Equal(got, []string{k.prefix + "Carol"}) {
				t.Errorf("%s(%sCAROL) in the transaction that created it: got %q", k.name, k.prefix, got)
			}
		}
		return nil
	})
	noErr(t, err, "InTransaction creating Carol")
}

// testLockNames: LockNames is a row lock like LockKeys.
func testLockNames(t *testing.T, s storage.Store) {
	testRowLock(t, s, "LockNames", s.LockNames,
		func(tx context.Context) error { return s.CreateRole(tx, &storage.Role{Name: "locked"}) },
		func(ctx context.Context) {
			if _, err := s.GetRole(ctx, "locked"); err != nil {
				t.Errorf("GetRole(locked) after Commit: %v", err)
			}
		})
}
