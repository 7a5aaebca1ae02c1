package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// serviceClient is a valid client with id id.
func serviceClient(id string) ClientMetadata {
	return ClientMetadata{ClientID: id, GrantTypes: []string{"client_credentials"}, Scope: "read"}
}

// storedNames returns the role names, scope names and client ids st holds.
func storedNames(t *testing.T, ctx context.Context, st storage.Store) (roles, scopes, clients []string) {
	t.Helper()
	rs, err := st.ListRoles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		roles = append(roles, r.Name)
	}
	ss, err := st.ListScopes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		scopes = append(scopes, s.Name)
	}
	cs, err := st.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		clients = append(clients, c.ID)
	}
	return roles, scopes, clients
}

// TestNamesDifferByMoreThanCase: creating a role, a registered scope or a
// client whose name (client id) another of its kind holds but for case
// is a conflict naming that one, through every call that creates one,
// and writes nothing; a scope named as a protocol scope but for case is
// refused; records an older database holds as case variants of each
// other keep being read, updated and deleted by their exact names.
func TestNamesDifferByMoreThanCase(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			svc := New(st, Options{BuiltinClients: []string{"hallpass-console"}})
			for _, name := range []string{"admin", "teacher"} {
				if _, err := svc.Roles().Create(ctx, RoleView{Name: name}); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range []string{"read", "offline", "phone"} {
				if _, err := svc.Scopes().Create(ctx, ScopeView{Name: name}); err != nil {
					t.Fatalf("create scope %s: %v", name, err)
				}
			}
			if _, err := svc.Clients().Create(ctx, serviceClient("app")); err != nil {
				t.Fatal(err)
			}
			// Case variants stored before the rule, as an older
			// database may hold them.
			for _, name := range []string{"carol", "CAROL"} {
				if err := st.CreateRole(ctx, &storage.Role{Name: name}); err != nil {
					t.Fatal(err)
				}
				if err := st.CreateScope(ctx, &storage.Scope{Name: "lib:" + name}); err != nil {
					t.Fatal(err)
				}
				if err := st.CreateClient(ctx, &storage.Client{ID: "legacy-" + name, GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_basic"}); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				name   string
				call   func() error
				object Object
				kind   error
				says   string // "" when the call succeeds
			}{
				{"role: a case variant", func() error {
					_, err := svc.Roles().Create(ctx, RoleView{Name: "Admin"})
					return err
				}, ObjectRole, ErrConflict, `role name "Admin" is taken (by "admin"); role names differ by more than case`},
				{"role: upper case", func() error {
					_, err := svc.Roles().Create(ctx, RoleView{Name: "TEACHER", Scopes: []string{"read"}})
					return err
				}, ObjectRole, ErrConflict, `role name "TEACHER" is taken (by "teacher")`},
				{"role: the same name", func() error {
					_, err := svc.Roles().Create(ctx, RoleView{Name: "admin"})
					return err
				}, ObjectRole, ErrConflict, `role "admin" already exists`},
				{"role: a variant of stored variants", func() error {
					_, err := svc.Roles().Create(ctx, RoleView{Name: "Carol"})
					return err
				}, ObjectRole, ErrConflict, `role name "Carol" is taken (by "CAROL")`},
				{"role: another name", func() error {
					_, err := svc.Roles().Create(ctx, RoleView{Name: "admins"})
					return err
				}, ObjectRole, nil, ""},
				{"scope: a case variant", func() error {
					_, err := svc.Scopes().Create(ctx, ScopeView{Name: "READ"})
					return err
				}, ObjectScope, ErrConflict, `scope name "READ" is taken (by "read"); scope names differ by more than case`},
				{"scope: a variant of stored variants", func() error {
					_, err := svc.Scopes().Create(ctx, ScopeView{Name: "Lib:Carol"})
					return err
				}, ObjectScope, ErrConflict, `scope name "Lib:Carol" is taken (by "lib:CAROL")`},
				{"scope: OPENID", func() error {
					_, err := svc.Scopes().Create(ctx, ScopeView{Name: "OPENID"})
					return err
				}, ObjectScope, ErrInvalid, `scope name "OPENID" differs only by case from openid, a scope of the protocol`},
				{"scope: Offline_Access", func() error {
					_, err := svc.Scopes().Create(ctx, ScopeView{Name: "Offline_Access"})
					return err
				}, ObjectScope, ErrInvalid, `differs only by case from offline_access`},
				{"scope: Offline, offline registered", func() error {
					_, err := svc.Scopes().Create(ctx, ScopeView{Name: "Offline"})
					return err
				}, ObjectScope, ErrInvalid, `differs only by case from offline,`},
				{"scope: Address", func() error {
					_, err := svc.Scopes().Create(ctx, ScopeView{Name: "Address"})
					return err
				}, ObjectScope, ErrInvalid, `differs only by case from address`},
				{"scope: PHONE", func() error {
					_, err := svc.Scopes().Create(ctx, ScopeView{Name: "PHONE"})
					return err
				}, ObjectScope, ErrInvalid, `differs only by case from phone`},
				{"scope: address, exactly", func() error {
					_, err := svc.Scopes().Create(ctx, ScopeView{Name: "address"})
					return err
				}, ObjectScope, nil, ""},
				{"client: a case variant", func() error {
					_, err := svc.Clients().Create(ctx, serviceClient("App"))
					return err
				}, ObjectClient, ErrConflict, `client id "App" is taken (by "app"); client ids differ by more than case`},
				{"client: a case variant with a chosen secret", func() error {
					_, err := svc.Clients().CreateWithSecret(ctx, serviceClient("APP"), secret)
					return err
				}, ObjectClient, ErrConflict, `client id "APP" is taken (by "app")`},
				{"client: a variant of stored variants", func() error {
					_, err := svc.Clients().Create(ctx, serviceClient("Legacy-Carol"))
					return err
				}, ObjectClient, ErrConflict, `client id "Legacy-Carol" is taken (by "legacy-CAROL")`},
				{"client: the same id", func() error {
					_, err := svc.Clients().Create(ctx, serviceClient("app"))
					return err
				}, ObjectClient, ErrConflict, `client "app" already exists`},
				{"client: another id", func() error {
					_, err := svc.Clients().CreateWithSecret(ctx, serviceClient("app2"), secret)
					return err
				}, ObjectClient, nil, ""},
				{"client: registration", func() error {
					_, err := svc.Clients().Register(ctx, ClientMetadata{GrantTypes: []string{"client_credentials"}, Scope: "read"})
					return err
				}, ObjectClient, nil, ""},
				{"legacy role: updated by its exact name", func() error {
					_, err := svc.Roles().Update(ctx, "CAROL", RoleView{Description: "the second", Scopes: []string{"read"}})
					return err
				}, ObjectRole, nil, ""},
				{"legacy role: deleted by its exact name", func() error {
					return svc.Roles().Delete(ctx, "carol")
				}, ObjectRole, nil, ""},
				{"legacy scope: updated by its exact name", func() error {
					_, err := svc.Scopes().Update(ctx, "lib:CAROL", ScopeView{Description: "the second"})
					return err
				}, ObjectScope, nil, ""},
				{"legacy client: updated by its exact id", func() error {
					_, err := svc.Clients().Update(ctx, "legacy-CAROL", ClientMetadata{ClientName: "the second", GrantTypes: []string{"client_credentials"}, Scope: "read"})
					return err
				}, ObjectClient, nil, ""},
				{"legacy client: deleted by its exact id", func() error {
					return svc.Clients().Delete(ctx, "legacy-carol")
				}, ObjectClient, nil, ""},
			} {
				err := tc.call()
				if tc.says == "" {
					if err != nil {
						t.Errorf("%s: %v", tc.name, err)
					}
					continue
				}
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, tc.kind) || e.Object != tc.object || !strings.Contains(e.Message, tc.says) {
					t.Errorf("%s: got %v, want a %s %v saying %q", tc.name, err, tc.object, tc.kind, tc.says)
				}
			}
			roles, scopes, clients := storedNames(t, ctx, st)
			if want := []string{"CAROL", "admin", "admins", "teacher"}; !slices.Equal(roles, want) {
				t.Errorf("roles stored: %q, want %q", roles, want)
			}
			if want := []string{"address", "lib:CAROL", "lib:carol", "offline", "phone", "read"}; !slices.Equal(scopes, want) {
				t.Errorf("scopes stored: %q, want %q", scopes, want)
			}
			if len(clients) != 4 || !slices.Contains(clients, "app") || !slices.Contains(clients, "app2") || !slices.Contains(clients, "legacy-CAROL") {
				t.Errorf("clients stored: %q, want app, app2, legacy-CAROL and the registered one", clients)
			}
			if r, err := st.GetRole(ctx, "CAROL"); err != nil || r.Description != "the second" {
				t.Errorf("CAROL after an update: %+v, %v", r, err)
			}
			if c, err := st.GetClient(ctx, "legacy-CAROL"); err != nil || c.Name != "the second" {
				t.Errorf("legacy-CAROL after an update: %+v, %v", c, err)
			}
		})
	}
}

