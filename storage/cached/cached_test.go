package cached

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// fakeClock is the replicas' clock, moved by the test.
type fakeClock struct{ ns atomic.Int64 }

// newClock returns a fakeClock standing at the present.
func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newReplica(s storage.Store, c *fakeClock) *Store {
	r := New(s, time.Second)
	r.now = c.now
	return r
}

// counting counts the reads that reach the database.
type counting struct {
	storage.Store
	clients, roles, scopes atomic.Int64
}

func (c *counting) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	c.clients.Add(1)
	return c.Store.GetClient(ctx, id)
}
func (c *counting) GetRole(ctx context.Context, name string) (*storage.Role, error) {
	c.roles.Add(1)
	return c.Store.GetRole(ctx, name)
}
func (c *counting) ListScopes(ctx context.Context) ([]storage.Scope, error) {
	c.scopes.Add(1)
	return c.Store.ListScopes(ctx)
}

// TestReplicas runs two caches (two replicas) on one database and checks
// the bound: a client, role or scope changed or deleted through one is
// served changed by the other once an interval has passed since the
// change (the test moves the clock; nothing sleeps), and the changing one
// serves it changed at once. Between changes, reads cost no query.
func TestReplicas(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			dsn := b.DSN(t)
			clock := newClock()
			rawB := &counting{Store: testdb.Open(t, dsn)}
			a, r := newReplica(testdb.Open(t, dsn), clock), newReplica(rawB, clock)

			noErr(t, a.CreateClient(ctx, &storage.Client{ID: "app", RedirectURIs: []string{"https://app.example/old"}, TokenEndpointAuthMethod: "none"}))
			noErr(t, a.CreateRole(ctx, &storage.Role{Name: "teacher", Scopes: []string{"results:read"}}))
			noErr(t, a.CreateScope(ctx, &storage.Scope{Name: "results:read", Audience: "https://api.example"}))

			// B reads everything once; then reads cost nothing.
			read := func(what string) (*storage.Client, *storage.Role, []storage.Scope, error) {
				t.Helper()
				c, err := r.GetClient(ctx, "app")
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("%s: GetClient: %v", what, err)
				}
				role, err := r.GetRole(ctx, "teacher")
				noErr(t, err)
				sc, err := r.ListScopes(ctx)
				noErr(t, err)
				return c, role, sc, nil
			}
			read("first read")
			before := rawB.clients.Load() + rawB.roles.Load() + rawB.scopes.Load()
			for range 10 {
				read("cached read")
			}
			if after := rawB.clients.Load() + rawB.roles.Load() + rawB.scopes.Load(); after != before {
				t.Errorf("10 cached reads cost %d queries, want 0", after-before)
			}

			// A changes the client's redirect URI, the role's scopes and the
			// scope's audience.
			noErr(t, a.UpdateClient(ctx, &storage.Client{ID: "app", RedirectURIs: []string{"https://app.example/new"}, TokenEndpointAuthMethod: "none"}))
			noErr(t, a.UpdateRole(ctx, &storage.Role{Name: "teacher", Scopes: []string{"results:write"}}))
			noErr(t, a.UpdateScope(ctx, &storage.Scope{Name: "results:read", Audience: "https://other.example"}))
			if c, err := a.GetClient(ctx, "app"); err != nil || !slices.Equal(c.RedirectURIs, []string{"https://app.example/new"}) {
				t.Fatalf("the changing replica reads %v, %v right after its change", c, err)
			}
			// Within the interval B may still serve the old values; once it
			// has passed, it must not.
			clock.add(999 * time.Millisecond)
			read("within the interval")
			clock.add(time.Millisecond)
			c, role, sc, _ := read("an interval after the change")
			if !slices.Equal(c.RedirectURIs, []string{"https://app.example/new"}) {
				t.Errorf("an interval after the change, B serves redirect URIs %v", c.RedirectURIs)
			}
			if !slices.Equal(role.Scopes, []string{"results:write"}) {
				t.Errorf("an interval after the change, B serves role scopes %v", role.Scopes)
			}
			if len(sc) != 1 || sc[0].Audience != "https://other.example" {
				t.Errorf("an interval after the change, B serves scopes %+v", sc)
			}

			// A deleted client is unknown on B an interval later.
			noErr(t, a.DeleteClient(ctx, "app"))
			clock.add(time.Second)
			if _, err := r.GetClient(ctx, "app"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("an interval after the client's deletion, B's GetClient: %v, want ErrNotFound", err)
			}

			// A change in a transaction: B's copy is dropped only by what
			// committed, and the transaction reads its own change.
			noErr(t, a.CreateClient(ctx, &storage.Client{ID: "svc", TokenEndpointAuthMethod: "none", Name: "one"}))
			tx, err := a.BeginTX(ctx)
			noErr(t, err)
			noErr(t, a.UpdateClient(tx, &storage.Client{ID: "svc", TokenEndpointAuthMethod: "none", Name: "two"}))
			if c, err := a.GetClient(tx, "svc"); err != nil || c.Name != "two" {
				t.Fatalf("the transaction reads %v, %v", c, err)
			}
			noErr(t, a.Commit(tx))
			if c, err := a.GetClient(ctx, "svc"); err != nil || c.Name != "two" {
				t.Errorf("after the commit the changing replica reads %v, %v", c, err)
			}
		})
	}
}

