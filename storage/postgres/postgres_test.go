package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
	"github.com/hallpass/hallpass/storage/storagetest"
)

// newStore returns a migrated Store in a fresh schema.
func newStore(t *testing.T) storage.Store {
	t.Helper()
	s := testdb.OpenPostgres(t, testdb.Postgres(t), nil)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// The suites below call testdb.PostgresURL first so that, without a
// database, they skip (or fail in CI) once rather than in every subtest.

func TestConformance(t *testing.T) {
	testdb.PostgresURL(t)
	storagetest.Run(t, newStore)
}

// TestConformanceCollated runs the cases whose answers depend on how text
// is ordered on a database whose default collation is a language's, as
// a production database often has: the Store promises byte order, as
// SQLite's, whatever the database's.
func TestConformanceCollated(t *testing.T) {
	testdb.PostgresURL(t)
	storagetest.RunOrdering(t, func(t *testing.T) storage.Store {
		s := testdb.OpenPostgres(t, testdb.PostgresCollated(t, "en-US"), nil)
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		return s
	})
}

func TestConcurrency(t *testing.T) {
	testdb.PostgresURL(t)
	storagetest.RunConcurrency(t, newStore)
}

// newReplicas opens n stores (n pools, as n replicas have) on one fresh
// schema and migrates it.
func newReplicas(t *testing.T, n int) []storage.Store {
	t.Helper()
	dsn := testdb.Postgres(t)
	stores := make([]storage.Store, n)
	for i := range stores {
		stores[i] = testdb.OpenPostgres(t, dsn, nil)
	}
	if err := stores[0].Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return stores
}

func TestReplicas(t *testing.T) {
	testdb.PostgresURL(t)
	storagetest.RunReplicas(t, newReplicas)
}

func TestAudit(t *testing.T) {
	testdb.PostgresURL(t)
	storagetest.RunAudit(t, newReplicas, func(t *testing.T, s storage.Store) *sql.DB {
		return postgres.DB(s.(*postgres.Store))
	})
}

// TestOpenSearchPath checks that a search_path parameter in the URL is sent
// as a run-time parameter, so Open alone can select a schema.
func TestOpenSearchPath(t *testing.T) {
	dsn := testdb.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", testdb.EnvURL, err)
	}
	schema := u.Query().Get("search_path")
	if schema == "" {
		t.Fatalf("testdb.Postgres gave a URL without search_path")
	}

	ctx := t.Context()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	var got string
	if err := postgres.DB(s).QueryRowContext(ctx, "SELECT current_schema()").Scan(&got); err != nil {
		t.Fatalf("current_schema: %v", err)
	}
	if got != schema {
		t.Fatalf("current_schema() = %q, want %q", got, schema)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	var n int
	if err := postgres.DB(s).QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = $1 AND table_name = 'clients'`, schema).Scan(&n); err != nil {
		t.Fatalf("look up clients table: %v", err)
	}
	if n != 1 {
		t.Fatalf("clients table not created in schema %s", schema)
	}
}

func TestMigrations(t *testing.T) {
	testdb.PostgresURL(t)
	storagetest.RunMigrations(t, func(t *testing.T, n int) ([]storagetest.Migrator, *sql.DB) {
		dsn := testdb.Postgres(t)
		stores := make([]storagetest.Migrator, n)
		var db *sql.DB
		for i := range stores {
			s := testdb.OpenPostgres(t, dsn, nil)
			stores[i], db = s, postgres.DB(s)
		}
		return stores, db
	})
}

// TestNoDriverErrors checks that not-found and conflict errors do not expose
// pgx's or database/sql's sentinels or error types.
func TestNoDriverErrors(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	_, err := s.GetClient(ctx, "missing")
	if !errors.Is(err, storage.ErrNotFound) || errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("GetClient(missing) = %v, want storage.ErrNotFound and not pgx.ErrNoRows", err)
	}
	_, err = s.GetSetting(ctx, "missing")
	if !errors.Is(err, storage.ErrNotFound) || errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("GetSetting(missing) = %v, want storage.ErrNotFound and not pgx.ErrNoRows", err)
	}
	if err := s.CreateClient(ctx, &storage.Client{ID: "c"}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	err = s.CreateClient(ctx, &storage.Client{ID: "c"})
	var pgErr *pgconn.PgError
	if !errors.Is(err, storage.ErrConflict) || errors.As(err, &pgErr) {
		t.Fatalf("CreateClient(existing) = %v, want storage.ErrConflict without pgx's error", err)
	}
}

// TestNestedBeginTX checks that a nested BeginTX is refused rather than
// silently starting a second, independent transaction.
func TestNestedBeginTX(t *testing.T) {
	s := newStore(t)
	tx, err := s.BeginTX(t.Context())
	if err != nil {
		t.Fatalf("BeginTX: %v", err)
	}
	defer s.Rollback(tx)
	if _, err := s.BeginTX(tx); err == nil {
		t.Fatal("nested BeginTX succeeded, want an error")
	}
}

// TestByteOrderCollation checks that the columns that lists are ordered by
// use the "C" collation, so that ORDER BY is byte order whatever the database's
// default collation (the suite's ordering checks cannot tell on a database
// created with a C collation).
func TestByteOrderCollation(t *testing.T) {
	s := newStore(t).(*postgres.Store)
	ctx := t.Context()
	for _, c := range [][2]string{
		{"users", "username"},
		{"user_roles", "role"},
		{"roles", "name"},
		{"scopes", "name"},
		{"clients", "id"},
	} {
		var collation *string
		err := postgres.DB(s).QueryRowContext(ctx, `SELECT collation_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`,
			c[0], c[1]).Scan(&collation)
		if err != nil {
			t.Fatalf("collation of %s.%s: %v", c[0], c[1], err)
		}
		if collation == nil || *collation != "C" {
			t.Errorf("collation of %s.%s = %v, want C", c[0], c[1], collation)
		}
	}
}
