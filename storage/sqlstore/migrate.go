package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hallpass/hallpass/storage"
)

// migration is one schema migration of the dialect.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the dialect's migrations in version order. File
// names are NNNN_description.sql with a positive, unique version.
func (s *Store) loadMigrations() ([]migration, error) {
	names, err := fs.Glob(s.d.Migrations, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, file := range names {
		name := path.Base(file)
		prefix, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql", name)
		}
		v, err := strconv.Atoi(prefix)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: version must be a positive integer", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", other, name, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(s.d.Migrations, file)
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	return ms, nil
}

// Migrate applies the migrations that are not yet recorded in
// schema_migrations, each in its own transaction. It is idempotent, and
// safe when several processes or replicas run it at once: migrations are
// applied one at a time, and each re-checks whether its version was
// applied meanwhile.
//
// How they are serialized is the dialect's. In SQLite every migration
// transaction begins IMMEDIATE, so they queue on the database's write
// lock. In PostgreSQL each first locks the row of version 0 (inserted
// once, standing for the empty schema) with SELECT ... FOR UPDATE.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrate(ctx, 0)
}

// PendingMigrations returns the versions of the dialect's migrations not
// recorded in schema_migrations, in order; all of them when the table
// does not exist. It creates nothing.
func (s *Store) PendingMigrations(ctx context.Context) ([]int, error) {
	vs, err := s.Versions()
	if err != nil {
		return nil, err
	}
	r := s.run(s.db)
	var has int
	if err := r.queryRow(ctx, s.d.HasMigrationsTable).Scan(&has); err != nil {
		return nil, fmt.Errorf("%s: look for schema_migrations: %w", s.d.Name, err)
	}
	if has == 0 {
		return vs, nil
	}
	if err := s.refuseNewer(ctx, vs); err != nil {
		return nil, err
	}
	rows, err := r.query(ctx, `SELECT version FROM schema_migrations WHERE version > 0`)
	if err != nil {
		return nil, fmt.Errorf("%s: read schema_migrations: %w", s.d.Name, err)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("%s: read schema_migrations: %w", s.d.Name, err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read schema_migrations: %w", s.d.Name, err)
	}
	return slices.DeleteFunc(vs, func(v int) bool { return applied[v] }), nil
}

// refuseNewer returns storage.ErrSchemaNewer when schema_migrations
// records a version later than the last of known, the versions of this
// release's migrations in order: a later release has migrated the
// database, and this one does not know what its tables now mean. A
// database without schema_migrations is new, never newer.
func (s *Store) refuseNewer(ctx context.Context, known []int) error {
	r := s.run(s.db)
	var has int
	if err := r.queryRow(ctx, s.d.HasMigrationsTable).Scan(&has); err != nil {
		return fmt.Errorf("%s: look for schema_migrations: %w", s.d.Name, err)
	}
	if has == 0 {
		return nil
	}
	var newest int
	if err := r.queryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("%s: read schema_migrations: %w", s.d.Name, err)
	}
	last := 0
	if len(known) > 0 {
		last = known[len(known)-1]
	}
	if newest > last {
		return fmt.Errorf("%w: the %s database is at schema version %d, this hallpass knows versions up to %d: "+
			"a later release migrated it, and this one would misread its tables; run that release or a later one. "+
			"In a rolling upgrade this is a replica of the old release starting after a new one migrated: finish the upgrade instead of restarting old replicas. "+
			"To roll back, restore the backup taken before the upgrade",
			storage.ErrSchemaNewer, s.d.Name, newest, last)
	}
	return nil
}

// Versions returns the versions of the dialect's migrations in the order
// Migrate applies them.
func (s *Store) Versions() ([]int, error) {
	ms, err := s.loadMigrations()
	if err != nil {
		return nil, fmt.Errorf("%s migrations: %w", s.d.Name, err)
	}
	vs := make([]int, len(ms))
	for i, m := range ms {
		vs[i] = m.version
	}
	return vs, nil
}

