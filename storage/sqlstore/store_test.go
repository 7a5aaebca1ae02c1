package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
	sqlitestore "github.com/hallpass/hallpass/storage/sqlite"
	"github.com/hallpass/hallpass/storage/sqlstore"
)

// openEach runs fn on a fresh, migrated store of every backend.
func openEach(t *testing.T, fn func(t *testing.T, s *sqlstore.Store)) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			switch s := testdb.Open(t, b.DSN(t)).(type) {
			case *sqlitestore.Store:
				fn(t, s.Store)
			case *postgres.Store:
				fn(t, s.Store)
			default:
				t.Fatalf("backend %s: unexpected store %T", b.Name, s)
			}
		})
	}
}

// driverError reports whether err exposes a driver's own error type.
func driverError(err error) bool {
	var se *sqlite.Error
	var pe *pgconn.PgError
	return errors.As(err, &se) || errors.As(err, &pe)
}

// TestInvalidReferenceHidesDriverError checks that a foreign-key violation
// is storage.ErrInvalidReference and does not expose the driver's error.
func TestInvalidReferenceHidesDriverError(t *testing.T) {
	openEach(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		err := s.CreateBrowserSession(ctx, &storage.BrowserSession{ID: "s", UserID: "nobody"})
		if !errors.Is(err, storage.ErrInvalidReference) || driverError(err) {
			t.Fatalf("CreateBrowserSession(unknown user) = %v, want storage.ErrInvalidReference without the driver error", err)
		}
		// The foreign-key fallback of the role check, taken when a role
		// is deleted by a concurrent transaction between the check and
		// the insert.
		err = sqlstore.InsertUserWithRoles(ctx, s, "u", []string{"no-such-role"})
		if !errors.Is(err, storage.ErrInvalidReference) || driverError(err) {
			t.Fatalf("insertUserRoles(unknown role) = %v, want storage.ErrInvalidReference without the driver error", err)
		}
	})
}

// TestTransientRetriesSpent: a statement of its own, or InTransaction's
// transaction, that keeps failing with a serialization failure or a
// deadlock is run RetryAttempts times, then returned as
// storage.ErrTransient and storage.ErrUnavailable (a failure of ours,
// 5xx), never storage.ErrConflict, and reported to ObserveFailures once.
func TestTransientRetriesSpent(t *testing.T) {
	s := testdb.OpenPostgres(t, testdb.Postgres(t), nil).Store
	ctx := t.Context()
	var failures []string
	var mu sync.Mutex
	s.ObserveFailures(func(op string) { mu.Lock(); failures = append(failures, op); mu.Unlock() })
	var statements atomic.Int32
	s.ObserveQueries(func(context.Context, string) func(error) { statements.Add(1); return func(error) {} })
	for _, code := range []string{"40001", "40P01"} {
		raise := `DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '` + code + `'; END $$`
		for _, tc := range []struct {
			name string
			run  func() error
		}{
			{"statement", func() error { return sqlstore.ExecErr(ctx, s, raise) }},
			{"InTransaction", func() error {
				return s.InTransaction(ctx, func(tx context.Context) error { return sqlstore.ExecErr(tx, s, raise) })
			}},
		} {
			failures, _ = nil, statements.Swap(0)
			err := tc.run()
			if !errors.Is(err, storage.ErrTransient) || !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, storage.ErrConflict) || driverError(err) {
				t.Errorf("%s %s: %v; want storage.ErrTransient and ErrUnavailable, not ErrConflict, no driver error", code, tc.name, err)
			}
			if n := statements.Load(); n != sqlstore.RetryAttempts {
				t.Errorf("%s %s: %d statements run, want %d", code, tc.name, n, sqlstore.RetryAttempts)
			}
			if len(failures) != 1 || failures[0] != "test_statement" {
				t.Errorf("%s %s: failures reported %q, want [test_statement] once", code, tc.name, failures)
			}
		}
	}
}

