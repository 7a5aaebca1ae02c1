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

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
)

// Algorithm is the JWS algorithm of every key this package manages.
const Algorithm = string(jose.RS256)

// Store is the part of storage.Store that key management uses. Every
// method runs inside the transaction ctx carries, if any.
type Store interface {
	// BeginTX starts a transaction and returns a context carrying it;
	// Commit and Rollback end it.
	BeginTX(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	// LockKeys takes, inside the transaction in ctx, the lock that
	// serializes signing-key changes among replicas; at REPEATABLE READ
	// or SERIALIZABLE a locker that waited fails with
	// storage.ErrTransient, and the change is run again.
	LockKeys(ctx context.Context) error

	// CreateKey returns storage.ErrConflict if the kid exists or if the key is
	// active and another active key exists.
	CreateKey(ctx context.Context, k *storage.Key) error
	// ListKeys returns every key, ordered by CreatedAt.
	ListKeys(ctx context.Context) ([]storage.Key, error)
	// UpdateKey replaces State and the planned times; storage.ErrConflict if
	// it would make a second active key.
	UpdateKey(ctx context.Context, k *storage.Key) error
	// DeleteKey returns storage.ErrNotFound if the kid does not exist.
	DeleteKey(ctx context.Context, id string) error
	// SetKeyPrivate replaces a key's sealed private half;
	// storage.ErrNotFound if the kid does not exist.
	SetKeyPrivate(ctx context.Context, id string, privateEncrypted []byte) error

	// CreateSetting returns storage.ErrConflict if the name exists.
	CreateSetting(ctx context.Context, name string, value []byte) error
	// GetSetting returns storage.ErrNotFound for an unknown name.
	GetSetting(ctx context.Context, name string) ([]byte, error)
	// PutSetting creates or replaces a setting.
	PutSetting(ctx context.Context, name string, value []byte) error
}

// storage.Store must keep satisfying Store.
var _ Store = storage.Store(nil)

// ErrNotLoaded is returned by Sign before the first successful Load.
var ErrNotLoaded = errors.New("keys: signing keys not loaded")

// ErrStale is returned by Sign when Options.RefreshInterval is set and the
// keys have not been reloaded for two intervals. Another replica may have
// retired the key this one holds since, and the retired key's publication
// only covers tokens signed within that window; refusing to sign (and
// failing /readyz) is what keeps a replica cut off from the database, or
// left on an old HALLPASS_SECRET, from issuing tokens that outlive their key.
var ErrStale = errors.New("keys: signing keys are stale: no successful reload from the database within twice the refresh interval")

// Defaults of Options.
const (
	DefaultRotationPeriod   = 30 * 24 * time.Hour
	DefaultMaxTokenLifetime = time.Hour
	DefaultJWKSMaxAge       = 5 * time.Minute
)

// ClockSkew is the clock difference between hosts (replicas, resource
// servers) that the rotation schedule tolerates: it is added to the
// publication lead and to a retired key's retention.
const ClockSkew = time.Minute

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
	// RotationPeriod is how long a key signs before the next key takes over
	// (default 30 days). It must be longer than the publication lead
	// (JWKSMaxAge + RefreshInterval + ClockSkew).
	RotationPeriod time.Duration
	// MaxTokenLifetime is the lifetime of the longest-lived token signed
	// with these keys: the provider's max(access, ID token lifespan)
	// (default 1h). A retired key stays published this long, plus the
	// staleness window and ClockSkew, after it stops signing.
	MaxTokenLifetime time.Duration
	// RefreshInterval is how often every replica calls Tick (hallpass serve
	// --key-refresh). It bounds how long a replica takes to see another's
	// change, so it lengthens the publication lead, and Sign refuses to
	// sign (ErrStale) when no Load succeeded for two intervals. Zero means
	// the caller never refreshes (a single process that changes keys only
	// through its own calls): no lead for other replicas, no staleness.
	RefreshInterval time.Duration
	// Logger receives key lifecycle events; it defaults to slog.Default().
	Logger *slog.Logger
	// Audit records every key generated, promoted, retired, revoked or
	// removed (audit.Log); nil records nothing.
	Audit Recorder

	// GenerateKey, when set, replaces crypto/rsa.GenerateKey (with
	// crypto/rand) for every key the Manager creates. It is for tests,
	// where a fresh 2048-bit key per case, two per new database, would
	// dominate the run time; it must return a key of bits bits that it
	// never returned for the same database before (a kid that exists
	// makes the change retry with a fresh key). Servers leave it nil.
	GenerateKey func(bits int) (*rsa.PrivateKey, error)
}

