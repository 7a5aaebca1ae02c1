package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/backend"
	"github.com/hallpass/hallpass/storage/postgres"
)

// EnvURL names the variable that points the PostgreSQL tests at a database.
const EnvURL = "HALLPASS_TEST_DATABASE_URL"

// EnvCI names the variable CI sets: tests that would skip fail instead.
const EnvCI = "HALLPASS_CI"

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

// PostgresURL returns the EnvURL database's URL. Without EnvURL the test
// is skipped with instructions, except under CI (HALLPASS_CI set), where
// skipping would hide a broken setup: this is the one place that rule
// lives, for every PostgreSQL test.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv(EnvCI) != "" {
			t.Fatalf("%s is not set in CI", EnvURL)
		}
		t.Skipf("set %s=postgres://postgres@127.0.0.1:5432/hallpass_test?sslmode=disable to run the PostgreSQL tests", EnvURL)
	}
	return base
}

// Postgres creates a schema with a random name in the EnvURL database and
// returns a URL whose connections use it (its search_path parameter); the
// schema is dropped when t ends. Every store opened on the URL shares the
// schema, as replicas share a database. Without EnvURL, see PostgresURL.
func Postgres(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
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
		// A connection a failed test left in a transaction holds locks
		// on the schema: fail then rather than wait for it forever.
		if _, err := conn.Exec(ctx, "SET lock_timeout = '10s'"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
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

// PostgresCollated creates a database with a random name on the EnvURL
// server whose default collation is ICU's for locale (e.g. "en-US", where
// "b" sorts before "B"), as a production database created with a
// language's locale has, and returns its URL; the database is dropped
// when t ends. Columns declared without a collation take that one. It
// needs PostgreSQL 15 with ICU. Without EnvURL, see PostgresURL.
func PostgresCollated(t testing.TB, locale string) string {
	t.Helper()
	base := PostgresURL(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "hallpass_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{name}.Sanitize()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	create := "CREATE DATABASE " + ident + " TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE '" +
		strings.ReplaceAll(locale, "'", "''") + "'"
	if _, err := conn.Exec(ctx, create); err != nil {
		t.Fatalf("create a database collated for %s (PostgreSQL 15 with ICU): %v", locale, err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// OpenPostgres opens the database dsn (from Postgres) as the PostgreSQL
// store itself, for tests of what only it has, without migrating it, so
// that several stores can share one schema (call Migrate on one). params
// are more run-time parameters for every connection, e.g.
// default_transaction_isolation. The store is closed when t ends.
func OpenPostgres(t testing.TB, dsn string, params map[string]string) *postgres.Store {
	t.Helper()
	cfg, err := postgres.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	for k, v := range params {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	s, err := postgres.OpenConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open %s: %v", backend.Redact(dsn), err)
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

// SignedIn stores browser session id (its sid "sid-"+id) of userID, signed
// in and seen at now and expiring an hour later, and records that it
// signed in to each of clientIDs, as a sign-in through those apps leaves
// it: what ending the session must then tell (back-channel logout).
func SignedIn(t testing.TB, st storage.Store, userID, id string, now time.Time, clientIDs ...string) {
	t.Helper()
	ctx := context.Background()
	sid := "sid-" + id
	if err := st.CreateBrowserSession(ctx, &storage.BrowserSession{ID: id, SID: sid, UserID: userID,
		AuthTime: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
		t.Fatalf("create browser session %s: %v", id, err)
	}
	for _, c := range clientIDs {
		if err := st.PutSessionClient(ctx, &storage.SessionClient{SID: sid, ClientID: c, UserID: userID, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatalf("record client %s of session %s: %v", c, id, err)
		}
	}
}
