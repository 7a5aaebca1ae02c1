package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// widenedStore holds each write of a client, user, role or scope until
// every one of n requests has read one in a transaction (a read made for
// the request in a transaction returned) or window has passed: it widens the window between the read
// that checks a change's If-Match and the change's write, so that, were
// the read not to lock the record, every contender would read the old
// version before any wrote. A contender whose read waits for another's
// lock holds the writer for window, no longer.
type widenedStore struct {
	storage.Store
	window time.Duration

	mu   sync.Mutex
	n    int             // 0: not armed
	read map[string]bool // the requests that have read
	all  chan struct{}   // closed once n have
}

// arm makes the writes wait for n requests' reads from now on.
func (s *widenedStore) arm(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n, s.read, s.all = n, map[string]bool{}, make(chan struct{})
}

// disarm lets writes through at once again.
func (s *widenedStore) disarm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n = 0
}

// widenedTxKey marks the context of a transaction begun through a
// widenedStore.
type widenedTxKey struct{}

func (s *widenedStore) InTransaction(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.Store.InTransaction(ctx, func(tx context.Context) error { return fn(context.WithValue(tx, widenedTxKey{}, true)) })
}

func (s *widenedStore) BeginTX(ctx context.Context) (context.Context, error) {
	tx, err := s.Store.BeginTX(ctx)
	if err != nil {
		return tx, err
	}
	return context.WithValue(tx, widenedTxKey{}, true), nil
}

// readDone notes that a read of ctx's request returned, if ctx carries
// a transaction.
func (s *widenedStore) readDone(ctx context.Context) {
	id := provider.RequestID(ctx)
	inTx, _ := ctx.Value(widenedTxKey{}).(bool)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 || id == "" || !inTx || s.read[id] {
		return
	}
	s.read[id] = true
	if len(s.read) == s.n {
		close(s.all)
	}
}

// beforeWrite waits, while armed, for the reads or the window.
func (s *widenedStore) beforeWrite() {
	s.mu.Lock()
	n, all := s.n, s.all
	s.mu.Unlock()
	if n == 0 {
		return
	}
	t := time.NewTimer(s.window)
	defer t.Stop()
	select {
	case <-all:
	case <-t.C:
	}
}

func (s *widenedStore) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	defer s.readDone(ctx)
	return s.Store.GetClient(ctx, id)
}

func (s *widenedStore) GetUser(ctx context.Context, id string) (*storage.User, error) {
	defer s.readDone(ctx)
	return s.Store.GetUser(ctx, id)
}

func (s *widenedStore) FindUsersByUsernameFold(ctx context.Context, username string) ([]storage.User, error) {
	defer s.readDone(ctx)
	return s.Store.FindUsersByUsernameFold(ctx, username)
}

func (s *widenedStore) GetRole(ctx context.Context, name string) (*storage.Role, error) {
	defer s.readDone(ctx)
	return s.Store.GetRole(ctx, name)
}

func (s *widenedStore) GetScope(ctx context.Context, name string) (*storage.Scope, error) {
	defer s.readDone(ctx)
	return s.Store.GetScope(ctx, name)
}

func (s *widenedStore) UpdateClient(ctx context.Context, c *storage.Client) error {
	s.beforeWrite()
	return s.Store.UpdateClient(ctx, c)
}

func (s *widenedStore) UpdateUser(ctx context.Context, u *storage.User) error {
	s.beforeWrite()
	return s.Store.UpdateUser(ctx, u)
}

func (s *widenedStore) UpdateRole(ctx context.Context, r *storage.Role) error {
	s.beforeWrite()
	return s.Store.UpdateRole(ctx, r)
}

func (s *widenedStore) UpdateScope(ctx context.Context, sc *storage.Scope) error {
	s.beforeWrite()
	return s.Store.UpdateScope(ctx, sc)
}

