package keys

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"maps"
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
// in and out, as a database would.
type fakeStore struct {
	mu         sync.Mutex
	keys       map[string]storage.Key
	settings   map[string][]byte
	createKeys int // CreateKey calls, successful or not
}

var _ Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{keys: map[string]storage.Key{}, settings: map[string][]byte{}}
}

func copyKey(k storage.Key) storage.Key {
	k.PublicJWK = slices.Clone(k.PublicJWK)
	k.PrivateEncrypted = slices.Clone(k.PrivateEncrypted)
	return k
}

func (f *fakeStore) activeOtherThan(id string) bool {
	for _, k := range f.keys {
		if k.State == storage.KeyActive && k.ID != id {
			return true
		}
	}
	return false
}

func (f *fakeStore) CreateKey(_ context.Context, k *storage.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.createKeys++
	if _, ok := f.keys[k.ID]; ok {
		return fmt.Errorf("key %q: %w", k.ID, storage.ErrConflict)
	}
	if k.State == storage.KeyActive && f.activeOtherThan(k.ID) {
		return fmt.Errorf("second active key: %w", storage.ErrConflict)
	}
	f.keys[k.ID] = copyKey(*k)
	return nil
}

func (f *fakeStore) ListKeys(context.Context) ([]storage.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]storage.Key, 0, len(f.keys))
	for _, k := range f.keys {
		out = append(out, copyKey(k))
	}
	slices.SortFunc(out, func(a, b storage.Key) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (f *fakeStore) UpdateKey(_ context.Context, k *storage.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
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
}

func (f *fakeStore) CreateSetting(_ context.Context, name string, value []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.settings[name]; ok {
		return fmt.Errorf("setting %q: %w", name, storage.ErrConflict)
	}
	f.settings[name] = slices.Clone(value)
	return nil
}

func (f *fakeStore) GetSetting(_ context.Context, name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.settings[name]
	if !ok {
		return nil, fmt.Errorf("setting %q: %w", name, storage.ErrNotFound)
	}
	return slices.Clone(v), nil
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

// testKeys are generated once per test binary: RSA generation costs ~100ms
// per key, more under -race.
var testKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	out := make([]*rsa.PrivateKey, 4)
	errs := make([]error, len(out))
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() { out[i], errs[i] = rsa.GenerateKey(rand.Reader, 2048) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
})

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
	if opts.generate == nil {
		opts.generate = poolGenerator(t)
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
