package directory

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// interposedUsers runs meanwhile, once armed, right after the next
// GetUser that inTx accepts returns: a change another admin (or the user)
// makes between a read of the user and the write based on it. It waits
// for meanwhile at most patience, since a read made in the change's own
// transaction and locked holds the user (the row, or SQLite's write
// lock), and meanwhile then waits for that transaction.
type interposedUsers struct {
	storage.Store
	patience time.Duration
	inTx     bool // arm on a read made in a transaction, else on any

	mu        sync.Mutex
	meanwhile func() error
	done      chan error
}

// interposedTxKey marks a context of a transaction begun through an
// interposedUsers.
type interposedTxKey struct{}

func (s *interposedUsers) InTransaction(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.Store.InTransaction(ctx, func(tx context.Context) error { return fn(context.WithValue(tx, interposedTxKey{}, true)) })
}

func (s *interposedUsers) GetUser(ctx context.Context, id string) (*storage.User, error) {
	u, err := s.Store.GetUser(ctx, id)
	inTx, _ := ctx.Value(interposedTxKey{}).(bool)
	s.mu.Lock()
	fn := s.meanwhile
	if fn != nil && (inTx || !s.inTx) {
		s.meanwhile = nil
	} else {
		fn = nil
	}
	s.mu.Unlock()
	if fn != nil {
		go func() { s.done <- fn() }()
		select {
		case err := <-s.done:
			s.done <- err
		case <-time.After(s.patience):
		}
	}
	return u, err
}

// TestUserChangesKeepEachOther: a user's update and a change of their
// password made at the same time both hold. An update whose read in its
// transaction locked nothing (PostgreSQL) wrote back the password hash it
// read, undoing a password change committed meanwhile; and a password
// change wrote back the profile (disabled, roles, email) read before its
// transaction, so that it enabled again a user disabled meanwhile.
func TestUserChangesKeepEachOther(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, first := range []string{"update", "password"} {
				t.Run(first+" reads first", func(t *testing.T) {
					ctx := context.Background()
					raw := testdb.Open(t, b.DSN(t))
					st := &interposedUsers{Store: raw, patience: time.Second, inTx: first == "update", done: make(chan error, 1)}
					svc, other := New(st, Options{}), New(raw, Options{})
					alice, err := svc.Users().Create(ctx, UserInput{Username: "alice", Password: "correct horse battery staple", Email: "a@example.com"})
					if err != nil {
						t.Fatal(err)
					}
					before, err := raw.GetUser(ctx, alice.ID)
					if err != nil {
						t.Fatal(err)
					}
					update := func(u *Users) error {
						_, err := u.Update(ctx, alice.ID, UserInput{Username: "alice", Email: "new@example.com", Disabled: true})
						return err
					}
					password := func(u *Users) error {
						_, err := u.ChangePassword(ctx, alice.ID, "quiet-copper-meadow-64")
						return err
					}
					st.mu.Lock()
					if first == "update" {
						st.meanwhile = func() error { return password(other.Users()) }
						st.mu.Unlock()
						err = update(svc.Users())
					} else {
						st.meanwhile = func() error { return update(other.Users()) }
						st.mu.Unlock()
						err = password(svc.Users())
					}
					if err != nil {
						t.Fatalf("%s: %v", first, err)
					}
					if err := <-st.done; err != nil {
						t.Fatalf("the change made meanwhile: %v", err)
					}
					u, err := raw.GetUser(ctx, alice.ID)
					if err != nil {
						t.Fatal(err)
					}
					if u.Email != "new@example.com" || !u.Disabled {
						t.Errorf("email %q, disabled %v after both; want the update's new@example.com, true", u.Email, u.Disabled)
					}
					if u.PasswordHash == before.PasswordHash {
						t.Errorf("the password hash is the one from before the change of password: that change was undone")
					}
				})
			}
		})
	}
}
