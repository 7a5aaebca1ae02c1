package keys

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// keyBackends are the backends of the database tests, and PostgreSQL at
// the stricter isolation levels, where a replica that waited for the key
// lock fails with a serialization failure (storage.ErrTransient) and runs
// its change again.
func keyBackends() []testdb.Backend {
	backends := testdb.Backends()
	for _, isolation := range []string{"repeatable read", "serializable"} {
		backends = append(backends, testdb.Backend{Name: "postgres/" + isolation, DSN: func(t testing.TB) string {
			return testdb.Postgres(t) + "&default_transaction_isolation=" + strings.ReplaceAll(isolation, " ", "%20")
		}})
	}
	return backends
}

// TestConcurrentRotationOnDatabase runs two replicas, each with its own
// connection pool on one database, through 50 rotations. At each step both
// tick at the same moment, both having generated a key before either takes
// the lock, while both keep signing on other goroutines. Exactly one new key
// is stored per rotation, no replica signs with a key the other does not
// publish, every new key was published by both for the lead before it
// signed, and tokens signed before a rotation verify on both afterwards.
func TestConcurrentRotationOnDatabase(t *testing.T) {
	const rotations = 50
	for _, b := range keyBackends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			clock := newFakeClock(testNow)
			supply := newKeySupply(t, rotations+6)
			var racing atomic.Bool // when set, generation waits for both replicas
			gate := newGate(2)
			gen := func(bits int) (*rsa.PrivateKey, error) {
				if racing.Load() {
					if err := gate.wait(); err != nil {
						return nil, err
					}
				}
				return supply.generate(bits)
			}
			opts := scheduleOptions(clock, gen)
			opts.Logger = discardLogger()
			a := newTestManager(t, testdb.Open(t, dsn), 1, opts)
			bm := newTestManager(t, testdb.Open(t, dsn), 1, opts)
			replicas := []*Manager{a, bm}
			store := testdb.Open(t, dsn) // the observer's connection
			tick(t, a, bm)
			sched := a.Schedule()

			everStored := map[string]bool{}
			observe := func() []storage.Key {
				rows, err := store.ListKeys(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					everStored[r.ID] = true
				}
				return rows
			}
			observe()
			// published returns, per replica, the kids it publishes now.
			published := func() []map[string]*rsa.PublicKey {
				out := make([]map[string]*rsa.PublicKey, len(replicas))
				for i, m := range replicas {
					if s := m.snap.Load(); s != nil {
						out[i] = s.public
					}
				}
				return out
			}
			everywhere := func(sets []map[string]*rsa.PublicKey, kid string) bool {
				for _, set := range sets {
					if _, ok := set[kid]; !ok {
						return false
					}
				}
				return true
			}

			// Signers run throughout. Between a clock jump and the replica's
			// next tick its keys are stale and Sign refuses, which is fine;
			// what must never happen is a token whose kid a replica does not
			// publish.
			stop := make(chan struct{})
			var signed, stale atomic.Int64
			var wg sync.WaitGroup
			for i, m := range replicas {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						// The sets are sampled on both sides of Sign, which may
						// straddle a replica's reload: the kid must be published
						// everywhere on at least one side.
						before := published()
						tok, err := m.Sign([]byte(`{}`), "at+jwt")
						if errors.Is(err, ErrStale) {
							stale.Add(1)
							time.Sleep(time.Millisecond)
							continue
						}
						if err != nil {
							t.Errorf("replica %d: Sign: %v", i, err)
							return
						}
						kid, err := kidOf(tok)
						if err != nil {
							t.Error(err)
							return
						}
						if !everywhere(before, kid) && !everywhere(published(), kid) {
							t.Errorf("replica %d signed with %q, which not every replica publishes", i, kid)
							return
						}
						signed.Add(1)
						// Leave the CPUs to the replicas and the database.
						time.Sleep(2 * time.Millisecond)
					}
				})
			}
			defer func() { close(stop); wg.Wait() }()

			race := func(what string) {
				t.Helper()
				errs := make([]error, len(replicas))
				var start, done sync.WaitGroup
				start.Add(1)
				for i, m := range replicas {
					done.Go(func() {
						start.Wait()
						errs[i] = m.Tick(context.Background())
					})
				}
				start.Done()
				done.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}

			for i := range rotations {
				// A next key is always published, by every replica.
				rows := observe()
				next := keyIn(t, store, storage.KeyNext)
				for r, m := range replicas {
					if _, ok := m.VerificationKey(next); !ok {
						t.Fatalf("rotation %d: replica %d does not publish the next key", i, r)
					}
				}
				if n := countState(rows, storage.KeyRetired); i > 0 && n != 1 {
					t.Errorf("rotation %d: %d retired keys, want 1", i, n)
				}
				supply.reclaim(func(kid string) bool { return everStored[kid] })
				before := len(everStored)

				// Tokens signed with the old key just before the rotation.
				var old []string
				for _, m := range replicas {
					tok, err := m.Sign([]byte(`{}`), "")
					if err != nil {
						t.Fatal(err)
					}
					old = append(old, tok)
				}

				// At retirement both find the next key due, and each
				// generates the following next key before either takes the
				// lock: one promotes and publishes, the other finds nothing
				// left to do.
				nextRow, _ := storedKey(t, store, next)
				clock.set(nextRow.ActivatesAt)
				if published := nextRow.ActivatesAt.Sub(nextRow.CreatedAt); published < sched.JWKSMaxAge+sched.RefreshInterval {
					t.Fatalf("rotation %d: key planned to sign %v after it was published", i, published)
				}
				gate.reset()
				racing.Store(true)
				race(fmt.Sprintf("rotation %d: promote", i))
				racing.Store(false)
				rows = observe()
				if len(everStored) != before+1 {
					t.Fatalf("rotation %d: %d keys stored at once, want exactly one new next key", i, len(everStored)-before)
				}
				if got := keyIn(t, store, storage.KeyActive); got != next {
					t.Fatalf("rotation %d: active key %q, want the next key %q", i, got, next)
				}
				if n := countState(rows, storage.KeyRetired); n != 1 {
					t.Fatalf("rotation %d: %d retired keys, want 1", i, n)
				}
				following := keyIn(t, store, storage.KeyNext)
				for r, m := range replicas {
					if got := m.ActiveKeyID(); got != next {
						t.Fatalf("rotation %d: replica %d signs with %q after its tick, want %q", i, r, got, next)
					}
					if _, ok := m.VerificationKey(following); !ok {
						t.Fatalf("rotation %d: replica %d does not publish the following next key", i, r)
					}
					for _, tok := range old {
						if _, err := verifyWithJWKS(m, tok); err != nil {
							t.Fatalf("rotation %d: a token of the retired key fails on replica %d: %v", i, r, err)
						}
					}
				}
			}
			if len(everStored) != rotations+2 {
				t.Errorf("%d keys stored over %d rotations, want %d", len(everStored), rotations, rotations+2)
			}
			t.Logf("%d tokens signed concurrently; %d Sign calls refused while stale", signed.Load(), stale.Load())
		})
	}
}

