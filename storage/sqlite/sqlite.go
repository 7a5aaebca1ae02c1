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
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ storage.Store = (*Store)(nil)

// Store is the SQLite implementation of storage.Store: the shared SQL
// store in the SQLite dialect. It is safe for concurrent use.
type Store struct {
	*sqlstore.Store
	db *sql.DB
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
	s := &Store{Store: sqlstore.New(db, dialect()), db: db}
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

// busyTimeout is how long a writer waits for the write lock.
const busyTimeout = 10 * time.Second

// maxIdleConns is how many idle connections the pool keeps open.
const maxIdleConns = 16

// dsn builds the modernc.org/sqlite data source name for a file path. The
// path is a URI path, so the characters that would end it or start an escape
// are percent-encoded.
func dsn(path string) string {
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + p +
		"?_pragma=busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)" +
		"&_txlock=immediate"
}

// dialect is the SQLite dialect of the shared SQL store. The store's $n
// placeholders need no rewriting: SQLite takes $1 for a parameter named
// "$1", and modernc.org/sqlite binds such a name to the argument of that
// ordinal (TestDollarPlaceholders).
func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name: "sqlite",
		// modernc's driver parses and plans every statement it is given;
		// prepared once per connection, a signed-in flow costs about a
		// tenth less CPU (README "Sizing").
		PrepareStatements: true,
		// modernc's driver starts a goroutine to interrupt each
		// statement run with a cancellable context, and database/sql
		// one to close each result set: five statements cost a
		// signed-in flow about a tenth of a millisecond of scheduling.
		// A request's statements take microseconds; one that was
		// cancelled before its statement starts is still refused.
		DetachStatements: true,
		Migrations:       migrationFS,
		EncodeTime:       func(t time.Time) any { return t.UnixMicro() },
		DecodeTime:       decodeTime,
		EncodeList:       encodeList,
		DecodeList:       decodeList,
		SortedList: func(column, from string) string {
			return `(SELECT json_group_array(` + column + ` ORDER BY ` + column + `) FROM ` + from + `)`
		},
		ListRows: func(param string) string { return `json_each(` + param + `)` },
		// Every table is a rowid table.
		RowID: "rowid",
		// Text compares by bytes (BINARY) unless a column says else.
		ByteOrder: "",
		// Every transaction begins IMMEDIATE (_txlock), holding the
		// write lock from its start.
		ForUpdate: "",
		// Readers read the last commit without waiting for the
		// writer: only taking the write lock waits for it.
		ForShare: "",
		Classify: classify,
		// The busy timeout has made the loser of a race wait already.
		Retry: false,
		// SQLite takes one writer at a time and has the others poll
		// for the lock, sleeping up to 100 ms between tries: queued in
		// the process instead, 16 concurrent sign-ins no longer wait
		// hundreds of milliseconds for a free lock (README "Sizing"),
		// and since each commit writes the WAL and syncs it, the
		// writers that queued while one committed share the next
		// commit. The busy timeout still covers writers of other
		// processes.
		WriterWait: busyTimeout,
		MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
	)`,
		HasMigrationsTable: `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`,
		LockMigrations:     "",
	}
}

// decodeTime decodes a time stored as INTEGER unix microseconds.
func decodeTime(src any) (time.Time, error) {
	n, ok := src.(int64)
	if !ok {
		return time.Time{}, fmt.Errorf("unix microseconds: unexpected %T", src)
	}
	return time.UnixMicro(n), nil
}

// encodeList encodes ss as a JSON array in TEXT, "[]" when empty.
func encodeList(ss []string) any {
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

// decodeList decodes what encodeList encoded.
func decodeList(text []byte) ([]string, error) {
	var ss []string
	if err := json.Unmarshal(text, &ss); err != nil {
		return nil, err
	}
	return ss, nil
}

// classify says what an SQLite error means: unique-constraint violations
// are conflicts (a row exists), a write whose snapshot another writer
// made stale is transient (it may be run again; storage.ErrTransient),
// foreign-key violations invalid references. A file locked past the busy
// timeout (another process, a backup) is the database not giving a turn
// within its wait: Other, so storage.ErrUnavailable, never "already
// exists".
func classify(err error) sqlstore.ErrorClass {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return sqlstore.Other
	}
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE,
		code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.Conflict
	case code == sqlite3.SQLITE_BUSY_SNAPSHOT:
		return sqlstore.Transient
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.InvalidReference
	}
	return sqlstore.Other
}
