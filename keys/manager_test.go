package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/storage"
)

func TestNewManagerOptions(t *testing.T) {
	store, sealer := newFakeStore(), testSealer(t, 1)
	tests := []struct {
		name     string
		store    Store
		sealer   *Sealer
		opts     Options
		wantErr  bool
		wantBits int
		wantAge  time.Duration
	}{
		{name: "defaults", store: store, sealer: sealer, wantBits: 2048, wantAge: 5 * time.Minute},
		{name: "3072", store: store, sealer: sealer, opts: Options{Bits: 3072}, wantBits: 3072, wantAge: 5 * time.Minute},
		{name: "4096", store: store, sealer: sealer, opts: Options{Bits: 4096, JWKSMaxAge: time.Hour}, wantBits: 4096, wantAge: time.Hour},
		{name: "1024 refused", store: store, sealer: sealer, opts: Options{Bits: 1024}, wantErr: true},
		{name: "2049 refused", store: store, sealer: sealer, opts: Options{Bits: 2049}, wantErr: true},
		{name: "negative max age", store: store, sealer: sealer, opts: Options{JWKSMaxAge: -time.Second}, wantErr: true},
		{name: "negative refresh", store: store, sealer: sealer, opts: Options{RefreshInterval: -time.Second}, wantErr: true},
		{name: "negative token lifetime", store: store, sealer: sealer, opts: Options{MaxTokenLifetime: -time.Second}, wantErr: true},
		{name: "period within the lead", store: store, sealer: sealer, opts: Options{RotationPeriod: 7 * time.Minute, RefreshInterval: time.Minute}, wantErr: true},
		{name: "short period", store: store, sealer: sealer, opts: Options{RotationPeriod: 8 * time.Minute, RefreshInterval: time.Minute}, wantBits: 2048, wantAge: 5 * time.Minute},
		{name: "nil store", sealer: sealer, wantErr: true},
		{name: "nil sealer", store: store, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewManager(tt.store, tt.sealer, tt.opts)
			if tt.wantErr {
				if err == nil {
					t.Fatal("NewManager succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.bits != tt.wantBits || m.maxAge != tt.wantAge || m.now == nil || m.log == nil || m.generate == nil {
				t.Errorf("bits=%d maxAge=%v now/log/generate set=%v/%v/%v", m.bits, m.maxAge, m.now != nil, m.log != nil, m.generate != nil)
			}
		})
	}
}

// TestGenerateKeyOfAnotherSize: Options.GenerateKey, exported, is
// trusted no further than Bits: a key of another size than Bits, or none,
// is refused before anything is stored. A 1024-bit key was stored and
// only then refused by Load, which refused it again on every later start
// (real generation included); a 2048-bit key was taken where Bits asked
// for 3072; a nil key panicked.
func TestGenerateKeyOfAnotherSize(t *testing.T) {
	pool := poolGenerator(t)
	for _, tc := range []struct {
		name string
		bits int
		gen  func(int) (*rsa.PrivateKey, error)
	}{
		{"1024 bits", 0, func(int) (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 1024) }},
		{"2048 bits for 3072", 3072, pool},
		{"no key", 0, func(int) (*rsa.PrivateKey, error) { return nil, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newFakeStore()
			m := newTestManager(t, store, 1, Options{Bits: tc.bits, GenerateKey: tc.gen})
			if err := m.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "GenerateKey returned") {
				t.Fatalf("Load = %v, want the key of the wrong size refused", err)
			}
			if keys, _ := store.dump(); len(keys) != 0 {
				t.Errorf("the store holds %d keys, want none", len(keys))
			}
		})
	}
}

