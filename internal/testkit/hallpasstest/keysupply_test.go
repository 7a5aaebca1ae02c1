package hallpasstest

import (
	"crypto/rsa"
	"testing"
)

// TestKeySupply: the servers of one database never get a key it had
// before (a kid that came back would be refused by the store, or would
// resurrect a revoked key), two databases in use at once never hold the
// same key, and a key comes back for another database once the test that
// held it has ended (the reuse that saves the generation).
func TestKeySupply(t *testing.T) {
	s := newKeySupply()
	type test struct{ cleanups []func() }
	end := func(tt *test) {
		for _, f := range tt.cleanups {
			f()
		}
	}
	take := func(tt *test, dsn string, n int) []*rsa.PrivateKey {
		t.Helper()
		next := s.generator(func(f func()) { tt.cleanups = append(tt.cleanups, f) }, dsn)
		var got []*rsa.PrivateKey
		for range n {
			k, err := next(sharedKeyBits)
			if err != nil {
				t.Fatal(err)
			}
			if k.N.BitLen() != sharedKeyBits {
				t.Fatalf("%s: a key of %d bits, want %d", dsn, k.N.BitLen(), sharedKeyBits)
			}
			got = append(got, k)
		}
		return got
	}
	owner := map[*rsa.PrivateKey]string{}
	own := func(dsn string, ks []*rsa.PrivateKey) {
		t.Helper()
		for _, k := range ks {
			if o, ok := owner[k]; ok {
				t.Fatalf("%s got a key %s holds", dsn, o)
			}
			owner[k] = dsn
		}
	}

	first := &test{}
	a := take(first, "sqlite:a", 2)
	own("sqlite:a", a)
	// A replica of the same database rotating: never a key it had.
	own("sqlite:a", take(first, "sqlite:a", 3))
	// Another database in use at the same time: keys of its own.
	own("sqlite:b", take(first, "sqlite:b", 2))

	end(first)
	second := &test{}
	c := take(second, "sqlite:c", 2)
	if c[0] != a[0] || c[1] != a[1] {
		t.Errorf("the next test's database got new keys, not those the ended test's held: the keys are not reused")
	}
	// A server of the first test's database, started again: none of
	// its old keys.
	for _, k := range take(second, "sqlite:a", 5) {
		if owner[k] == "sqlite:a" {
			t.Fatalf("sqlite:a got back a key it had")
		}
		if k == c[0] || k == c[1] {
			t.Fatalf("sqlite:a got a key sqlite:c holds")
		}
	}
}
