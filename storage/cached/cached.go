// Package cached keeps what nearly every request reads and admins rarely
// change (clients, registered scopes, roles) in memory, in front of a
// storage.Store, so a request costs no query for them.
//
// Every replica must stop honouring a changed or deleted client, scope or
// role within a bound. Each change goes through Store, which writes a new
// random change stamp (a settings row) in the transaction of the change
// and drops its own copies once the change is done. Every replica reads
// the stamp at most once per Interval, on its first cached read after the
// interval has passed, and drops its copies when the stamp differs from
// the one it last read. A change committed at time T is therefore never
// honoured by any replica after T + Interval: a copy served at time t was
// vouched for by a stamp read that started after t - Interval, and a read
// that started after T saw the new stamp. Reads inside a transaction
// always go to the database.
package cached

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// StampSetting names the settings row holding the change stamp.
const StampSetting = "directory_change_stamp"

// DefaultInterval is how often a replica reads the change stamp: the bound
// on how long it may honour a client, scope or role another replica
// changed.
const DefaultInterval = time.Second

// Store is a storage.Store whose client, scope and role reads are served
// from memory; every other method goes to the wrapped store.
type Store struct {
	storage.Store
	interval time.Duration
	now      func() time.Time

	mu sync.Mutex
	// checked is when the stamp read that vouches for the copies began;
	// stamp is what it read.
	checked time.Time
	stamp   []byte
	// gen counts the times the copies were dropped; a read that began
	// before a drop does not store what it read.
	gen     uint64
	clients map[string]*storage.Client
	roles   map[string]*storage.Role
	scopes  []storage.Scope // nil until read
}

// New wraps s. interval is how often the change stamp is read; zero takes
// DefaultInterval, a negative interval reads it on every cached read.
func New(s storage.Store, interval time.Duration) *Store {
	if interval == 0 {
		interval = DefaultInterval
	}
	return &Store{Store: s, interval: interval, now: time.Now,
		clients: map[string]*storage.Client{}, roles: map[string]*storage.Role{}}
}

// txMark is what Store adds to the context of a transaction it began: the
// transaction's reads skip the copies, and its commit drops them when it
// changed something they hold.
type txMark struct{ wrote atomic.Bool }

type txKey struct{}

func markOf(ctx context.Context) *txMark {
	m, _ := ctx.Value(txKey{}).(*txMark)
	return m
}

// BeginTX starts a transaction whose reads go to the database.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	tx, err := s.Store.BeginTX(ctx)
	if err != nil {
		return nil, err
	}
	m := &txMark{}
	s.dropFirst(tx, m)
	return context.WithValue(tx, txKey{}, m), nil
}

// dropFirst drops the copies, if the transaction tx changed something
// they hold, as soon as it commits: before the work queued on it with
// AfterCommit runs, which reads through s as well.
func (s *Store) dropFirst(tx context.Context, m *txMark) {
	s.Store.AfterCommit(tx, func(context.Context) {
		if m.wrote.Load() {
			s.drop()
		}
	})
}

// InTransaction runs fn in ctx's transaction or a new one (as
// storage.Store's does), marked as Store's own, so that the changes fn
// makes join that transaction with their change stamp and the copies are
// dropped once, when it commits (dropFirst) or, if it failed having
// changed something, when it ends: a failed commit may have happened.
func (s *Store) InTransaction(ctx context.Context, fn func(ctx context.Context) error) error {
	if markOf(ctx) != nil {
		return s.Store.InTransaction(ctx, fn)
	}
	m := &txMark{}
	err := s.Store.InTransaction(ctx, func(tx context.Context) error {
		s.dropFirst(tx, m)
		return fn(context.WithValue(tx, txKey{}, m))
	})
	if err != nil && m.wrote.Load() {
		s.drop()
	}
	return err
}

