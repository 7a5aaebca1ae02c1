package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// TestUsernamesDifferByMoreThanCase: creating a user, or renaming one, to
// a username another user holds but for case is a conflict naming that
// user, and writes nothing; a user's own name may change case; users that
// an older database holds as case variants of each other can still be
// updated, but not renamed onto one another.
func TestUsernamesDifferByMoreThanCase(t *testing.T) {
	const pw = "correct horse battery staple"
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			users := New(st, Options{}).Users()
			for _, name := range []string{"alice", "bob", "erin"} {
				if _, err := users.CreateWithoutPassword(ctx, UserInput{Username: name}); err != nil {
					t.Fatal(err)
				}
			}
			// Case variants stored before the rule, as an older
			// database may hold them.
			for _, name := range []string{"carol", "CAROL"} {
				if err := st.CreateUser(ctx, &storage.User{ID: "id-" + name, Username: name}); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				name string
				call func() error
				says string // "" when the call succeeds
			}{
				{"create a case variant", func() error {
					_, err := users.Create(ctx, UserInput{Username: "Alice", Password: pw})
					return err
				}, `username "Alice" is taken (by "alice"); usernames differ by more than case`},
				{"create a case variant without a password", func() error {
					_, err := users.CreateWithoutPassword(ctx, UserInput{Username: "ALICE"})
					return err
				}, `username "ALICE" is taken (by "alice")`},
				{"create the same username", func() error {
					_, err := users.CreateWithoutPassword(ctx, UserInput{Username: "alice"})
					return err
				}, `user "alice" already exists`},
				{"create a variant of stored variants", func() error {
					_, err := users.CreateWithoutPassword(ctx, UserInput{Username: "Carol"})
					return err
				}, `username "Carol" is taken (by "CAROL")`},
				{"rename onto a case variant", func() error {
					_, err := users.Update(ctx, "bob", UserInput{Username: "ALICE", Name: "Bob"})
					return err
				}, `username "ALICE" is taken (by "alice"); usernames differ by more than case`},
				{"rename a stored variant onto another", func() error {
					_, err := users.Update(ctx, "CAROL", UserInput{Username: "Carol"})
					return err
				}, `username "Carol" is taken (by "carol")`},
				{"rename changing only one's own case", func() error {
					_, err := users.Update(ctx, "erin", UserInput{Username: "Erin"})
					return err
				}, ""},
				{"update a stored variant, keeping its name", func() error {
					_, err := users.Update(ctx, "CAROL", UserInput{Username: "CAROL", Name: "Carol the second"})
					return err
				}, ""},
				{"rename a stored variant away", func() error {
					_, err := users.Update(ctx, "carol", UserInput{Username: "carol.first"})
					return err
				}, ""},
			} {
				err := tc.call()
				if tc.says == "" {
					if err != nil {
						t.Errorf("%s: %v", tc.name, err)
					}
					continue
				}
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, ErrConflict) || e.Object != ObjectUser || !strings.Contains(e.Message, tc.says) {
					t.Errorf("%s: got %v, want a user conflict saying %q", tc.name, err, tc.says)
				}
			}
			list, err := st.ListUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range list {
				names = append(names, u.Username)
			}
			if want := []string{"CAROL", "Erin", "alice", "bob", "carol.first"}; !slices.Equal(names, want) {
				t.Errorf("usernames stored: %q, want %q", names, want)
			}
			if u, err := st.GetUserByUsername(ctx, "CAROL"); err != nil || u.Name != "Carol the second" {
				t.Errorf("CAROL after an update keeping the name: %+v, %v", u, err)
			}
		})
	}
}

