package hallpasstest

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"slices"
	"sync"
)

// sharedKeyBits is the size of the keys the supply reuses: the key
// manager's default, which every server Start makes uses.
const sharedKeyBits = 2048

// keySupply is the key managers' keys.Options.GenerateKey of the servers
// Start makes: RSA-2048 generation, two keys per new database, was about
// half the CPU time of a test that starts a server, and tests start
// hundreds. A key is leased to the servers of one database (by DSN) at a
// time, and back in the pool when the test that started the server ends,
// for the next test's database: so no two databases in use at once hold
// the same key (a token of one hallpass is never good at another, as in
// production), and a database never gets a key twice (a kid that came
// back would be refused by the store, or would resurrect a key that was
// revoked).
type keySupply struct {
	mu sync.Mutex
	// pool holds every reusable key generated so far.
	pool []*rsa.PrivateKey
	// leased names the database each key of the pool is leased to now.
	leased map[*rsa.PrivateKey]string
	// given holds, per database, every key it was ever given.
	given map[string]map[*rsa.PrivateKey]bool
}

// sharedKeys is the supply of every server of the process. It is
// package-level state for the reason keys' own tests keep one (keyPool):
// the keys outlive any one test, and reusing them is the point.
var sharedKeys = newKeySupply()

func newKeySupply() *keySupply {
	return &keySupply{leased: map[*rsa.PrivateKey]string{}, given: map[string]map[*rsa.PrivateKey]bool{}}
}

// generator returns the GenerateKey function of a server on dsn. The keys
// it hands out go back to the pool through cleanup (the test's Cleanup).
func (s *keySupply) generator(cleanup func(func()), dsn string) func(bits int) (*rsa.PrivateKey, error) {
	var mine []*rsa.PrivateKey
	var mu sync.Mutex
	cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		s.release(mine)
		mine = nil
	})
	return func(bits int) (*rsa.PrivateKey, error) {
		if bits != sharedKeyBits {
			return generateKey(bits)
		}
		k, err := s.lease(dsn)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		mine = append(mine, k)
		mu.Unlock()
		return k, nil
	}
}

// lease returns a key of the pool that no database holds now and dsn
// never had, generating one when there is none.
func (s *keySupply) lease(dsn string) (*rsa.PrivateKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	had := s.given[dsn]
	if had == nil {
		had = map[*rsa.PrivateKey]bool{}
		s.given[dsn] = had
	}
	i := slices.IndexFunc(s.pool, func(k *rsa.PrivateKey) bool {
		_, inUse := s.leased[k]
		return !inUse && !had[k]
	})
	var k *rsa.PrivateKey
	if i >= 0 {
		k = s.pool[i]
	} else {
		// Generated under the lock: the servers that wait for it would
		// otherwise generate keys of their own.
		var err error
		if k, err = generateKey(sharedKeyBits); err != nil {
			return nil, err
		}
		s.pool = append(s.pool, k)
	}
	s.leased[k] = dsn
	had[k] = true
	return k, nil
}

// release puts keys back in the pool.
func (s *keySupply) release(keys []*rsa.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.leased, k)
	}
}

func generateKey(bits int) (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("generate an RSA-%d key: %w", bits, err)
	}
	return k, nil
}
