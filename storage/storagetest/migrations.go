package storagetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/sqlstore"
)

// Migrator is what the migration tests need of a store beyond
// storage.Store: its list of migrations, and a way to apply them part of
// the way, as an older release left the database.
type Migrator interface {
	storage.Store
	// Versions lists the versions of the store's migrations in the order
	// Migrate applies them.
	Versions() ([]int, error)
	// MigrateTo applies the migrations up to version and no further.
	MigrateTo(ctx context.Context, version int) error
	// ObserveQueries is told of every statement, so that a test can act
	// between two of them.
	ObserveQueries(fn sqlstore.QueryObserver)
}

// RunMigrations runs the migration tests against a backend: upgrading a
// database an older release left, rows included, and several processes
// migrating one new database at once.
//
// open(t, n) returns n stores on one fresh database no migration has
// touched, as n processes or replicas sharing it would open it, with a
// handle on that database for the raw SQL that writes and reads what the
// store's methods cannot: rows of an old schema, and schema_migrations.
// The suite's raw statements are in the SQL every backend shares and take
// no parameters. open registers the cleanup with t.Cleanup.
func RunMigrations(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB)) {
	tests := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB))
	}{
		{"UpgradeFrom0001", testUpgradeFrom0001},
		{"MigrateTo", testMigrateTo},
		{"UpgradeWithCaseVariants", testUpgradeWithCaseVariants},
		{"UpgradeLogoutNotices", testUpgradeLogoutNotices},
		{"UpgradeWithNameCaseVariants", testUpgradeWithNameCaseVariants},
		{"Concurrent", testMigrateConcurrent},
		{"RefuseNewerSchema", testRefuseNewerSchema},
		{"RefuseNewerSchemaMigratedMeanwhile", testRefuseNewerMigratedMeanwhile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open) })
	}
}