// Commit commits. The copies, if the transaction changed a client, scope
// or role, are dropped once: as it commits (dropFirst), or here if the
// commit failed, since it may have happened.
func (s *Store) Commit(ctx context.Context) error {
	err := s.Store.Commit(ctx)
	if m := markOf(ctx); err != nil && m != nil && m.wrote.Load() {
		s.drop()
	}
	return err
}

// drop forgets every copy.
func (s *Store) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	clear(s.clients)
	clear(s.roles)
	s.scopes = nil
}

// fresh makes sure the copies are vouched for by a stamp read begun less
// than an interval ago, and returns the generation they belong to. A
// failed read is returned: during an outage nothing is served from memory
// for longer than an interval.
func (s *Store) fresh(ctx context.Context) (uint64, error) {
	start := s.now()
	s.mu.Lock()
	if s.interval > 0 && !s.checked.IsZero() && start.Sub(s.checked) < s.interval {
		g := s.gen
		s.mu.Unlock()
		return g, nil
	}
	s.mu.Unlock()
	v, err := s.Store.GetSetting(ctx, StampSetting)
	if errors.Is(err, storage.ErrNotFound) {
		v, err = []byte{}, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the directory change stamp: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !bytes.Equal(v, s.stamp) {
		s.gen++
		clear(s.clients)
		clear(s.roles)
		s.scopes = nil
		s.stamp = v
	}
	if start.After(s.checked) {
		s.checked = start
	}
	return s.gen, nil
}

// changed runs write, a change of a client, scope or role, together with
// a new change stamp in one transaction (ctx's, or one of its own, which
// InTransaction runs again where it could not be ordered against a
// concurrent one, storage.ErrTransient), marked so that the copies are
// dropped once it is committed (InTransaction, BeginTX).
func (s *Store) changed(ctx context.Context, write func(ctx context.Context) error) error {
	m := markOf(ctx)
	if m == nil {
		return s.InTransaction(ctx, func(tx context.Context) error { return s.changed(tx, write) })
	}
	stamp := make([]byte, 16)
	if _, err := rand.Read(stamp); err != nil {
		return fmt.Errorf("new directory change stamp: %w", err)
	}
	m.wrote.Store(true)
	if err := write(ctx); err != nil {
		return err
	}
	if err := s.Store.PutSetting(ctx, StampSetting, stamp); err != nil {
		return fmt.Errorf("write the directory change stamp: %w", err)
	}
	return nil
}

// Generation returns the generation of the copies: a number that
// changes whenever they are dropped, by a change made through s or by
// one another replica made (seen through the change stamp, within an
// interval). What a caller derives from every client, scope or role may
// be kept while Generation answers the number read before deriving it,
// and so is honoured exactly as long as the copies are.
func (s *Store) Generation(ctx context.Context) (uint64, error) {
	return s.fresh(ctx)
}

// GetClient returns a copy of the client, read from memory when vouched for.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if markOf(ctx) != nil {
		return s.Store.GetClient(ctx, id)
	}
	gen, err := s.fresh(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	c, ok := s.clients[id]
	s.mu.Unlock()
	if ok {
		return cloneClient(c), nil
	}
	c, err = s.Store.GetClient(ctx, id)
	if err != nil {
		// Unknown ids are not remembered: anyone can send any number.
		return nil, err
	}
	s.mu.Lock()
	if s.gen == gen {
		s.clients[id] = cloneClient(c)
	}
	s.mu.Unlock()
	return c, nil
}