// TestBuiltinClientRegistersBesideVariant: hallpass's start-up registers
// its own client even where an older database holds a client whose id
// differs from it only by case (no rule refused one then): the server
// keeps starting.
func TestBuiltinClientRegistersBesideVariant(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			if err := st.CreateClient(ctx, &storage.Client{ID: "Hallpass-Console"}); err != nil {
				t.Fatal(err)
			}
			svc := New(st, Options{BuiltinClients: []string{"hallpass-console"}})
			m := ClientMetadata{ClientID: "hallpass-console", RedirectURIs: []string{"https://id.example/console/callback"}}
			if _, err := svc.Clients().RegisterBuiltin(ctx, m); err != nil {
				t.Fatalf("RegisterBuiltin beside Hallpass-Console: %v", err)
			}
		})
	}
}

// TestNameCheckInTransaction: the check reads the transaction it runs
// in, so a caller's transaction (configuration as code applies in one)
// that creates two case variants fails on the second, and keeps neither.
func TestNameCheckInTransaction(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			svc := New(st, Options{})
			for _, tc := range []struct {
				name string
				make func(tx context.Context, name string) error
			}{
				{"role", func(tx context.Context, name string) error {
					_, err := svc.Roles().Create(tx, RoleView{Name: name})
					return err
				}},
				{"scope", func(tx context.Context, name string) error {
					_, err := svc.Scopes().Create(tx, ScopeView{Name: name})
					return err
				}},
				{"client", func(tx context.Context, name string) error {
					_, err := svc.Clients().Create(tx, serviceClient(name))
					return err
				}},
			} {
				err := svc.InTransaction(ctx, func(tx context.Context) error {
					if err := tc.make(tx, "dave"); err != nil {
						return err
					}
					return tc.make(tx, "Dave")
				})
				if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `(by "dave")`) {
					t.Errorf("%s: two case variants in one transaction: got %v, want a conflict naming dave", tc.name, err)
				}
			}
			if roles, scopes, clients := storedNames(t, ctx, st); len(roles)+len(scopes)+len(clients) != 0 {
				t.Errorf("after the failed transactions: roles %q, scopes %q, clients %q; want none", roles, scopes, clients)
			}
		})
	}
}