func countState(rows []storage.Key, state storage.KeyState) int {
	n := 0
	for _, r := range rows {
		if r.State == state {
			n++
		}
	}
	return n
}

// kidOf reads the kid from a compact JWS header.
func kidOf(tok string) (string, error) {
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return "", err
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", err
	}
	return h.Kid, nil
}

// gate releases its callers once n of them are waiting; reset rearms it.
type gate struct {
	mu      sync.Mutex
	n       int
	waiting int
	open    chan struct{}
}

func newGate(n int) *gate { return &gate{n: n, open: make(chan struct{})} }

func (g *gate) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting = 0
	g.open = make(chan struct{})
}

func (g *gate) wait() error {
	g.mu.Lock()
	g.waiting++
	open := g.open
	if g.waiting == g.n {
		close(open)
	}
	g.mu.Unlock()
	select {
	case <-open:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("the other replica never generated a key outside the lock")
	}
}

// TestDatabaseDumpHoldsNoPrivateKey reads every row of every table, bytes
// and all, after keys in every state and a sealed setting were written, and
// looks for the private keys in any encoding hallpass could have used.
func TestDatabaseDumpHoldsNoPrivateKey(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			store := testdb.Open(t, dsn)
			clock := newFakeClock(testNow)
			supply := newKeySupply(t, 4)
			m := newTestManager(t, store, 1, scheduleOptions(clock, supply.generate))
			tick(t, m)
			if _, err := m.RotateNow(t.Context(), true); err != nil { // a retired key
				t.Fatal(err)
			}
			if _, err := m.RotateNow(t.Context(), false); err != nil { // a next key
				t.Fatal(err)
			}
			secret := make([]byte, 32)
			_, _ = rand.Read(secret)
			sealed, err := m.sealer.Seal(secret, []byte("token_hmac_secret"))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.CreateSetting(t.Context(), "token_hmac_secret", sealed); err != nil {
				t.Fatal(err)
			}
			rows, _ := store.ListKeys(t.Context())
			if countState(rows, storage.KeyNext) != 1 || countState(rows, storage.KeyActive) != 1 || countState(rows, storage.KeyRetired) != 1 {
				t.Fatalf("keys stored: %+v; want one next, one active, one retired", rows)
			}

			dump := dumpDatabase(t, b.Name, dsn)
			for _, r := range rows {
				if !bytes.Contains(dump, []byte(r.ID)) {
					t.Fatalf("the dump lacks kid %q; it is not reading the keys table", r.ID)
				}
			}
			forbidden := map[string][]byte{
				"PEM label":              []byte("PRIVATE KEY"),
				"token HMAC secret":      secret,
				"token HMAC secret, hex": []byte(hex.EncodeToString(secret)),
			}
			for i, k := range supply.handedOut() {
				pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
				if err != nil {
					t.Fatal(err)
				}
				pkcs1 := x509.MarshalPKCS1PrivateKey(k)
				for name, der := range map[string][]byte{"PKCS#8 DER": pkcs8, "PKCS#1 DER": pkcs1} {
					forbidden[fmt.Sprintf("key %d %s", i, name)] = der
					forbidden[fmt.Sprintf("key %d %s, base64", i, name)] = []byte(base64.StdEncoding.EncodeToString(der))
					forbidden[fmt.Sprintf("key %d %s, hex", i, name)] = []byte(hex.EncodeToString(der))
				}
				forbidden[fmt.Sprintf("key %d private exponent", i)] = k.D.Bytes()
				forbidden[fmt.Sprintf("key %d private exponent, base64url", i)] = []byte(b64.EncodeToString(k.D.Bytes()))
				forbidden[fmt.Sprintf("key %d prime", i)] = k.Primes[0].Bytes()
			}
			for name, b := range forbidden {
				if bytes.Contains(dump, b) {
					t.Errorf("the database dump contains the %s", name)
				}
			}
			if bytes.Contains(bytes.ToUpper(dump), []byte("PRIVATE KEY")) {
				t.Error("the database dump contains a PEM label in some case")
			}
		})
	}
}