// TestLoadEmptyStore uses real key generation once, so the default path is
// covered too.
func TestLoadEmptyStore(t *testing.T) {
	store := newFakeStore()
	m, err := NewManager(store, testSealer(t, 1), Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	// First start creates the active key and the next key together.
	keys, settings := store.dump()
	if len(keys) != 2 {
		t.Fatalf("store holds %d keys, want 2 (active and next)", len(keys))
	}
	if _, ok := settings[secretCheckSetting]; !ok {
		t.Errorf("no %s setting recorded", secretCheckSetting)
	}
	states := map[storage.KeyState]int{}
	for id, k := range keys {
		states[k.State]++
		switch k.State {
		case storage.KeyActive:
			if k.Algorithm != "RS256" || !k.CreatedAt.Equal(testNow) || !k.ActivatesAt.Equal(testNow) {
				t.Errorf("stored active key = %+v", k)
			}
			if m.ActiveKeyID() != id {
				t.Errorf("ActiveKeyID = %q, stored %q", m.ActiveKeyID(), id)
			}
		case storage.KeyNext:
			if k.Algorithm != "RS256" || !k.CreatedAt.Equal(testNow) || !k.ActivatesAt.Equal(testNow.Add(DefaultRotationPeriod)) {
				t.Errorf("stored next key = %+v, want it to take over one rotation period from now", k)
			}
		}
		pub, ok := m.VerificationKey(id)
		if !ok || pub.N.BitLen() != 2048 {
			t.Fatalf("VerificationKey(%q) = %v, %v", id, pub, ok)
		}
		if want, _ := thumbprint(pub); id != want {
			t.Errorf("kid = %q, want RFC 7638 thumbprint %q", id, want)
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k.PublicJWK); err != nil || !jwk.IsPublic() || jwk.KeyID != id {
			t.Errorf("stored PublicJWK = %s (%v)", k.PublicJWK, err)
		}
	}
	if states[storage.KeyActive] != 1 || states[storage.KeyNext] != 1 {
		t.Errorf("stored states %v, want one active and one next", states)
	}
	if got := jwksKids(t, m); len(got) != 2 || got[0] != m.ActiveKeyID() {
		t.Errorf("JWKS = %v, want the active key then the next key", got)
	}
}

func TestLoadRestartKeepsKey(t *testing.T) {
	first, store := loaded(t)
	second := newTestManager(t, store, 1, Options{GenerateKey: noGenerator(t)})
	if err := second.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if first.ActiveKeyID() != second.ActiveKeyID() {
		t.Errorf("restart changed the kid: %q → %q", first.ActiveKeyID(), second.ActiveKeyID())
	}
	if store.createKeys != 2 {
		t.Errorf("CreateKey called %d times, want 2 (the first start's active and next keys)", store.createKeys)
	}
	b1, e1 := first.JWKS()
	b2, e2 := second.JWKS()
	if !bytes.Equal(b1, b2) || e1 != e2 {
		t.Error("two replicas on the same keys serve different JWKS bytes or ETags")
	}
}

func TestLoadWrongSecret(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*fakeStore)
	}{
		{name: "secret check recorded"},
		{name: "secret check missing", setup: func(f *fakeStore) { delete(f.settings, secretCheckSetting) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, store := loaded(t)
			if tt.setup != nil {
				tt.setup(store)
			}
			keysBefore, settingsBefore := store.dump()

			m := newTestManager(t, store, 2, Options{GenerateKey: noGenerator(t)})
			err := m.Load(t.Context())
			if !errors.Is(err, ErrWrongSecret) {
				t.Fatalf("Load = %v, want ErrWrongSecret", err)
			}
			for _, want := range []string{"HALLPASS_SECRET does not match", "refusing to start"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			keysAfter, settingsAfter := store.dump()
			if !reflect.DeepEqual(keysBefore, keysAfter) || !reflect.DeepEqual(settingsBefore, settingsAfter) {
				t.Error("Load with the wrong secret changed the store")
			}
			if _, err := m.Sign([]byte("{}"), ""); !errors.Is(err, ErrNotLoaded) {
				t.Errorf("Sign after failed Load = %v, want ErrNotLoaded", err)
			}
			if err := CheckSecret(t.Context(), store, testSealer(t, 1)); err != nil {
				t.Errorf("CheckSecret with the right secret: %v", err)
			}
		})
	}
}

func TestCheckSecret(t *testing.T) {
	store := newFakeStore()
	if err := CheckSecret(t.Context(), store, testSealer(t, 1)); err != nil {
		t.Fatalf("first CheckSecret: %v", err)
	}
	if err := CheckSecret(t.Context(), store, testSealer(t, 1)); err != nil {
		t.Fatalf("CheckSecret, same secret: %v", err)
	}
	if err := CheckSecret(t.Context(), store, testSealer(t, 2)); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("CheckSecret, other secret = %v, want ErrWrongSecret", err)
	}
}

