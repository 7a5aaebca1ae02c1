package keys

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// fakeStore is an in-memory Store with the storage contract's key rules: one
// active key at most, unique kids, unique setting names. It copies on the way
// in and out, as a database would. Transactions are exclusive, as SQLite's
// IMMEDIATE ones are: BeginTX takes a write lock held until Commit or
// Rollback (so LockKeys has nothing left to do), writes outside a
// transaction take it for their duration, and readers outside the
// transaction see the state as of BeginTX until it ends.
type fakeStore struct {
	txMu sync.Mutex // the write lock

	mu         sync.Mutex
	keys       map[string]storage.Key
	settings   map[string][]byte
	before     *fakeState // the committed state while a transaction is open
	createKeys int        // CreateKey calls, successful or not
	lockKeys   int        // LockKeys calls
	listKeys   atomic.Int64
	commits    int
}

type fakeState struct {
	keys     map[string]storage.Key
	settings map[string][]byte
}

// fakeTxKey marks a context carrying a transaction of one fakeStore.
type fakeTxKey struct{ f *fakeStore }

var _ Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{keys: map[string]storage.Key{}, settings: map[string][]byte{}}
}

func copyKey(k storage.Key) storage.Key {
	k.PublicJWK = slices.Clone(k.PublicJWK)
	k.PrivateEncrypted = slices.Clone(k.PrivateEncrypted)
	return k
}

func (f *fakeStore) inTx(ctx context.Context) bool {
	return ctx.Value(fakeTxKey{f}) != nil
}

// read runs fn on the state ctx may see.
func (f *fakeStore) read(ctx context.Context, fn func(keys map[string]storage.Key, settings map[string][]byte)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.before != nil && !f.inTx(ctx) {
		fn(f.before.keys, f.before.settings)
		return
	}
	fn(f.keys, f.settings)
}

