package hallpasstest

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"sync"
)

const (
	// sharedKeyBits is the size of the keys the supply reuses: the key
	// manager's default, which every server Start makes uses.
	sharedKeyBits = 2048
	// keysPerDatabase is how many reused keys one database gets: its
	// first start makes two (the active key and the next), and a few
	// rotations fit. Further keys are generated afresh.
	keysPerDatabase = 4
	// databasesApart is how many databases, in the order of their first
	// server, are given keys before the first keys are given again: the
	// servers one test starts on databases of their own hold distinct
	// keys, as servers in production do.
	databasesApart = 8
)

// keySupply is the key managers' keys.Options.GenerateKey of the servers
// Start makes: RSA-2048 generation, two keys per new database, was about
// half the CPU time of a test that starts a server, and tests start
// hundreds. It hands the servers of one database (its DSN) distinct keys,
// never a key twice, so a kid never comes back to a database (not even
// once deleted); only databases databasesApart apart share keys.
type keySupply struct {
	mu sync.Mutex
	// pool holds the reused keys, generated on first demand: database
	// number d's key i is pool[d%databasesApart*keysPerDatabase+i].
	pool [databasesApart * keysPerDatabase]*rsa.PrivateKey
	// databases numbers each database (by DSN) and counts the keys its
	// servers took.
	databases map[string]*databaseKeys
}

type databaseKeys struct{ number, taken int }

// sharedKeys is the supply of every server of the process. It is
// package-level state for the reason keys' own tests keep one (keyPool):
// the keys outlive any one test, and reusing them is the point.
var sharedKeys = &keySupply{databases: map[string]*databaseKeys{}}

// generator returns the GenerateKey function of a server on dsn.
func (s *keySupply) generator(dsn string) func(bits int) (*rsa.PrivateKey, error) {
	return func(bits int) (*rsa.PrivateKey, error) { return s.key(dsn, bits) }
}

// key returns the next key for database dsn.
func (s *keySupply) key(dsn string, bits int) (*rsa.PrivateKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, ok := s.databases[dsn]
	if !ok {
		db = &databaseKeys{number: len(s.databases)}
		s.databases[dsn] = db
	}
	i := db.taken
	db.taken++
	if bits != sharedKeyBits || i >= keysPerDatabase {
		return generateKey(bits)
	}
	slot := db.number%databasesApart*keysPerDatabase + i
	if s.pool[slot] == nil {
		k, err := generateKey(bits)
		if err != nil {
			return nil, err
		}
		s.pool[slot] = k
	}
	return s.pool[slot], nil
}

func generateKey(bits int) (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("generate an RSA-%d key: %w", bits, err)
	}
	return k, nil
}