// testUpgradeFrom0001 migrates a database that has only 0001 applied, and
// rows in it, as databases in the field have.
func testUpgradeFrom0001(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB)) {
	ctx := t.Context()
	stores, db := open(t, 1)
	s := stores[0]
	vs, err := s.Versions()
	noErr(t, err, "Versions")
	if len(vs) < 2 || vs[0] != 1 || vs[1] != 2 {
		t.Fatalf("migrations: want 0001 and 0002 first, got %v", vs)
	}
	noErr(t, s.MigrateTo(ctx, 1), "MigrateTo(1)")
	// Raw SQL: CreateClient writes the columns of later migrations.
	if _, err := db.ExecContext(ctx, `INSERT INTO clients (id, token_endpoint_auth_method) VALUES ('old-client', 'client_secret_basic')`); err != nil {
		t.Fatalf("insert a client on 0001: %v", err)
	}
	noErr(t, s.CreateToken(ctx, &storage.Token{Kind: storage.KindAccessToken, Signature: "sig", Subject: "old-user"}),
		"CreateToken on 0001")
	noErr(t, s.Migrate(ctx), "Migrate from 0001")
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version IN (1, 2)`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("schema_migrations after upgrade: %d rows of versions 1 and 2, err %v", n, err)
	}
	noErr(t, s.CreateUser(ctx, &storage.User{ID: "old-user", Username: "old"}), "CreateUser after upgrade")
	noErr(t, s.PutConsent(ctx, &storage.Consent{UserID: "old-user", ClientID: "old-client"}),
		"PutConsent to a client created before the upgrade")
	noErr(t, s.DeleteUser(ctx, "old-user"), "DeleteUser")
	_, err = s.GetToken(ctx, storage.KindAccessToken, "sig")
	errIs(t, err, storage.ErrNotFound, "GetToken of a token created before the upgrade, after DeleteUser of its subject")
	c := mustGetClient(t, ctx, s, "old-client")
	// 0005: a client from before must use PKCE and serves no resource.
	if c.PKCEOptional || len(c.ResourceServers) != 0 {
		t.Errorf("client from before 0005: PKCEOptional %v, ResourceServers %q; want false and none", c.PKCEOptional, c.ResourceServers)
	}
}

// migratedBefore opens a new database migrated up to the migration before
// version, as the release before that migration left it.
func migratedBefore(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB), version int) (Migrator, *sql.DB) {
	t.Helper()
	stores, db := open(t, 1)
	s := stores[0]
	vs, err := s.Versions()
	noErr(t, err, "Versions")
	i := slices.Index(vs, version)
	if i < 1 {
		t.Fatalf("migrations: want %04d after others, got %v", version, vs)
	}
	noErr(t, s.MigrateTo(t.Context(), vs[i-1]), fmt.Sprintf("MigrateTo(before %04d)", version))
	return s, db
}

// testUpgradeWithCaseVariants migrates a database that holds usernames
// differing only by case, as ones from before the directory refused them
// may: 0016 (the username lock and the indexes that find such usernames)
// applies, the users stay, and both are found.
func testUpgradeWithCaseVariants(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB)) {
	ctx := t.Context()
	s, _ := migratedBefore(t, open, 16)
	for _, name := range []string{"alice", "ALICE", "Alice"} {
		noErr(t, s.CreateUser(ctx, &storage.User{ID: "id-" + name, Username: name}), "CreateUser("+name+") before 0016")
	}
	noErr(t, s.Migrate(ctx), "Migrate over case variants")
	got, err := s.FindUsersByUsernameFold(ctx, "aLiCe")
	noErr(t, err, "FindUsersByUsernameFold after the upgrade")
	if want := []string{"ALICE", "Alice", "alice"}; !slices.Equal(usernames(got), want) {
		t.Errorf("FindUsersByUsernameFold(aLiCe) after the upgrade: %q, want %q", usernames(got), want)
	}
	tx := beginTX(t, ctx, s)
	noErr(t, s.LockUsernames(tx), "LockUsernames after the upgrade")
	noErr(t, s.Commit(tx), "Commit")
}

// testUpgradeWithNameCaseVariants migrates a database that holds role
// names, scope names and client ids differing only by case, as ones from
// before the directory refused them may: 0018 (the name lock and the
// indexes that find such names) applies, the records stay, and each
// variant is found.
func testUpgradeWithNameCaseVariants(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB)) {
	ctx := t.Context()
	s, _ := migratedBefore(t, open, 18)
	names := []string{"ADMIN", "Admin", "admin"}
	for _, n := range names {
		noErr(t, s.CreateRole(ctx, &storage.Role{Name: n}), "CreateRole("+n+") before 0018")
		noErr(t, s.CreateScope(ctx, &storage.Scope{Name: n}), "CreateScope("+n+") before 0018")
		noErr(t, s.CreateClient(ctx, &storage.Client{ID: n}), "CreateClient("+n+") before 0018")
	}
	noErr(t, s.Migrate(ctx), "Migrate over case variants")
	for kind, find := range map[string]func(context.Context, string) ([]string, error){
		"FindRoleNamesFold": s.FindRoleNamesFold, "FindScopeNamesFold": s.FindScopeNamesFold, "FindClientIDsFold": s.FindClientIDsFold,
	} {
		got, err := find(ctx, "aDmIn")
		noErr(t, err, kind+" after the upgrade")
		if !slices.Equal(got, names) {
			t.Errorf("%s(aDmIn) after the upgrade: %q, want %q", kind, got, names)
		}
	}
	tx := beginTX(t, ctx, s)
	noErr(t, s.LockNames(tx), "LockNames after the upgrade")
	noErr(t, s.Commit(tx), "Commit")
}

// testUpgradeLogoutNotices migrates a database whose outbox holds a
// notice claimed three times, each claim then counted as an attempt: 0017
// (a notice's claims, apart from its attempts) keeps the three attempts,
// and the next claim is the fourth, which a retry is fenced on.
func testUpgradeLogoutNotices(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB)) {
	ctx := t.Context()
	s, db := migratedBefore(t, open, 17)
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "rp", BackchannelLogoutURI: "https://rp.example/bc"}), "CreateClient before 0017")
	noErr(t, s.PutSessionClient(ctx, &storage.SessionClient{SID: "sid", ClientID: "rp", UserID: "u", ExpiresAt: time.Now().Add(time.Hour)}),
		"PutSessionClient before 0017")
	_, err := s.TakeSessionClients(ctx, "sid", "", "")
	noErr(t, err, "TakeSessionClients before 0017")
	// Raw SQL: ClaimLogoutNotices counts claims, a column 0017 adds.
	if _, err := db.ExecContext(ctx, `UPDATE logout_notices SET attempts = 3`); err != nil {
		t.Fatalf("count three attempts before 0017: %v", err)
	}
	noErr(t, s.Migrate(ctx), "Migrate over a notice tried three times")
	ns, err := s.ClaimLogoutNotices(ctx, time.Now().Add(time.Second), time.Minute, 10)
	noErr(t, err, "ClaimLogoutNotices after the upgrade")
	if len(ns) != 1 || ns[0].Attempts != 3 || ns[0].Claim != 4 {
		t.Fatalf("claim after the upgrade = %+v, want the notice, attempts 3, claim 4", ns)
	}
	notFound(t, s.RetryLogoutNotice(ctx, ns[0].ID, 3, true, time.Now()), "RetryLogoutNotice by the claim before the upgrade")
	noErr(t, s.RetryLogoutNotice(ctx, ns[0].ID, 4, true, time.Now()), "RetryLogoutNotice by the claim after the upgrade")
}

// testMigrateTo checks that MigrateTo stops where it is told, refuses a
// version no migration has, and that Migrate finishes what it left.
func testMigrateTo(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB)) {
	ctx := t.Context()
	stores, db := open(t, 1)
	s := stores[0]
	vs, err := s.Versions()
	noErr(t, err, "Versions")
	last := vs[len(vs)-1]
	for _, v := range []int{0, -1, last + 1} {
		if err := s.MigrateTo(ctx, v); err == nil {
			t.Errorf("MigrateTo(%d) succeeded, want an error: there is no such migration", v)
		}
	}
	checkPending(t, ctx, s, "on a new database", vs)
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err == nil {
		t.Error("PendingMigrations created schema_migrations on a new database: it must only read")
	}
	noErr(t, s.MigrateTo(ctx, vs[1]), "MigrateTo(second)")
	checkApplied(t, ctx, db, "after MigrateTo(second)", vs[:2])
	checkPending(t, ctx, s, "after MigrateTo(second)", vs[2:])
	noErr(t, s.MigrateTo(ctx, vs[0]), "MigrateTo(first) after MigrateTo(second)")
	checkApplied(t, ctx, db, "after MigrateTo(first) on a database past it", vs[:2])
	noErr(t, s.Migrate(ctx), "Migrate")
	checkApplied(t, ctx, db, "after Migrate", vs)
	checkPending(t, ctx, s, "after Migrate", nil)
}

// checkPending fails t unless s's PendingMigrations are want.
func checkPending(t *testing.T, ctx context.Context, s Migrator, what string, want []int) {
	t.Helper()
	got, err := s.PendingMigrations(ctx)
	noErr(t, err, "PendingMigrations "+what)
	if !slices.Equal(got, want) {
		t.Errorf("PendingMigrations %s = %v, want %v", what, got, want)
	}
}

// testMigrateConcurrent runs Migrate from several stores on one new
// database at once, as several processes or replicas starting together
// would.
func testMigrateConcurrent(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB)) {
	ctx := t.Context()
	const procs = 6
	stores, db := open(t, procs)
	errs := make([]error, procs)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: migrate: %v", i, err)
		}
	}
	vs, err := stores[0].Versions()
	noErr(t, err, "Versions")
	checkApplied(t, ctx, db, "after concurrent migrations", vs)
	noErr(t, stores[0].CreateClient(ctx, &storage.Client{ID: "c"}), "CreateClient after concurrent migrations")
	_, err = stores[procs-1].GetClient(ctx, "c")
	noErr(t, err, "GetClient from another store")
}

// checkApplied checks that schema_migrations records exactly the versions
// want (besides a row 0 a backend may keep as a lock).
func checkApplied(t *testing.T, ctx context.Context, db *sql.DB, what string, want []int) {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations WHERE version > 0 ORDER BY version`)
	if err != nil {
		t.Fatalf("%s: read schema_migrations: %v", what, err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("%s: read schema_migrations: %v", what, err)
		}
		got = append(got, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatalf("%s: read schema_migrations: %v", what, err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: schema_migrations has versions %v, want %v", what, got, want)
	}
}

// testRefuseNewerSchema checks that a database a later release migrated
// (schema_migrations records a version this release has no migration
// for) is refused by Migrate and PendingMigrations with
// storage.ErrSchemaNewer, and left as it was: an older binary, rolled
// back to or left running, must not serve from or write to tables whose
// meaning it does not know.
func testRefuseNewerSchema(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB)) {
	ctx := t.Context()
	stores, db := open(t, 1)
	s := stores[0]
	vs, err := s.Versions()
	noErr(t, err, "Versions")
	noErr(t, s.Migrate(ctx), "Migrate")
	later := vs[len(vs)-1] + 1
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO schema_migrations (version) VALUES (%d)`, later)); err != nil {
		t.Fatalf("record a later release's migration: %v", err)
	}
	err = s.Migrate(ctx)
	errIs(t, err, storage.ErrSchemaNewer, "Migrate on a database a later release migrated")
	// The operator reads what to do: which versions, and what a rolling
	// upgrade or a rollback should do about it.
	for _, want := range []string{fmt.Sprintf("version %d", later), fmt.Sprintf("up to %d", vs[len(vs)-1]), "rolling upgrade", "backup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	errIs(t, s.MigrateTo(ctx, vs[0]), storage.ErrSchemaNewer, "MigrateTo on a database a later release migrated")
	_, err = s.PendingMigrations(ctx)
	errIs(t, err, storage.ErrSchemaNewer, "PendingMigrations on a database a later release migrated")
	var n int
	if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM schema_migrations WHERE version = %d`, later)).Scan(&n); err != nil || n != 1 {
		t.Errorf("schema_migrations after the refusals: %d rows of version %d (err %v), want it kept", n, later, err)
	}
}

