package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// An update on the database (localKind.Change) keeps a change another
// admin commits between its read and its write: it reads the record
// again, locked, in its transaction, finds it changed and writes nothing
// (changedError, "run the command again"). On PostgreSQL the read locked
// nothing, and the update wrote back the record as it read it, undoing
// the other change.
func TestLocalChangeKeepsAChangeMadeBetweenReadAndWrite(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := migrated(t, b.DSN(t))
			if _, _, errOut := cli(t, "", "--database", db, "users", "create", "--username", "alice", "--name", "Alice"); errOut == "" {
				t.Fatal("users create alice printed no generated password")
			}
			st := testdb.Open(t, db)
			ctx := context.Background()
			done := make(chan int, 1)
			started := false
			_, err := localDirectory{directory.New(st, directory.Options{})}.users().Change(ctx, "alice", func(old directory.UserView) (directory.UserInput, error) {
				if !started {
					started = true
					go func() {
						code, out, errOut := cli(t, "", "--database", db, "users", "update", "alice", "--email", "alice@other.example")
						if code != 0 {
							t.Errorf("the other admin's update: exit %d\n%s%s", code, out, errOut)
						}
						done <- code
					}()
					select {
					case code := <-done:
						done <- code
					case <-time.After(time.Second):
					}
				}
				return directory.UserInput{Username: old.Username, Email: old.Email, EmailVerified: old.EmailVerified,
					Name: "Alice Liddell", Roles: old.Roles, Disabled: old.Disabled}, nil
			})
			var changed *changedError
			if !errors.As(err, &changed) {
				t.Fatalf("Change = %v, want the changed-meanwhile refusal", err)
			}
			<-done
			u, err := st.GetUserByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if u.Email != "alice@other.example" || u.Name != "Alice" {
				t.Errorf("alice = email %q, name %q; want the other admin's email kept and nothing of the refused change", u.Email, u.Name)
			}
		})
	}
}
