package sqlite

import (
	"errors"
	"path/filepath"
	"testing"

	"modernc.org/sqlite"

	"github.com/hallpass/hallpass/storage"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "hallpass.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestUpgradeFrom0001 migrates a database that has only 0001 applied, and
// rows in it, as databases in the field have.
func TestUpgradeFrom0001(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 || ms[0].version != 1 || ms[1].version != 2 {
		t.Fatalf("migrations: want 0001 and 0002 first, got %v", ms)
	}
	if err := s.applyMigration(ctx, ms[0]); err != nil {
		t.Fatalf("apply 0001: %v", err)
	}
	// Raw SQL: CreateClient writes the columns of later migrations.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO clients (id, token_endpoint_auth_method) VALUES ('old-client', 'client_secret_basic')`); err != nil {
		t.Fatalf("insert a client on 0001: %v", err)
	}
	if err := s.CreateToken(ctx, &storage.Token{Kind: storage.KindAccessToken, Signature: "sig", Subject: "old-user"}); err != nil {
		t.Fatalf("CreateToken on 0001: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate from 0001: %v", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version IN (1, 2)`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("schema_migrations after upgrade: %d rows of versions 1 and 2, err %v", n, err)
	}
	if err := s.CreateUser(ctx, &storage.User{ID: "old-user", Username: "old"}); err != nil {
		t.Fatalf("CreateUser after upgrade: %v", err)
	}
	if err := s.PutConsent(ctx, &storage.Consent{UserID: "old-user", ClientID: "old-client"}); err != nil {
		t.Fatalf("PutConsent to a client created before the upgrade: %v", err)
	}
	if err := s.DeleteUser(ctx, "old-user"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetToken(ctx, storage.KindAccessToken, "sig"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetToken of a token created before the upgrade, after DeleteUser of its subject: %v", err)
	}
	c, err := s.GetClient(ctx, "old-client")
	if err != nil {
		t.Fatalf("GetClient after upgrade: %v", err)
	}
	// 0005: a client from before must use PKCE and serves no resource.
	if c.PKCEOptional || len(c.ResourceServers) != 0 {
		t.Errorf("client from before 0005: PKCEOptional %v, ResourceServers %q; want false and none", c.PKCEOptional, c.ResourceServers)
	}
}

// TestForeignKeysOnEveryConnection checks that every pooled connection
// enforces foreign keys: ON DELETE CASCADE depends on it.
func TestForeignKeysOnEveryConnection(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	const n = 4
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := s.db.Conn(ctx) // held, so each iteration gets a new connection
		if err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		conns = append(conns, c)
		var on int
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&on); err != nil {
			t.Fatalf("conn %d: PRAGMA foreign_keys: %v", i, err)
		}
		if on != 1 {
			t.Fatalf("conn %d: foreign_keys = %d, want 1", i, on)
		}
	}
}

// TestInvalidReferenceHidesDriverError checks that a foreign-key violation
// is storage.ErrInvalidReference and does not expose the driver's error.
func TestInvalidReferenceHidesDriverError(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	err := s.CreateBrowserSession(ctx, &storage.BrowserSession{ID: "s", UserID: "nobody"})
	var se *sqlite.Error
	if !errors.Is(err, storage.ErrInvalidReference) || errors.As(err, &se) {
		t.Fatalf("CreateBrowserSession(unknown user) = %v, want storage.ErrInvalidReference without the driver error", err)
	}
	// The foreign-key fallback of the role check, taken when a role is
	// deleted between the check and the insert.
	err = s.inTx(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO users (id, username) VALUES ('u', 'u')`); err != nil {
			return err
		}
		return insertUserRoles(ctx, q, "test", "u", []string{"no-such-role"})
	})
	if !errors.Is(err, storage.ErrInvalidReference) || errors.As(err, &se) {
		t.Fatalf("insertUserRoles(unknown role) = %v, want storage.ErrInvalidReference without the driver error", err)
	}
}
