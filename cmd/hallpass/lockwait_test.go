package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// TestCommandGivesUpOnHeldLock checks that a command on PostgreSQL whose
// row another transaction holds locked (another admin's, a stuck
// session's) gives up after --database-timeout with exit 1, as SQLite's
// writers give up after their busy timeout, rather than wait for ever:
// a script or cron job running `hallpass users update` hung until killed.
func TestCommandGivesUpOnHeldLock(t *testing.T) {
	db := migrated(t, testdb.Postgres(t))
	if code, out, errOut := cli(t, "maple-cinder-quartz-58\n", "--database", db, "users", "create", "--username", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("users create: exit %d\n%s%s", code, out, errOut)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT id FROM users WHERE username = 'alice' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := cli(t, "", "--database", db, "--database-timeout", "1s", "users", "update", "alice", "--name", "Alice")
		done <- result{code, out, errOut}
	}()
	select {
	case r := <-done:
		if r.code != 1 || !strings.Contains(r.errOut, "lock") || r.out != "" {
			t.Errorf("users update of a locked user: exit %d, want 1 naming the lock\n%s%s", r.code, r.out, r.errOut)
		}
	case <-time.After(time.Minute):
		// Not a timing assertion: without a bound the command never
		// returns, and the test must end to say so.
		t.Fatal("users update of a locked user still waiting after a minute (--database-timeout 1s)")
	}
}

// TestCommandKeepsDatabaseURL checks that the lock_timeout a command adds
// leaves the rest of a PostgreSQL URL as pgx reads it (when the URL was
// written again by net/url, a space in options became '+', which libpq's
// rules keep, so every command failed to connect: "unrecognized
// configuration parameter \"+search_path\""), and that a long
// --database-timeout gives a lock_timeout PostgreSQL takes. Which
// lock_timeout is set: storage/backend's TestBoundLockWait.
func TestCommandKeepsDatabaseURL(t *testing.T) {
	db := migrated(t, testdb.Postgres(t))
	withOptions := db + "&options=-c%20statement_timeout%3D0"
	if code, out, errOut := cli(t, "", "--database", withOptions, "users", "list"); code != 0 {
		t.Errorf("users list on a URL with options: exit %d, want 0\n%s%s", code, out, errOut)
	}
	// PostgreSQL takes at most 2^31-1 ms (24.8 days) for lock_timeout and
	// refused the connection of a longer --database-timeout.
	if code, out, errOut := cli(t, "", "--database", db, "--database-timeout", "1000h", "users", "list"); code != 0 {
		t.Errorf("users list with --database-timeout 1000h: exit %d, want 0\n%s%s", code, out, errOut)
	}

}