// dumpDatabase returns every value of every row of every table of the
// database dsn names, bytes as stored, separated by newlines.
func dumpDatabase(t *testing.T, backend, dsn string) []byte {
	t.Helper()
	ctx := t.Context()
	var out bytes.Buffer
	add := func(v any) {
		switch v := v.(type) {
		case nil:
		case []byte:
			out.Write(v)
		case string:
			out.WriteString(v)
		default:
			fmt.Fprint(&out, v)
		}
		out.WriteByte('\n')
	}
	switch backend {
	case "sqlite":
		db, err := sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite:"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tables := queryStrings(t, db, `SELECT name FROM sqlite_master WHERE type = 'table'`)
		for _, table := range tables {
			rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
			if err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for _, v := range vals {
					add(v)
				}
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if len(tables) < 3 {
			t.Fatalf("only %d tables found: %v", len(tables), tables)
		}
	case "postgres":
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var tables []string
		rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			tables = append(tables, name)
		}
		rows.Close()
		if len(tables) < 3 {
			t.Fatalf("only %d tables found: %v", len(tables), tables)
		}
		for _, table := range tables {
			rows, err := conn.Query(ctx, `SELECT * FROM `+pgx.Identifier{table}.Sanitize())
			if err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range vals {
					add(v)
				}
				// The raw wire bytes too, in case a type decodes lossily.
				for _, raw := range rows.RawValues() {
					out.Write(raw)
					out.WriteByte('\n')
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
		}
	default:
		t.Fatalf("no dump for backend %q", backend)
	}
	return out.Bytes()
}

func queryStrings(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestReencryptOnDatabase re-seals keys and settings in one transaction on
// every backend, and a replica on the new secret then loads the same keys.
func TestReencryptOnDatabase(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			store := testdb.Open(t, b.DSN(t))
			clock := newFakeClock(testNow)
			supply := newKeySupply(t, 4)
			m := newTestManager(t, store, 1, scheduleOptions(clock, supply.generate))
			tick(t, m)
			if _, err := m.RotateNow(t.Context(), true); err != nil {
				t.Fatal(err)
			}
			setting := SealedSetting{Name: "token_hmac_secret", AD: []byte("token_hmac_secret")}
			sealed, _ := testSealer(t, 1).Seal([]byte("hmac"), setting.AD)
			if err := store.CreateSetting(t.Context(), setting.Name, sealed); err != nil {
				t.Fatal(err)
			}
			if _, err := Reencrypt(t.Context(), store, testSealer(t, 7), testSealer(t, 2), []SealedSetting{setting}); !errors.Is(err, ErrWrongSecret) {
				t.Fatalf("Reencrypt from the wrong secret = %v", err)
			}
			res, err := Reencrypt(t.Context(), store, testSealer(t, 1), testSealer(t, 2), []SealedSetting{setting})
			// Retired, active and next keys.
			if err != nil || res.Keys != 3 || res.Settings != 2 {
				t.Fatalf("Reencrypt = %+v, %v", res, err)
			}
			after := newTestManager(t, store, 2, Options{Now: clock.Now, GenerateKey: noGenerator(t)})
			if err := after.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			if after.ActiveKeyID() != m.ActiveKeyID() {
				t.Error("active key changed in re-encryption")
			}
			if err := CheckSecret(t.Context(), store, testSealer(t, 1)); !errors.Is(err, ErrWrongSecret) {
				t.Errorf("CheckSecret with the old secret = %v", err)
			}
			v, _ := store.GetSetting(t.Context(), setting.Name)
			if pt, err := testSealer(t, 2).Open(v, setting.AD); err != nil || string(pt) != "hmac" {
				t.Errorf("setting after re-encryption: %q, %v", pt, err)
			}
		})
	}
}