// TestLoadConcurrent makes two replicas both see an empty store and both
// generate keys before either stores them, so one must find, under the key
// lock, that the other has created the keys and adopt the winner's keys.
func TestLoadConcurrent(t *testing.T) {
	store := newFakeStore()
	pool := poolGenerator(t)
	var arrived sync.WaitGroup
	arrived.Add(2)
	var calls atomic.Int32
	both := make(chan struct{})
	go func() { arrived.Wait(); close(both) }()
	barrier := func(bits int) (*rsa.PrivateKey, error) {
		// Each replica generates two keys (active and next); the first
		// two generations, one per replica or both by one, meet here.
		if calls.Add(1) <= 2 {
			arrived.Done()
		}
		select {
		case <-both:
		case <-time.After(10 * time.Second):
			return nil, errors.New("the other replica never generated a key")
		}
		return pool(bits)
	}

	managers := []*Manager{
		newTestManager(t, store, 1, Options{GenerateKey: barrier}),
		newTestManager(t, store, 1, Options{GenerateKey: barrier}),
	}
	errs := make([]error, len(managers))
	var wg sync.WaitGroup
	for i, m := range managers {
		wg.Go(func() { errs[i] = m.Load(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Load %d: %v", i, err)
		}
	}
	keys, _ := store.dump()
	if len(keys) != 2 {
		t.Fatalf("store holds %d keys, want 2 (one active, one next)", len(keys))
	}
	if store.createKeys != 2 {
		t.Errorf("CreateKey called %d times, want 2 (the loser creates nothing)", store.createKeys)
	}
	if a, b := managers[0].ActiveKeyID(), managers[1].ActiveKeyID(); a != b || keys[a].State != storage.KeyActive {
		t.Errorf("replicas sign with %q and %q; store holds %v", a, b, slices.Collect(maps.Keys(keys)))
	}
}

// addKey stores a freshly generated key in state, as a rotation would.
func addKey(t *testing.T, m *Manager, store *fakeStore, state storage.KeyState, created time.Time) *storage.Key {
	t.Helper()
	row, err := m.newKey(state, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateKey(t.Context(), row); err != nil {
		t.Fatal(err)
	}
	return row
}

func TestLoadPromotesNextKey(t *testing.T) {
	store := newFakeStore()
	m := newTestManager(t, store, 1, Options{})
	older := addKey(t, m, store, storage.KeyNext, testNow.Add(-2*time.Hour))
	addKey(t, m, store, storage.KeyNext, testNow.Add(-time.Hour))
	retired := addKey(t, m, store, storage.KeyRetired, testNow.Add(-3*time.Hour))
	m.generate = noGenerator(t)

	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m.ActiveKeyID() != older.ID {
		t.Errorf("active = %q, want the oldest next key %q", m.ActiveKeyID(), older.ID)
	}
	keys, _ := store.dump()
	if k := keys[older.ID]; k.State != storage.KeyActive || !k.ActivatesAt.Equal(testNow) {
		t.Errorf("promoted key = %+v", k)
	}
	if _, ok := m.VerificationKey(retired.ID); !ok {
		t.Error("retired key not published")
	}
	if len(keys) != 3 {
		t.Errorf("store holds %d keys, want 3 (the other next key stays the next key)", len(keys))
	}
}

// TestLoadRefresh is what a replica sees when another replica publishes a
// next key: the new key joins the JWKS, the signing key stays.
func TestLoadRefresh(t *testing.T) {
	m, store := loaded(t)
	active := m.ActiveKeyID()
	_, etagBefore := m.JWKS()
	next := addKey(t, m, store, storage.KeyNext, testNow.Add(time.Minute))

	if _, ok := m.snap.Load().public[next.ID]; ok {
		t.Fatal("next key visible before Load")
	}
	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m.ActiveKeyID() != active {
		t.Errorf("active changed to %q", m.ActiveKeyID())
	}
	if _, ok := m.VerificationKey(next.ID); !ok {
		t.Error("next key not published after Load")
	}
	body, etagAfter := m.JWKS()
	if etagAfter == etagBefore {
		t.Error("ETag unchanged after the key set changed")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	// The first start's next key and this one: the active key first,
	// the others in creation order.
	if len(set.Keys) != 3 || set.Keys[0].KeyID != active || set.Keys[2].KeyID != next.ID {
		t.Errorf("JWKS order = %v, want active %q first, then the first next key, then %q", kids(set), active, next.ID)
	}
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// TestLoadRejectsBadRows covers rows a healthy database never holds. Each
// must fail Load without replacing the keys already in use.
func TestLoadRejectsBadRows(t *testing.T) {
	tests := []struct {
		name        string
		tamper      func(t *testing.T, m *Manager, f *fakeStore, active, other *storage.Key)
		wrongSecret bool
		want        string
	}{
		{
			name: "sealed key moved to another row",
			tamper: func(t *testing.T, m *Manager, f *fakeStore, active, other *storage.Key) {
				other.PrivateEncrypted = active.PrivateEncrypted
				f.put(*other)
			},
			wrongSecret: true,
			want:        "next signing key",
		},
		{
			name: "public JWK replaced",
			tamper: func(t *testing.T, m *Manager, f *fakeStore, active, other *storage.Key) {
				other.PublicJWK = active.PublicJWK
				f.put(*other)
			},
			want: "does not match",
		},
		{
			name: "key sealed under another secret",
			tamper: func(t *testing.T, m *Manager, f *fakeStore, active, other *storage.Key) {
				m2 := newTestManager(t, f, 9, Options{})
				row, err := m2.newKey(storage.KeyRetired, testNow)
				if err != nil {
					t.Fatal(err)
				}
				f.put(*row)
			},
			wrongSecret: true,
			want:        "retired signing key",
		},
		{
			name: "two active keys",
			tamper: func(t *testing.T, m *Manager, f *fakeStore, active, other *storage.Key) {
				other.State = storage.KeyActive
				f.put(*other)
			},
			want: "2 active",
		},
		{
			name: "unsupported algorithm",
			tamper: func(t *testing.T, m *Manager, f *fakeStore, active, other *storage.Key) {
				other.Algorithm = "HS256"
				f.put(*other)
			},
			want: "unsupported algorithm",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, store := loaded(t)
			rows, _ := store.ListKeys(t.Context())
			active := &rows[slices.IndexFunc(rows, func(r storage.Key) bool { return r.State == storage.KeyActive })]
			other := addKey(t, m, store, storage.KeyNext, testNow.Add(time.Minute))
			if err := m.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			before, etag := m.JWKS()

			tt.tamper(t, m, store, active, other)
			err := m.Load(t.Context())
			if err == nil {
				t.Fatal("Load accepted the bad row")
			}
			if errors.Is(err, ErrWrongSecret) != tt.wrongSecret {
				t.Errorf("errors.Is(%v, ErrWrongSecret) = %v, want %v", err, !tt.wrongSecret, tt.wrongSecret)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			after, etagAfter := m.JWKS()
			if !bytes.Equal(before, after) || etag != etagAfter || m.ActiveKeyID() != active.ID {
				t.Error("a failed Load replaced the published keys")
			}
			if _, err := m.Sign([]byte("{}"), ""); err != nil {
				t.Errorf("Sign after a failed refresh: %v", err)
			}
		})
	}
}

func TestSealedPrivateKeyHidesKey(t *testing.T) {
	m, store := loaded(t)
	rows, _ := store.ListKeys(t.Context())
	pub, _ := m.VerificationKey(m.ActiveKeyID())
	key := findPoolKey(t, pub)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string][]byte{
		"PKCS#8 DER":       pkcs8,
		"PKCS#1 DER":       x509.MarshalPKCS1PrivateKey(key),
		"PEM label":        []byte("PRIVATE KEY"),
		"private exponent": key.D.Bytes(),
		"prime p":          key.Primes[0].Bytes(),
	}
	for _, row := range rows {
		for name, b := range forbidden {
			if bytes.Contains(row.PrivateEncrypted, b) {
				t.Errorf("PrivateEncrypted contains the %s", name)
			}
			if bytes.Contains(row.PublicJWK, b) {
				t.Errorf("PublicJWK contains the %s", name)
			}
		}
		assertPublicJWKMembers(t, row.PublicJWK)
	}
}

func findPoolKey(t *testing.T, pub *rsa.PublicKey) *rsa.PrivateKey {
	t.Helper()
	pool, _ := testKeys()
	for _, k := range pool {
		if k.PublicKey.Equal(pub) {
			return k
		}
	}
	t.Fatal("active key is not from the test pool")
	return nil
}

// privateMembers are the JWK members that carry private key material
// (RFC 7518 §6.3.2, §6.4).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func assertPublicJWKMembers(t *testing.T, raw []byte) {
	t.Helper()
	var jwk map[string]any
	if err := json.Unmarshal(raw, &jwk); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	for _, member := range privateMembers {
		if _, ok := jwk[member]; ok {
			t.Errorf("JWK has private member %q", member)
		}
	}
	for member, want := range map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256"} {
		if jwk[member] != want {
			t.Errorf("JWK %s = %v, want %q", member, jwk[member], want)
		}
	}
	for _, member := range []string{"kid", "n", "e"} {
		if s, _ := jwk[member].(string); s == "" {
			t.Errorf("JWK has no %q", member)
		}
	}
	n, err := b64.DecodeString(fmt.Sprint(jwk["n"]))
	if err != nil {
		t.Fatalf("n: %v", err)
	}
	if bits := (len(n) * 8) - leadingZeroBits(n[0]); bits < 2048 {
		t.Errorf("n has %d bits, want at least 2048", bits)
	}
}

func leadingZeroBits(b byte) int {
	n := 0
	for mask := byte(0x80); mask != 0 && b&mask == 0; mask >>= 1 {
		n++
	}
	return n
}

func TestJWKSPublicOnly(t *testing.T) {
	m, store := loaded(t)
	addKey(t, m, store, storage.KeyNext, testNow.Add(time.Minute))
	addKey(t, m, store, storage.KeyRetired, testNow.Add(-time.Minute))
	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	body, _ := m.JWKS()
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 4 {
		t.Fatalf("JWKS has %d keys, want 4 (active, first next, added next, retired)", len(set.Keys))
	}
	seen := map[string]bool{}
	for _, raw := range set.Keys {
		assertPublicJWKMembers(t, raw)
		var k struct{ Kid string }
		_ = json.Unmarshal(raw, &k)
		if seen[k.Kid] {
			t.Errorf("kid %q published twice", k.Kid)
		}
		seen[k.Kid] = true
	}
	body[0] = 'X'
	if again, _ := m.JWKS(); again[0] == 'X' {
		t.Error("JWKS returned the served bytes, not a copy")
	}
}

func TestKeys(t *testing.T) {
	m, store := loaded(t)
	first := keyIn(t, store, storage.KeyNext)
	next := addKey(t, m, store, storage.KeyNext, testNow.Add(time.Minute))
	infos, err := m.Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	retention := DefaultMaxTokenLifetime + ClockSkew
	want := []KeyInfo{
		{
			ID: m.ActiveKeyID(), Algorithm: "RS256", State: storage.KeyActive, CreatedAt: testNow,
			ActivatesAt: testNow, NotBefore: testNow,
			RetiresAt: testNow.Add(DefaultRotationPeriod),
			RemovesAt: testNow.Add(DefaultRotationPeriod + retention), DeletedAt: testNow.Add(DefaultRotationPeriod + retention),
		},
		{
			ID: first, Algorithm: "RS256", State: storage.KeyNext, CreatedAt: testNow,
			ActivatesAt: testNow.Add(DefaultRotationPeriod), NotBefore: testNow.Add(DefaultRotationPeriod),
			RetiresAt: testNow.Add(2 * DefaultRotationPeriod),
			RemovesAt: testNow.Add(2*DefaultRotationPeriod + retention), DeletedAt: testNow.Add(2*DefaultRotationPeriod + retention),
		},
		{ID: next.ID, Algorithm: "RS256", State: storage.KeyNext, CreatedAt: testNow.Add(time.Minute)},
	}
	// The first two share a creation time; their order is the store's.
	if len(infos) == 3 && infos[0].ID == first {
		infos[0], infos[1] = infos[1], infos[0]
	}
	if !reflect.DeepEqual(infos, want) {
		t.Errorf("Keys = %+v\nwant %+v", infos, want)
	}
	js, _ := json.Marshal(infos[2])
	if strings.Contains(string(js), "retires_at") || strings.Contains(string(js), "private") {
		t.Errorf("KeyInfo JSON = %s", js)
	}
}

// TestReadersDuringLoad runs readers against repeated Loads; it exists for
// the race detector.
func TestReadersDuringLoad(t *testing.T) {
	m, store := loaded(t)
	handler := m.JWKSHandler()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := m.Sign([]byte(`{"sub":"alice"}`), "at+jwt")
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := verifyWithJWKS(m, tok); err != nil {
					t.Error(err)
					return
				}
				_ = serve(handler, "GET", nil)
			}
		})
	}
	for i := range 10 {
		if i == 5 {
			addKey(t, m, store, storage.KeyNext, testNow.Add(time.Minute))
		}
		if err := m.Load(t.Context()); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestUnknownKidReload: a kid this replica does not know (another replica
// just created the key) makes VerificationKey reload before answering, at
// most once per second however many unknown kids arrive.
func TestUnknownKidReload(t *testing.T) {
	clock, store, a, b := twoReplicas(t)
	clock.add(time.Hour)
	info, err := a.RotateNow(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	newNext := keyIn(t, store, storage.KeyNext)
	if _, ok := b.snap.Load().public[newNext]; ok {
		t.Fatal("b knows the new next key before any reload")
	}
	lists := store.listKeys.Load()
	if _, ok := b.VerificationKey(newNext); !ok {
		t.Fatal("b does not find a key another replica created")
	}
	if store.listKeys.Load() == lists {
		t.Error("VerificationKey found the new kid without reading the database")
	}
	if b.ActiveKeyID() != info.ID {
		t.Errorf("b signs with %q after the reload, want %q", b.ActiveKeyID(), info.ID)
	}

	// Within the second: unknown kids are refused without reloading.
	lists = store.listKeys.Load()
	for range 5 {
		if _, ok := b.VerificationKey("forged"); ok {
			t.Fatal("a forged kid verified")
		}
	}
	if store.listKeys.Load() != lists {
		t.Errorf("%d reloads for unknown kids within a second, want none", store.listKeys.Load()-lists)
	}
	clock.add(time.Second)
	if _, ok := b.VerificationKey("forged"); ok {
		t.Fatal("a forged kid verified")
	}
	if store.listKeys.Load() == lists {
		t.Error("no reload for an unknown kid a second later")
	}

	// A kid that hallpass cannot have made (too long, or outside
	// base64url) reloads nothing, however long since the last reload.
	for _, kid := range []string{strings.Repeat("k", 65), "forged kid", "forged\n", "k\u202e"} {
		clock.add(time.Second)
		lists = store.listKeys.Load()
		if _, ok := b.VerificationKey(kid); ok {
			t.Fatalf("kid %q verified", kid)
		}
		if store.listKeys.Load() != lists {
			t.Errorf("kid %.20q reloaded the keys", kid)
		}
	}
}

// TestPoll: Poll reloads only when the change counter moved.
func TestPoll(t *testing.T) {
	_, _, a, b := twoReplicas(t)
	if reloaded, err := b.Poll(t.Context()); err != nil || reloaded {
		t.Fatalf("Poll without a change = %v, %v; want no reload", reloaded, err)
	}
	info, err := a.RotateNow(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	if reloaded, err := b.Poll(t.Context()); err != nil || !reloaded {
		t.Fatalf("Poll after another replica's rotation = %v, %v; want a reload", reloaded, err)
	}
	if b.ActiveKeyID() != info.ID {
		t.Errorf("b signs with %q after Poll, want %q", b.ActiveKeyID(), info.ID)
	}
	if reloaded, _ := b.Poll(t.Context()); reloaded {
		t.Error("a second Poll reloaded again")
	}
}

// twoReplicas returns two loaded managers on one store, as two replicas
// of hallpass on one database, and the clock they share.
func twoReplicas(t *testing.T) (*fakeClock, *fakeStore, *Manager, *Manager) {
	t.Helper()
	clock := newFakeClock(testNow)
	store := newFakeStore()
	opts := Options{Now: clock.Now, GenerateKey: poolGenerator(t)}
	a := newTestManager(t, store, 1, opts)
	b := newTestManager(t, store, 1, opts)
	for _, m := range []*Manager{a, b} {
		if err := m.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return clock, store, a, b
}

// flakySettings fails every GetSetting while down is set: a database that
// went away under a watching replica.
type flakySettings struct {
	*fakeStore
	down     atomic.Bool
	failures atomic.Int64
}

func (f *flakySettings) GetSetting(ctx context.Context, name string) ([]byte, error) {
	if f.down.Load() {
		f.failures.Add(1)
		return nil, fmt.Errorf("connection refused: %w", storage.ErrUnavailable)
	}
	return f.fakeStore.GetSetting(ctx, name)
}

// syncLog collects log output written from the watching goroutine.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWatchLogsAnOutageOnce: while the change counter cannot be read, Watch
// keeps trying every interval but logs the failure once, and once more when
// it works again, rather than a line per interval for the whole outage.
func TestWatchLogsAnOutageOnce(t *testing.T) {
	store := &flakySettings{fakeStore: newFakeStore()}
	var logs syncLog
	m := newTestManager(t, store, 1, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); m.Watch(ctx, time.Millisecond) }()

	store.down.Store(true)
	waitFor(t, "20 failed checks", func() bool { return store.failures.Load() >= 20 })
	store.down.Store(false)
	waitFor(t, "the recovery logged", func() bool { return logs.count("works again") == 1 })
	cancel()
	<-done
	if n := logs.count("change check failed"); n != 1 {
		t.Errorf("an outage of %d failed checks was logged %d times, want once", store.failures.Load(), n)
	}
}