// rendezvous holds each of contenders callers of meet until all of them
// have called it, or wait has passed (a contender that blocks on a lock
// never arrives): it opens the widest window between a check and the
// write that depends on it.
type rendezvous struct {
	arrived    atomic.Int32
	contenders int32
	all        chan struct{}
	wait       time.Duration
}

func newRendezvous(contenders int, wait time.Duration) *rendezvous {
	return &rendezvous{contenders: int32(contenders), all: make(chan struct{}), wait: wait}
}

func (r *rendezvous) meet() {
	if r.arrived.Add(1) == r.contenders {
		close(r.all)
	}
	select {
	case <-r.all:
	case <-time.After(r.wait):
	}
}

// slowNames is a store whose Find...Fold of role names, scope names and
// client ids, once it has read, waits for every contender to have read
// too (or for wait to pass): the widest window between the check and the
// write.
type slowNames struct {
	storage.Store
	*rendezvous
}

func (s slowNames) barrier(names []string, err error) ([]string, error) {
	s.meet()
	return names, err
}

func (s slowNames) FindRoleNamesFold(ctx context.Context, name string) ([]string, error) {
	return s.barrier(s.Store.FindRoleNamesFold(ctx, name))
}

func (s slowNames) FindScopeNamesFold(ctx context.Context, name string) ([]string, error) {
	return s.barrier(s.Store.FindScopeNamesFold(ctx, name))
}

