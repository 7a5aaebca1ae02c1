package state_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/directory/state"
	"github.com/hallpass/hallpass/examples"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// eachBackend runs fn on a fresh database of every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, st storage.Store, dir *directory.Service)) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := testdb.Open(t, b.DSN(t))
			fn(t, st, directory.New(st, directory.Options{}))
		})
	}
}

func load(t *testing.T, text string) *state.File {
	t.Helper()
	f, err := state.Load(strings.NewReader(text), "test.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return f
}

func school(t *testing.T) *state.File {
	t.Helper()
	f, err := state.Load(bytes.NewReader(examples.School()), "school.yaml")
	if err != nil {
		t.Fatalf("Load school.yaml: %v", err)
	}
	return f
}

func mustPlan(t *testing.T, dir *directory.Service, f *state.File, opts state.Options) *state.Plan {
	t.Helper()
	p, err := state.Make(context.Background(), dir, f, opts)
	if err != nil {
		t.Fatalf("Make: %v", err)
	}
	return p
}

func planText(t *testing.T, p *state.Plan) string {
	var b strings.Builder
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mustApply(t *testing.T, dir *directory.Service, f *state.File, opts state.Options) *state.Result {
	t.Helper()
	r, err := state.Apply(context.Background(), dir, f, opts)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return r
}

func wantEmpty(t *testing.T, what string, p *state.Plan) {
	t.Helper()
	if !p.Empty() {
		t.Errorf("%s: plan not empty:\n%s", what, planText(t, p))
	}
}

const schoolAPIClient = `
clients:
  - client_id: schoolapi
    client_name: School API
    grant_types: [client_credentials]
    response_types: []
    token_endpoint_auth_method: client_secret_basic
    scope: ""
    resource_servers: [http://localhost:8081]
`

// The school applies, a second apply changes nothing, and its export,
// loaded back, plans no change: export → plan round trip.
func TestSchoolRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
		ctx := context.Background()
		f := school(t)
		p := mustPlan(t, dir, f, state.Options{})
		text := planText(t, p)
		for _, want := range []string{"+ create scope results:read", "+ create role teacher", "+ create client hallpass-demoapp", "+ create user alice", "8 to create, 0 to update, 0 to delete"} {
			if !strings.Contains(text, want) {
				t.Errorf("plan lacks %q:\n%s", want, text)
			}
		}
		// The school API's client, as the file's comment describes it,
		// with its secret generated.
		f.Clients = append(f.Clients, load(t, schoolAPIClient).Clients...)
		r := mustApply(t, dir, f, state.Options{})
		if len(r.Secrets) != 1 || r.Secrets[0].ClientID != "schoolapi" || len(r.Secrets[0].Secret) < 32 {
			t.Fatalf("secrets = %+v, want schoolapi's generated secret", r.Secrets)
		}
		if ok, err := dir.Clients().SecretMatches(ctx, "schoolapi", r.Secrets[0].Secret); err != nil || !ok {
			t.Errorf("generated secret does not match the stored one: %v %v", ok, err)
		}
		teacher, err := dir.Roles().Get(ctx, "teacher")
		if err != nil || len(teacher.Scopes) != 3 || !teacher.RequireMFA {
			t.Errorf("teacher = %+v, %v; want three scopes and require_mfa", teacher, err)
		}
		if student, err := dir.Roles().Get(ctx, "student"); err != nil || student.RequireMFA {
			t.Errorf("student = %+v, %v; want no require_mfa", student, err)
		}
		// Users come without a usable password: none the file knows.
		alice, err := st.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := directory.CheckPassword(alice.PasswordHash, ""); ok {
			t.Error("alice signs in with an empty password")
		}

		wantEmpty(t, "second plan", mustPlan(t, dir, f, state.Options{}))
		again := mustApply(t, dir, f, state.Options{})
		if !again.Plan.Empty() || len(again.Secrets) != 0 {
			t.Errorf("second apply changed something: %+v", again)
		}

		exported, err := state.Export(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		out, err := state.Marshal(exported)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), r.Secrets[0].Secret) || strings.Contains(string(out), "client_secret:") {
			t.Errorf("export shows a secret:\n%s", out)
		}
		for _, absent := range []string{"created_at", "client_id_issued_at", "\n    id:"} {
			if strings.Contains(string(out), absent) {
				t.Errorf("export holds %q:\n%s", absent, out)
			}
		}
		back := load(t, string(out))
		wantEmpty(t, "plan of the export", mustPlan(t, dir, back, state.Options{Prune: true}))
	})
}