// Concurrent PUTs of one record that carry the same If-Match: exactly
// one goes through (200), every other is refused 412, and the record is
// left as the one that went through made it. On PostgreSQL (READ
// COMMITTED) the read that checks the ETag, in the change's transaction,
// locked nothing: every PUT read the version its ETag names, passed, and
// wrote, each undoing the one before, and all were answered 200. The
// store holds each write until every PUT has read (or a while has
// passed), so that without the lock every one would pass. For every
// kind, and a user named by id and by username.
func TestAdminIfMatchConcurrent(t *testing.T) {
	const contenders = 5
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &widenedStore{window: 300 * time.Millisecond}
		ts := newTestServer(t, dsn, func(c *provider.Config) { st.Store = c.Store; c.Store = st })
		if res := ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "erin", "password": "correct horse battery staple 99"}); res.Status != http.StatusCreated {
			t.Fatalf("create the user: %d %s", res.Status, res.Body)
		}
		var erin struct{ ID string }
		if err := json.Unmarshal(ts.admin(t, http.MethodGet, "/admin/users/erin", nil).Body, &erin); err != nil || erin.ID == "" {
			t.Fatalf("read the user: %v", err)
		}
		for _, tc := range []struct {
			name, collection, path string
			create                 map[string]any
			change                 func(i int) map[string]any
		}{
			{"client", "/admin/clients", "/admin/clients/portal",
				map[string]any{"client_id": "portal", "redirect_uris": []string{"https://portal.example/cb"}},
				func(i int) map[string]any {
					return map[string]any{"client_name": fmt.Sprint("by ", i), "redirect_uris": []string{"https://portal.example/cb"}}
				}},
			{"role", "/admin/roles", "/admin/roles/teacher", map[string]any{"name": "teacher"},
				func(i int) map[string]any { return map[string]any{"description": fmt.Sprint("by ", i)} }},
			{"scope", "/admin/scopes", "/admin/scopes/notes", map[string]any{"name": "notes"},
				func(i int) map[string]any { return map[string]any{"description": fmt.Sprint("by ", i)} }},
			{"user by id", "", "/admin/users/" + erin.ID, nil,
				func(i int) map[string]any { return map[string]any{"username": "erin", "name": fmt.Sprint("by ", i)} }},
			{"user by username", "", "/admin/users/erin", nil,
				func(i int) map[string]any {
					return map[string]any{"username": "erin", "name": fmt.Sprint("again by ", i)}
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.create != nil {
					if res := ts.admin(t, http.MethodPost, tc.collection, tc.create); res.Status != http.StatusCreated {
						t.Fatalf("create: %d %s", res.Status, res.Body)
					}
				}
				etag := ts.admin(t, http.MethodGet, tc.path, nil).Header.Get("ETag")
				if etag == "" {
					t.Fatal("GET answered no ETag")
				}
				st.arm(contenders)
				defer st.disarm()
				results := make([]result, contenders)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range contenders {
					enc, _ := json.Marshal(tc.change(i))
					wg.Go(func() {
						<-start
						results[i] = ts.do(t, req{Method: http.MethodPut, Path: tc.path, Auth: "Bearer " + ts.AdminToken,
							ContentType: "application/json", Body: string(enc), Header: http.Header{"If-Match": {etag}}})
					})
				}
				close(start)
				wg.Wait()
				st.disarm()
				winner := -1
				for i, res := range results {
					switch res.Status {
					case http.StatusOK:
						if winner >= 0 {
							t.Errorf("PUTs %d and %d with the same If-Match both went through", winner, i)
						}
						winner = i
					case http.StatusPreconditionFailed:
						assertError(t, res, http.StatusPreconditionFailed, "precondition_failed")
					default:
						t.Errorf("PUT %d: %d %s", i, res.Status, res.Body)
					}
				}
				if winner < 0 {
					t.Fatal("no PUT went through")
				}
				if now := ts.admin(t, http.MethodGet, tc.path, nil); string(now.Body) != string(results[winner].Body) {
					t.Errorf("the record is %s, want the one PUT that went through made: %s", now.Body, results[winner].Body)
				}
			})
		}
	})
}