// TestConcurrentImmediateRotationOnDatabase: two replicas rotating at once,
// and two revoking the active key at once, leave exactly one active and one
// next key on every backend.
func TestConcurrentImmediateRotationOnDatabase(t *testing.T) {
	for _, b := range keyBackends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			clock := newFakeClock(testNow)
			supply := newKeySupply(t, 12)
			opts := scheduleOptions(clock, supply.generate)
			opts.Logger = discardLogger()
			ms := []*Manager{newTestManager(t, testdb.Open(t, dsn), 1, opts), newTestManager(t, testdb.Open(t, dsn), 1, opts)}
			store := testdb.Open(t, dsn)
			tick(t, ms...)
			both := func(what string, f func(m *Manager) error) {
				t.Helper()
				errs := make([]error, len(ms))
				var wg sync.WaitGroup
				for i, m := range ms {
					wg.Go(func() { errs[i] = f(m) })
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				rows, err := store.ListKeys(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if a, n := countState(rows, storage.KeyActive), countState(rows, storage.KeyNext); a != 1 || n != 1 {
					t.Errorf("%s: %d active and %d next keys, want 1 and 1", what, a, n)
				}
			}
			both("two immediate rotations", func(m *Manager) error { _, err := m.RotateNow(t.Context(), true); return err })
			active := keyIn(t, store, storage.KeyActive)
			both("two revocations of the active key", func(m *Manager) error {
				_, err := m.Revoke(t.Context(), active)
				if errors.Is(err, storage.ErrNotFound) {
					return nil // the other replica revoked it first
				}
				return err
			})
			if _, ok := storedKey(t, store, active); ok {
				t.Error("the revoked key is still stored")
			}
		})
	}
}