func (s slowNames) FindClientIDsFold(ctx context.Context, id string) ([]string, error) {
	return s.barrier(s.Store.FindClientIDsFold(ctx, id))
}

// TestNameCheckRace: transactions that create case variants of one role
// name, scope name or client id at the same moment never both pass the
// check, however long each waits between its check and its write
// (LockNames serializes them).
func TestNameCheckRace(t *testing.T) {
	names := []string{"racer", "Racer", "RACER"}
	for _, b := range testdb.Backends() {
		for _, kind := range []struct {
			name   string
			create func(svc *Service, ctx context.Context, name string) error
			find   func(st storage.Store) func(context.Context, string) ([]string, error)
		}{
			{"role", func(svc *Service, ctx context.Context, name string) error {
				_, err := svc.Roles().Create(ctx, RoleView{Name: name})
				return err
			}, func(st storage.Store) func(context.Context, string) ([]string, error) { return st.FindRoleNamesFold }},
			{"scope", func(svc *Service, ctx context.Context, name string) error {
				_, err := svc.Scopes().Create(ctx, ScopeView{Name: name})
				return err
			}, func(st storage.Store) func(context.Context, string) ([]string, error) { return st.FindScopeNamesFold }},
			{"client", func(svc *Service, ctx context.Context, name string) error {
				_, err := svc.Clients().Create(ctx, serviceClient(name))
				return err
			}, func(st storage.Store) func(context.Context, string) ([]string, error) { return st.FindClientIDsFold }},
		} {
			t.Run(b.Name+"/"+kind.name, func(t *testing.T) {
				ctx := context.Background()
				st := slowNames{Store: testdb.Open(t, b.DSN(t)), rendezvous: newRendezvous(len(names), 300*time.Millisecond)}
				svc := New(st, Options{})
				errs := make([]error, len(names))
				var wg sync.WaitGroup
				for i := range names {
					wg.Go(func() { errs[i] = kind.create(svc, ctx, names[i]) })
				}
				wg.Wait()
				won := 0
				for i, err := range errs {
					switch {
					case err == nil:
						won++
					case !errors.Is(err, ErrConflict):
						t.Errorf("create %s: %v, want success or a conflict", names[i], err)
					}
				}
				stored, err := kind.find(st.Store)(ctx, "racer")
				if err != nil {
					t.Fatal(err)
				}
				if won != 1 || len(stored) != 1 {
					t.Errorf("%d of %d creates succeeded, %q stored (%v); want exactly one", won, len(names), stored, errs)
				}
			})
		}
	}
}

// TestNameCheckStrictIsolation: on PostgreSQL whose transactions run at
// REPEATABLE READ or SERIALIZABLE, replicas creating case variants of one
// role name at once still create exactly one: a contender that waited
// for the name lock fails with a serialization failure rather than check
// through a stale snapshot, and the service's transaction runs again and
// finds the winner's role.
func TestNameCheckStrictIsolation(t *testing.T) {
	testdb.PostgresURL(t)
	for _, isolation := range []string{"repeatable read", "serializable"} {
		t.Run(isolation, func(t *testing.T) {
			ctx := context.Background()
			dsn := testdb.Postgres(t)
			var services []*Service
			for i := range 2 {
				st := testdb.OpenPostgres(t, dsn, map[string]string{"default_transaction_isolation": isolation})
				if i == 0 {
					if err := st.Migrate(ctx); err != nil {
						t.Fatal(err)
					}
				}
				services = append(services, New(st, Options{}))
			}
			for round := range 5 {
				names := []string{fmt.Sprintf("racer%d", round), fmt.Sprintf("Racer%d", round), fmt.Sprintf("RACER%d", round)}
				errs := make([]error, len(names))
				var wg sync.WaitGroup
				for i := range names {
					wg.Go(func() { _, errs[i] = services[i%len(services)].Roles().Create(ctx, RoleView{Name: names[i]}) })
				}
				wg.Wait()
				won := 0
				for i, err := range errs {
					switch {
					case err == nil:
						won++
					case !errors.Is(err, ErrConflict):
						t.Errorf("round %d: create %s: %v, want success or a conflict", round, names[i], err)
					}
				}
				if won != 1 {
					t.Errorf("round %d: %d of %d creates succeeded (%v); want exactly one", round, won, len(names), errs)
				}
			}
		})
	}
}

