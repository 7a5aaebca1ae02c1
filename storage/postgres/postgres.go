package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ storage.Store = (*Store)(nil)

// Store is the PostgreSQL implementation of storage.Store: the shared SQL
// store in the PostgreSQL dialect, on a pgx connection pool. It is safe for
// concurrent use.
type Store struct {
	*sqlstore.Store
	db   *sql.DB
	pool *pgxpool.Pool
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
//
// The store runs its statements through database/sql (pgx's stdlib
// driver) on connections of this pool, so the pool's sizes, lifetimes and
// connect timeout apply as configured.
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, hidePassword(fmt.Errorf("open postgres: %w", err), cfg.ConnConfig.Password)
	}
	db := stdlib.OpenDBFromPool(pool)
	// database/sql keeps two idle connections of its own by default and
	// closes the rest after each use, which returns them to the pool only
	// to take them out again for the next statement; it keeps as many as
	// the pool may hold instead. It then also opens no more than that, so
	// that a statement waits in database/sql's queue, where a connection
	// put back is handed on, not in the pool's, which a connection kept
	// idle by database/sql would never reach.
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	// A connection database/sql keeps idle stays taken from the pool,
	// which then never applies its lifetime or idle time to it: they are
	// applied here (pool_max_conn_lifetime, pool_max_conn_idle_time).
	db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	db.SetConnMaxIdleTime(cfg.MaxConnIdleTime)
	s := &Store{Store: sqlstore.New(db, dialect()), db: db, pool: pool}
	// The driver's error as it is, not marked storage.ErrUnavailable as a
	// failure while serving is: whoever opens decides (backend's
	// worthRetrying) whether it is an outage or a refusal, such as a
	// parameter the server does not know, which that mark would misname.
	if err := db.PingContext(ctx); err != nil {
		s.Close()
		return nil, hidePassword(fmt.Errorf("open postgres: ping: %w", err), cfg.ConnConfig.Password)
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

// Close closes the store, then every connection of the pool. It waits for
// connections in use to be released.
func (s *Store) Close() error {
	err := s.Store.Close()
	s.pool.Close()
	return err
}

// dialect is the PostgreSQL dialect of the shared SQL store.
func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:       "postgres",
		Migrations: migrationFS,
		// TIMESTAMPTZ keeps microseconds: truncated here, so that what
		// comes back is what was written.
		EncodeTime: func(t time.Time) any { return t.UTC().Truncate(time.Microsecond) },
		DecodeTime: decodeTime,
		EncodeList: encodeList,
		DecodeList: listDecoder(),
		SortedList: func(column, from string) string {
			return `ARRAY(SELECT ` + column + ` FROM ` + from + ` ORDER BY ` + column + `)`
		},
		ListRows: func(param string) string { return `unnest(` + param + `::text[]) AS t (value)` },
		// ctid is not portable to Postgres-compatible distributed
		// databases: rows are picked by primary key.
		RowID: "",
		// Migrations 0012 and 0013 declared the key columns of
		// user_totp, recovery_codes and passkeys without COLLATE "C".
		ByteOrder: ` COLLATE "C"`,
		ForUpdate: " FOR UPDATE",
		// A locking read before an If-Match's change (LockingReads)
		// holds up no sign-in, consent or token writing rows that refer
		// to the record: their foreign key checks take FOR KEY SHARE.
		ForNoKeyUpdate: " FOR NO KEY UPDATE",
		// A password change's UPDATE waits for it, and it for the
		// UPDATE; a sign-in's confirmation then writes no row version.
		ForShare: " FOR SHARE",
		Classify: classify,
		// Races are decided by unique indexes, row locks and conditional
		// updates, and the loser of one the database could not order
		// (a serialization failure, a deadlock) fails at once: running
		// it again wins.
		Retry: true,

		// Two writes of one request (a code and its session's touch) go
		// in one statement.
		WritesInWith: true,
		MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT      NOT NULL PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`,
		HasMigrationsTable: `SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0 ELSE 1 END`,
		LockMigrations:     `SELECT version FROM schema_migrations WHERE version = 0 FOR UPDATE`,
	}
}

// decodeTime decodes a TIMESTAMPTZ as pgx's stdlib driver returns it.
func decodeTime(src any) (time.Time, error) {
	t, ok := src.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("timestamptz: unexpected %T", src)
	}
	return t, nil
}

// encodeList encodes ss as a TEXT[], '{}' when empty (pgx would send nil
// as NULL).
func encodeList(ss []string) any {
	if ss == nil {
		return []string{}
	}
	return ss
}

// listDecoder returns a decoder for TEXT[] columns, which pgx's stdlib
// driver returns in PostgreSQL's text form ({a,"b c"}), read by pgx's own
// parser. A type map is not safe for concurrent use, so each decode
// borrows one.
func listDecoder() func(text []byte) ([]string, error) {
	maps := &sync.Pool{New: func() any { return pgtype.NewMap() }}
	return func(text []byte) ([]string, error) {
		m := maps.Get().(*pgtype.Map)
		defer maps.Put(m)
		var ss []string
		if err := m.Scan(pgtype.TextArrayOID, pgtype.TextFormatCode, text, &ss); err != nil {
			return nil, fmt.Errorf("text[]: %w", err)
		}
		return ss, nil
	}
}

// classify says what a PostgreSQL error means: unique violations are
// conflicts (a row exists), serialization failures and deadlocks
// transient (the transaction could not be ordered against another and
// may be run again), foreign-key violations invalid references, and
// duplicate_table or duplicate_object the loss of a concurrent CREATE ...
// IF NOT EXISTS. A lock not granted within lock_timeout (55P03) is the
// database failing to give a turn: Other.
func classify(err error) sqlstore.ErrorClass {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return sqlstore.Other
	}
	switch pgErr.Code {
	case "23505": // unique_violation
		return sqlstore.Conflict
	case "40001", // serialization_failure
		"40P01": // deadlock_detected
		return sqlstore.Transient
	case "23503": // foreign_key_violation
		return sqlstore.InvalidReference
	case "42P07", // duplicate_table
		"42710": // duplicate_object
		return sqlstore.DuplicateObject
	}
	return sqlstore.Other
}