// ListScopes returns the registered scopes, from memory when vouched for.
func (s *Store) ListScopes(ctx context.Context) ([]storage.Scope, error) {
	if markOf(ctx) != nil {
		return s.Store.ListScopes(ctx)
	}
	gen, err := s.fresh(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	l := s.scopes
	s.mu.Unlock()
	if l != nil {
		return cloneScopes(l), nil
	}
	l, err = s.Store.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	if l == nil {
		l = []storage.Scope{}
	}
	s.mu.Lock()
	if s.gen == gen {
		s.scopes = cloneScopes(l)
	}
	s.mu.Unlock()
	return l, nil
}

// GetScope returns a registered scope, looked up in the cached list.
func (s *Store) GetScope(ctx context.Context, name string) (*storage.Scope, error) {
	if markOf(ctx) != nil {
		return s.Store.GetScope(ctx, name)
	}
	l, err := s.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	for i := range l {
		if l[i].Name == name {
			return &l[i], nil
		}
	}
	return nil, fmt.Errorf("get scope %q: %w", name, storage.ErrNotFound)
}

// GetRole returns a role, from memory when vouched for.
func (s *Store) GetRole(ctx context.Context, name string) (*storage.Role, error) {
	if markOf(ctx) != nil {
		return s.Store.GetRole(ctx, name)
	}
	gen, err := s.fresh(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	r, ok := s.roles[name]
	s.mu.Unlock()
	if ok {
		c := *r
		c.Scopes = slices.Clone(r.Scopes)
		return &c, nil
	}
	r, err = s.Store.GetRole(ctx, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.gen == gen {
		c := *r
		c.Scopes = slices.Clone(r.Scopes)
		s.roles[name] = &c
	}
	s.mu.Unlock()
	return r, nil
}

// CreateClient stores a client and a new change stamp.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	return s.changed(ctx, func(ctx context.Context) error { return s.Store.CreateClient(ctx, c) })
}

// UpdateClient changes a client and the change stamp.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	return s.changed(ctx, func(ctx context.Context) error { return s.Store.UpdateClient(ctx, c) })
}

// DeleteClient deletes a client and changes the change stamp.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.changed(ctx, func(ctx context.Context) error { return s.Store.DeleteClient(ctx, id) })
}

// RevokeTokensByClient advances the client's token epoch, which the
// copies hold, and changes the change stamp.
func (s *Store) RevokeTokensByClient(ctx context.Context, id string) error {
	return s.changed(ctx, func(ctx context.Context) error { return s.Store.RevokeTokensByClient(ctx, id) })
}

// CreateScope registers a scope and changes the change stamp.
func (s *Store) CreateScope(ctx context.Context, sc *storage.Scope) error {
	return s.changed(ctx, func(ctx context.Context) error { return s.Store.CreateScope(ctx, sc) })
}

// UpdateScope changes a scope and the change stamp.
func (s *Store) UpdateScope(ctx context.Context, sc *storage.Scope) error {
	return s.changed(ctx, func(ctx context.Context) error { return s.Store.UpdateScope(ctx, sc) })
}

// DeleteScope unregisters a scope and changes the change stamp.
func (s *Store) DeleteScope(ctx context.Context, name string) error {
	return s.changed(ctx, func(ctx context.Context) error { return s.Store.DeleteScope(ctx, name) })
}

// CreateRole stores a role and changes the change stamp.
func (s *Store) CreateRole(ctx context.Context, r *storage.Role) error {
	return s.changed(ctx, func(ctx context.Context) error { return s.Store.CreateRole(ctx, r) })
}

// UpdateRole changes a role and the change stamp.
func (s *Store) UpdateRole(ctx context.Context, r *storage.Role) error {
	return s.changed(ctx, func(ctx context.Context) error { return s.Store.UpdateRole(ctx, r) })
}

// DeleteRole deletes a role and changes the change stamp.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	return s.changed(ctx, func(ctx context.Context) error { return s.Store.DeleteRole(ctx, name) })
}

func cloneClient(c *storage.Client) *storage.Client {
	d := *c
	d.SecretHash = slices.Clone(c.SecretHash)
	d.RedirectURIs = slices.Clone(c.RedirectURIs)
	d.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	d.GrantTypes = slices.Clone(c.GrantTypes)
	d.ResponseTypes = slices.Clone(c.ResponseTypes)
	d.Scopes = slices.Clone(c.Scopes)
	d.Audience = slices.Clone(c.Audience)
	d.ResourceServers = slices.Clone(c.ResourceServers)
	return &d
}

func cloneScopes(l []storage.Scope) []storage.Scope { return slices.Clone(l) }
