// Package postgres implements storage.Store on PostgreSQL through
// jackc/pgx/v5: a pgxpool connection pool, used through database/sql by
// pgx's stdlib driver. It is hallpass's production backend.
//
// It connects and owns the PostgreSQL dialect of the shared SQL store
// (storage/sqlstore): the forward-only migrations embedded from
// migrations/*.sql, how values are encoded, and what PostgreSQL's error
// codes mean. It imports nothing of hallpass but storage and
// storage/sqlstore.
//
// The SQL stays portable to Postgres-compatible distributed databases: row
// locks (SELECT ... FOR UPDATE, or LockKeys', LockUsernames' and
// LockNames' UPDATE of the one row of key_lock, username_lock and
// name_lock) instead of advisory locks, rows picked by primary key rather than ctid,
// no LISTEN/NOTIFY, no extensions. Transactions run at the database's
// default isolation level; races are decided by unique indexes and
// conditional updates. Unique violations (23505) surface as
// storage.ErrConflict; serialization failures (40001) and deadlocks
// (40P01) as storage.ErrTransient (also storage.ErrUnavailable), which the
// store runs again where it can: InTransaction when it began the
// transaction, and the store's own statements and transactions outside a
// caller's (DeleteExpired, UpdateThrottle, AppendAudit...).
//
// Representation: times are TIMESTAMPTZ (NULL for the zero time), truncated
// to the microsecond on write and read back in UTC; []string fields are
// TEXT[]; empty lists and empty byte slices read back as nil.
package postgres
