package keys

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/storage"
)

// Algorithm is the JWS algorithm of every key this package manages.
const Algorithm = string(jose.RS256)

// Store is the part of storage.Store that key management uses.
type Store interface {
	// CreateKey returns storage.ErrConflict if the kid exists or if the key is
	// active and another active key exists.
	CreateKey(ctx context.Context, k *storage.Key) error
	// ListKeys returns every key, ordered by CreatedAt.
	ListKeys(ctx context.Context) ([]storage.Key, error)
	// UpdateKey replaces State and the planned times; storage.ErrConflict if
	// it would make a second active key.
	UpdateKey(ctx context.Context, k *storage.Key) error
	// CreateSetting returns storage.ErrConflict if the name exists.
	CreateSetting(ctx context.Context, name string, value []byte) error
	// GetSetting returns storage.ErrNotFound for an unknown name.
	GetSetting(ctx context.Context, name string) ([]byte, error)
}

// storage.Store must keep satisfying Store.
var _ Store = storage.Store(nil)

// ErrNotLoaded is returned by Sign before the first successful Load.
var ErrNotLoaded = errors.New("keys: signing keys not loaded")

// Options configures a Manager. The zero value is usable.
type Options struct {
	// Bits is the RSA modulus size of generated keys: 2048 (the default),
	// 3072 or 4096.
	Bits int
	// Now is the clock; it defaults to time.Now.
	Now func() time.Time
	// JWKSMaxAge is how long clients may cache the JWKS (default 5m). A key
	// must be published at least this long before it signs.
	JWKSMaxAge time.Duration
	// Logger receives key lifecycle events; it defaults to slog.Default().
	Logger *slog.Logger

	// generate replaces RSA key generation in tests, where a fresh 2048-bit
	// key per case would dominate the run time.
	generate func(bits int) (*rsa.PrivateKey, error)
}

// Manager owns the signing keys: it creates the first one, decrypts the
// active one, signs with it, and publishes the JWKS. Readers (Sign, JWKS,
// VerificationKey) never touch the database and never block on Load.
type Manager struct {
	store    Store
	sealer   *Sealer
	bits     int
	now      func() time.Time
	maxAge   time.Duration
	log      *slog.Logger
	generate func(bits int) (*rsa.PrivateKey, error)

	// loadMu orders Loads, so an older read of the database never replaces
	// a newer snapshot and one process never races itself to create a key.
	loadMu sync.Mutex
	snap   atomic.Pointer[snapshot]
}

// snapshot is what one Load saw. It is never modified after it is published,
// which is what lets readers use it without locks.
type snapshot struct {
	kid    string
	key    *rsa.PrivateKey
	public map[string]*rsa.PublicKey
	jwks   []byte
	etag   string
}

// KeyInfo is the public metadata of a stored key, for listings.
type KeyInfo struct {
	ID          string           `json:"kid"`
	Algorithm   string           `json:"alg"`
	State       storage.KeyState `json:"state"`
	CreatedAt   time.Time        `json:"created_at"`
	ActivatesAt time.Time        `json:"activates_at,omitzero"`
	RetiresAt   time.Time        `json:"retires_at,omitzero"`
	RemovesAt   time.Time        `json:"removes_at,omitzero"`
}

// NewManager returns a Manager that holds no keys until Load succeeds. It
// fails on a nil store or sealer and on an unsupported Options.Bits.
func NewManager(store Store, sealer *Sealer, opts Options) (*Manager, error) {
	if store == nil || sealer == nil {
		return nil, errors.New("keys: NewManager needs a store and a sealer")
	}
	m := &Manager{
		store:    store,
		sealer:   sealer,
		bits:     cmp.Or(opts.Bits, 2048),
		now:      opts.Now,
		maxAge:   cmp.Or(opts.JWKSMaxAge, 5*time.Minute),
		log:      opts.Logger,
		generate: opts.generate,
	}
	switch m.bits {
	case 2048, 3072, 4096:
	default:
		return nil, fmt.Errorf("keys: unsupported RSA key size %d (use 2048, 3072 or 4096)", m.bits)
	}
	if m.maxAge < 0 {
		return nil, fmt.Errorf("keys: negative JWKS max age %v", m.maxAge)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.generate == nil {
		m.generate = func(bits int) (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, bits) }
	}
	return m, nil
}

// loadAttempts bounds Load's read-write rounds. Load re-reads after every
// write, its own or one it lost to another replica, so three rounds cover a
// lost race followed by a successful write.
const loadAttempts = 3