// TestRestoredDatabaseWarned: a database replaced by an older copy under a
// running replica (its change counter went back, the keys created since
// are gone) is logged as a warning naming the kids that left the JWKS;
// the replica reloaded the older keys saying only "signing keys changed".
func TestRestoredDatabaseWarned(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			store := testdb.Open(t, b.DSN(t))
			clock := newFakeClock(testNow)
			var logged bytes.Buffer // written by the calls below only
			opts := scheduleOptions(clock, newKeySupply(t, 4).generate)
			opts.Logger = slog.New(slog.NewTextHandler(&logged, nil))
			m := newTestManager(t, store, 1, opts)
			tick(t, m)
			// The backup: the counter and the keys as they are now.
			backupGen, err := store.GetSetting(t.Context(), generationSetting)
			if err != nil {
				t.Fatal(err)
			}
			backup, err := store.ListKeys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.RotateNow(t.Context(), true); err != nil {
				t.Fatal(err)
			}
			// The restore: keys created since the backup deleted, the
			// rest as they were, the counter put back.
			inBackup := map[string]bool{}
			for _, k := range backup {
				inBackup[k.ID] = true
			}
			now, err := store.ListKeys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var gone []string
			for _, k := range now {
				if !inBackup[k.ID] {
					gone = append(gone, k.ID)
					if err := store.DeleteKey(t.Context(), k.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The active key last: the store refuses two at once.
			slices.SortStableFunc(backup, func(a, b storage.Key) int {
				return cmp.Compare(boolInt(a.State == storage.KeyActive), boolInt(b.State == storage.KeyActive))
			})
			for _, k := range backup {
				if err := store.UpdateKey(t.Context(), &k); err != nil {
					t.Fatal(err)
				}
			}
			if err := store.PutSetting(t.Context(), generationSetting, backupGen); err != nil {
				t.Fatal(err)
			}
			logged.Reset()
			if reloaded, err := m.Poll(t.Context()); err != nil || !reloaded {
				t.Fatalf("Poll after the restore: reloaded %v, %v", reloaded, err)
			}
			out := logged.String()
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "restored from an older backup") {
				t.Fatalf("no warning of the restore; logged:\n%s", out)
			}
			for _, kid := range gone {
				if !strings.Contains(out, kid) {
					t.Errorf("the warning does not name %s, gone from the JWKS:\n%s", kid, out)
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRevokeCorruptedKey: a key whose sealed private half was altered in
// the database makes every Load fail, loudly; revoking it, which is how
// it is removed, works, and the keys load again without it. Revoke
// loaded the keys first, and failed on the very key it was to remove.
func TestRevokeCorruptedKey(t *testing.T) {
	for _, b := range testdb.Backends() {
		for _, state := range []storage.KeyState{storage.KeyNext, storage.KeyActive} {
			t.Run(b.Name+"/"+string(state), func(t *testing.T) {
				store := testdb.Open(t, b.DSN(t))
				clock := newFakeClock(testNow)
				opts := scheduleOptions(clock, newKeySupply(t, 4).generate)
				opts.Logger = discardLogger()
				tick(t, newTestManager(t, store, 1, opts))
				rows, err := store.ListKeys(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				i := slices.IndexFunc(rows, func(k storage.Key) bool { return k.State == state })
				if i < 0 {
					t.Fatalf("no %s key in %v", state, rows)
				}
				bad := rows[i]
				sealed := slices.Clone(bad.PrivateEncrypted)
				sealed[len(sealed)/2] ^= 1
				if err := store.SetKeyPrivate(t.Context(), bad.ID, sealed); err != nil {
					t.Fatal(err)
				}

				m := newTestManager(t, store, 1, opts)
				if err := m.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "keys revoke "+bad.ID) {
					t.Fatalf("Load with the %s key altered: %v, want an error naming %s and how to revoke it", state, err, bad.ID)
				}
				active, err := m.Revoke(t.Context(), bad.ID)
				if err != nil {
					t.Fatalf("Revoke the altered %s key: %v", state, err)
				}
				if active.ID == bad.ID {
					t.Errorf("the altered key %s is still the active key", bad.ID)
				}
				if err := m.Load(t.Context()); err != nil {
					t.Fatalf("Load after revoking the altered key: %v", err)
				}
				if _, ok := m.VerificationKey(bad.ID); ok {
					t.Errorf("the altered key %s is still published", bad.ID)
				}
				if kid := m.ActiveKeyID(); kid == "" || kid == bad.ID {
					t.Errorf("signing with %q after revoking %s", kid, bad.ID)
				}
			})
		}
	}
}

// TestReencryptDuringRotation: a secret change (Reencrypt) committed
// while a replica on the old secret generates a key for a rotation, after
// it loaded the keys and before it takes the lock, makes that rotation
// fail, storing nothing: every key opens with the new secret alone. The
// replica stored its key, sealed under the old secret, among keys under
// the new one, and no server could load them with either.
func TestReencryptDuringRotation(t *testing.T) {
	for _, b := range keyBackends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			store := testdb.Open(t, dsn)
			supply := newKeySupply(t, 4)
			var reencrypted atomic.Bool
			opts := scheduleOptions(newFakeClock(testNow), func(bits int) (*rsa.PrivateKey, error) {
				// The rendezvous: the secret changes once the replica
				// has loaded the keys and is generating the new one.
				if reencrypted.Load() {
					return supply.generate(bits)
				}
				reencrypted.Store(true)
				if _, err := Reencrypt(t.Context(), testdb.Open(t, dsn), testSealer(t, 1), testSealer(t, 2), nil); err != nil {
					return nil, fmt.Errorf("reencrypt: %w", err)
				}
				return supply.generate(bits)
			})
			opts.Logger = discardLogger()
			seed := opts
			seed.GenerateKey = supply.generate
			tick(t, newTestManager(t, store, 1, seed))

			m := newTestManager(t, store, 1, opts)
			if _, err := m.RotateNow(t.Context(), true); !errors.Is(err, ErrWrongSecret) {
				t.Errorf("rotation on the old secret across a reencrypt: %v, want ErrWrongSecret", err)
			}
			if !reencrypted.Load() {
				t.Fatal("the rotation generated no key: the rendezvous never ran")
			}
			rows, err := store.ListKeys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			newSecret := testSealer(t, 2)
			for _, k := range rows {
				if _, err := newSecret.Open(k.PrivateEncrypted, keyAD(k.ID)); err != nil {
					t.Errorf("%s key %s does not open with the new secret: %v", k.State, k.ID, err)
				}
			}
			if err := newTestManager(t, store, 2, seed).Load(t.Context()); err != nil {
				t.Errorf("Load with the new secret: %v", err)
			}
		})
	}
}