// Objects not in the file are left alone, counted, and deleted only with
// Prune.
func TestPrune(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ storage.Store, dir *directory.Service) {
		ctx := context.Background()
		f := school(t)
		mustApply(t, dir, f, state.Options{})
		if _, err := dir.Roles().Create(ctx, directory.RoleView{Name: "janitor"}); err != nil {
			t.Fatal(err)
		}
		if _, err := dir.Clients().Create(ctx, directory.ClientMetadata{ClientID: "legacy", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{}}); err != nil {
			t.Fatal(err)
		}
		p := mustPlan(t, dir, f, state.Options{})
		wantEmpty(t, "plan without prune", p)
		if p.Unmanaged != 2 || !strings.Contains(planText(t, p), "2 stored objects are not in the file") {
			t.Errorf("unmanaged = %d:\n%s", p.Unmanaged, planText(t, p))
		}
		text := planText(t, mustPlan(t, dir, f, state.Options{Prune: true}))
		for _, want := range []string{"- delete role janitor", "- delete client legacy", "0 to create, 0 to update, 2 to delete"} {
			if !strings.Contains(text, want) {
				t.Errorf("prune plan lacks %q:\n%s", want, text)
			}
		}
		mustApply(t, dir, f, state.Options{Prune: true})
		if _, err := dir.Roles().Get(ctx, "janitor"); err == nil {
			t.Error("janitor survived the prune")
		}
		if _, err := dir.Clients().Get(ctx, "legacy"); err == nil {
			t.Error("legacy survived the prune")
		}
		if _, err := dir.Roles().Get(ctx, "teacher"); err != nil {
			t.Errorf("teacher: %v", err)
		}
		wantEmpty(t, "after prune", mustPlan(t, dir, f, state.Options{Prune: true}))
	})
}

// A change of the file is planned field by field and applied.
func TestUpdates(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ storage.Store, dir *directory.Service) {
		ctx := context.Background()
		mustApply(t, dir, school(t), state.Options{})
		text := strings.Replace(string(examples.School()), "scopes: [results:read, results:write, schedule:write]", "scopes: [results:read, results:write]", 1)
		text = strings.Replace(text, "redirect_uris: [http://localhost:8082/callback]", "redirect_uris: [http://localhost:8082/callback, http://localhost:8083/callback]", 1)
		text = strings.Replace(text, "    roles: [student]", "    roles: [student]\n    disabled: true", 1)
		text = strings.Replace(text, "    require_mfa: true\n", "", 1)
		f := load(t, text)
		plan := planText(t, mustPlan(t, dir, f, state.Options{}))
		for _, want := range []string{"~ update role teacher (scopes, require_mfa)", "~ update client hallpass-demoapp (redirect_uris)", "~ update user bob (disabled)", "0 to create, 3 to update, 0 to delete"} {
			if !strings.Contains(plan, want) {
				t.Errorf("plan lacks %q:\n%s", want, plan)
			}
		}
		mustApply(t, dir, f, state.Options{})
		wantEmpty(t, "after the update", mustPlan(t, dir, f, state.Options{}))
		bob, err := dir.Users().Get(ctx, "bob")
		if err != nil || !bob.Disabled {
			t.Errorf("bob = %+v, %v; want disabled", bob, err)
		}
	})
}

// A failed apply keeps nothing: the creations and updates before the
// failing step are rolled back with it.
func TestFailedApplyKeepsNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
		ctx := context.Background()
		bad := string(examples.School()) + "  - username: carol\n    roles: [headmaster]\n"
		_, err := state.Apply(ctx, dir, load(t, bad), state.Options{})
		if err == nil || !strings.Contains(err.Error(), "headmaster") || !strings.Contains(err.Error(), "carol") {
			t.Fatalf("Apply = %v, want the unknown role refused naming carol and headmaster", err)
		}
		for what, n := range map[string]func() (int, error){
			"scopes":  func() (int, error) { l, err := st.ListScopes(ctx); return len(l), err },
			"roles":   func() (int, error) { l, err := st.ListRoles(ctx); return len(l), err },
			"clients": func() (int, error) { l, err := st.ListClients(ctx); return len(l), err },
			"users":   func() (int, error) { l, err := st.ListUsers(ctx); return len(l), err },
		} {
			if got, err := n(); err != nil || got != 0 {
				t.Errorf("%s after a failed apply: %d (%v), want none", what, got, err)
			}
		}

		// On a directory that exists, the updates before the failure are
		// undone too.
		mustApply(t, dir, school(t), state.Options{})
		bad = strings.Replace(bad, "scopes: [results:read, results:write, schedule:write]", "scopes: [results:read]", 1)
		bad = strings.Replace(bad, "scopes:\n", "scopes:\n  - name: library:read\n", 1)
		if _, err := state.Apply(ctx, dir, load(t, bad), state.Options{Prune: true}); err == nil {
			t.Fatal("second bad apply succeeded")
		}
		teacher, err := dir.Roles().Get(ctx, "teacher")
		if err != nil || len(teacher.Scopes) != 3 {
			t.Errorf("teacher after a failed apply = %+v, %v; want its three scopes", teacher, err)
		}
		if _, err := dir.Scopes().Get(ctx, "library:read"); err == nil {
			t.Error("library:read was created by a failed apply")
		}
		wantEmpty(t, "school after the failed apply", mustPlan(t, dir, school(t), state.Options{Prune: true}))
	})
}

