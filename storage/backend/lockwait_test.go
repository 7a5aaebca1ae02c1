package backend

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestBoundLockWait checks the lock_timeout OpenBounded gives a
// PostgreSQL connection: --database-timeout in milliseconds, at most
// 2^31-1 (PostgreSQL refuses more), never 0 (no bound), and none where the
// URL sets one, as a parameter or in options (a dash read as an
// underscore); the rest of the URL's settings untouched.
func TestBoundLockWait(t *testing.T) {
	const base = "postgres://u:pw@db.example/hallpass"
	for _, tc := range []struct {
		dsn                                    string
		d                                      time.Duration
		lockTimeout, options, password, dbname string
	}{
		{base, 10 * time.Second, "10000", "", "pw", "hallpass"},
		{base + "?sslmode=disable", 10 * time.Second, "10000", "", "pw", "hallpass"},
		{base + "?options=-c%20search_path%3Dx", 10 * time.Second, "10000", "-c search_path=x", "pw", "hallpass"},
		{base + "?options=-c%20lock_timeout%3D0", 10 * time.Second, "", "-c lock_timeout=0", "pw", "hallpass"},
		{base + "?options=--lock-timeout%3D5s", 10 * time.Second, "", "--lock-timeout=5s", "pw", "hallpass"},
		{base + "?lock_timeout=0", 10 * time.Second, "0", "", "pw", "hallpass"},
		{"postgres://u:p%3Fw@h1:5432,h2:5433/hallpass", 10 * time.Second, "10000", "", "p?w", "hallpass"},
		{base, 1000 * time.Hour, "2147483647", "", "pw", "hallpass"},
		{base, time.Microsecond, "1", "", "pw", "hallpass"},
	} {
		cfg, err := pgconn.ParseConfig(tc.dsn)
		if err != nil {
			t.Fatalf("ParseConfig(%q): %v", tc.dsn, err)
		}
		boundLockWait(cfg.RuntimeParams, tc.d)
		if cfg.RuntimeParams["lock_timeout"] != tc.lockTimeout || cfg.RuntimeParams["options"] != tc.options ||
			cfg.Password != tc.password || cfg.Database != tc.dbname {
			t.Errorf("%q, %v: lock_timeout %q, options %q, password %q, database %q; want %q, %q, %q, %q",
				tc.dsn, tc.d, cfg.RuntimeParams["lock_timeout"], cfg.RuntimeParams["options"], cfg.Password, cfg.Database,
				tc.lockTimeout, tc.options, tc.password, tc.dbname)
		}
	}
}
