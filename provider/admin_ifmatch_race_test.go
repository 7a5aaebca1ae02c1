package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/directory"
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

// txWatch counts the transactions begun for requests that are open, and
// notes whether, while one of them wrote a user, a password check or hash
// held a slot of the bound (running, set once the provider exists).
type txWatch struct {
	storage.Store
	running func() int

	open    atomic.Int32
	began   chan struct{} // a request's transaction began
	hashing atomic.Bool   // a user was written while a slot was held
}

// watchedTxKey marks the context of a transaction a txWatch counts.
type watchedTxKey struct{}

func (s *txWatch) InTransaction(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, nested := ctx.Value(watchedTxKey{}).(bool); nested || provider.RequestID(ctx) == "" {
		return s.Store.InTransaction(ctx, fn)
	}
	s.open.Add(1)
	defer s.open.Add(-1)
	select {
	case s.began <- struct{}{}:
	default:
	}
	return s.Store.InTransaction(ctx, func(tx context.Context) error { return fn(context.WithValue(tx, watchedTxKey{}, true)) })
}

func (s *txWatch) UpdateUser(ctx context.Context, u *storage.User) error {
	if _, inTx := ctx.Value(watchedTxKey{}).(bool); inTx && s.running() > 0 {
		s.hashing.Store(true)
	}
	return s.Store.UpdateUser(ctx, u)
}

// A PUT of a user with If-Match that sets a password hashes it before
// its transaction begins: it waited for its slot of the password bound,
// and hashed (tens of milliseconds), inside the transaction that checks
// the ETag, holding SQLite's one write lock (every other write waiting)
// and, on PostgreSQL, the user's row. With every slot taken the PUT
// waits, with no transaction open; once a slot is free it goes through,
// and no slot is held while its transaction writes the user.
func TestAdminIfMatchPasswordHashedBeforeTransaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &txWatch{began: make(chan struct{}, 1)}
		ts := newTestServer(t, dsn, func(c *provider.Config) { st.Store = c.Store; c.Store = st })
		st.running = ts.Provider.PasswordChecksRunning
		if res := ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "erin", "password": "correct horse battery staple 99"}); res.Status != http.StatusCreated {
			t.Fatalf("create the user: %d %s", res.Status, res.Body)
		}
		read := ts.admin(t, http.MethodGet, "/admin/users/erin", nil)
		var erin struct{ ID string }
		if err := json.Unmarshal(read.Body, &erin); err != nil || erin.ID == "" {
			t.Fatalf("read the user: %v", err)
		}
		for len(st.began) > 0 {
			<-st.began
		}

		release := ts.Provider.FillPasswordChecks()
		const password = "violet ocean marbles 1987"
		done := make(chan result, 1)
		go func() {
			done <- ts.do(t, req{Method: http.MethodPut, Path: "/admin/users/erin", Auth: "Bearer " + ts.AdminToken, ContentType: "application/json",
				Body: `{"username":"erin","password":"` + password + `"}`, Header: http.Header{"If-Match": {read.Header.Get("ETag")}}})
		}()
		select {
		case <-st.began:
			release()
			<-done
			t.Fatal("the PUT began its transaction before it had a slot to hash the password in")
		case res := <-done:
			release()
			t.Fatalf("the PUT was answered (%d %s) while every password slot was taken", res.Status, res.Body)
		case <-time.After(300 * time.Millisecond):
		}
		if n := st.open.Load(); n != 0 {
			t.Errorf("%d transactions open while the PUT waited for a password slot", n)
		}
		release()
		if res := <-done; res.Status != http.StatusOK {
			t.Fatalf("PUT: %d %s", res.Status, res.Body)
		}
		if st.hashing.Load() {
			t.Error("the PUT's transaction wrote the user while a password check or hash held a slot")
		}
		u, err := ts.Store.GetUser(t.Context(), erin.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := directory.CheckPassword(u.PasswordHash, password); !ok || err != nil {
			t.Errorf("the new password does not match the stored hash (%v)", err)
		}
	})
}