// TestOutage checks that copies are served for at most an interval once
// the database is gone: then the stamp cannot be read, and reads fail.
func TestOutage(t *testing.T) {
	ctx := t.Context()
	clock := newClock()
	raw := testdb.Open(t, testdb.SQLite(t))
	s := newReplica(raw, clock)
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "app", TokenEndpointAuthMethod: "none"}))
	_, err := s.GetClient(ctx, "app")
	noErr(t, err)
	noErr(t, raw.Close())
	clock.add(time.Second)
	if _, err := s.GetClient(ctx, "app"); err == nil {
		t.Fatal("an interval into an outage, the client is still served from memory")
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Changes made in InTransaction join that one transaction with their
// change stamp: a failed transaction leaves neither the change nor a new
// stamp, a committed one is seen at once by the replica that made it and
// within the interval by another.
func TestInTransaction(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.DSN(t)
			clock := &fakeClock{}
			raw := testdb.Open(t, dsn)
			a, r := newReplica(raw, clock), newReplica(testdb.Open(t, dsn), clock)
			if _, err := r.GetClient(ctx, "c1"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("before: %v", err)
			}
			failed := errors.New("planned failure")
			err := a.InTransaction(ctx, func(tx context.Context) error {
				if err := a.CreateClient(tx, &storage.Client{ID: "c1", CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(1, 0)}); err != nil {
					return err
				}
				return failed
			})
			if !errors.Is(err, failed) {
				t.Fatalf("InTransaction = %v", err)
			}
			if _, err := raw.GetClient(ctx, "c1"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a rolled back client was stored: %v", err)
			}
			if _, err := raw.GetSetting(ctx, StampSetting); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a rolled back transaction changed the stamp: %v", err)
			}
			noErr(t, a.InTransaction(ctx, func(tx context.Context) error {
				return a.CreateClient(tx, &storage.Client{ID: "c1", CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(1, 0)})
			}))
			if _, err := a.GetClient(ctx, "c1"); err != nil {
				t.Fatalf("the replica that committed does not see its client: %v", err)
			}
			clock.add(DefaultInterval + time.Millisecond)
			if _, err := r.GetClient(ctx, "c1"); err != nil {
				t.Fatalf("the other replica does not see the client after the interval: %v", err)
			}
		})
	}
}