// write runs fn on the live state, inside ctx's transaction or else in a
// transaction of its own.
func (f *fakeStore) write(ctx context.Context, fn func() error) error {
	if !f.inTx(ctx) {
		f.txMu.Lock()
		defer f.txMu.Unlock()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return fn()
}

func (f *fakeStore) snapshot() *fakeState {
	st := &fakeState{keys: make(map[string]storage.Key, len(f.keys)), settings: make(map[string][]byte, len(f.settings))}
	for id, k := range f.keys {
		st.keys[id] = copyKey(k)
	}
	for n, v := range f.settings {
		st.settings[n] = slices.Clone(v)
	}
	return st
}

func (f *fakeStore) BeginTX(ctx context.Context) (context.Context, error) {
	if f.inTx(ctx) {
		return ctx, fmt.Errorf("nested transaction")
	}
	f.txMu.Lock()
	f.mu.Lock()
	f.before = f.snapshot()
	f.mu.Unlock()
	return context.WithValue(ctx, fakeTxKey{f}, true), nil
}

func (f *fakeStore) end(ctx context.Context, commit bool) error {
	if !f.inTx(ctx) {
		return fmt.Errorf("no transaction in ctx")
	}
	f.mu.Lock()
	if f.before == nil {
		f.mu.Unlock()
		return fmt.Errorf("transaction already ended")
	}
	if commit {
		f.commits++
	} else {
		f.keys, f.settings = f.before.keys, f.before.settings
	}
	f.before = nil
	f.mu.Unlock()
	f.txMu.Unlock()
	return nil
}

func (f *fakeStore) Commit(ctx context.Context) error   { return f.end(ctx, true) }
func (f *fakeStore) Rollback(ctx context.Context) error { return f.end(ctx, false) }

func (f *fakeStore) LockKeys(ctx context.Context) error {
	if !f.inTx(ctx) {
		return fmt.Errorf("LockKeys outside a transaction")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lockKeys++
	return nil
}

func (f *fakeStore) activeOtherThan(id string) bool {
	for _, k := range f.keys {
		if k.State == storage.KeyActive && k.ID != id {
			return true
		}
	}
	return false
}

func (f *fakeStore) CreateKey(ctx context.Context, k *storage.Key) error {
	return f.write(ctx, func() error {
		f.createKeys++
		if _, ok := f.keys[k.ID]; ok {
			return fmt.Errorf("key %q: %w", k.ID, storage.ErrConflict)
		}
		if k.State == storage.KeyActive && f.activeOtherThan(k.ID) {
			return fmt.Errorf("second active key: %w", storage.ErrConflict)
		}
		f.keys[k.ID] = copyKey(*k)
		return nil
	})
}

func (f *fakeStore) ListKeys(ctx context.Context) ([]storage.Key, error) {
	f.listKeys.Add(1)
	var out []storage.Key
	f.read(ctx, func(keys map[string]storage.Key, _ map[string][]byte) {
		for _, k := range keys {
			out = append(out, copyKey(k))
		}
	})
	slices.SortFunc(out, func(a, b storage.Key) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (f *fakeStore) UpdateKey(ctx context.Context, k *storage.Key) error {
	return f.write(ctx, func() error {
		old, ok := f.keys[k.ID]
		if !ok {
			return fmt.Errorf("key %q: %w", k.ID, storage.ErrNotFound)
		}
		if k.State == storage.KeyActive && f.activeOtherThan(k.ID) {
			return fmt.Errorf("second active key: %w", storage.ErrConflict)
		}
		old.State, old.ActivatesAt, old.RetiresAt, old.RemovesAt = k.State, k.ActivatesAt, k.RetiresAt, k.RemovesAt
		f.keys[k.ID] = old
		return nil
	})
}

func (f *fakeStore) DeleteKey(ctx context.Context, id string) error {
	return f.write(ctx, func() error {
		if _, ok := f.keys[id]; !ok {
			return fmt.Errorf("key %q: %w", id, storage.ErrNotFound)
		}
		delete(f.keys, id)
		return nil
	})
}

func (f *fakeStore) SetKeyPrivate(ctx context.Context, id string, sealed []byte) error {
	return f.write(ctx, func() error {
		k, ok := f.keys[id]
		if !ok {
			return fmt.Errorf("key %q: %w", id, storage.ErrNotFound)
		}
		k.PrivateEncrypted = slices.Clone(sealed)
		f.keys[id] = k
		return nil
	})
}

func (f *fakeStore) CreateSetting(ctx context.Context, name string, value []byte) error {
	return f.write(ctx, func() error {
		if _, ok := f.settings[name]; ok {
			return fmt.Errorf("setting %q: %w", name, storage.ErrConflict)
		}
		f.settings[name] = slices.Clone(value)
		return nil
	})
}

func (f *fakeStore) PutSetting(ctx context.Context, name string, value []byte) error {
	return f.write(ctx, func() error {
		f.settings[name] = slices.Clone(value)
		return nil
	})
}

func (f *fakeStore) GetSetting(ctx context.Context, name string) ([]byte, error) {
	var (
		v  []byte
		ok bool
	)
	f.read(ctx, func(_ map[string]storage.Key, settings map[string][]byte) {
		v, ok = settings[name]
		v = slices.Clone(v)
	})
	if !ok {
		return nil, fmt.Errorf("setting %q: %w", name, storage.ErrNotFound)
	}
	return v, nil
}

// put stores k as is, bypassing the contract's checks, to build states that
// only a broken or tampered database would hold.
func (f *fakeStore) put(k storage.Key) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[k.ID] = copyKey(k)
}

// dump returns a deep copy of everything stored, for before/after checks.
func (f *fakeStore) dump() (map[string]storage.Key, map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make(map[string]storage.Key, len(f.keys))
	for id, k := range f.keys {
		keys[id] = copyKey(k)
	}
	settings := maps.Clone(f.settings)
	for n, v := range settings {
		settings[n] = slices.Clone(v)
	}
	return keys, settings
}

// keyPool holds RSA-2048 keys shared by every test in the binary, all
// distinct, generated in parallel on first demand: generation costs ~60ms
// per key, more under -race, and would otherwise dominate the run time.
var keyPool struct {
	mu   sync.Mutex
	keys []*rsa.PrivateKey
}

// poolKeys returns the first n keys of the pool, generating what is missing.
func poolKeys(n int) ([]*rsa.PrivateKey, error) {
	keyPool.mu.Lock()
	defer keyPool.mu.Unlock()
	if missing := n - len(keyPool.keys); missing > 0 {
		out := make([]*rsa.PrivateKey, missing)
		errs := make([]error, missing)
		work := make(chan int, missing)
		for i := range missing {
			work <- i
		}
		close(work)
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for i := range work {
					out[i], errs[i] = rsa.GenerateKey(rand.Reader, 2048)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		keyPool.keys = append(keyPool.keys, out...)
	}
	return keyPool.keys[:n:n], nil
}

// testKeys returns the four keys the pool generator cycles through.
func testKeys() ([]*rsa.PrivateKey, error) { return poolKeys(4) }

// poolGenerator hands out the pre-generated keys in turn, so generators
// used within one test return distinct keys.
func poolGenerator(t testing.TB) func(int) (*rsa.PrivateKey, error) {
	t.Helper()
	pool, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	var next atomic.Int64
	return func(int) (*rsa.PrivateKey, error) {
		return pool[int(next.Add(1)-1)%len(pool)], nil
	}
}

// noGenerator fails the test if a key is generated.
func noGenerator(t testing.TB) func(int) (*rsa.PrivateKey, error) {
	return func(int) (*rsa.PrivateKey, error) {
		t.Error("unexpected key generation")
		return nil, fmt.Errorf("unexpected key generation")
	}
}

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func testSecret(b byte) []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = b
	}
	return s
}

func testSealer(t testing.TB, secretByte byte) *Sealer {
	t.Helper()
	s, err := NewSealer(testSecret(secretByte))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestManager builds a Manager with a fixed clock, logs in the test
// output, and pooled keys unless opts says otherwise.
func newTestManager(t testing.TB, store Store, secretByte byte, opts Options) *Manager {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	if opts.GenerateKey == nil {
		opts.GenerateKey = poolGenerator(t)
	}
	m, err := NewManager(store, testSealer(t, secretByte), opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loaded returns a loaded Manager on a fresh fake store.
func loaded(t testing.TB) (*Manager, *fakeStore) {
	t.Helper()
	store := newFakeStore()
	m := newTestManager(t, store, 1, Options{})
	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	return m, store
}

// keySupply hands one test distinct keys from the pool. A key that was
// generated but never stored (the replica that loses a race discards its
// key) may be given back with reclaim and handed out again, which keeps the
// pool small for tests that rotate many times.
type keySupply struct {
	t      testing.TB
	mu     sync.Mutex
	pool   []*rsa.PrivateKey
	next   int
	free   []*rsa.PrivateKey
	issued []*rsa.PrivateKey
	all    []*rsa.PrivateKey // every key handed out, once
}

func newKeySupply(t testing.TB, n int) *keySupply {
	t.Helper()
	pool, err := poolKeys(n)
	if err != nil {
		t.Fatal(err)
	}
	return &keySupply{t: t, pool: pool}
}

// generate is an Options.generate.
func (s *keySupply) generate(int) (*rsa.PrivateKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k *rsa.PrivateKey
	switch {
	case len(s.free) > 0:
		k, s.free = s.free[0], s.free[1:]
	case s.next < len(s.pool):
		k = s.pool[s.next]
		s.next++
		s.all = append(s.all, k)
	default:
		s.t.Errorf("key supply of %d keys exhausted", len(s.pool))
		return nil, errors.New("key supply exhausted")
	}
	s.issued = append(s.issued, k)
	return k, nil
}

// handedOut returns every key generate has returned.
func (s *keySupply) handedOut() []*rsa.PrivateKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all)
}

// reclaim takes back every key handed out since the last reclaim whose kid
// was never stored. Call it only while no generated key is in flight.
func (s *keySupply) reclaim(everStored func(kid string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.issued {
		kid, err := thumbprint(&k.PublicKey)
		if err != nil {
			s.t.Fatal(err)
		}
		if !everStored(kid) {
			s.free = append(s.free, k)
		}
	}
	s.issued = nil
}

// fakeClock is an injectable clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.set(t)
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// discardLogger is for tests whose many key events would flood the output.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