// testRefuseNewerMigratedMeanwhile checks that Migrate refuses a database
// a later release migrated between Migrate's first read and its lock: an
// older replica starting at the moment a newer one migrates saw its own
// migrations pending, found them applied once it held the lock, and
// returned nil, then served from the later schema.
func testRefuseNewerMigratedMeanwhile(t *testing.T, open func(t *testing.T, n int) ([]Migrator, *sql.DB)) {
	ctx := t.Context()
	stores, db := open(t, 1)
	s := stores[0]
	vs, err := s.Versions()
	noErr(t, err, "Versions")
	if len(vs) < 2 {
		t.Skip("needs two migrations")
	}
	last := vs[len(vs)-1]
	noErr(t, s.MigrateTo(ctx, vs[len(vs)-2]), "MigrateTo the one before the last")
	// Once Migrate has read what is pending, a later release applies
	// this release's last migration and one of its own.
	var once sync.Once
	s.ObserveQueries(func(_ context.Context, query string) func(error) {
		return func(error) {
			if !strings.HasPrefix(query, "SELECT version FROM schema_migrations") {
				return
			}
			once.Do(func() {
				if _, err := db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO schema_migrations (version) VALUES (%d), (%d)`, last, last+1)); err != nil {
					t.Errorf("record a later release's migrations: %v", err)
				}
			})
		}
	})
	errIs(t, s.Migrate(ctx), storage.ErrSchemaNewer, "Migrate on a database a later release migrated meanwhile")
}