// TestAfterCommitWorkRetried: work AfterCommit queued in an attempt of
// InTransaction's runs outside that attempt (its context carries no
// retry's mark), so a statement of its own that keeps failing with a
// serialization failure is run RetryAttempts times, as anywhere else,
// and reported to ObserveFailures once, not run once and never reported.
func TestAfterCommitWorkRetried(t *testing.T) {
	s := testdb.OpenPostgres(t, testdb.Postgres(t), nil).Store
	ctx := t.Context()
	var failures atomic.Int32
	s.ObserveFailures(func(string) { failures.Add(1) })
	raise := `DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '40001'; END $$`
	var statements atomic.Int32
	var workErr error
	err := s.InTransaction(ctx, func(tx context.Context) error {
		s.AfterCommit(tx, func(ctx context.Context) {
			s.ObserveQueries(func(context.Context, string) func(error) { statements.Add(1); return func(error) {} })
			workErr = sqlstore.ExecErr(ctx, s, raise)
		})
		return nil
	})
	if err != nil {
		t.Fatalf("InTransaction: %v", err)
	}
	if !errors.Is(workErr, storage.ErrTransient) {
		t.Errorf("the work's statement: %v, want storage.ErrTransient", workErr)
	}
	if n := statements.Load(); n != sqlstore.RetryAttempts {
		t.Errorf("the work's statement run %d times, want %d", n, sqlstore.RetryAttempts)
	}
	if n := failures.Load(); n != 1 {
		t.Errorf("%d failures reported, want 1", n)
	}
}

func TestPlaceholders(t *testing.T) {
	for _, tc := range []struct {
		first, n int
		want     string
	}{
		{1, 0, ""},
		{1, 1, "$1"},
		{1, 3, "$1, $2, $3"},
		{16, 2, "$16, $17"},
	} {
		if got := sqlstore.Placeholders(tc.first, tc.n); got != tc.want {
			t.Errorf("Placeholders(%d, %d) = %q, want %q", tc.first, tc.n, got, tc.want)
		}
	}
}

// TestSignInLookupErrorOmitsUsername: FindUsersByUsernameFold takes what
// someone typed into a login form's username field, which is now and then
// their password. Its error, which the login's 5xx logs, must not repeat
// it (the callers that look up a name an admin gave add it themselves).
func TestSignInLookupErrorOmitsUsername(t *testing.T) {
	openEach(t, func(t *testing.T, s *sqlstore.Store) {
		const typed = "correct-horse-battery-staple"
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := s.FindUsersByUsernameFold(t.Context(), typed)
		if err == nil {
			t.Fatal("FindUsersByUsernameFold on a closed store: no error")
		}
		if strings.Contains(err.Error(), typed) {
			t.Errorf("FindUsersByUsernameFold's error repeats the username typed: %v", err)
		}
	})
}

// TestUnstorableArgumentOfAnyType: the runner's check of every argument
// (storage.ErrInvalidInput, nothing written) sees text and times by
// their kind, not only as the types the store's methods pass today: a
// named string type (storage.TokenKind) and a time.Time passed as it is
// went to the driver unchecked, which database/sql accepts for both, so
// SQLite stored a NUL and a time past year 9999 that PostgreSQL refuses
// as a failure of its own.
func TestUnstorableArgumentOfAnyType(t *testing.T) {
	openEach(t, func(t *testing.T, s *sqlstore.Store) {
		for _, tc := range []struct {
			name, query string
			arg         any
		}{
			{"named string type holding a NUL", `INSERT INTO settings (name) VALUES ($1)`, storage.TokenKind("a\x00b")},
			{"named string type holding invalid UTF-8", `INSERT INTO settings (name) VALUES ($1)`, storage.TokenKind("a\xffb")},
			{"time past year 9999", `INSERT INTO access_revocations (id, expires_at) VALUES ('r', $1)`,
				time.Date(300000, time.January, 1, 0, 0, 0, 0, time.UTC)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := sqlstore.ExecArgsErr(t.Context(), s, tc.query, tc.arg)
				if !errors.Is(err, storage.ErrInvalidInput) || errors.Is(err, storage.ErrUnavailable) {
					t.Errorf("got %v, want storage.ErrInvalidInput (and not ErrUnavailable)", err)
				}
			})
		}
		// The check passes what every backend stores.
		if err := sqlstore.ExecArgsErr(t.Context(), s, `INSERT INTO settings (name) VALUES ($1)`, storage.TokenKind("plain")); err != nil {
			t.Errorf("named string type holding plain text: %v", err)
		}
	})
}