// Recorder receives key lifecycle events for the audit log (audit.Log).
type Recorder interface {
	Record(ctx context.Context, ev audit.Event)
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
	audit    Recorder
	generate func(bits int) (*rsa.PrivateKey, error)

	// The schedule, derived from Options once (see Schedule).
	period     time.Duration
	maxToken   time.Duration
	refresh    time.Duration
	lead       time.Duration
	staleAfter time.Duration
	retention  time.Duration

	// loadMu orders Loads, so an older read of the database never replaces
	// a newer snapshot and one process never races itself to create a key.
	loadMu sync.Mutex
	snap   atomic.Pointer[snapshot]
	// unknownKidAt is when (UnixNano of now) the last reload for an
	// unknown kid started; it throttles them.
	unknownKidAt atomic.Int64
}

// snapshot is what one Load saw. It is never modified after it is published,
// which is what lets readers use it without locks.
type snapshot struct {
	kid    string
	key    *rsa.PrivateKey
	public map[string]*rsa.PublicKey
	jwks   []byte
	etag   string
	// nextKid, nextKey and nextAt are the next key due to take over at
	// nextAt, its stored activation time (nil when none is planned).
	nextKid string
	nextKey *rsa.PrivateKey
	nextAt  time.Time
	// loadedAt is when the Load that built this snapshot read the
	// database; Sign judges staleness by it.
	loadedAt time.Time
	status   Status
	// generation is the change counter read before the keys.
	generation uint64
}

// KeyInfo is the public metadata of a stored key, for listings. The times
// are actual for what has happened (a retired key's activation and
// retirement) and planned for what has not; zero when unknown.
type KeyInfo struct {
	ID          string           `json:"kid"`
	Algorithm   string           `json:"alg"`
	State       storage.KeyState `json:"state"`
	CreatedAt   time.Time        `json:"created_at"`
	ActivatesAt time.Time        `json:"activates_at,omitzero"`
	// NotBefore is when the key may sign: ActivatesAt, under the name
	// operators look for.
	NotBefore time.Time `json:"not_before,omitzero"`
	// RetiresAt of the active key is when it actually hands over: never
	// before the next key's activation, so never in the past while the
	// key still signs on schedule.
	RetiresAt time.Time `json:"retires_at,omitzero"`
	RemovesAt time.Time `json:"removes_at,omitzero"`
	// DeletedAt is when the key leaves the JWKS and its row is deleted:
	// RemovesAt, under the name operators look for. Deleted keys are not
	// kept, so it is always a planned time.
	DeletedAt time.Time `json:"deleted_at,omitzero"`
	// Unpublished is set only in the answer of RotateNow and Revoke, when
	// the key that now signs was never in the JWKS (there was no next key
	// to promote): resource servers reject its tokens until they refetch.
	Unpublished bool `json:"unpublished_key,omitzero"`
}