// Load reads the keys from the store and publishes them. On a database with
// no active key it promotes the oldest next key or, if there is none, creates
// one. It first runs CheckSecret, and it fails with an error wrapping
// ErrWrongSecret if any key does not open: it never creates a key in place
// of keys it cannot read. Call it at start, and again to pick up keys other replicas rotated;
// it is safe to call concurrently with every other method. On error the
// previously loaded keys stay in use.
func (m *Manager) Load(ctx context.Context) error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()

	if err := CheckSecret(ctx, m.store, m.sealer); err != nil {
		return err
	}
	for range loadAttempts {
		rows, err := m.store.ListKeys(ctx)
		if err != nil {
			return fmt.Errorf("keys: list keys: %w", err)
		}
		opened, err := m.openAll(rows)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(opened, isActive); i >= 0 {
			m.publish(opened, i)
			return nil
		}
		switch err := m.makeActive(ctx, opened); {
		case err == nil:
		case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
			m.log.InfoContext(ctx, "another replica changed the signing keys first; reloading", "err", err)
		default:
			return err
		}
	}
	return fmt.Errorf("keys: no active signing key after %d attempts", loadAttempts)
}

// openedKey is a stored key with its private half decrypted.
type openedKey struct {
	row storage.Key
	key *rsa.PrivateKey
}

func isActive(k openedKey) bool { return k.row.State == storage.KeyActive }

// openAll decrypts every published key, not just the active one: the public
// half served in the JWKS is derived from the sealed private half, so a row
// written by someone without the secret cannot add a verification key.
func (m *Manager) openAll(rows []storage.Key) ([]openedKey, error) {
	var out []openedKey
	active := 0
	for _, row := range rows {
		switch row.State {
		case storage.KeyNext, storage.KeyRetired:
		case storage.KeyActive:
			active++
		default:
			m.log.Warn("ignoring signing key in unknown state", "kid", row.ID, "state", row.State)
			continue
		}
		key, err := m.openKey(row)
		if err != nil {
			return nil, err
		}
		out = append(out, openedKey{row: row, key: key})
	}
	if active > 1 {
		return nil, fmt.Errorf("keys: the database holds %d active signing keys; it must hold one", active)
	}
	slices.SortStableFunc(out, func(a, b openedKey) int {
		return cmp.Or(a.row.CreatedAt.Compare(b.row.CreatedAt), cmp.Compare(a.row.ID, b.row.ID))
	})
	return out, nil
}

func (m *Manager) openKey(row storage.Key) (*rsa.PrivateKey, error) {
	if row.Algorithm != Algorithm {
		return nil, fmt.Errorf("keys: signing key %q has unsupported algorithm %q", row.ID, row.Algorithm)
	}
	der, err := m.sealer.Open(row.PrivateEncrypted, keyAD(row.ID))
	if err != nil {
		return nil, fmt.Errorf("keys: cannot decrypt %s signing key %q: %w, or its row was altered", row.State, row.ID, ErrWrongSecret)
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %q: parse private key: %w", row.ID, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("keys: signing key %q is a %T, not RSA", row.ID, parsed)
	}
	if key.N.BitLen() < 2048 {
		return nil, fmt.Errorf("keys: signing key %q has %d bits; at least 2048 are required", row.ID, key.N.BitLen())
	}
	var stored jose.JSONWebKey
	if err := stored.UnmarshalJSON(row.PublicJWK); err != nil {
		return nil, fmt.Errorf("keys: signing key %q: parse public JWK: %w", row.ID, err)
	}
	pub, ok := stored.Key.(*rsa.PublicKey)
	if !ok || !key.PublicKey.Equal(pub) || (stored.KeyID != "" && stored.KeyID != row.ID) {
		return nil, fmt.Errorf("keys: signing key %q: stored public JWK does not match its private key", row.ID)
	}
	return key, nil
}

