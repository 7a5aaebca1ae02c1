package directory

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// interposedStore runs meanwhile, once armed, right after the next
// GetClient returns: a change another admin makes between the read of a
// client and the write based on it. It waits for meanwhile at most
// patience, since a read made in the change's own transaction holds the
// client (the row, or SQLite's write lock) and meanwhile then waits for
// that transaction.
type interposedStore struct {
	storage.Store
	patience time.Duration

	mu        sync.Mutex
	meanwhile func() error
	done      chan error
}

func (s *interposedStore) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	c, err := s.Store.GetClient(ctx, id)
	s.mu.Lock()
	fn := s.meanwhile
	s.meanwhile = nil
	s.mu.Unlock()
	if fn != nil {
		go func() { s.done <- fn() }()
		select {
		case err := <-s.done:
			s.done <- err
		case <-time.After(s.patience):
		}
	}
	return c, err
}

// TestClientChangesKeepEachOther: a client's update (a PUT without
// If-Match, configuration as code) and a rotation of its secret made at
// the same time both hold, whichever read the client first. Each wrote
// back the whole client as it read it: an update that read before a
// rotation brought the old secret back (the one rotated away because it
// leaked), and a rotation that read before an update undid the update.
func TestClientChangesKeepEachOther(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, first := range []string{"update", "rotate"} {
				t.Run(first+" reads first", func(t *testing.T) {
					ctx := context.Background()
					raw := testdb.Open(t, b.DSN(t))
					st := &interposedStore{Store: raw, patience: 500 * time.Millisecond, done: make(chan error, 1)}
					svc, other := New(st, Options{}), New(raw, Options{})
					m := ClientMetadata{ClientID: "app", ClientName: "v0", RedirectURIs: []string{"https://app.example/cb"},
						TokenEndpointAuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"}}
					if _, err := svc.Clients().Create(ctx, m); err != nil {
						t.Fatal(err)
					}
					m.ClientName = "v1"
					var secret string
					rotate := func(c *Clients) error {
						out, err := c.RotateSecret(ctx, "app")
						secret = out.ClientSecret
						return err
					}
					update := func(c *Clients) error { _, err := c.Update(ctx, "app", m); return err }
					st.mu.Lock()
					var err error
					if first == "update" {
						st.meanwhile = func() error { return rotate(other.Clients()) }
						st.mu.Unlock()
						err = update(svc.Clients())
					} else {
						st.meanwhile = func() error { return update(other.Clients()) }
						st.mu.Unlock()
						err = rotate(svc.Clients())
					}
					if err != nil {
						t.Fatalf("%s: %v", first, err)
					}
					if err := <-st.done; err != nil {
						t.Fatalf("the change made meanwhile: %v", err)
					}
					c, err := raw.GetClient(ctx, "app")
					if err != nil {
						t.Fatal(err)
					}
					if c.Name != "v1" {
						t.Errorf("client_name %q after both, want the update's %q", c.Name, "v1")
					}
					if sum := sha256.Sum256([]byte(secret)); secret == "" || string(c.SecretHash) != string(sum[:]) {
						t.Errorf("the stored secret is not the rotated one: the rotation was undone")
					}
				})
			}
		})
	}
}