// Secrets come from the environment: a client's is set and kept in step,
// a user's is set at creation; neither is printed.
func TestSecretsFromEnvironment(t *testing.T) {
	st := testdb.Open(t, testdb.SQLite(t))
	dir := directory.New(st, directory.Options{})
	ctx := context.Background()
	env := map[string]string{"API_SECRET": strings.Repeat("a", 40), "CAROL_PASSWORD": "her very own passphrase, 42 times"}
	opts := state.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	f := load(t, `
clients:
  - client_id: api
    grant_types: [client_credentials]
    response_types: []
    client_secret_env: API_SECRET
users:
  - username: carol
    password_env: CAROL_PASSWORD
`)
	r := mustApply(t, dir, f, opts)
	if len(r.Secrets) != 0 {
		t.Errorf("a secret from the environment was reported as generated: %+v", r.Secrets)
	}
	if ok, _ := dir.Clients().SecretMatches(ctx, "api", env["API_SECRET"]); !ok {
		t.Error("api's secret is not API_SECRET")
	}
	carol, err := st.GetUserByUsername(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := directory.CheckPassword(carol.PasswordHash, env["CAROL_PASSWORD"]); !ok {
		t.Error("carol's password is not CAROL_PASSWORD")
	}
	wantEmpty(t, "same environment", mustPlan(t, dir, f, opts))

	env["API_SECRET"] = strings.Repeat("b", 40)
	text := planText(t, mustPlan(t, dir, f, opts))
	if !strings.Contains(text, "~ update client api (client_secret)") || strings.Contains(text, env["API_SECRET"]) {
		t.Errorf("plan after the secret changed:\n%s", text)
	}
	mustApply(t, dir, f, opts)
	if ok, _ := dir.Clients().SecretMatches(ctx, "api", env["API_SECRET"]); !ok {
		t.Error("api's secret did not follow API_SECRET")
	}

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"unset":     {map[string]string{}, "API_SECRET (client_secret_env) is not set"},
		"too short": {map[string]string{"API_SECRET": "short", "CAROL_PASSWORD": "x"}, "32"},
	} {
		_, err := state.Make(ctx, dir, f, state.Options{LookupEnv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Make = %v, want %q", name, err, tc.want)
		}
	}
}

// Plan refuses a user the service would refuse when the plan is applied
// (a password that breaks the password policy, a malformed email), naming
// the user and the rule, never the password; apply says the same, before
// it changes anything. A user the service accepts plans fine.
func TestPlanChecksUsers(t *testing.T) {
	dir := directory.New(testdb.Open(t, testdb.SQLite(t)), directory.Options{})
	ctx := context.Background()
	for name, tc := range map[string]struct {
		user, password string
		want           string // in the error; "" plans fine
	}{
		"good password":        {"username: carol\n    password_env: PW", "her very own passphrase, 42 times", ""},
		"no password":          {"username: carol", "", ""},
		"too easy to guess":    {"username: carol\n    password_env: PW", "password1234", `user "carol": password is too easy to guess`},
		"too short":            {"username: carol\n    password_env: PW", "Tr0ub4dor&", `user "carol": password is too short: use at least 12 characters (it has 10)`},
		"holds the username":   {"username: carol\n    password_env: PW", "carol-Xq7#vLp9!zR2", `user "carol": password must not contain the username`},
		"email not an address": {"username: carol\n    email: carol.example.com", "", `user "carol": email "carol.example.com" is not an email address`},
	} {
		t.Run(name, func(t *testing.T) {
			f := load(t, "users:\n  - "+tc.user+"\n")
			opts := state.Options{LookupEnv: func(k string) (string, bool) { return tc.password, k == "PW" }}
			p, err := state.Make(ctx, dir, f, opts)
			if tc.want == "" {
				if err != nil || !strings.Contains(planText(t, p), "+ create user carol") {
					t.Fatalf("Make = %v, want carol planned", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Make = %v, want an error saying %q", err, tc.want)
			}
			if tc.password != "" && strings.Contains(err.Error(), tc.password) {
				t.Errorf("the error repeats the password: %v", err)
			}
			if _, aerr := state.Apply(ctx, dir, f, opts); aerr == nil || aerr.Error() != err.Error() {
				t.Errorf("Apply = %v, want what plan says: %v", aerr, err)
			}
			if users, _ := dir.Users().List(ctx); len(users) != 0 {
				t.Errorf("users after the refused apply: %+v", users)
			}
		})
	}
}

// Plan refuses a scope or role the service would refuse when the plan is
// applied, naming it and the rule; apply says the same.
func TestPlanChecksScopesAndRoles(t *testing.T) {
	dir := directory.New(testdb.Open(t, testdb.SQLite(t)), directory.Options{})
	ctx := context.Background()
	for name, tc := range map[string]struct{ file, want string }{
		"role name with a space":     {"roles:\n  - name: head teacher\n", `role "head teacher": role name must be 1 to 64 characters`},
		"role granting a bad scope":  {"roles:\n  - name: teacher\n    scopes: ['a\"b']\n", `role "teacher": scope "a\"b" contains characters RFC 6749 §3.3 does not allow`},
		"scope audience with spaces": {"scopes:\n  - name: results:read\n    audience: school api\n", `scope "results:read": audience "school api" must be an identifier of 1 to 2048 characters without spaces`},
	} {
		t.Run(name, func(t *testing.T) {
			f := load(t, tc.file)
			_, err := state.Make(ctx, dir, f, state.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Make = %v, want an error saying %q", err, tc.want)
			}
			if _, aerr := state.Apply(ctx, dir, f, state.Options{}); aerr == nil || aerr.Error() != err.Error() {
				t.Errorf("Apply = %v, want what plan says: %v", aerr, err)
			}
		})
	}
}

func TestLoadRefusals(t *testing.T) {
	for name, tc := range map[string]struct{ file, want string }{
		"unknown section":      {"groups: []\n", `unknown key "groups"`},
		"unknown field":        {"clients:\n  - client_id: a\n    redirect_uri: x\n", `line 3: clients[0]: unknown field "redirect_uri"`},
		"secret in clear":      {"clients:\n  - client_id: a\n    client_secret: hunter2hunter2\n", "client_secret must not be written"},
		"password in clear":    {"users:\n  - username: a\n    password: hunter2hunter2\n", "password must not be written"},
		"name twice":           {"roles:\n  - name: a\n  - name: a\n", `"a" is given twice`},
		"no name":              {"scopes:\n  - description: x\n", "scopes[0] has no name"},
		"section not a list":   {"users: alice\n", "users must be a list"},
		"item not a mapping":   {"roles: [teacher]\n", "must be a mapping of fields"},
		"wrong type of field":  {"roles:\n  - name: a\n    scopes: results:read\n", "roles[0]"},
		"server-managed field": {"clients:\n  - client_id: a\n    client_id_issued_at: 5\n", "set by hallpass"},
		// Field names are the admin API's, which matches them exactly:
		// a name in another case is unknown there, and here it would
		// otherwise be taken, or silently lose to its lower-case twin.
		"field in another case":  {"roles:\n  - NAME: a\n", `line 2: roles[0]: unknown field "NAME"`},
		"field twice, two cases": {"roles:\n  - name: a\n    scopes: [x]\n    Scopes: [admin]\n", `line 4: roles[0]: unknown field "Scopes"`},
		"embedded field's case":  {"clients:\n  - Client_ID: a\n", `line 2: clients[0]: unknown field "Client_ID"`},
		// Each names the line of the field, not of its entry.
		"unknown field deep in an entry": {"users:\n  - username: a\n    name: A\n    email: a@example.com\n    emial_verified: true\n", `test.yaml, line 5: users[0]: unknown field "emial_verified"`},
		"unknown field merged in":        {"roles:\n  - &r\n    name: a\n  - <<: {scopes: [x],\n      descripton: d}\n    name: b\n", `line 5: roles[1]: unknown field "descripton"`},
		"key that is a list":             {"scopes:\n  - name: a\n    ? [x]\n    : y\n", `line 3: scopes[0]: a key must be a field name`},
		"key that is an alias":           {"scopes:\n  - &k name: a\n    *k : b\n", `line 3: scopes[0]: a key must be a field name`},
		"variable name's case":           {"users:\n  - username: a\n    PASSWORD_ENV: HOME\n", `line 3: users[0]: unknown field "PASSWORD_ENV"`},
		// A variable named for a secret must be one, and not hallpass's
		// own: a file from a pull request could otherwise make the
		// server's secret a user's password and probe it through plan.
		"variable with a space":        {"clients:\n  - client_id: a\n    client_secret_env: \"A B\"\n", `client "a": client_secret_env: "A B" is not an environment variable name`},
		"variable with a line break":   {"users:\n  - username: a\n    password_env: \"PW\\nX\"\n", `user "a": password_env: "PW\nX" is not an environment variable name`},
		"variable starting with digit": {"users:\n  - username: a\n    password_env: 1PW\n", `"1PW" is not an environment variable name`},
		"variable too long":            {"users:\n  - username: a\n    password_env: " + strings.Repeat("P", 129) + "\n", `is not an environment variable name`},
		"hallpass's secret":            {"users:\n  - username: a\n    password_env: HALLPASS_SECRET\n", `user "a": password_env: HALLPASS_SECRET is one of hallpass's own settings`},
		"hallpass's admin token":       {"clients:\n  - client_id: a\n    client_secret_env: hallpass_admin_token\n", `client_secret_env: hallpass_admin_token is one of hallpass's own settings`},
		// hallpass reads these too, as settings holding credentials:
		// the PostgreSQL driver takes the database's password from
		// PGPASSWORD (libpq's PG* variables), tracing its exporter's
		// authorization header from OTEL_EXPORTER_OTLP_HEADERS.
		"database password":         {"users:\n  - username: a\n    password_env: PGPASSWORD\n", `user "a": password_env: PGPASSWORD is one of hallpass's own settings`},
		"database TLS key password": {"clients:\n  - client_id: a\n    client_secret_env: PGSSLPASSWORD\n", `client_secret_env: PGSSLPASSWORD is one of hallpass's own settings`},
		"tracing exporter headers":  {"clients:\n  - client_id: a\n    client_secret_env: OTEL_EXPORTER_OTLP_HEADERS\n", `client_secret_env: OTEL_EXPORTER_OTLP_HEADERS is one of hallpass's own settings`},
		"database password file":    {"users:\n  - username: a\n    password_env: PGPASSFILE\n", `password_env: PGPASSFILE is one of hallpass's own settings (libpq's`},
		"database TLS key":          {"users:\n  - username: a\n    password_env: PGSSLKEY\n", `password_env: PGSSLKEY is one of hallpass's own settings (libpq's`},
		"database TLS certificate":  {"users:\n  - username: a\n    password_env: PGSSLCERT\n", `password_env: PGSSLCERT is one of hallpass's own settings (libpq's`},
		"database host":             {"users:\n  - username: a\n    password_env: PGHOST\n", `password_env: PGHOST is one of hallpass's own settings (libpq's`},
		"database password, lower":  {"users:\n  - username: a\n    password_env: pgpassword\n", `password_env: pgpassword is one of hallpass's own settings (libpq's`},
		// The outbound proxy of its calls to clients' URLs, whose URL
		// may carry the proxy's credentials (http://user:pw@proxy); Go
		// reads the lower-case names too, on every system.
		"outbound proxy":        {"clients:\n  - client_id: a\n    client_secret_env: HTTPS_PROXY\n", `client_secret_env: HTTPS_PROXY is one of hallpass's own settings (its outbound proxy`},
		"outbound proxy, lower": {"users:\n  - username: a\n    password_env: http_proxy\n", `password_env: http_proxy is one of hallpass's own settings (its outbound proxy`},
		"proxy exceptions":      {"users:\n  - username: a\n    password_env: NO_PROXY\n", `password_env: NO_PROXY is one of hallpass's own settings (its outbound proxy`},
		// A plain value YAML reads as a number or a boolean is refused
		// where text is wanted, naming the field at its own line.
		"client id 010":           {"clients:\n  - redirect_uris: [https://a.example/cb]\n    client_id: 010\n", `line 3: clients[0]: client_id must be text, not a number (quote it`},
		"client id 1e3":           {"clients:\n  - client_id: 1e3\n", `line 2: clients[0]: client_id must be text, not a number`},
		"role name true":          {"roles:\n  - name: true\n", `roles[0]: name must be text, not a bool (quote it`},
		"role in a list a number": {"users:\n  - username: a\n    roles:\n      - 0x1F\n", `line 3: users[0]: roles must be text, not a number`},
		"boolean written yes":     {"clients:\n  - client_id: a\n    skip_consent: yes\n", `line 3: clients[0]: skip_consent must be true or false, not a string`},
		"list written as text":    {"roles:\n  - name: a\n    scopes: read\n", `line 3: roles[0]: scopes must be a list, not a string`},
		// Only the first document was read: with --prune, what the rest
		// named was deleted.
		"second document":          {"roles:\n  - name: a\n---\nusers:\n  - username: b\n", "line 4: a second YAML document"},
		"text after the doc's end": {"roles: []\n...\nusers: [\n", "test.yaml: yaml: line"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := state.Load(strings.NewReader(tc.file), "test.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestLoadKeepsDatesAsWritten checks that a plain value YAML would read
// as a date ("2024-01-01") is the text written, as every field holding it
// is a string: read as a time, it came back as "2024-01-01T00:00:00Z", so
// apply named a role, or described a scope, other than the file said.
func TestLoadKeepsDatesAsWritten(t *testing.T) {
	f, err := state.Load(strings.NewReader("scopes:\n  - name: term:2025-09-01\n    description: 2001-12-14 21:59:43.10 -5\n"+
		"roles:\n  - name: 2024-01-01\n    scopes: [2025-09-01]\n"), "test.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := f.Scopes[0].Description; got != "2001-12-14 21:59:43.10 -5" {
		t.Errorf("scope description = %q", got)
	}
	if got := f.Roles[0]; got.Name != "2024-01-01" || !slices.Equal(got.Scopes, []string{"2025-09-01"}) {
		t.Errorf("role = %q with scopes %q", got.Name, got.Scopes)
	}
}

// The protocol fields of a client (private_key_jwt keys, PAR, back-channel
// logout) are planned, applied and exported like the others; hallpass's
// own clients (directory.Options.BuiltinClients) are neither exported,
// pruned nor manageable by a file.
func TestProtocolFieldsAndBuiltin(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	file := func(logoutURI string) string {
		return `
clients:
  - client_id: signer
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [https://signer.example/cb]
    token_endpoint_auth_method: private_key_jwt
    token_endpoint_auth_signing_alg: RS256
    scope: openid
    jwks: ` + string(jwks) + `
    require_pushed_authorization_requests: true
    backchannel_logout_uri: ` + logoutURI + `
    backchannel_logout_session_required: true
`
	}
	eachBackend(t, func(t *testing.T, st storage.Store, _ *directory.Service) {
		ctx := context.Background()
		dir := directory.New(st, directory.Options{BuiltinClients: []string{"own"}})
		if _, err := dir.Clients().RegisterBuiltin(ctx, directory.ClientMetadata{ClientID: "own", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{}}); err != nil {
			t.Fatal(err)
		}
		opts := state.Options{Prune: true}
		mustApply(t, dir, load(t, file("https://signer.example/logout")), opts)
		got, err := dir.Clients().Get(ctx, "signer")
		if err != nil {
			t.Fatal(err)
		}
		if got.BackchannelLogoutURI != "https://signer.example/logout" || !got.RequirePushedAuthorizationRequests || len(got.JWKS) == 0 {
			t.Fatalf("applied client = %+v", got)
		}
		if _, err := dir.Clients().Get(ctx, "own"); err != nil {
			t.Fatalf("prune deleted a builtin client: %v", err)
		}

		exported, err := state.Export(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		out, err := state.Marshal(exported)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "client_id: own") {
			t.Errorf("export holds the builtin client:\n%s", out)
		}
		wantEmpty(t, "plan of the export", mustPlan(t, dir, load(t, string(out)), opts))

		text := planText(t, mustPlan(t, dir, load(t, file("https://signer.example/logout2")), opts))
		if !strings.Contains(text, "backchannel_logout_uri") {
			t.Errorf("a changed back-channel URI is not planned:\n%s", text)
		}
		for _, id := range []string{"own", "Own", "OWN"} {
			// A case variant of a builtin id fails the plan, as its
			// apply would.
			if _, err := state.Make(ctx, dir, load(t, "clients:\n  - client_id: "+id+"\n    grant_types: [client_credentials]\n    response_types: []\n"), opts); err == nil {
				t.Errorf("a file managing the builtin client as %s was accepted", id)
			}
		}
	})
}

// recorder keeps the audit events a Service records.
type recorder struct{ events []audit.Event }

func (r *recorder) Record(_ context.Context, ev audit.Event) { r.events = append(r.events, ev) }

func (r *recorder) actions() []string {
	var out []string
	for _, ev := range r.events {
		out = append(out, ev.Action)
	}
	return out
}

// Applying a file records each change and, once, that a configuration was
// applied with its counts; a second apply, which changes nothing, records
// nothing.
func TestApplyAudited(t *testing.T) {
	st := testdb.Open(t, testdb.SQLite(t))
	rec := &recorder{}
	dir := directory.New(st, directory.Options{Audit: rec})
	mustApply(t, dir, school(t), state.Options{})
	acts := rec.actions()
	if !slices.Contains(acts, "role.create") || !slices.Contains(acts, "client.create") || !slices.Contains(acts, "user.create") {
		t.Errorf("the changes were not each recorded: %v", acts)
	}
	last := rec.events[len(rec.events)-1]
	if last.Action != "config.applied" || last.Details["created"] != len(acts)-1 || last.Details["deleted"] != 0 {
		t.Errorf("last event = %+v, want config.applied counting %d creations", last, len(acts)-1)
	}
	rec.events = nil
	mustApply(t, dir, school(t), state.Options{})
	if len(rec.events) != 0 {
		t.Errorf("an apply that changed nothing recorded %v", rec.actions())
	}
}

// A client whose secret comes from the environment is changed in one
// write, recorded once: a changed secret alone, or a public client turned
// confidential (which, updated first and given its secret after, had a
// secret generated and then replaced, recorded twice).
func TestApplySecretChangeRecordedOnce(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := testdb.Open(t, b.DSN(t))
			rec := &recorder{}
			dir := directory.New(st, directory.Options{Audit: rec})
			ctx := context.Background()
			env := map[string]string{"APP_SECRET": strings.Repeat("a", 40)}
			opts := state.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
			file := func(method, secretEnv string) *state.File {
				return load(t, `
clients:
  - client_id: app
    redirect_uris: ['https://app.example/cb']
    token_endpoint_auth_method: `+method+`
    client_secret_env: "`+secretEnv+`"
`)
			}
			mustApply(t, dir, file("none", ""), opts)

			for _, step := range []struct {
				name, method, secret string
				fields               []string
			}{
				{"turned confidential", "client_secret_basic", strings.Repeat("b", 40), []string{"token_endpoint_auth_method", "client_secret"}},
				{"secret changed", "client_secret_basic", strings.Repeat("c", 40), []string{"client_secret"}},
			} {
				rec.events = nil
				env["APP_SECRET"] = step.secret
				r := mustApply(t, dir, file(step.method, "APP_SECRET"), opts)
				if len(r.Secrets) != 0 {
					t.Errorf("%s: a secret was reported as generated: %d", step.name, len(r.Secrets))
				}
				if ok, err := dir.Clients().SecretMatches(ctx, "app", step.secret); err != nil || !ok {
					t.Errorf("%s: app's secret is not APP_SECRET (%v)", step.name, err)
				}
				var updates []audit.Event
				for _, ev := range rec.events {
					if ev.Action == "client.update" {
						updates = append(updates, ev)
					}
				}
				if len(updates) != 1 {
					t.Errorf("%s: %d client.update records, want 1: %+v", step.name, len(updates), updates)
					continue
				}
				got, _ := updates[0].Details["fields"].([]string)
				if !sameStrings(got, step.fields) {
					t.Errorf("%s: recorded fields %v, want %v", step.name, updates[0].Details["fields"], step.fields)
				}
			}
		})
	}
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Plan refuses a user given a role the directory will not hold once the
// file is applied (plan showed the user's creation, and apply then failed),
// or that --prune deletes (apply gave the role, then deleted it, and the
// directory was left unlike the file); apply says the same and keeps
// nothing. A role the file creates, or a stored one kept, plans fine.
func TestPlanChecksUsersRoles(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
		ctx := context.Background()
		if _, err := dir.Roles().Create(ctx, directory.RoleView{Name: "stored"}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, file string
			prune      bool
			want       string // in the error; "" plans fine
		}{
			{"unknown role", "users:\n  - username: frank\n    roles: [nosuch]\n", false, `user "frank": role "nosuch" does not exist, and the file does not create it`},
			{"stored role pruned", "users:\n  - username: frank\n    roles: [stored]\n", true, `user "frank": role "stored" is not in the file, and --prune deletes`},
			{"stored role kept", "users:\n  - username: frank\n    roles: [stored]\n", false, ""},
			{"role the file creates", "roles:\n  - name: fresh\nusers:\n  - username: frank\n    roles: [fresh]\n", true, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := load(t, tc.file)
				opts := state.Options{Prune: tc.prune}
				p, err := state.Make(ctx, dir, f, opts)
				if tc.want == "" {
					if err != nil || !strings.Contains(planText(t, p), "+ create user frank") {
						t.Fatalf("Make = %v, want frank planned", err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Make = %v, want an error saying %q", err, tc.want)
				}
				if _, aerr := state.Apply(ctx, dir, f, opts); aerr == nil || aerr.Error() != err.Error() {
					t.Errorf("Apply = %v, want what plan says: %v", aerr, err)
				}
				if users, _ := dir.Users().List(ctx); len(users) != 0 {
					t.Errorf("users after the refused apply: %+v", users)
				}
				if _, err := dir.Roles().Get(ctx, "stored"); err != nil {
					t.Errorf("role stored after the refused apply: %v", err)
				}
			})
		}
	})
}

// TestKeepsAdmins: a file after which no enabled user would hold the
// console's role, held by someone now, is refused by plan and apply, with
// or without --prune; --prune used to delete the role and its holders.
func TestKeepsAdmins(t *testing.T) {
	const stored = `
roles:
  - name: admin
  - name: teacher
users:
  - username: root
    roles: [admin]
  - username: bob
    roles: [teacher]
`
	for name, tc := range map[string]struct {
		stored, file string
		prune        bool
		want         string // an error, or "" for a plan
	}{
		"prune, admins not named":      {stored, "roles:\n  - name: teacher\n", true, `no enabled user would hold the role "admin"`},
		"prune, role kept, no holder":  {stored, "roles:\n  - name: admin\n", true, `no enabled user would hold the role "admin"`},
		"prune, role and holder named": {stored, "roles:\n  - name: admin\nusers:\n  - username: root\n    roles: [admin]\n", true, ""},
		"holder disabled":              {stored, "users:\n  - username: root\n    roles: [admin]\n    disabled: true\n", false, `no enabled user would hold the role "admin"`},
		"role taken from holder":       {stored, "users:\n  - username: root\n    roles: [teacher]\n", false, `and is now held by 1`},
		"holder replaced":              {stored, "users:\n  - username: root\n    roles: []\n  - username: carol\n    roles: [admin]\n", false, ""},
		"file names nobody":            {stored, "", false, ""},
		"no admin now":                 {"roles:\n  - name: teacher\n", "roles: []\n", true, ""},
	} {
		t.Run(name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, _ storage.Store, dir *directory.Service) {
				mustApply(t, dir, load(t, tc.stored), state.Options{})
				opts := state.Options{Prune: tc.prune, AdminRole: "admin"}
				_, err := state.Make(context.Background(), dir, load(t, tc.file), opts)
				_, aerr := state.Apply(context.Background(), dir, load(t, tc.file), opts)
				if tc.want == "" {
					if err != nil || aerr != nil {
						t.Fatalf("Make = %v, Apply = %v; want both to pass", err, aerr)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Make = %v, want an error saying %q", err, tc.want)
				}
				if aerr == nil || !strings.Contains(aerr.Error(), tc.want) {
					t.Errorf("Apply = %v, want an error saying %q", aerr, tc.want)
				}
			})
		})
	}
}

// TestApplyExpect: Apply with the digest of the plan reviewed makes those
// changes, or none when the directory changed since the plan (the plan
// made in Apply's transaction differs); without it Apply does what the
// directory asks for then.
func TestApplyExpect(t *testing.T) {
	const file = "roles:\n  - name: teacher\n    scopes: []\n  - name: pupil\n"
	for name, tc := range map[string]struct {
		meanwhile string // applied between plan and apply
		expect    bool
		wantErr   bool
	}{
		"unchanged":               {"", true, false},
		"role created meanwhile":  {"roles:\n  - name: pupil\n", true, true},
		"role updated meanwhile":  {"roles:\n  - name: teacher\n    description: x\n", true, true},
		"unrelated object":        {"scopes:\n  - name: read\n", true, false},
		"no --expect, it changed": {"roles:\n  - name: pupil\n", false, false},
	} {
		t.Run(name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, _ storage.Store, dir *directory.Service) {
				mustApply(t, dir, load(t, "roles:\n  - name: teacher\n    scopes: [openid]\nscopes:\n  - name: openid\n"), state.Options{})
				digest := mustPlan(t, dir, load(t, file), state.Options{}).Digest()
				if tc.meanwhile != "" {
					mustApply(t, dir, load(t, tc.meanwhile), state.Options{})
				}
				opts := state.Options{}
				if tc.expect {
					opts.Expect = digest
				}
				before := planText(t, mustPlan(t, dir, load(t, file), state.Options{}))
				_, err := state.Apply(context.Background(), dir, load(t, file), opts)
				after := planText(t, mustPlan(t, dir, load(t, file), state.Options{}))
				if tc.wantErr {
					if !errors.Is(err, state.ErrPlanChanged) || !strings.Contains(err.Error(), digest) {
						t.Fatalf("Apply = %v, want ErrPlanChanged naming %s", err, digest)
					}
					if after != before {
						t.Errorf("a refused apply changed the directory: plan before\n%s\nafter\n%s", before, after)
					}
					return
				}
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				wantEmpty(t, "plan after apply", mustPlan(t, dir, load(t, file), state.Options{}))
			})
		})
	}
}

