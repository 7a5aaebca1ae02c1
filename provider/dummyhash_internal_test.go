package provider

import (
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
)

// TestDummyHash: the hash an unknown username's password is checked
// against is one directory.CheckPassword reads (authenticate ignores its
// error for an unknown user, so a malformed one would skip the argon2id
// run and answer faster than for a real user), made the way new
// passwords are (norm=nfkc), at their cost, so that it costs what a
// current user's check does.
func TestDummyHash(t *testing.T) {
	ok, err := directory.CheckPassword(dummyHash, "correct horse battery")
	if ok || err != nil {
		t.Fatalf("CheckPassword(dummyHash) = %v, %v; want false, nil", ok, err)
	}
	fresh, err := directory.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	params := func(h string) string { return strings.Split(h, "$")[3] }
	if params(dummyHash) != params(fresh) {
		t.Errorf("dummyHash parameters %q, want those of a new hash, %q", params(dummyHash), params(fresh))
	}
}
