package provider_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to explain plans

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage/sqlstore"
)

// growingTables are the tables that gain rows with every sign-in, token
// or failed guess; a statement that reads one of them by scanning it
// costs time in proportion to the traffic so far.
var growingTables = []string{
	"tokens", "browser_sessions", "auth_requests", "login_throttle", "audit_entries",
	"access_revocations", "session_clients", "consents", "client_assertion_jtis", "users",
}

// TestLoadPathsPlanWithoutScans checks, on PostgreSQL, the plans of every
// statement the load tool's paths run: a fresh login (with a wrong
// password first), signed-in flows, a client-credentials token and its
// introspection. pgx prepares each statement once per connection, and
// after five runs PostgreSQL may keep one generic plan, made from the
// statistics of that moment, until the table is next analyzed; on a new
// database that moment is an empty table. Planned so, on this test's new
// schema, no statement may scan a table that grows with traffic.
func TestLoadPathsPlanWithoutScans(t *testing.T) {
	dsn := testdb.Postgres(t)
	l := &statementLog{}
	observed := false
	f := newBenchFlow(t, dsn, func(c *provider.Config) {
		if o, ok := c.Store.(interface{ ObserveQueries(sqlstore.QueryObserver) }); ok {
			o.ObserveQueries(l.observe)
			observed = true
		}
	})
	if !observed {
		t.Fatal("the store does not report its statements")
	}
	ts := f.ts

	// A wrong password: the failure's throttle writes.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Transport: ts.HTTP.Transport, Jar: jar}
	authURL, _ := f.authorizeURL()
	resp, err := browser.Get(ts.URL + authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp = benchSubmit(t, browser, resp, url.Values{"username": {"bencher"}, "password": {"not-the-password-at-all"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("wrong password: %d, want the form again", resp.StatusCode)
	}
	for range 3 {
		f.run(t)
	}
	app := ts.registerService(t, "client_secret_basic", "results:read", "https://school.example/api")
	rs := ts.registerResourceServer(t, "client_secret_basic", "", "https://school.example/api")
	tok := ts.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: "application/x-www-form-urlencoded",
		Body: "grant_type=client_credentials&scope=results:read", Auth: basic(app.ClientID, app.ClientSecret)})
	var issued struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(tok.Body, &issued); err != nil || issued.AccessToken == "" {
		t.Fatalf("client credentials: %d %s", tok.Status, tok.Body)
	}
	token := issued.AccessToken
	in := ts.do(t, req{Method: http.MethodPost, Path: provider.PathIntrospect, ContentType: "application/x-www-form-urlencoded",
		Body: url.Values{"token": {token}}.Encode(), Auth: basic(rs.ClientID, rs.ClientSecret)})
	if !strings.Contains(string(in.Body), `"active":true`) {
		t.Fatalf("introspect: %d %s", in.Status, in.Body)
	}

	var stmts []string
	for _, s := range l.take() {
		if !slices.Contains(stmts, s) {
			stmts = append(stmts, s)
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	scan := regexp.MustCompile(`Seq Scan on (\w+)`)
	explained := 0
	for _, q := range stmts {
		plan, err := testdb.GenericPlan(t.Context(), conn, q)
		if err != nil {
			t.Error(err)
			continue
		}
		explained++
		// A consent is one user's to one client: read by its primary
		// key, not among every consent to the client.
		readsConsents := strings.Contains(q, "FROM consents") || strings.Contains(q, "JOIN consents")
		if readsConsents && !strings.Contains(plan, "consents_pkey") {
			t.Errorf("the generic plan does not read consents by primary key:\n%s\n%s", q, plan)
		}
		for _, m := range scan.FindAllStringSubmatch(plan, -1) {
			if slices.Contains(growingTables, m[1]) {
				t.Errorf("the generic plan scans %s:\n%s\n%s", m[1], q, plan)
			}
		}
	}
	t.Logf("explained %d statements", explained)
	if explained < 10 {
		t.Fatalf("explained only %d statements; the paths run more", explained)
	}
}