// NewManager returns a Manager that holds no keys until Load succeeds. It
// fails on a nil store or sealer, an unsupported Options.Bits, a negative
// duration, and a rotation period no longer than the publication lead.
func NewManager(store Store, sealer *Sealer, opts Options) (*Manager, error) {
	if store == nil || sealer == nil {
		return nil, errors.New("keys: NewManager needs a store and a sealer")
	}
	m := &Manager{
		store:    store,
		sealer:   sealer,
		bits:     cmp.Or(opts.Bits, 2048),
		now:      opts.Now,
		maxAge:   cmp.Or(opts.JWKSMaxAge, DefaultJWKSMaxAge),
		log:      opts.Logger,
		audit:    opts.Audit,
		generate: opts.GenerateKey,
		period:   cmp.Or(opts.RotationPeriod, DefaultRotationPeriod),
		maxToken: cmp.Or(opts.MaxTokenLifetime, DefaultMaxTokenLifetime),
		refresh:  opts.RefreshInterval,
	}
	switch m.bits {
	case 2048, 3072, 4096:
	default:
		return nil, fmt.Errorf("keys: unsupported RSA key size %d (use 2048, 3072 or 4096)", m.bits)
	}
	if m.maxAge < 0 {
		return nil, fmt.Errorf("keys: negative JWKS max age %v", m.maxAge)
	}
	for name, d := range map[string]time.Duration{"rotation period": m.period, "max token lifetime": m.maxToken, "refresh interval": m.refresh} {
		if d < 0 {
			return nil, fmt.Errorf("keys: negative %s %v", name, d)
		}
	}
	// The lead: every replica reloads within one refresh interval, and
	// every client's cached JWKS expires within one max-age, so a key
	// written this long before it signs is known to all of them by then.
	m.lead = m.maxAge + m.refresh + ClockSkew
	m.staleAfter = 2 * m.refresh
	// A replica that has not reloaded may sign with a key for up to
	// staleAfter after another replica retired it; its tokens live
	// maxToken more.
	m.retention = m.maxToken + m.staleAfter + ClockSkew
	if m.period <= m.lead {
		return nil, fmt.Errorf("keys: rotation period %v must be longer than the publication lead %v (JWKS max-age %v + refresh interval %v + clock skew %v)",
			m.period, m.lead, m.maxAge, m.refresh, ClockSkew)
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
// of keys it cannot read. Call it at start, and again to pick up keys other
// replicas rotated (Tick does both and also runs the rotation schedule);
// it is safe to call concurrently with every other method. On error the
// previously loaded keys stay in use.
func (m *Manager) Load(ctx context.Context) error {
	_, err := m.load(ctx)
	return err
}

// load is Load, returning the rows it published.
func (m *Manager) load(ctx context.Context) ([]storage.Key, error) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()

	if err := CheckSecret(ctx, m.store, m.sealer); err != nil {
		return nil, err
	}
	for range loadAttempts {
		// Read the clock before the database: a snapshot must never look
		// fresher than what it was built from.
		readAt := m.now().UTC()
		// The counter before the keys: a change committed in between
		// makes the next Poll reload again rather than go unnoticed.
		gen, err := readGeneration(ctx, m.store)
		if err != nil {
			return nil, err
		}
		rows, err := m.store.ListKeys(ctx)
		if err != nil {
			return nil, fmt.Errorf("keys: list keys: %w", err)
		}
		opened, err := m.openAll(rows)
		if err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(opened, isActive); i >= 0 {
			m.publish(opened, i, readAt, gen)
			return rows, nil
		}
		switch err := m.makeActive(ctx); {
		case err == nil:
		case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
			m.log.InfoContext(ctx, "another replica changed the signing keys first; reloading", "err", err)
		default:
			return nil, err
		}
	}
	return nil, fmt.Errorf("keys: no active signing key after %d attempts", loadAttempts)
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
		// Load checked the secret first (CheckSecret): with it right, the
		// row was altered, and the operator's way out is to revoke it.
		return nil, fmt.Errorf("keys: cannot decrypt %s signing key %q: %w, or its row was altered (if the secret is right, `hallpass keys revoke %s` removes the key)", row.State, row.ID, ErrWrongSecret, row.ID)
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

// makeActive gives a database without an active key one, and a next key.
// A next key is preferred because it has already been published; fresh
// keys are only needed on first start (or after someone deleted the keys),
// and then the active key and the next key are created together, so the
// next key is in the JWKS from the first answer on.
func (m *Manager) makeActive(ctx context.Context) error {
	_, err := m.change(ctx, "no active signing key", func(p *planner) error {
		if p.active() != nil {
			return nil // another replica got there first
		}
		if n := p.next(); n != nil {
			m.log.WarnContext(ctx, "no active signing key; promoting the next key", "kid", n.ID)
			m.activate(n, p.now)
			p.touch(n)
		} else {
			p.createActive()
		}
		p.ensureNext()
		return nil
	})
	return err
}

// newKey generates an RSA key and returns it as a row, the private half
// sealed to its kid. Generation runs outside any transaction, as in Dex's
// rotation: it is slow, and a loser of the race just discards its key.
func (m *Manager) newKey(state storage.KeyState, now time.Time) (*storage.Key, error) {
	key, err := m.generate(m.bits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate RSA-%d key: %w", m.bits, err)
	}
	// Options.GenerateKey is exported (for tests outside the package):
	// a key of another size than Bits is refused here, before it is
	// stored, where one too short for Load would fail every later start.
	if key == nil || key.N == nil || key.N.BitLen() != m.bits {
		size := 0
		if key != nil && key.N != nil {
			size = key.N.BitLen()
		}
		return nil, fmt.Errorf("keys: GenerateKey returned an RSA key of %d bits, want %d", size, m.bits)
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

// publish builds the snapshot for opened, whose element active signs, as
// read from the database at readAt, and swaps it in.
func (m *Manager) publish(opened []openedKey, active int, readAt time.Time, gen uint64) {
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
	rows := make([]storage.Key, len(opened))
	for i, k := range opened {
		rows[i] = k.row
	}
	s := &snapshot{
		kid:        opened[active].row.ID,
		key:        opened[active].key,
		public:     public,
		jwks:       body,
		etag:       etag(body),
		loadedAt:   readAt,
		status:     m.status(rows, readAt),
		generation: gen,
	}
	// The oldest next key with a planned activation no earlier than the
	// publication lead after its creation: the schedule never plans one
	// sooner, and a row that says otherwise is not trusted to sign early.
	for _, k := range opened {
		if k.row.State == storage.KeyNext && !k.row.ActivatesAt.IsZero() && !k.row.ActivatesAt.Before(k.row.CreatedAt.Add(m.lead)) {
			s.nextKid, s.nextKey, s.nextAt = k.row.ID, k.key, k.row.ActivatesAt
			break
		}
	}
	old := m.snap.Swap(s)
	switch {
	case old != nil && gen < old.generation:
		// Every change bumps the counter and Loads are ordered, so it
		// only goes back when the database was replaced by an older copy:
		// the keys published since are gone, and resource servers reject
		// what they signed once their cached JWKS expires.
		var gone []string
		for kid := range old.public {
			if _, ok := public[kid]; !ok {
				gone = append(gone, kid)
			}
		}
		slices.Sort(gone)
		m.log.Warn("the signing-key change counter went back: was the database restored from an older backup? keys published since are gone from the JWKS, and tokens they signed stop verifying once resource servers refetch it",
			"counter", gen, "previous_counter", old.generation, "active_kid", s.kid, "previous_kid", old.kid, "gone_kids", gone)
	case old == nil:
		m.log.Info("signing keys loaded", "active_kid", s.kid, "published", len(public))
	case old.kid != s.kid || !bytes.Equal(old.jwks, s.jwks):
		m.log.Info("signing keys changed", "active_kid", s.kid, "previous_kid", old.kid, "published", len(public))
	}
}

// Keys returns the public metadata of every stored key, read from the store
// so that it reflects changes made by other replicas.
func (m *Manager) Keys(ctx context.Context) ([]KeyInfo, error) {
	return List(ctx, m.store)
}

// KeyLister is the part of Store that List reads.
type KeyLister interface {
	ListKeys(ctx context.Context) ([]storage.Key, error)
}

// List returns the public metadata of every stored key in creation order.
// It needs no secret: it is what `hallpass keys list` prints.
func List(ctx context.Context, store KeyLister) ([]KeyInfo, error) {
	rows, err := store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list keys: %w", err)
	}
	// The active key signs until the next key takes over, which a safe
	// rotation may plan later than the active key's recorded retirement
	// (the next key must first be published for the lead).
	var handover time.Time
	for _, r := range rows {
		if r.State == storage.KeyNext && !r.ActivatesAt.IsZero() && (handover.IsZero() || r.ActivatesAt.Before(handover)) {
			handover = r.ActivatesAt
		}
	}
	out := make([]KeyInfo, 0, len(rows))
	for _, r := range rows {
		if r.State == storage.KeyActive && r.RetiresAt.Before(handover) {
			r.RemovesAt = r.RemovesAt.Add(handover.Sub(r.RetiresAt))
			r.RetiresAt = handover
		}
		out = append(out, infoOf(r))
	}
	return out, nil
}

func infoOf(r storage.Key) KeyInfo {
	return KeyInfo{
		ID:          r.ID,
		Algorithm:   r.Algorithm,
		State:       r.State,
		CreatedAt:   r.CreatedAt,
		ActivatesAt: r.ActivatesAt,
		NotBefore:   r.ActivatesAt,
		RetiresAt:   r.RetiresAt,
		RemovesAt:   r.RemovesAt,
		DeletedAt:   r.RemovesAt,
	}
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
