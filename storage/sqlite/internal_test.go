package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/storagetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	return openShared(t, filepath.Join(t.TempDir(), "hallpass.db"))
}

// openShared opens the database file at path, closing it when t ends.
func openShared(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrations(t *testing.T) {
	storagetest.RunMigrations(t, func(t *testing.T, n int) ([]storagetest.Migrator, *sql.DB) {
		path := filepath.Join(t.TempDir(), "shared.db")
		stores := make([]storagetest.Migrator, n)
		var db *sql.DB
		for i := range stores {
			s := openShared(t, path)
			stores[i], db = s, s.db
		}
		return stores, db
	})
}

// TestForeignKeysOnEveryConnection checks that every pooled connection
// enforces foreign keys: ON DELETE CASCADE depends on it.
func TestForeignKeysOnEveryConnection(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	const n = 4
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := s.db.Conn(ctx) // held, so each iteration gets a new connection
		if err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		conns = append(conns, c)
		var on int
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&on); err != nil {
			t.Fatalf("conn %d: PRAGMA foreign_keys: %v", i, err)
		}
		if on != 1 {
			t.Fatalf("conn %d: foreign_keys = %d, want 1", i, on)
		}
	}
}

// TestDollarPlaceholders checks that the driver binds the store's $n
// placeholders, which go to it unrewritten, to the n-th argument: out of
// order, repeated, past 9, and never inside a string literal.
func TestDollarPlaceholders(t *testing.T) {
	s := openTemp(t)
	args := []any{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10"}
	for _, tc := range []struct{ query, want string }{
		{`SELECT 'x'`, `x`},
		{`SELECT $1`, `a1`},
		{`SELECT $2 || ',' || $10 || ',' || $1`, `a2,a10,a1`},
		{`SELECT $1 || ',' || $1`, `a1,a1`},
		{`SELECT '$1' || ',' || $3`, `$1,a3`},
	} {
		var got string
		if err := s.db.QueryRowContext(t.Context(), tc.query, args...).Scan(&got); err != nil {
			t.Errorf("%s: %v", tc.query, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %q, want %q", tc.query, got, tc.want)
		}
	}
}

// TestListEncoding checks the JSON array encoding of []string fields that
// databases in the field hold: "[]" for an empty list, and what any JSON
// array decodes to.
func TestListEncoding(t *testing.T) {
	if got := encodeList(nil); got != "[]" {
		t.Errorf("encodeList(nil) = %q, want []", got)
	}
	if got := encodeList([]string{"a", `b "c",d`}); got != `["a","b \"c\",d"]` {
		t.Errorf("encodeList = %q", got)
	}
	ss, err := decodeList([]byte(`["x","y"]`))
	if err != nil || len(ss) != 2 || ss[0] != "x" || ss[1] != "y" {
		t.Errorf("decodeList = %q, %v; want [x y]", ss, err)
	}
	if _, err := decodeList([]byte(`{x,y}`)); err == nil {
		t.Error("decodeList(not JSON) succeeded, want an error")
	}
}

func TestAudit(t *testing.T) {
	storagetest.RunAudit(t, func(t *testing.T, n int) []storage.Store {
		path := filepath.Join(t.TempDir(), "shared.db")
		stores := make([]storage.Store, n)
		for i := range stores {
			stores[i] = openShared(t, path)
		}
		if err := stores[0].Migrate(t.Context()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		return stores
	}, func(t *testing.T, s storage.Store) *sql.DB { return s.(*Store).db })
}

// TestCancelledContextRefused: statements run without their context's
// cancellation (DetachStatements), but a context done before a statement
// starts still refuses it, for reads and writes, with the context's error.
func TestCancelledContextRefused(t *testing.T) {
	s := openTemp(t)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.CreateUser(ctx, &storage.User{ID: "u", Username: "u"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := s.GetUser(ctx, "u"); err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	cancel()
	if _, err := s.GetUser(ctx, "u"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetUser with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := s.ListUsers(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("ListUsers with a cancelled context: %v, want context.Canceled", err)
	}
	if err := s.PutConsent(ctx, &storage.Consent{UserID: "u", ClientID: "c"}); !errors.Is(err, context.Canceled) {
		t.Errorf("PutConsent with a cancelled context: %v, want context.Canceled", err)
	}
	if err := s.DeleteUser(ctx, "u"); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteUser with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := s.GetUser(t.Context(), "u"); err != nil {
		t.Errorf("GetUser after the refused delete: %v", err)
	}
}