// TestProtocolScopeLookAlikesNamed: a role's scopes and a client's scope
// may not name a protocol scope but for case either, registered or not:
// a role granting "Offline" granted refresh tokens (fosite answers offline
// in any case) while hallpass's own checks saw another scope. Exact
// protocol scopes and other names stay allowed.
func TestProtocolScopeLookAlikesNamed(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			svc := New(testdb.Open(t, b.DSN(t)), Options{})
			for i, tc := range []struct {
				role   []string
				client string
				ok     bool
			}{
				{role: []string{"Offline"}},
				{role: []string{"read", "OFFLINE_ACCESS"}},
				{role: []string{"Phone"}},
				{client: "openid Offline"},
				{client: "OpenID email"},
				{role: []string{"offline", "phone", "Offline-reports"}, ok: true},
				{client: "openid offline_access Profile-x", ok: true},
			} {
				name := fmt.Sprintf("case-%d", i)
				var err error
				if tc.role != nil {
					_, err = svc.Roles().Create(ctx, RoleView{Name: name, Scopes: tc.role})
				} else {
					c := serviceClient(name)
					c.Scope = tc.client
					_, err = svc.Clients().Create(ctx, c)
				}
				if tc.ok && err != nil {
					t.Errorf("role %q / client scope %q: %v, want it created", tc.role, tc.client, err)
				}
				if !tc.ok && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "differs only by case")) {
					t.Errorf("role %q / client scope %q: %v, want it refused as a protocol scope's look-alike", tc.role, tc.client, err)
				}
			}
		})
	}
}

// TestStoredLookAlikeScopeUpdate: updating a scope stored under a
// protocol scope's name but for case (before the rule) is refused with
// what to do, since no update can pass: delete it, naming the command
// and the admin API call. Creating such a scope, or updating one that
// is not stored, is refused without that advice; nothing is changed.
func TestStoredLookAlikeScopeUpdate(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			svc := New(st, Options{})
			now := time.Now().UTC()
			if err := st.CreateScope(ctx, &storage.Scope{Name: "Offline", Description: "old", CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			const advice = "; a stored scope so named cannot be updated, only deleted: hallpass scopes delete Offline (DELETE /admin/scopes/Offline)"
			_, err := svc.Scopes().Update(ctx, "Offline", ScopeView{Description: "new"})
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), `scope name "Offline" differs only by case from offline`) || !strings.HasSuffix(err.Error(), advice) {
				t.Errorf("update of the stored Offline = %v, want the look-alike refusal ending %q", err, advice)
			}
			if s, err := st.GetScope(ctx, "Offline"); err != nil || s.Description != "old" {
				t.Errorf("the stored scope = %+v, %v; want it unchanged", s, err)
			}
			_, err = svc.Scopes().Update(ctx, "Phone", ScopeView{Description: "new"})
			if err == nil || !strings.Contains(err.Error(), "differs only by case") || strings.Contains(err.Error(), "delete") {
				t.Errorf("update of a look-alike not stored = %v, want the refusal without advice to delete", err)
			}
			_, err = svc.Scopes().Create(ctx, ScopeView{Name: "OFFLINE"})
			if err == nil || !strings.Contains(err.Error(), "differs only by case") || strings.Contains(err.Error(), "delete") {
				t.Errorf("create of a look-alike = %v, want the refusal without advice to delete", err)
			}
			if err := svc.Scopes().Delete(ctx, "Offline"); err != nil {
				t.Errorf("delete of the stored Offline: %v", err)
			}
		})
	}
}

// TestIsProtocolLookAlike: the provider asks it of every scope of a
// user's roles at each sign-in and token request, so it must answer
// rightly and without allocating.
func TestIsProtocolLookAlike(t *testing.T) {
	for s, want := range map[string]bool{
		"Offline": true, "OPENID": true, "Phone": true, "offline_Access": true,
		"offline": false, "openid": false, "results:read": false, "Offline-reports": false,
	} {
		if got := IsProtocolLookAlike(s); got != want {
			t.Errorf("IsProtocolLookAlike(%q) = %v, want %v", s, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { IsProtocolLookAlike("results:read") }); n != 0 {
		t.Errorf("IsProtocolLookAlike allocates %v times a call, want 0", n)
	}
}
