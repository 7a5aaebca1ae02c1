package main

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/hashwatch"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// onBegin runs fn, when set, once, before the next transaction begins.
type onBegin struct {
	*hashwatch.Store
	mu sync.Mutex
	fn func()
}

func (s *onBegin) InTransaction(ctx context.Context, fn func(ctx context.Context) error) error {
	s.mu.Lock()
	f := s.fn
	s.fn = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return s.Store.InTransaction(ctx, fn)
}

// users update --password-stdin on the database (no --server) hashes the
// new password before the transaction that reads, compares and writes
// the user: hashed in it, argon2id's tens of milliseconds held SQLite's
// write lock, a running server's every write (sign-ins, tokens) waiting,
// and on PostgreSQL the user's row. So the read the change is made from
// comes before the transaction, which reads the user again and writes
// only if they are as first read: a change made in between survives, and
// the command is refused (changedError), changing nothing. users create
// hashes before its transaction too.
func TestLocalUserChangeHashesBeforeTransaction(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			raw := testdb.Open(t, b.DSN(t))
			watched := hashwatch.New(raw)
			st := &onBegin{Store: watched}
			hasher := &hashwatch.Hasher{Store: watched}
			users := localDirectory{svc: directory.New(st, directory.Options{Hasher: hasher})}.users()
			const first, second = "violet ocean marbles 1987", "correct horse battery staple 99"
			if _, err := users.Create(ctx, directory.UserInput{Username: "erin", Password: first}); err != nil {
				t.Fatal(err)
			}
			edit := func(password string) func(old directory.UserView) (directory.UserInput, error) {
				return func(old directory.UserView) (directory.UserInput, error) {
					return directory.UserInput{Username: old.Username, Email: old.Email, Name: "Erin", Password: password}, nil
				}
			}
			if _, err := users.Change(ctx, "erin", edit(second)); err != nil {
				t.Fatalf("Change: %v", err)
			}
			if n := hasher.InTransaction(); n != 0 {
				t.Errorf("%d passwords were hashed while a transaction was open", n)
			}
			if n := hasher.Hashes(); n != 2 {
				t.Errorf("%d hashes, want 2 (create, update)", n)
			}
			erin, err := raw.GetUserByUsername(ctx, "erin")
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := directory.CheckPassword(erin.PasswordHash, second); !ok || err != nil || erin.Name != "Erin" {
				t.Errorf("the update was not stored: name %q, password matches %v (%v)", erin.Name, ok, err)
			}

			// Another admin's change between the command's read and its
			// transaction.
			st.mu.Lock()
			st.fn = func() {
				u := *erin
				u.Email = "erin@other.example"
				if err := raw.UpdateUser(ctx, &u); err != nil {
					t.Error(err)
				}
			}
			st.mu.Unlock()
			_, err = users.Change(ctx, "erin", edit(first))
			if ce := (*changedError)(nil); !errors.As(err, &ce) {
				t.Fatalf("Change after a change meanwhile = %v, want changedError", err)
			}
			after, err := raw.GetUserByUsername(ctx, "erin")
			if err != nil {
				t.Fatal(err)
			}
			if ok, _ := directory.CheckPassword(after.PasswordHash, second); !ok || after.Email != "erin@other.example" {
				t.Errorf("a refused change changed erin, or undid the change meanwhile: email %q, password kept %v", after.Email, ok)
			}
			if n := hasher.InTransaction(); n != 0 {
				t.Errorf("%d passwords were hashed while a transaction was open", n)
			}
		})
	}
}
