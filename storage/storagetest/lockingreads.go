package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// lockedRecord is one way of reading a record that storage.LockingReads
// makes lock: read returns the record's changing part (a name, a
// description) as the read in ctx finds it, write sets it in ctx.
type lockedRecord struct {
	name  string
	read  func(ctx context.Context) (string, error)
	write func(ctx context.Context, v string) error
}

// lockedRecords creates a client, a user (with a role) and a role and a
// scope, each with its changing part "v0", and returns every way of
// reading them that LockingReads makes lock.
func lockedRecords(t *testing.T, s storage.Store) []lockedRecord {
	ctx := t.Context()
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "locked-client", Name: "v0"}), "CreateClient")
	mustCreateRoles(t, ctx, s, "locked-a", "locked-b")
	noErr(t, s.CreateUser(ctx, &storage.User{ID: "locked-user", Username: "Locked-Name", Name: "v0", Roles: []string{"locked-a"}}), "CreateUser")
	noErr(t, s.CreateRole(ctx, &storage.Role{Name: "locked-role", Description: "v0"}), "CreateRole")
	noErr(t, s.CreateScope(ctx, &storage.Scope{Name: "locked:scope", Description: "v0"}), "CreateScope")

	writeUser := func(ctx context.Context, v string) error {
		u, err := s.GetUser(ctx, "locked-user")
		if err != nil {
			return err
		}
		u.Name = v
		return s.UpdateUser(ctx, u)
	}
	userName := func(u *storage.User, err error) (string, error) {
		if err != nil {
			return "", err
		}
		return u.Name, nil
	}
	return []lockedRecord{
		{"GetClient", func(ctx context.Context) (string, error) {
			c, err := s.GetClient(ctx, "locked-client")
			if err != nil {
				return "", err
			}
			return c.Name, nil
		}, func(ctx context.Context, v string) error {
			c, err := s.GetClient(ctx, "locked-client")
			if err != nil {
				return err
			}
			c.Name = v
			return s.UpdateClient(ctx, c)
		}},
		{"GetUser", func(ctx context.Context) (string, error) { return userName(s.GetUser(ctx, "locked-user")) }, writeUser},
		{"GetUserByUsername", func(ctx context.Context) (string, error) {
			return userName(s.GetUserByUsername(ctx, "Locked-Name"))
		}, writeUser},
		{"FindUsersByUsernameFold", func(ctx context.Context) (string, error) {
			us, err := s.FindUsersByUsernameFold(ctx, "locked-name")
			if err != nil {
				return "", err
			}
			if len(us) != 1 {
				return "", fmt.Errorf("found %d users, want 1", len(us))
			}
			return us[0].Name, nil
		}, writeUser},
		{"GetRole", func(ctx context.Context) (string, error) {
			r, err := s.GetRole(ctx, "locked-role")
			if err != nil {
				return "", err
			}
			return r.Description, nil
		}, func(ctx context.Context, v string) error {
			return s.UpdateRole(ctx, &storage.Role{Name: "locked-role", Description: v})
		}},
		{"GetScope", func(ctx context.Context) (string, error) {
			sc, err := s.GetScope(ctx, "locked:scope")
			if err != nil {
				return "", err
			}
			return sc.Description, nil
		}, func(ctx context.Context, v string) error {
			return s.UpdateScope(ctx, &storage.Scope{Name: "locked:scope", Description: v})
		}},
	}
}

