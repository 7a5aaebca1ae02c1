package sqlstore_test

import (
	"errors"
	"testing"

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
