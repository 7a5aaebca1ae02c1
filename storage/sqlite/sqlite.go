package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hallpass/hallpass/storage"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ storage.Store = (*Store)(nil)

// Store is the SQLite implementation of storage.Store. It is safe for
// concurrent use.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Open opens (creating it if needed) the SQLite database file at path and
// checks that it is usable. It does not migrate: call Migrate.
//
// The file is opened with busy_timeout(10000), journal_mode(WAL),
// foreign_keys(1) and _txlock=immediate. A new file is created mode 0600,
// and so are its -wal and -shm files; an existing file keeps its mode.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	// database/sql keeps two idle connections by default: after a burst
	// of concurrent requests it closes the rest, and the next burst opens
	// them again, each time re-running the pragmas and re-reading the
	// schema.
	db.SetMaxIdleConns(maxIdleConns)
	s := &Store{db: db, now: time.Now}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	return s, nil
}

// createPrivate creates path empty with mode 0600 unless it exists. The
// database holds sealed signing keys and token digests, so only its owner
// may read it, like the secret file. SQLite would create it 0644; it gives
// the -wal, -shm and -journal files it creates the mode of the database
// file, so making this one 0600 covers them all without touching the
// process umask.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return nil
}

// maxIdleConns is how many idle connections the pool keeps open.
const maxIdleConns = 16

// dsn builds the modernc.org/sqlite data source name for a file path. The
// path is a URI path, so the characters that would end it or start an escape
// are percent-encoded.
func dsn(path string) string {
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + p +
		"?_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)" +
		"&_txlock=immediate"
}

// Ping reports whether the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return mapErr("ping sqlite", err)
	}
	return nil
}

// Close closes the database handle.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close sqlite: %w", err)
	}
	return nil
}

// migration is one embedded schema migration.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations in version order. File names
// are NNNN_description.sql with a positive, unique version.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		prefix, _, ok := strings.Cut(base, "_")
		if !ok {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql", base)
		}
		v, err := strconv.Atoi(prefix)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: version must be a positive integer", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", other, base, v)
		}
		seen[v] = base
		b, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", base, err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	return ms, nil
}

// Migrate applies the embedded migrations that are not yet recorded in
// schema_migrations, each in its own transaction. It is idempotent, and safe
// when several processes run it at once: every migration transaction begins
// IMMEDIATE, so they queue on SQLite's write lock, and each re-checks whether
// its version was applied meanwhile.
func (s *Store) Migrate(ctx context.Context) error {
	if _, ok := s.tx(ctx); ok {
		return errors.New("migrate sqlite: cannot run inside a transaction")
	}
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("migrate sqlite: %w", err)
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("migrate sqlite: %w", err)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, m migration) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration %q: %w", m.name, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx,
		`SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return fmt.Errorf("check migration %q: %w", m.name, err)
	}
	if n > 0 {
		return tx.Rollback()
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("apply migration %q: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version) VALUES (?)`, m.version); err != nil {
		return fmt.Errorf("record migration %q: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration %q: %w", m.name, err)
	}
	return nil
}

// txKey is the context key under which BeginTX stores this Store's
// transaction. It carries the Store so that a transaction of one Store is
// never picked up by another.
type txKey struct{ s *Store }

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) tx(ctx context.Context) (*sql.Tx, bool) {
	tx, ok := ctx.Value(txKey{s}).(*sql.Tx)
	return tx, ok
}

// q returns the transaction carried by ctx, or the database.
func (s *Store) q(ctx context.Context) querier {
	if tx, ok := s.tx(ctx); ok {
		return tx
	}
	return s.db
}

// BeginTX starts an IMMEDIATE transaction (it holds SQLite's write lock until
// it ends) and returns a context carrying it. Every method called with that
// context runs inside the transaction. The transaction is rolled back if ctx
// is cancelled before Commit. Nested transactions are not supported.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := s.tx(ctx); ok {
		return ctx, errors.New("begin transaction: ctx already carries a transaction")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return ctx, mapErr("begin transaction", err)
	}
	return context.WithValue(ctx, txKey{s}, tx), nil
}

// Commit commits the transaction carried by ctx.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := s.tx(ctx)
	if !ok {
		return errors.New("commit: no transaction in ctx")
	}
	if err := tx.Commit(); err != nil {
		return mapErr("commit", err)
	}
	return nil
}

// Rollback rolls back the transaction carried by ctx.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := s.tx(ctx)
	if !ok {
		return errors.New("rollback: no transaction in ctx")
	}
	if err := tx.Rollback(); err != nil {
		return mapErr("rollback", err)
	}
	return nil
}

// inTx runs fn in the transaction carried by ctx, or else in a new one.
func (s *Store) inTx(ctx context.Context, fn func(q querier) error) (err error) {
	if tx, ok := s.tx(ctx); ok {
		return fn(tx)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return mapErr("begin transaction", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return mapErr("commit", err)
	}
	return nil
}

// mapErr wraps err with op, translating "no rows" to storage.ErrNotFound,
// unique-constraint violations and stale write snapshots to
// storage.ErrConflict, foreign-key violations to
// storage.ErrInvalidReference, and marks anything else, a file locked past
// the busy timeout included, storage.ErrUnavailable. Neither
// sql.ErrNoRows nor the driver's error behind a sentinel is wrapped with %w.
func mapErr(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, storage.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch code := se.Code(); {
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE,
			code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY,
			// A write transaction whose snapshot another writer made
			// stale: it lost a race.
			code == sqlite3.SQLITE_BUSY_SNAPSHOT:
			return fmt.Errorf("%s: %w: %v", op, storage.ErrConflict, err)
		case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
			// The file stayed locked past busy_timeout (another process,
			// a backup): the database is not answering, which is ours to
			// report, never "already exists".
			return fmt.Errorf("%s: %w: %v", op, storage.ErrUnavailable, err)
		case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: %w: %v", op, storage.ErrInvalidReference, err)
		}
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return fmt.Errorf("%s: %w", op, err)
	}
	// Anything else is the database failing, not the caller: marked, so
	// no layer above mistakes it for "not found" or bad input.
	return fmt.Errorf("%s: %w: %w", op, storage.ErrUnavailable, err)
}

// Value conversions between Go and the SQLite representation.

// micros encodes t as unix microseconds in UTC, NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros decodes what micros encoded.
func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// blob encodes b, NULL when empty.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// fromBlob decodes what blob encoded: nil when empty.
func fromBlob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// list encodes ss as a JSON array ("[]" when empty).
func list(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	b, err := json.Marshal(ss)
	if err != nil {
		// json.Marshal of a []string cannot fail.
		panic(err)
	}
	return string(b)
}

// listScanner decodes a JSON array column into a []string; empty is nil.
type listScanner struct{ dst *[]string }

func (l listScanner) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*l.dst = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("scan string list: unexpected %T", src)
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("scan string list: %w", err)
	}
	if len(ss) == 0 {
		ss = nil
	}
	*l.dst = ss
	return nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}