// TestPruneBlankFile: --prune with a file that names no list (empty,
// comments only, {}) is refused, by plan and apply, deleting nothing; a
// file that says "users: []" prunes. An empty file had deleted every
// client and user.
func TestPruneBlankFile(t *testing.T) {
	for name, tc := range map[string]struct {
		file  string
		prune bool
		want  string // an error, or "" for a plan
	}{
		"empty":               {"", true, "--prune with a file that names none"},
		"comments only":       {"# nothing yet\n", true, "--prune with a file that names none"},
		"empty mapping":       {"{}\n", true, "--prune with a file that names none"},
		"empty, no --prune":   {"", false, ""},
		"lists named, empty":  {"scopes: []\nusers:\n", true, ""},
		"one list, one entry": {"roles:\n  - name: teacher\n", true, ""},
	} {
		t.Run(name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, _ storage.Store, dir *directory.Service) {
				mustApply(t, dir, load(t, "roles:\n  - name: teacher\nusers:\n  - username: bob\n"), state.Options{})
				opts := state.Options{Prune: tc.prune}
				_, err := state.Make(context.Background(), dir, load(t, tc.file), opts)
				_, aerr := state.Apply(context.Background(), dir, load(t, tc.file), opts)
				if tc.want == "" {
					if err != nil || aerr != nil {
						t.Fatalf("Make = %v, Apply = %v; want both to pass", err, aerr)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) || aerr == nil || !strings.Contains(aerr.Error(), tc.want) {
					t.Fatalf("Make = %v, Apply = %v; want both to say %q", err, aerr, tc.want)
				}
				wantEmpty(t, "the directory after a refused prune", mustPlan(t, dir, load(t, "roles:\n  - name: teacher\nusers:\n  - username: bob\n"), state.Options{Prune: true}))
			})
		})
	}
}

// TestLoadTakesOthersVariables: a variable that is not one of hallpass's
// own settings may hold a secret, whatever its prefix: "PG" alone
// refused PGP_KEY and PG_ADMIN_PASSWORD as hallpass's, which they are
// not (hallpass reads only libpq's PG* variables its driver knows).
func TestLoadTakesOthersVariables(t *testing.T) {
	for _, name := range []string{"PGP_KEY", "PG_ADMIN_PASSWORD", "PGPASSWORD_FOR_ALICE", "PGHOSTADDR", "OTELCOL_TOKEN", "HALLPASSWORD", "ALICE_PASSWORD"} {
		t.Run(name, func(t *testing.T) {
			f, err := state.Load(strings.NewReader("users:\n  - username: a\n    password_env: "+name+"\nclients:\n  - client_id: c\n    client_secret_env: "+name+"\n"), "test.yaml")
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if f.Users[0].PasswordEnv != name || f.Clients[0].ClientSecretEnv != name {
				t.Errorf("password_env %q, client_secret_env %q, want %q", f.Users[0].PasswordEnv, f.Clients[0].ClientSecretEnv, name)
			}
		})
	}
}
