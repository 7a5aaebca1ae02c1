package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hallpass/hallpass/storage"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ storage.Store = (*Store)(nil)

// Store is the PostgreSQL implementation of storage.Store. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// Open connects to the database at url, a postgres:// URL or a keyword/value
// connection string as understood by pgxpool.ParseConfig, and checks that it
// is reachable. It does not migrate: call Migrate. ctx bounds connecting and
// the first ping; connect_timeout in url bounds every connection attempt.
//
// Parameters pgx does not know itself are sent as run-time parameters, so
// e.g. "?search_path=hallpass" selects the schema the tables live in.
//
// No error of Open or OpenConfig shows the password.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := ParseConfig(url)
	if err != nil {
		return nil, err
	}
	return OpenConfig(ctx, cfg)
}

// ParseConfig is pgxpool.ParseConfig with errors that never show the
// connection string: pgx masks the passwords in its parse errors only as
// well as it can guess where they are in a string it failed to parse.
func ParseConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err == nil {
		return cfg, nil
	}
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return nil, errors.New("open postgres: cannot parse the connection string")
	}
	// The error text without the string: what is wrong with it.
	quiet := *pe
	quiet.ConnString = ""
	reason := strings.TrimPrefix(quiet.Error(), "cannot parse ``: ")
	return nil, fmt.Errorf("open postgres: cannot parse the connection string: %s", reason)
}

// OpenConfig is Open for a pool configuration the caller has built or
// adjusted (TLS, pool size, run-time parameters such as search_path).
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, hidePassword(fmt.Errorf("open postgres: %w", err), cfg.ConnConfig.Password)
	}
	s := &Store{pool: pool, now: time.Now}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, hidePassword(fmt.Errorf("open postgres: %w", err), cfg.ConnConfig.Password)
	}
	return s, nil
}

// hidePassword masks password in err's text. pgx's connect errors name the
// user, database and address but not the password; this keeps the promise
// whatever a later pgx or a server message says.
func hidePassword(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &maskedError{text: strings.ReplaceAll(err.Error(), password, "xxxxx"), err: err}
}

// maskedError shows text instead of err's own, while errors.Is and
// errors.As still see err (e.g. context.DeadlineExceeded).
type maskedError struct {
	text string
	err  error
}

func (e *maskedError) Error() string { return e.text }
func (e *maskedError) Unwrap() error { return e.err }

// Ping reports whether the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return mapErr("ping postgres", err)
	}
	return nil
}

// Close closes every connection of the pool. It waits for connections in
// use to be released.
func (s *Store) Close() error {
	s.pool.Close()
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
// schema_migrations, each in its own transaction. It is idempotent and safe
// when several replicas run it at once: each migration transaction first
// locks the row of version 0 (inserted once, standing for the empty schema)
// with SELECT ... FOR UPDATE, so migrations are applied one at a time, and
// then re-checks whether its version was applied meanwhile.
func (s *Store) Migrate(ctx context.Context) error {
	if _, ok := s.tx(ctx); ok {
		return errors.New("migrate postgres: cannot run inside a transaction")
	}
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("migrate postgres: %w", err)
	}
	if err := s.createMigrationsTable(ctx); err != nil {
		return fmt.Errorf("migrate postgres: %w", err)
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("migrate postgres: %w", err)
		}
	}
	return nil
}