// MigrateTo is Migrate stopping after version, which must be the version
// of one of the migrations: it leaves the database as a hallpass release
// that knew no later migration left it, e.g. to test upgrading from it.
func (s *Store) MigrateTo(ctx context.Context, version int) error {
	if version <= 0 {
		return fmt.Errorf("migrate %s to version %d: no such version", s.d.Name, version)
	}
	return s.migrate(ctx, version)
}

// migrate applies the migrations up to version, all of them for 0.
func (s *Store) migrate(ctx context.Context, version int) error {
	if _, ok := s.tx(ctx); ok {
		return fmt.Errorf("migrate %s: cannot run inside a transaction", s.d.Name)
	}
	ms, err := s.loadMigrations()
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.d.Name, err)
	}
	known := make([]int, len(ms))
	for i, m := range ms {
		known[i] = m.version
	}
	if version > 0 {
		i := slices.IndexFunc(ms, func(m migration) bool { return m.version == version })
		if i < 0 {
			return fmt.Errorf("migrate %s to version %d: no such version", s.d.Name, version)
		}
		ms = ms[:i+1]
	}
	// Read first, and take no lock when there is nothing to apply: every
	// CLI command and every start migrates, and in SQLite each
	// migration's transaction waits for the write lock, so a command that
	// only reads failed while another process held that lock. The read
	// also refuses a database a later release migrated
	// (storage.ErrSchemaNewer), MigrateTo's included.
	pending, err := s.PendingMigrations(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.d.Name, err)
	}
	if !slices.ContainsFunc(ms, func(m migration) bool { return slices.Contains(pending, m.version) }) {
		return nil
	}
	if s.d.LockMigrations != "" {
		if err := s.createLockRow(ctx); err != nil {
			return fmt.Errorf("migrate %s: %w", s.d.Name, err)
		}
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("migrate %s: %w", s.d.Name, err)
		}
	}
	// A later release may have migrated between the read above and the
	// locks (a rolling upgrade's new replica starting with this one):
	// its migrations were then found applied, and this release would
	// serve from a schema it does not know.
	if err := s.refuseNewer(ctx, known); err != nil {
		return fmt.Errorf("migrate %s: %w", s.d.Name, err)
	}
	return nil
}

// createLockRow creates schema_migrations and the row of version 0 that
// LockMigrations locks, if they do not exist yet, each statement on its
// own: the row must exist before a transaction can wait for it.
func (s *Store) createLockRow(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		_, err := s.db.ExecContext(ctx, s.d.MigrationsTable)
		if err == nil {
			break
		}
		// Two sessions running CREATE TABLE IF NOT EXISTS at once: in
		// PostgreSQL the loser fails with a unique violation in the
		// catalog, duplicate_table, or duplicate_object for the table's
		// row type, instead of skipping. Retrying finds the table.
		if c := s.d.Classify(err); attempt < 5 && (c == Conflict || c == DuplicateObject) {
			continue
		}
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (0)
		ON CONFLICT (version) DO NOTHING`); err != nil {
		return fmt.Errorf("create schema_migrations lock row: %w", err)
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, m migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration %q: %w", m.name, err)
	}
	defer tx.Rollback() // an error once committed, and ignored
	// Unprepared: a migration changes the schema its statements see.
	r := s.run(tx)
	if s.d.LockMigrations == "" {
		// The transaction is exclusive from its start: creating the
		// table in it leaves no window for another process.
		if _, err := r.exec(ctx, s.d.MigrationsTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
	} else if _, err := r.exec(ctx, s.d.LockMigrations); err != nil {
		return fmt.Errorf("lock schema_migrations for %q: %w", m.name, err)
	}
	var n int
	if err := r.queryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`,
		m.version).Scan(&n); err != nil {
		return fmt.Errorf("check migration %q: %w", m.name, err)
	}
	if n > 0 {
		return nil
	}
	// Without arguments both drivers run every statement of the file
	// (pgx then uses the simple protocol).
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("apply migration %q: %w", m.name, err)
	}
	if _, err := r.exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
		return fmt.Errorf("record migration %q: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration %q: %w", m.name, err)
	}
	return nil
}
