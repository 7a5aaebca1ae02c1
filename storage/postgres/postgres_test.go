package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/storagetest"
)

const urlEnv = "HALLPASS_TEST_DATABASE_URL"

// testURL returns the test database URL, skipping the test when it is unset.
func testURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		t.Skip("set " + urlEnv + "=postgres://postgres@127.0.0.1:5432/hallpass_test?sslmode=disable to run the PostgreSQL tests")
	}
	return u
}

// newSchema creates a schema with a random name and drops it when the test
// ends. An unreachable database fails the test: CI must not skip silently.
func newSchema(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "hallpass_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", urlEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Errorf("connect to drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "SET lock_timeout = '10s'"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openInSchema opens a Store whose connections use schema as search_path.
func openInSchema(t *testing.T, dbURL, schema string) *Store {
	t.Helper()
	return openInSchemaWith(t, dbURL, schema, nil)
}

// openInSchemaWith is openInSchema with more run-time parameters, e.g.
// default_transaction_isolation.
func openInSchemaWith(t *testing.T, dbURL, schema string, params map[string]string) *Store {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("parse %s: %v", urlEnv, err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	for k, v := range params {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	s, err := OpenConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		// Close waits for every connection to be released; a transaction
		// left open by a failed test would make it wait forever.
		done := make(chan struct{})
		go func() {
			s.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("close: a connection is still in use (a transaction left open?)")
		}
	})
	return s
}

// newStore returns a migrated Store in a fresh schema.
func newStore(t *testing.T) storage.Store {
	t.Helper()
	dbURL := testURL(t)
	s := openInSchema(t, dbURL, newSchema(t, dbURL))
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	testURL(t)
	storagetest.Run(t, newStore)
}

func TestConcurrency(t *testing.T) {
	testURL(t)
	storagetest.RunConcurrency(t, newStore)
}

// newReplicas opens n stores (n pools, as n replicas have) on one fresh
// schema and migrates it.
func newReplicas(t *testing.T, n int) []storage.Store {
	t.Helper()
	dbURL := testURL(t)
	schema := newSchema(t, dbURL)
	stores := make([]storage.Store, n)
	for i := range stores {
		stores[i] = openInSchema(t, dbURL, schema)
	}
	if err := stores[0].Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return stores
}

func TestReplicas(t *testing.T) {
	testURL(t)
	storagetest.RunReplicas(t, newReplicas)
}

// TestOpenSearchPath checks that a search_path parameter in the URL is sent
// as a run-time parameter, so Open alone can select a schema.
func TestOpenSearchPath(t *testing.T) {
	dbURL := testURL(t)
	schema := newSchema(t, dbURL)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", urlEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	ctx := t.Context()
	s, err := Open(ctx, u.String())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	var got string
	if err := s.db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&got); err != nil {
		t.Fatalf("current_schema: %v", err)
	}
	if got != schema {
		t.Fatalf("current_schema() = %q, want %q", got, schema)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = $1 AND table_name = 'clients'`, schema).Scan(&n); err != nil {
		t.Fatalf("look up clients table: %v", err)
	}
	if n != 1 {
		t.Fatalf("clients table not created in schema %s", schema)
	}
}

func TestMigrations(t *testing.T) {
	dbURL := testURL(t)
	storagetest.RunMigrations(t, func(t *testing.T, n int) ([]storagetest.Migrator, *sql.DB) {
		schema := newSchema(t, dbURL)
		stores := make([]storagetest.Migrator, n)
		var db *sql.DB
		for i := range stores {
			s := openInSchema(t, dbURL, schema)
			stores[i], db = s, s.db
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
