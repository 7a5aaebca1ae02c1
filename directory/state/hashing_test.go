package state_test

import (
	"context"
	"sync"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/directory/state"
	"github.com/hallpass/hallpass/internal/testkit/hashwatch"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// beforeFirst runs once, before the first transaction begins.
type beforeFirst struct {
	*hashwatch.Store
	once sync.Once
	fn   func()
}

func (s *beforeFirst) InTransaction(ctx context.Context, fn func(ctx context.Context) error) error {
	s.once.Do(s.fn)
	return s.Store.InTransaction(ctx, fn)
}

// Apply hashes the passwords of the users it creates (and the random one
// of a user created without) before its transaction begins: hashed in it,
// each took argon2id's tens of milliseconds holding SQLite's write lock,
// every other write (a running server's sign-ins) waiting, a second and a
// half for 50 users. Should the directory change between the hashing and
// the transaction, so that the transaction would create a user not
// hashed for (here bob, deleted in between), Apply starts again, and
// still hashes nothing in a transaction; what it applies is all of it.
func TestApplyHashesBeforeTransaction(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			raw := testdb.Open(t, b.DSN(t))
			watched := hashwatch.New(raw)
			st := &beforeFirst{Store: watched}
			hasher := &hashwatch.Hasher{Store: watched}
			dir := directory.New(st, directory.Options{Hasher: hasher})
			env := map[string]string{"CAROL_PASSWORD": "her very own passphrase, 42 times", "BOB_PASSWORD": "violet ocean marbles 1987"}
			opts := state.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
			if _, err := directory.New(raw, directory.Options{}).Users().CreateWithoutPassword(ctx, directory.UserInput{Username: "bob"}); err != nil {
				t.Fatal(err)
			}
			f := load(t, `
roles:
  - name: staff
users:
  - username: carol
    roles: [staff]
    password_env: CAROL_PASSWORD
  - username: dave
  - username: bob
    name: Bob
    password_env: BOB_PASSWORD
`)
			// bob exists as Apply hashes (an update, which keeps his
			// password), and is gone when its transaction begins.
			st.fn = func() {
				if err := raw.DeleteUser(ctx, mustUser(t, raw, "bob").ID); err != nil {
					t.Fatal(err)
				}
			}
			before := hasher.Hashes()
			r := mustApply(t, dir, f, opts)
			if n := hasher.InTransaction(); n != 0 {
				t.Errorf("%d passwords were hashed while a transaction was open", n)
			}
			if n := hasher.Hashes() - before; n < 3 {
				t.Errorf("%d hashes for the three users created", n)
			}
			if got := planText(t, r.Plan); got == "" {
				t.Error("no plan applied")
			}
			for name, pw := range map[string]string{"carol": env["CAROL_PASSWORD"], "bob": env["BOB_PASSWORD"]} {
				if ok, err := directory.CheckPassword(mustUser(t, raw, name).PasswordHash, pw); !ok || err != nil {
					t.Errorf("%s's password is not the one in the environment (%v)", name, err)
				}
			}
			if u := mustUser(t, raw, "dave"); u.PasswordHash == "" {
				t.Error("dave, created without a password, has no hash")
			}
			wantEmpty(t, "applied", mustPlan(t, dir, f, opts))
		})
	}
}

func mustUser(t *testing.T, st storage.Store, username string) *storage.User {
	t.Helper()
	u, err := st.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatalf("read user %s: %v", username, err)
	}
	return u
}