// TestSignInUser: a typed username finds the user holding it exactly,
// or else the one user holding it but for case; among case variants an
// older database holds, a spelling that is none of them finds nobody.
func TestSignInUser(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			users := New(st, Options{}).Users()
			for _, name := range []string{"alice", "oskar"} {
				if _, err := users.CreateWithoutPassword(ctx, UserInput{Username: name}); err != nil {
					t.Fatal(err)
				}
			}
			// Case variants stored before the rule.
			for _, name := range []string{"bob", "Bob"} {
				if err := st.CreateUser(ctx, &storage.User{ID: "id-" + name, Username: name}); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				typed, want string
				shared      bool
			}{
				{"alice", "alice", false},
				{"ALICE", "alice", false},
				{"aLiCe", "alice", false},
				{"o\u017f\u212aar", "oskar", false}, // LONG S, KELVIN SIGN
				{"bob", "bob", true},
				{"Bob", "Bob", true},
				{"BOB", "", false},
				{"bOb", "", false},
				{"alice2", "", false},
				{"alic", "", false},
			} {
				u, shared, err := users.SignInUser(ctx, tc.typed)
				if err != nil {
					t.Fatalf("SignInUser(%q): %v", tc.typed, err)
				}
				got := ""
				if u != nil {
					got = u.Username
				}
				if got != tc.want || shared != tc.shared {
					t.Errorf("SignInUser(%q) = %q, shared %v; want %q, shared %v", tc.typed, got, shared, tc.want, tc.shared)
				}
			}
		})
	}
}

// TestFindUserWithoutCase: the admin API and the CLI name a user by id or
// username, and a username as a sign-in types it, without case: Get,
// Update and Delete of "ALICE" reach alice. Among case variants an older
// database holds, only the exact spellings name a user.
func TestFindUserWithoutCase(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			users := New(st, Options{}).Users()
			for _, name := range []string{"alice", "carol"} {
				if _, err := users.CreateWithoutPassword(ctx, UserInput{Username: name}); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range []string{"bob", "Bob"} {
				if err := st.CreateUser(ctx, &storage.User{ID: "id-" + name, Username: name}); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct{ name, want string }{
				{"ALICE", "alice"}, {"alice", "alice"}, {"Bob", "Bob"}, {"bob", "bob"}, {"BOB", ""}, {"alic", ""},
			} {
				u, err := users.Get(ctx, tc.name)
				switch {
				case tc.want == "" && !errors.Is(err, ErrNotFound):
					t.Errorf("Get(%q) = %q, %v; want not found", tc.name, u.Username, err)
				case tc.want != "" && (err != nil || u.Username != tc.want):
					t.Errorf("Get(%q) = %q, %v; want %q", tc.name, u.Username, err, tc.want)
				}
			}
			if u, err := users.Update(ctx, "ALICE", UserInput{Username: "alice", Name: "Alice A."}); err != nil || u.Name != "Alice A." {
				t.Errorf("Update(ALICE) = %+v, %v; want alice's name changed", u, err)
			}
			if err := users.Delete(ctx, "CAROL"); err != nil {
				t.Fatalf("Delete(CAROL): %v", err)
			}
			if _, err := users.Get(ctx, "carol"); !errors.Is(err, ErrNotFound) {
				t.Errorf("carol after Delete(CAROL): %v, want not found", err)
			}
		})
	}
}

// TestUsernameCheckInTransaction: the check reads the transaction it runs
// in, so a caller's transaction (configuration as code applies in one)
// that creates two case variants fails on the second, and keeps neither.
func TestUsernameCheckInTransaction(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			svc := New(st, Options{})
			err := svc.InTransaction(ctx, func(tx context.Context) error {
				if _, err := svc.Users().CreateWithoutPassword(tx, UserInput{Username: "dave"}); err != nil {
					return err
				}
				_, err := svc.Users().CreateWithoutPassword(tx, UserInput{Username: "Dave"})
				return err
			})
			if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `(by "dave")`) {
				t.Fatalf("two case variants in one transaction: got %v, want a conflict naming dave", err)
			}
			if list, err := st.ListUsers(ctx); err != nil || len(list) != 0 {
				t.Errorf("users after the failed transaction: %d, %v; want none", len(list), err)
			}
		})
	}
}

// TestUsernameKey: two usernames have the same key exactly when
// strings.EqualFold holds, whatever their characters, and UsernameTaken
// refuses them.
func TestUsernameKey(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"alice", "alice", true},
		{"alice", "ALICE", true},
		{"Alice", "aLiCe", true},
		{"kate", "\u212aate", true}, // KELVIN SIGN
		{"sam", "\u017fAM", true},   // LATIN SMALL LETTER LONG S
		{"Émile", "éMILE", true},
		{"alice", "alicf", false},
		{"alice", "alice2", false},
		{"a.b", "a-b", false},
		{"ss", "ß", false}, // full folding only
	} {
		if got := UsernameKey(tc.a) == UsernameKey(tc.b); got != tc.same {
			t.Errorf("UsernameKey(%q) == UsernameKey(%q): %v, want %v", tc.a, tc.b, got, tc.same)
		}
		if err := UsernameTaken(tc.a, tc.b); errors.Is(err, ErrConflict) != tc.same {
			t.Errorf("UsernameTaken(%q, %q) = %v, want a conflict: %v", tc.a, tc.b, err, tc.same)
		}
	}
}

