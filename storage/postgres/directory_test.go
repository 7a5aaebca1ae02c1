package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hallpass/hallpass/storage"
)

// TestUpgradeFrom0001 migrates a schema that has only 0001 applied, and
// rows in it, as databases in the field have.
func TestUpgradeFrom0001(t *testing.T) {
	dbURL := testURL(t)
	s := openInSchema(t, dbURL, newSchema(t, dbURL))
	ctx := t.Context()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 || ms[0].version != 1 || ms[1].version != 2 {
		t.Fatalf("migrations: want 0001 and 0002 first, got %d", len(ms))
	}
	if err := s.createMigrationsTable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.applyMigration(ctx, ms[0]); err != nil {
		t.Fatalf("apply 0001: %v", err)
	}
	// Raw SQL: CreateClient writes the columns of later migrations.
	if _, err := s.pool.Exec(ctx, `INSERT INTO clients (id, token_endpoint_auth_method) VALUES ('old-client', 'client_secret_basic')`); err != nil {
		t.Fatalf("insert a client on 0001: %v", err)
	}
	if err := s.CreateToken(ctx, &storage.Token{Kind: storage.KindAccessToken, Signature: "sig", Subject: "old-user"}); err != nil {
		t.Fatalf("CreateToken on 0001: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate from 0001: %v", err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version IN (1, 2)`).Scan(&n); err != nil || n != 2 {
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

// TestInvalidReferenceHidesDriverError checks that a foreign-key violation
// is storage.ErrInvalidReference and does not expose pgx's error type.
func TestInvalidReferenceHidesDriverError(t *testing.T) {
	s := newStore(t).(*Store)
	ctx := t.Context()
	err := s.CreateBrowserSession(ctx, &storage.BrowserSession{ID: "s", UserID: "nobody"})
	var pgErr *pgconn.PgError
	if !errors.Is(err, storage.ErrInvalidReference) || errors.As(err, &pgErr) {
		t.Fatalf("CreateBrowserSession(unknown user) = %v, want storage.ErrInvalidReference without the driver error", err)
	}
	// The foreign-key fallback of the role check, taken when a role is
	// deleted by a concurrent transaction between the check and the insert.
	err = s.inTx(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, `INSERT INTO users (id, username) VALUES ('u', 'u')`); err != nil {
			return err
		}
		return insertUserRoles(ctx, q, "test", "u", []string{"no-such-role"})
	})
	if !errors.Is(err, storage.ErrInvalidReference) || errors.As(err, &pgErr) {
		t.Fatalf("insertUserRoles(unknown role) = %v, want storage.ErrInvalidReference without the driver error", err)
	}
}

// TestByteOrderCollation checks that the columns that lists are ordered by
// use the "C" collation, so that ORDER BY is byte order whatever the database's
// default collation (the suite's ordering checks cannot tell on a database
// created with a C collation).
func TestByteOrderCollation(t *testing.T) {
	s := newStore(t).(*Store)
	ctx := t.Context()
	for _, c := range [][2]string{
		{"users", "username"},
		{"user_roles", "role"},
		{"roles", "name"},
		{"scopes", "name"},
		{"clients", "id"},
	} {
		var collation *string
		err := s.pool.QueryRow(ctx, `SELECT collation_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`,
			c[0], c[1]).Scan(&collation)
		if err != nil {
			t.Fatalf("collation of %s.%s: %v", c[0], c[1], err)
		}
		if collation == nil || *collation != "C" {
			t.Errorf("collation of %s.%s = %v, want C", c[0], c[1], collation)
		}
	}
}
