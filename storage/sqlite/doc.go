// Package sqlite implements storage.Store on an SQLite database file through
// modernc.org/sqlite (pure Go, no cgo). It is hallpass's embedded default
// backend.
//
// It opens the file and owns the SQLite dialect of the shared SQL store
// (storage/sqlstore): the forward-only migrations embedded from
// migrations/*.sql, how values are encoded, and what SQLite's error codes
// mean. It imports nothing of hallpass but storage and storage/sqlstore.
//
// Representation: times are INTEGER unix microseconds in UTC (NULL for the
// zero time), []string fields are JSON arrays in TEXT, bools are 0/1. Times
// are truncated to the microsecond on write and read back in UTC; empty lists
// and empty byte slices read back as nil.
//
// The database is opened in WAL mode with BEGIN IMMEDIATE transactions and a
// busy timeout, so concurrent writers queue for the write lock instead of
// failing. Several processes may share one file.
package sqlite