// makeActive gives a database without an active key one. A next key is
// preferred because it has already been published; a fresh key is only
// needed on first start (or after someone deleted the keys).
func (m *Manager) makeActive(ctx context.Context, opened []openedKey) error {
	now := m.now().UTC()
	if i := slices.IndexFunc(opened, func(k openedKey) bool { return k.row.State == storage.KeyNext }); i >= 0 {
		row := opened[i].row
		row.State = storage.KeyActive
		row.ActivatesAt = now
		if err := m.store.UpdateKey(ctx, &row); err != nil {
			return fmt.Errorf("keys: promote next key %q: %w", row.ID, err)
		}
		m.log.WarnContext(ctx, "no active signing key; promoted the next key", "kid", row.ID)
		return nil
	}

	row, err := m.newKey(storage.KeyActive, now)
	if err != nil {
		return err
	}
	row.ActivatesAt = now
	if err := m.store.CreateKey(ctx, row); err != nil {
		return fmt.Errorf("keys: store new signing key %q: %w", row.ID, err)
	}
	m.log.InfoContext(ctx, "created signing key", "kid", row.ID, "alg", Algorithm, "bits", m.bits, "state", row.State)
	return nil
}

// newKey generates an RSA key and returns it as a row, the private half
// sealed to its kid. Generation runs outside any transaction, as in Dex's
// rotation: it is slow, and a loser of the race just discards its key.
func (m *Manager) newKey(state storage.KeyState, now time.Time) (*storage.Key, error) {
	key, err := m.generate(m.bits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate RSA-%d key: %w", m.bits, err)
	}
	kid, err := thumbprint(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	pubJWK, err := publicJWK(kid, &key.PublicKey).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("keys: encode public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("keys: encode private key: %w", err)
	}
	defer clear(der)
	sealed, err := m.sealer.Seal(der, keyAD(kid))
	if err != nil {
		return nil, fmt.Errorf("keys: seal private key: %w", err)
	}
	return &storage.Key{
		ID:               kid,
		Algorithm:        Algorithm,
		State:            state,
		PublicJWK:        pubJWK,
		PrivateEncrypted: sealed,
		CreatedAt:        now,
	}, nil
}

// publish builds the snapshot for opened, whose element active signs, and
// swaps it in.
func (m *Manager) publish(opened []openedKey, active int) {
	// Active key first: naive clients that ignore kid take the first key.
	// The rest keep creation order, so every replica serves identical bytes
	// and one ETag.
	order := make([]openedKey, 0, len(opened))
	order = append(order, opened[active])
	order = append(order, opened[:active]...)
	order = append(order, opened[active+1:]...)

	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(order))}
	public := make(map[string]*rsa.PublicKey, len(order))
	for _, k := range order {
		set.Keys = append(set.Keys, publicJWK(k.row.ID, &k.key.PublicKey))
		public[k.row.ID] = &k.key.PublicKey
	}
	body, err := json.Marshal(set)
	if err != nil {
		// Public RSA JWKs always encode; a failure here is a bug.
		panic(fmt.Sprintf("keys: encode JWKS: %v", err))
	}
	s := &snapshot{
		kid:    opened[active].row.ID,
		key:    opened[active].key,
		public: public,
		jwks:   body,
		etag:   etag(body),
	}
	old := m.snap.Swap(s)
	switch {
	case old == nil:
		m.log.Info("signing keys loaded", "active_kid", s.kid, "published", len(public))
	case old.kid != s.kid || !bytes.Equal(old.jwks, s.jwks):
		m.log.Info("signing keys changed", "active_kid", s.kid, "previous_kid", old.kid, "published", len(public))
	}
}

// Keys returns the public metadata of every stored key, read from the store
// so that it reflects changes made by other replicas.
func (m *Manager) Keys(ctx context.Context) ([]KeyInfo, error) {
	rows, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list keys: %w", err)
	}
	out := make([]KeyInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, KeyInfo{
			ID:          r.ID,
			Algorithm:   r.Algorithm,
			State:       r.State,
			CreatedAt:   r.CreatedAt,
			ActivatesAt: r.ActivatesAt,
			RetiresAt:   r.RetiresAt,
			RemovesAt:   r.RemovesAt,
		})
	}
	return out, nil
}

// keyAD is the additional data a private key is sealed with: it ties the
// ciphertext to its kid, so a sealed blob copied into another row fails to
// open rather than signing under the wrong kid.
func keyAD(kid string) []byte {
	return []byte("hallpass signing key " + kid)
}

func publicJWK(kid string, pub *rsa.PublicKey) jose.JSONWebKey {
	return jose.JSONWebKey{Key: pub, KeyID: kid, Use: "sig", Algorithm: Algorithm}
}

// thumbprint returns the RFC 7638 SHA-256 thumbprint, base64url: a kid that
// is unique per key and that anyone holding the public key can recompute.
func thumbprint(pub *rsa.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: key thumbprint: %w", err)
	}
	return b64.EncodeToString(sum), nil
}