// slowFind is a store whose FindUsersByUsernameFold, once it has read,
// waits for every contender to have read too (or for wait to pass): the
// widest window between the check and the write.
type slowFind struct {
	storage.Store
	arrived    *atomic.Int32
	contenders int32
	all        chan struct{}
	wait       time.Duration
}

func (s slowFind) FindUsersByUsernameFold(ctx context.Context, username string) ([]storage.User, error) {
	us, err := s.Store.FindUsersByUsernameFold(ctx, username)
	if s.arrived.Add(1) == s.contenders {
		close(s.all)
	}
	select {
	case <-s.all:
	case <-time.After(s.wait):
	}
	return us, err
}

// fastHasher stands in for argon2id, which this test does not need.
type fastHasher struct{}

func (fastHasher) Enter(context.Context) (func(), error) { return func() {}, nil }
func (fastHasher) Hash(p string) (string, error)         { return "not-a-hash", nil }

// TestUsernameCheckRace: transactions that create case variants of one
// username at the same moment, on one database, never both pass the
// check, however long each waits between its check and its write
// (LockUsernames serializes them).
func TestUsernameCheckRace(t *testing.T) {
	const contenders = 3
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := slowFind{Store: testdb.Open(t, b.DSN(t)), arrived: &atomic.Int32{}, contenders: contenders,
				all: make(chan struct{}), wait: 300 * time.Millisecond}
			users := New(st, Options{Hasher: fastHasher{}}).Users()
			won, errs := createAtOnce(t, ctx, []*Users{users}, []string{"racer", "Racer", "RACER"})
			stored, err := st.FindUsersByUsernameFold(ctx, "racer")
			if err != nil {
				t.Fatal(err)
			}
			if won != 1 || len(stored) != 1 {
				t.Errorf("%d of %d creates succeeded, %d stored (%v); want exactly one", won, contenders, len(stored), errs)
			}
		})
	}
}

// TestUsernameCheckStrictIsolation: on PostgreSQL whose transactions run
// at REPEATABLE READ or SERIALIZABLE (as distributed Postgres-compatible
// databases do), replicas creating case variants of one username at once
// still create exactly one: a contender that waited for the username lock
// fails with a serialization failure rather than check through a stale
// snapshot, and the service's transaction runs again and finds the
// winner's user.
func TestUsernameCheckStrictIsolation(t *testing.T) {
	testdb.PostgresURL(t)
	const contenders = 3
	for _, isolation := range []string{"repeatable read", "serializable"} {
		t.Run(isolation, func(t *testing.T) {
			ctx := context.Background()
			dsn := testdb.Postgres(t)
			var users []*Users
			for i := range 2 {
				st := testdb.OpenPostgres(t, dsn, map[string]string{"default_transaction_isolation": isolation})
				if i == 0 {
					if err := st.Migrate(ctx); err != nil {
						t.Fatal(err)
					}
				}
				users = append(users, New(st, Options{Hasher: fastHasher{}}).Users())
			}
			for round := range 5 {
				names := []string{fmt.Sprintf("racer%d", round), fmt.Sprintf("Racer%d", round), fmt.Sprintf("RACER%d", round)}
				won, errs := createAtOnce(t, ctx, users, names)
				if won != 1 {
					t.Errorf("round %d: %d of %d creates succeeded (%v); want exactly one", round, won, contenders, errs)
				}
			}
		})
	}
}

// createAtOnce creates a user of each name at the same moment, the i-th
// through services[i%len(services)], and returns how many creates
// succeeded and each one's error; an error other than a conflict fails t.
func createAtOnce(t *testing.T, ctx context.Context, services []*Users, names []string) (int, []error) {
	t.Helper()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i := range names {
		wg.Go(func() {
			_, errs[i] = services[i%len(services)].Create(ctx, UserInput{Username: names[i], Password: "correct horse battery staple"})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrConflict):
			t.Errorf("create %s: %v, want success or a conflict", names[i], err)
		}
	}
	return won, errs
}
