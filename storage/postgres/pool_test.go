package postgres_test

import (
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage/postgres"
)

// TestPoolLifetimeApplies: a connection older than the pool's
// pool_max_conn_lifetime is replaced, though database/sql keeps its
// connections idle for the next statement (an operator relies on it to
// move to a failed-over server or a rotated password).
func TestPoolLifetimeApplies(t *testing.T) {
	cfg, err := postgres.ParseConfig(testdb.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConnLifetime = 200 * time.Millisecond
	cfg.MaxConnLifetimeJitter = 0
	s, err := postgres.OpenConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pid := func() int {
		var p int
		if err := postgres.DB(s).QueryRowContext(t.Context(), `SELECT pg_backend_pid()`).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := pid()
	time.Sleep(500 * time.Millisecond)
	if again := pid(); again == first {
		t.Errorf("backend %d still serves statements after the pool's lifetime of %s", first, cfg.MaxConnLifetime)
	}
}
