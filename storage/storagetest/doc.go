// Package storagetest is the conformance suite every storage.Store backend
// must pass. It owns the executable meaning of the storage contract: what
// each method returns, which errors are sentinels (storage.ErrNotFound,
// storage.ErrConflict, matched with errors.Is), how times, lists and bytes
// round-trip, and how transactions and concurrent writers behave.
//
// A backend's test calls Run and RunConcurrency with a constructor that
// returns a fresh, empty, migrated store for every call:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, newStore)
//		storagetest.RunConcurrency(t, newStore)
//	}
//
// and RunReplicas with a constructor that returns several stores on one
// fresh database, as several hallpass processes would open it.
// RunMigrations upgrades databases that older releases left and migrates
// one database from several stores at once; its constructor returns stores
// no migration has touched, which can also migrate part of the way
// (Migrator), and a database/sql handle for raw SQL.
//
// Round-trip rules the suite enforces: every time comes back in UTC,
// truncated to the microsecond, with the zero time.Time coming back zero; an
// empty []string or []byte may come back nil or empty (the suite treats them
// as equal).
//
// It imports only storage and the standard library, so it is safe to import
// from any backend's tests.
package storagetest