// TestAfterCommitSeesChange: work queued with AfterCommit on a
// transaction that changed a client reads the client changed through the
// cache, whether the transaction is InTransaction's or BeginTX's, even
// when a reader outside the transaction copied the client as it was
// before the commit: the copies are dropped before that work runs.
func TestAfterCommitSeesChange(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			clock := &fakeClock{}
			a := newReplica(testdb.Open(t, b.DSN(t)), clock)
			noErr(t, a.CreateClient(ctx, &storage.Client{ID: "c1", RedirectURIs: []string{"https://app.example/0"}, TokenEndpointAuthMethod: "none"}))
			var seen []string
			update := func(tx context.Context, n string) error {
				c, err := a.GetClient(tx, "c1")
				if err != nil {
					return err
				}
				c.RedirectURIs = []string{"https://app.example/" + n}
				a.AfterCommit(tx, func(ctx context.Context) {
					c, err := a.GetClient(ctx, "c1")
					noErr(t, err)
					seen = append(seen, c.RedirectURIs[0])
				})
				if err := a.UpdateClient(tx, c); err != nil {
					return err
				}
				_, err = a.GetClient(ctx, "c1") // outside: copies it unchanged
				return err
			}
			if _, err := a.GetClient(ctx, "c1"); err != nil { // cached
				t.Fatal(err)
			}
			noErr(t, a.InTransaction(ctx, func(tx context.Context) error { return update(tx, "1") }))
			tx, err := a.BeginTX(ctx)
			noErr(t, err)
			noErr(t, update(tx, "2"))
			noErr(t, a.Commit(tx))
			if want := []string{"https://app.example/1", "https://app.example/2"}; !slices.Equal(seen, want) {
				t.Errorf("after the commits, the work read %q, want %q", seen, want)
			}
		})
	}
}

// TestOneDropPerChange: a change of a client drops the copies once,
// whether it runs in a transaction of its own, InTransaction's or
// BeginTX's, and so does a failed InTransaction that made one: each drop
// costs every cached read after it a query.
func TestOneDropPerChange(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			a := newReplica(testdb.Open(t, b.DSN(t)), &fakeClock{})
			n := 0
			client := func() *storage.Client {
				n++
				return &storage.Client{ID: "c" + strconv.Itoa(n), TokenEndpointAuthMethod: "none"}
			}
			failed := errors.New("planned failure")
			for _, tc := range []struct {
				name    string
				change  func() error
				wantErr error
			}{
				{"alone", func() error { return a.CreateClient(ctx, client()) }, nil},
				{"InTransaction", func() error {
					return a.InTransaction(ctx, func(tx context.Context) error { return a.CreateClient(tx, client()) })
				}, nil},
				{"BeginTX", func() error {
					tx, err := a.BeginTX(ctx)
					if err != nil {
						return err
					}
					if err := a.CreateClient(tx, client()); err != nil {
						a.Rollback(tx)
						return err
					}
					return a.Commit(tx)
				}, nil},
				{"failed InTransaction", func() error {
					return a.InTransaction(ctx, func(tx context.Context) error {
						if err := a.CreateClient(tx, client()); err != nil {
							return err
						}
						return failed
					})
				}, failed},
			} {
				a.mu.Lock()
				before := a.gen
				a.mu.Unlock()
				if err := tc.change(); !errors.Is(err, tc.wantErr) {
					t.Fatalf("%s: %v, want %v", tc.name, err, tc.wantErr)
				}
				a.mu.Lock()
				drops := a.gen - before
				a.mu.Unlock()
				if drops != 1 {
					t.Errorf("%s: the copies were dropped %d times, want once", tc.name, drops)
				}
			}
		})
	}
}

// TestGeneration: the generation stays while nothing changes, and moves
// on the changing replica at once and on another one an interval after
// the change, so what a caller derived from the clients is redone then.
func TestGeneration(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			dsn := b.DSN(t)
			clock := newClock()
			a, r := newReplica(testdb.Open(t, dsn), clock), newReplica(testdb.Open(t, dsn), clock)
			gen := func(s *Store) uint64 {
				t.Helper()
				g, err := s.Generation(ctx)
				noErr(t, err)
				return g
			}
			ga, gr := gen(a), gen(r)
			clock.add(2 * time.Second)
			if gen(a) != ga || gen(r) != gr {
				t.Fatal("the generation moved with nothing changed")
			}
			noErr(t, a.CreateClient(ctx, &storage.Client{ID: "spa", RedirectURIs: []string{"https://spa.example/cb"}, TokenEndpointAuthMethod: "none"}))
			if gen(a) == ga {
				t.Error("the changing replica's generation did not move at its change")
			}
			clock.add(999 * time.Millisecond)
			_ = gen(r) // within the interval it may stay
			clock.add(time.Millisecond)
			if gen(r) == gr {
				t.Error("an interval after another replica's change, the generation has not moved")
			}
		})
	}
}
