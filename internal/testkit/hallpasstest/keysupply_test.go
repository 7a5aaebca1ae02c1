package hallpasstest

import (
	"crypto/rsa"
	"testing"
)

// TestKeySupplyNeverRepeatsForADatabase: the servers of one database get
// a key no server of it got before, past the reused ones too (a kid that
// came back would be refused by the store, or would resurrect a key that
// was revoked), and the databases of one test get keys of their own.
func TestKeySupplyNeverRepeatsForADatabase(t *testing.T) {
	s := &keySupply{databases: map[string]*databaseKeys{}}
	seen := map[string]string{} // modulus -> database
	take := func(dsn string, n int) {
		t.Helper()
		next := s.generator(dsn)
		for range n {
			k, err := next(sharedKeyBits)
			if err != nil {
				t.Fatal(err)
			}
			if k.N.BitLen() != sharedKeyBits {
				t.Fatalf("%s: a key of %d bits, want %d", dsn, k.N.BitLen(), sharedKeyBits)
			}
			if db, ok := seen[k.N.String()]; ok {
				t.Fatalf("%s got a key %s got before", dsn, db)
			}
			seen[k.N.String()] = dsn
		}
	}
	take("sqlite:a", 2)
	take("sqlite:a", keysPerDatabase) // a second server (a replica) rotating past the reused keys
	take("sqlite:b", 2)

	// Database number databasesApart gets the first database's keys
	// again: that is the reuse.
	for i := 2; i < databasesApart; i++ {
		s.databases["filler"+string(rune('0'+i))] = &databaseKeys{number: i}
	}
	first := func(dsn string) *rsa.PrivateKey {
		t.Helper()
		k, err := s.key(dsn, sharedKeyBits)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if k := first("sqlite:c"); seen[k.N.String()] != "sqlite:a" {
		t.Errorf("database %d's first key is not database 0's: the keys are not reused", databasesApart)
	}
}