// testLockingReads: a read of a client, user, role or scope made under
// storage.LockingReads in a transaction locks the record until the
// transaction ends. Of transactions that each read the record so and
// write it only if it is still as they expect (an If-Match), exactly one
// writes, however they interleave: the others' reads wait for it and
// then see its change. Each contender pauses between its read and its
// write, so that without the lock every one would read the old version
// before any wrote (PostgreSQL at READ COMMITTED). A read so made waits
// for a transaction changing the record and returns all of its change (a
// user's roles too, which live in a table of their own); outside a
// transaction, or of a record that does not exist, it reads as any read.
func testLockingReads(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 4
	for _, rec := range lockedRecords(t, s) {
		t.Run(rec.name, func(t *testing.T) {
			base, err := rec.read(ctx)
			noErr(t, err, "read")
			for round := range 3 {
				want := base
				rctx, cancel := context.WithTimeout(ctx, roundTimeout)
				wrote := make([]bool, contenders)
				errs := race(contenders, func(i int) error {
					return s.InTransaction(rctx, func(tx context.Context) error {
						wrote[i] = false
						v, err := rec.read(storage.LockingReads(tx))
						if err != nil || v != want {
							return err
						}
						time.Sleep(50 * time.Millisecond)
						wrote[i] = true
						return rec.write(tx, fmt.Sprintf("round-%d-by-%d", round, i))
					})
				})
				cancel()
				for i, err := range errs {
					noErr(t, err, fmt.Sprintf("round %d: contender %d", round, i))
				}
				if n := len(slices.DeleteFunc(slices.Clone(wrote), func(w bool) bool { return !w })); n != 1 {
					t.Fatalf("round %d: %d of %d contenders read %q and wrote, want exactly 1", round, n, contenders, want)
				}
				winner := slices.Index(wrote, true)
				base, err = rec.read(ctx)
				noErr(t, err, "read after the round")
				if w := fmt.Sprintf("round-%d-by-%d", round, winner); base != w {
					t.Fatalf("round %d: the record holds %q, want the winner's %q", round, base, w)
				}
			}
			v, err := rec.read(storage.LockingReads(ctx))
			noErr(t, err, "a locking read outside a transaction")
			if v != base {
				t.Errorf("a locking read outside a transaction: %q, want %q", v, base)
			}
		})
	}

	// A locking read waits for a transaction that changes the record,
	// and then returns every part of its change.
	lctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	writer := beginTX(t, lctx, s)
	u := mustGetUser(t, writer, s, "locked-user")
	u.Name, u.Roles = "changed", []string{"locked-b"}
	noErr(t, s.UpdateUser(writer, u), "UpdateUser in the writer's transaction")
	read := make(chan *storage.User, 1)
	readErr := make(chan error, 1)
	go func() {
		readErr <- s.InTransaction(lctx, func(tx context.Context) error {
			u, err := s.GetUser(storage.LockingReads(tx), "locked-user")
			read <- u
			return err
		})
	}()
	select {
	case <-read:
		t.Fatal("a locking read of a user returned while another transaction was changing the user")
	case <-time.After(100 * time.Millisecond):
	}
	noErr(t, s.Commit(writer), "Commit the writer")
	got := <-read
	noErr(t, <-readErr, "the locking read's transaction")
	if got == nil || got.Name != "changed" || !slices.Equal(got.Roles, []string{"locked-b"}) {
		t.Errorf("a locking read after the change committed: %+v, want name %q and roles [locked-b]", got, "changed")
	}

	// A record that does not exist: not found, and the transaction goes on.
	noErr(t, s.InTransaction(ctx, func(tx context.Context) error {
		_, err := s.GetClient(storage.LockingReads(tx), "no-such-client")
		notFound(t, err, "a locking read of a missing client")
		_, err = s.GetUser(storage.LockingReads(tx), "no-such-user")
		notFound(t, err, "a locking read of a missing user")
		us, err := s.FindUsersByUsernameFold(storage.LockingReads(tx), "no-such-name")
		if err != nil || len(us) != 0 {
			t.Errorf("a locking find of a missing username: %v, %v", us, err)
		}
		return s.UpdateScope(tx, &storage.Scope{Name: "locked:scope", Description: "after a miss"})
	}), "a transaction after locking reads that found nothing")
	if v := mustGetScope(t, ctx, s, "locked:scope").Description; v != "after a miss" {
		t.Errorf("the scope after that transaction: %q", v)
	}
}
