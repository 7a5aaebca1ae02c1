package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/sqlite"
	"github.com/hallpass/hallpass/storage/storagetest"
)

// newStore opens and migrates a fresh database file in t.TempDir().
func newStore(t *testing.T) storage.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hallpass.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, newStore)
}

func TestConcurrency(t *testing.T) {
	storagetest.RunConcurrency(t, newStore)
}

// newReplicas opens n stores on one fresh database file, as n processes
// sharing it would, and migrates it.
func newReplicas(t *testing.T, n int) []storage.Store {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	stores := make([]storage.Store, n)
	for i := range stores {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close %d: %v", i, err)
			}
		})
		stores[i] = s
	}
	if err := stores[0].Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return stores
}

func TestReplicas(t *testing.T) {
	storagetest.RunReplicas(t, newReplicas)
}

// TestPathEscaping opens a file whose name holds URI-significant characters.
func TestPathEscaping(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odd name?x=1#frag%20.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at %q: %v", path, err)
	}
}

// TestNoDriverErrors checks that not-found errors do not expose
// sql.ErrNoRows, and that a nested BeginTX is refused.
func TestNoDriverErrors(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	_, err := s.GetClient(ctx, "missing")
	if !errors.Is(err, storage.ErrNotFound) || errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("GetClient(missing) = %v, want storage.ErrNotFound and not sql.ErrNoRows", err)
	}
	tx, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatalf("BeginTX: %v", err)
	}
	defer s.Rollback(tx)
	if _, err := s.BeginTX(tx); err == nil {
		t.Fatal("nested BeginTX succeeded, want an error")
	}
}

// TestFilesPrivate: a new database, its -wal and its -shm file are
// readable by their owner only, like the secret file; a file that exists
// keeps the mode its owner gave it.
func TestFilesPrivate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hallpass.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := s.CreateSetting(ctx, "x", []byte("y")); err != nil {
		t.Fatalf("write: %v", err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), m)
		}
	}

	shared := filepath.Join(t.TempDir(), "shared.db")
	if err := os.WriteFile(shared, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o640); err != nil {
		t.Fatal(err)
	}
	s2, err := sqlite.Open(ctx, shared)
	if err != nil {
		t.Fatalf("open existing: %v", err)
	}
	defer s2.Close()
	if err := s2.Migrate(ctx); err != nil {
		t.Fatalf("migrate existing: %v", err)
	}
	if fi, err := os.Stat(shared); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("existing file's mode changed: %v %v", fi.Mode(), err)
	}
}

// TestLockedFileIsUnavailable: a database file another process holds
// locked past the busy timeout (a backup, a stuck CLI command) makes
// writes fail as storage.ErrUnavailable, a failure of the store, never
// ErrConflict, which callers answer "already exists" or treat as a lost
// race. It waits out the 10 s busy timeout once.
func TestLockedFileIsUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the 10 s busy timeout")
	}
	path := filepath.Join(t.TempDir(), "locked.db")
	ctx := t.Context()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("lock the file: %v", err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	err = s.CreateRole(ctx, &storage.Role{Name: "auditor"})
	if !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, storage.ErrConflict) {
		t.Fatalf("CreateRole on a locked file: %v, want storage.ErrUnavailable and not ErrConflict", err)
	}
}

// TestMigrateUpToDateTakesNoLock: Migrate on a database that lacks no
// migration only reads, so it succeeds while another process holds the
// file's write lock (a long transaction, a stuck command). Every CLI
// command and every start migrates: `hallpass users list` must not wait
// for, and fail on, a lock it has no use for. The deadline only bounds
// the wait of a Migrate that takes the lock.
func TestMigrateUpToDateTakesNoLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	ctx := t.Context()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("lock the file: %v", err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	again, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open the locked file: %v", err)
	}
	t.Cleanup(func() { again.Close() })
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := again.Migrate(wctx); err != nil {
		t.Fatalf("Migrate of an up-to-date database while another process holds the write lock: %v", err)
	}
}

// TestWritersTakeTurns checks the queue of the store's own writers: a
// transaction waits while another holds the turn to write and goes on
// once it commits; a transaction whose context ends gives its turn back
// even if nobody rolls it back; and a writer whose context ends while it
// waits gives up with storage.ErrUnavailable.
func TestWritersTakeTurns(t *testing.T) {
	s := newStore(t)
	bg := context.Background()
	first, err := s.BeginTX(bg)
	if err != nil {
		t.Fatal(err)
	}
	began := make(chan error, 1)
	var second context.Context
	go func() {
		var err error
		second, err = s.BeginTX(bg)
		began <- err
	}()
	select {
	case err := <-began:
		t.Fatalf("a second transaction began while the first held the turn (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := s.SetClientAssertionJTI(first, "jti-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(first); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-began:
		if err != nil {
			t.Fatalf("second transaction: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second transaction did not begin once the first committed")
	}
	if err := s.Rollback(second); err != nil {
		t.Fatal(err)
	}

	// Abandoned: its context ends, and nobody calls Rollback.
	ctx, cancel := context.WithCancel(bg)
	if _, err := s.BeginTX(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	wait, stop := context.WithTimeout(bg, 5*time.Second)
	defer stop()
	if err := s.SetClientAssertionJTI(wait, "jti-2", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("write after an abandoned transaction: %v", err)
	}

	held, err := s.BeginTX(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback(held)
	short, stop2 := context.WithTimeout(bg, 50*time.Millisecond)
	defer stop2()
	if _, err := s.BeginTX(short); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("BeginTX whose context ended while it waited: %v, want storage.ErrUnavailable", err)
	}
	if err := s.SetClientAssertionJTI(short, "jti-3", time.Now().Add(time.Hour)); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("write whose context ended while it waited: %v, want storage.ErrUnavailable", err)
	}
}
