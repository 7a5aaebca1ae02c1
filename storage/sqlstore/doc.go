// Package sqlstore is the one SQL implementation of storage.Store, on
// database/sql: every query, transaction rule and error mapping of the
// SQLite and PostgreSQL backends is written here once. A backend gives it
// an opened *sql.DB and a Dialect, which holds what the two databases do
// their own way (time and list encoding, a few SQL
// fragments, driver error codes, row locking, retries, and the
// migrations themselves).
//
// Statements are written in the SQL both databases share, with $n
// placeholders, which both drivers bind by number as written. Races are
// decided by primary keys, unique indexes and conditional updates, so
// every backend reports the loser the same way
// (storage.ErrConflict); how a transaction waits for another (SQLite's
// IMMEDIATE transactions, PostgreSQL's row locks) is the dialect's. A
// transaction the database could not order against another (a
// serialization failure, a deadlock) is storage.ErrTransient, not a lost
// race: the Store runs it again (Store.retry) wherever it is not a
// caller's, and InTransaction runs its fn again.
//
// The migration runner is shared; the migrations are the backends' own,
// one set of SQL files per dialect, recorded in schema_migrations.
//
// It imports nothing of hallpass but storage.
package sqlstore
