package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
	"github.com/hallpass/hallpass/storage/sqlstore"
)

// TestCodeExchangePlansByPrimaryKey checks the plans PostgreSQL keeps for
// the statements a code exchange runs on the tokens table. pgx prepares
// each statement once per connection, and after five runs PostgreSQL may
// keep one generic plan for it, made from the statistics of that moment,
// until the table is next analyzed. On a new database that moment is an
// empty table, which then grows by a row per sign-in: a plan that scans
// the table, or an index matched on kind alone (five values), costs time
// in proportion to the table's size on every exchange until autovacuum
// catches up. Each statement must find its rows by the primary key even
// in a generic plan made on an empty, never analyzed table.
func TestCodeExchangePlansByPrimaryKey(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()

	var (
		mu   sync.Mutex
		seen []string
	)
	s.(interface{ ObserveQueries(sqlstore.QueryObserver) }).ObserveQueries(func(_ context.Context, q string) func(error) {
		mu.Lock()
		seen = append(seen, q)
		mu.Unlock()
		return func(error) {}
	})
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		q := seen
		seen = nil
		return q
	}

	u := &storage.User{ID: "u1", Username: "ada"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("create user: %v", err)
	}
	code := &storage.Token{Kind: storage.KindAuthorizeCode, Signature: "code", RequestID: "r1", RequestedAt: time.Now(),
		ClientID: "app", Subject: "u1", Active: true, ExpiresAt: time.Now().Add(time.Minute)}
	if err := s.CreateTokens(ctx, []*storage.Token{code}); err != nil {
		t.Fatalf("create code: %v", err)
	}
	take()

	// The exchange's read: the code's row and, for a code stored as three
	// rows before, its PKCE and OpenID Connect rows.
	if _, err := s.GetTokens(ctx, []storage.TokenKey{
		{Kind: storage.KindAuthorizeCode, Signature: "code"},
		{Kind: storage.KindPKCE, Signature: "code"},
		{Kind: storage.KindOpenIDConnect, Signature: "oidc"},
	}); err != nil {
		t.Fatalf("get tokens: %v", err)
	}
	read := take()
	if err := s.DeactivateTokenAtEpoch(ctx, storage.KindAuthorizeCode, "code", 0); err != nil {
		t.Fatalf("spend code: %v", err)
	}
	spend := take()
	if err := s.DeactivateToken(ctx, storage.KindAuthorizeCode, "code"); err == nil {
		t.Fatal("spending a spent code succeeded")
	}
	again := take()

	conn, err := postgres.DB(s.(*postgres.Store)).Conn(ctx)
	if err != nil {
		t.Fatalf("conn: %v", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatalf("force generic plans: %v", err)
	}
	plan := func(q string) string {
		t.Helper()
		p, err := testdb.GenericPlan(ctx, conn, q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	for _, c := range []struct {
		what string
		ran  []string
	}{
		{"the exchange's read", read},
		{"spending the code", spend},
		{"spending it again", again},
	} {
		if len(c.ran) == 0 {
			t.Fatalf("%s ran no statement", c.what)
		}
		for _, q := range c.ran {
			if !strings.Contains(q, "tokens") {
				continue
			}
			p := plan(q)
			if strings.Contains(p, "Seq Scan on tokens") || !strings.Contains(p, "tokens_pkey") {
				t.Errorf("%s: the generic plan does not find the row by the primary key:\n%s\n%s", c.what, q, p)
			}
			// An index scan of tokens on anything but its primary key
			// matches on kind alone here.
			for _, line := range strings.Split(p, "\n") {
				if strings.Contains(line, " on tokens") && strings.Contains(line, "Index") && !strings.Contains(line, "tokens_pkey") {
					t.Errorf("%s: the generic plan scans another index of tokens:\n%s\n%s", c.what, q, p)
				}
			}
		}
	}
}
