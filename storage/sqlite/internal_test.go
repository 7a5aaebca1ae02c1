package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/sqlstore"
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

// TestClassify checks what SQLite's errors mean for the store, on errors
// SQLite really returns: a unique or primary-key violation is a conflict
// (a row exists); a write whose snapshot another connection's commit made
// stale (SQLITE_BUSY_SNAPSHOT) is transient, to be run again; a lock not
// granted within the busy timeout (SQLITE_BUSY) is the database failing
// to give a turn, Other (storage.ErrUnavailable), never a conflict.
func TestClassify(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "classify.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn := func() *sql.Conn {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := conn(), conn()
	for _, q := range []string{`CREATE TABLE p (id TEXT PRIMARY KEY, name TEXT UNIQUE)`,
		`CREATE TABLE c (p TEXT REFERENCES p (id))`, `INSERT INTO p VALUES ('1', 'one')`} {
		if _, err := a.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, err error, want sqlstore.ErrorClass) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		if got := classify(err); got != want {
			t.Errorf("%s: classify(%v) = %v, want %v", what, err, got, want)
		}
	}
	_, err = a.ExecContext(ctx, `INSERT INTO p VALUES ('1', 'uno')`)
	check("primary key", err, sqlstore.Conflict)
	_, err = a.ExecContext(ctx, `INSERT INTO p VALUES ('2', 'one')`)
	check("unique", err, sqlstore.Conflict)
	_, err = a.ExecContext(ctx, `INSERT INTO c VALUES ('9')`)
	check("foreign key", err, sqlstore.InvalidReference)

	// a reads in a deferred transaction; b commits a write; a's write
	// would be based on a stale snapshot.
	if _, err := a.ExecContext(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.QueryRowContext(ctx, `SELECT count(*) FROM p`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ExecContext(ctx, `INSERT INTO p VALUES ('3', 'three')`); err != nil {
		t.Fatal(err)
	}
	_, err = a.ExecContext(ctx, `INSERT INTO p VALUES ('4', 'four')`)
	check("stale snapshot", err, sqlstore.Transient)
	if _, err := a.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}

	// a holds the write lock; b, with no busy timeout, is refused.
	if _, err := a.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	_, err = b.ExecContext(ctx, `INSERT INTO p VALUES ('5', 'five')`)
	check("locked", err, sqlstore.Other)
	if _, err := a.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	check("not an SQLite error", errors.New("conn closed"), sqlstore.Other)
}
