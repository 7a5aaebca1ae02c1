package sqlstore

import (
	"io/fs"
	"time"
)

// Dialect is what one SQL database does its own way. The Store writes every
// statement once, in the common SQL of SQLite and PostgreSQL with $n
// placeholders, and asks the dialect for the rest: how values are encoded,
// the few fragments that have no common spelling, what a driver error
// means, and how migrations are serialized.
//
// Every field must be set unless its comment says otherwise.
type Dialect struct {
	// Name names the database in errors: "ping sqlite", "migrate postgres".
	Name string
	// PrepareStatements makes the Store prepare each statement once and
	// reuse it, for a driver that would parse it on every call otherwise.
	PrepareStatements bool
	// DetachStatements runs each statement outside a transaction without
	// its context's cancellation, once the context is checked not done
	// (a done one still refuses the statement): for a driver that starts
	// a goroutine per statement to interrupt it (modernc's SQLite;
	// database/sql starts another per result set), which costs more
	// than the in-process statements it could cut short.
	DetachStatements bool

	// Migrations holds the dialect's forward-only schema migrations:
	// migrations/NNNN_description.sql, with positive, unique versions.
	Migrations fs.FS

	// EncodeTime encodes a time that is not zero for a parameter; the
	// Store passes NULL for the zero time itself.
	EncodeTime func(t time.Time) any
	// DecodeTime decodes a non-NULL time column as the driver returns it.
	DecodeTime func(src any) (time.Time, error)
	// EncodeList encodes a []string for a parameter, an empty list
	// included (never NULL: list columns are NOT NULL).
	EncodeList func(ss []string) any
	// DecodeList decodes the text of a non-NULL list column.
	DecodeList func(text []byte) ([]string, error)

	// SortedList returns an expression whose value is the list, in byte
	// order, of column over the rows of from (a table and its WHERE
	// clause), in the encoding DecodeList reads; an empty list when there
	// is none.
	SortedList func(column, from string) string
	// ListRows returns a table expression with one row per element of the
	// list parameter param (e.g. "$1", encoded by EncodeList), in a column
	// named value.
	ListRows func(param string) string
	// RowID names the column that identifies a row of any table more
	// cheaply than its primary key (SQLite's rowid). Empty: use the
	// primary key.
	RowID string
	// ByteOrder is appended to a text column in ORDER BY to order it
	// in byte order whatever its collation: for a column declared
	// without one, which takes the database's default (PostgreSQL's,
	// e.g. en-US, where "b" sorts before "B"). Empty where every text
	// column compares by bytes (SQLite's BINARY).
	ByteOrder string
	// ForUpdate is appended to a SELECT that must lock the rows it reads
	// until the transaction ends; empty where every write transaction
	// already holds the database's one write lock.
	ForUpdate string
	// ForNoKeyUpdate is appended to a SELECT that must lock the rows it
	// reads against a concurrent change until the transaction ends, but
	// not against rows of other tables that refer to them: PostgreSQL's
	// FOR NO KEY UPDATE, the lock an UPDATE that leaves the key alone
	// takes, which foreign key checks (FOR KEY SHARE) do not wait for.
	// Empty where ForUpdate is.
	ForNoKeyUpdate string
	// ForShare is appended to a SELECT that must wait for a concurrent
	// change of the rows it reads to commit and then judge them as
	// changed, without writing them (PostgreSQL's FOR SHARE, which at
	// READ COMMITTED re-checks a row once its writer commits). Empty
	// where a reader does not wait for a writer (SQLite, whose readers
	// read the last commit): the Store then writes the row, a no-op
	// update, to wait for the lock.
	ForShare string
	// WritesInWith: a statement may write in its WITH clause
	// (PostgreSQL's data-modifying CTEs), so that two writes to different
	// tables cost one statement, one round trip, instead of a transaction
	// of two. Without it (SQLite), they run as a transaction.
	WritesInWith bool

	// Classify says what a driver error means for the caller.
	Classify func(err error) ErrorClass
	// Retry reports whether a transaction the database could not order
	// (ErrorClass Transient), or one of the Store's own that lost a race
	// a retry wins (Conflict, where Store.retryRaces says so), is worth
	// running again: true where the database fails the loser at once
	// (a serialization failure, a deadlock), false where the loser has
	// already waited for the lock (SQLite's busy timeout) and running
	// again would only wait again.
	Retry bool
	// WriterWait, when positive, makes the Store queue its own writers
	// (every transaction and every statement outside one that Exec runs)
	// so that one writes at a time, each waiting its turn for at most
	// this long, and share the turn: the one that gets it runs the
	// statements and transactions of its own of all writers queued so
	// far in one transaction, each in a savepoint, and commits once
	// (group commit). For a database that takes one writer at a time,
	// makes the others poll for its lock, and whose commit costs a write
	// and a sync of its log (SQLite's WAL). A transaction begun with
	// BeginTX takes the turn for itself. Zero: writers go to the
	// database together, each committing alone.
	WriterWait time.Duration

	// MigrationsTable creates schema_migrations if it does not exist.
	MigrationsTable string
	// HasMigrationsTable is a query of one integer: 1 if
	// schema_migrations exists (where an unqualified name finds it), 0 if
	// not.
	HasMigrationsTable string
	// LockMigrations, when not empty, is run at the start of every
	// migration transaction to serialize migrations among processes:
	// a statement that locks the row of version 0, which Migrate then
	// inserts once. Empty where the transaction itself is exclusive.
	LockMigrations string
}

// ErrorClass is what a driver error means for the caller of the Store.
type ErrorClass int

const (
	// Other is a failure of the database (a lock not granted within
	// its timeout included): storage.ErrUnavailable.
	Other ErrorClass = iota
	// Conflict is a write that lost to an existing row (a unique
	// violation): storage.ErrConflict.
	Conflict
	// Transient is a transaction the database could not order against
	// a concurrent one and rolled back (a serialization failure, a
	// deadlock): storage.ErrTransient, which is also
	// storage.ErrUnavailable. Running it again may succeed.
	Transient
	// InvalidReference is a foreign-key violation:
	// storage.ErrInvalidReference.
	InvalidReference
	// DuplicateObject is a CREATE ... IF NOT EXISTS that lost to a
	// concurrent one creating the same object: Migrate runs it again.
	DuplicateObject
)
