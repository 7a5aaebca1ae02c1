// Package testdb gives tests fresh, empty databases on every storage
// backend: an SQLite file in a temporary directory, and a PostgreSQL schema
// of its own in the database HALLPASS_TEST_DATABASE_URL names.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/backend"
)

// EnvURL names the variable that points the PostgreSQL tests at a database.
const EnvURL = "HALLPASS_TEST_DATABASE_URL"

// Backend is one storage backend tests run against.
type Backend struct {
	Name string
	// DSN returns the HALLPASS_DATABASE value of a fresh, empty database
	// that is removed when t ends.
	DSN func(t testing.TB) string
}

// Backends lists every backend: SQLite always, PostgreSQL when EnvURL is set
// (its DSN skips the test otherwise, or fails it in CI).
func Backends() []Backend {
	return []Backend{{Name: "sqlite", DSN: SQLite}, {Name: "postgres", DSN: Postgres}}
}

// SQLite returns a DSN for a new SQLite file in t's temporary directory.
func SQLite(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "hallpass.db")
}

// Postgres creates a schema with a random name in the EnvURL database and
// returns a URL whose connections use it; the schema is dropped when t
// ends. Without EnvURL the test is skipped with instructions, except under
// CI (HALLPASS_CI set), where skipping would hide a broken setup.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv("HALLPASS_CI") != "" {
			t.Fatalf("%s is not set in CI", EnvURL)
		}
		t.Skipf("set %s=postgres://postgres@127.0.0.1:5432/hallpass_test?sslmode=disable to run the PostgreSQL tests", EnvURL)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "hallpass_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens and migrates the database dsn names, closing it when t ends.
func Open(t testing.TB, dsn string) storage.Store {
	t.Helper()
	s, err := backend.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", backend.Redact(dsn), err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}