// createMigrationsTable creates schema_migrations and its lock row if they
// do not exist yet.
func (s *Store) createMigrationsTable(ctx context.Context) error {
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT      NOT NULL PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`
	for attempt := 1; ; attempt++ {
		_, err := s.pool.Exec(ctx, create)
		if err == nil {
			break
		}
		// Two sessions running CREATE TABLE IF NOT EXISTS at once: the
		// loser fails with a unique violation in the catalog,
		// duplicate_table, or duplicate_object for the table's row type,
		// instead of skipping. Retrying finds the table.
		if attempt < 5 && (hasCode(err, "23505") || hasCode(err, "42P07") || hasCode(err, "42710")) {
			continue
		}
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES (0)
		ON CONFLICT (version) DO NOTHING`); err != nil {
		return fmt.Errorf("create schema_migrations lock row: %w", err)
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, m migration) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin migration %q: %w", m.name, err)
	}
	defer tx.Rollback(ctx) // a no-op once committed
	if _, err := tx.Exec(ctx, `SELECT version FROM schema_migrations WHERE version = 0 FOR UPDATE`); err != nil {
		return fmt.Errorf("lock schema_migrations for %q: %w", m.name, err)
	}
	var applied bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`,
		m.version).Scan(&applied); err != nil {
		return fmt.Errorf("check migration %q: %w", m.name, err)
	}
	if applied {
		return nil
	}
	// Without arguments pgx uses the simple protocol, which runs every
	// statement of the file.
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return fmt.Errorf("apply migration %q: %w", m.name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
		return fmt.Errorf("record migration %q: %w", m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit migration %q: %w", m.name, err)
	}
	return nil
}

// txKey is the context key under which BeginTX stores this Store's
// transaction. It carries the Store so that a transaction of one Store is
// never picked up by another.
type txKey struct{ s *Store }

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) tx(ctx context.Context) (pgx.Tx, bool) {
	tx, ok := ctx.Value(txKey{s}).(pgx.Tx)
	return tx, ok
}

// q returns the transaction carried by ctx, or the pool.
func (s *Store) q(ctx context.Context) querier {
	if tx, ok := s.tx(ctx); ok {
		return tx
	}
	return s.pool
}

// BeginTX starts a transaction and returns a context carrying it. Every
// method called with that context runs inside the transaction. The
// transaction holds a pooled connection until Commit or Rollback, which the
// caller must call. Nested transactions are not supported.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := s.tx(ctx); ok {
		return ctx, errors.New("begin transaction: ctx already carries a transaction")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return ctx, mapErr("begin transaction", err)
	}
	return context.WithValue(ctx, txKey{s}, tx), nil
}

// Commit commits the transaction carried by ctx. A serialization failure is
// reported as storage.ErrConflict.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := s.tx(ctx)
	if !ok {
		return errors.New("commit: no transaction in ctx")
	}
	if err := tx.Commit(ctx); err != nil {
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
	if err := tx.Rollback(ctx); err != nil {
		return mapErr("rollback", err)
	}
	return nil
}

// inTx runs fn in the transaction carried by ctx, or else in a new one.
func (s *Store) inTx(ctx context.Context, fn func(q querier) error) error {
	if tx, ok := s.tx(ctx); ok {
		return fn(tx)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return mapErr("begin transaction", err)
	}
	defer tx.Rollback(ctx) // a no-op once committed
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return mapErr("commit", err)
	}
	return nil
}

// hasCode reports whether err is a PostgreSQL error with SQLSTATE code.
func hasCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// mapErr wraps err with op, translating pgx.ErrNoRows to storage.ErrNotFound,
// unique violations, serialization failures and deadlocks to
// storage.ErrConflict, and foreign-key violations to
// storage.ErrInvalidReference; anything else (a lost connection, a
// timeout) is marked storage.ErrUnavailable. pgx.ErrNoRows is never
// wrapped, and neither is the driver error behind a storage.ErrConflict or
// storage.ErrInvalidReference.
func mapErr(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, storage.ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505", // unique_violation
			"40001", // serialization_failure
			"40P01": // deadlock_detected
			return fmt.Errorf("%s: %w: %v", op, storage.ErrConflict, err)
		case "23503": // foreign_key_violation
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

// affectedOne turns an Exec result that changed no row into
// storage.ErrNotFound.
func affectedOne(tag pgconn.CommandTag, err error, op string) error {
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, storage.ErrNotFound)
	}
	return nil
}

// Value conversions between Go and the PostgreSQL representation.

// ts encodes t in UTC truncated to the microsecond, NULL for the zero time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// fromTS decodes what ts encoded.
func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
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

// list encodes ss as a TEXT[], '{}' when empty (pgx would send nil as NULL).
func list(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// fromList decodes a TEXT[]: nil when empty.
func fromList(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	return ss
}
