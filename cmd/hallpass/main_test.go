package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

// syncBuffer is a bytes.Buffer safe to read while the server writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is one `hallpass serve` running in-process on a free port.
type instance struct {
	base   string
	stdout *syncBuffer
	stderr *syncBuffer
	stop   func() int
}

var addrRE = regexp.MustCompile(`"msg":"hallpass serving","addr":"([^"]+)"`)

// startServe runs `hallpass serve` with args and waits until it listens.
func startServe(t *testing.T, args ...string) *instance {
	t.Helper()
	return startServeTo(t, nil, args...)
}

// startServeTo is startServe writing serve's stdout to stdout, or to
// the instance's buffer when nil.
func startServeTo(t *testing.T, stdout io.Writer, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	if stdout == nil {
		stdout = in.stdout
	}
	done := make(chan int, 1)
	full := append([]string{"serve", "--addr", "127.0.0.1:0", "--key-refresh", "0"}, args...)
	go func() { done <- run(ctx, full, stdout, in.stderr) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := addrRE.FindStringSubmatch(in.stderr.String()); m != nil {
			in.base = "http://" + m[1]
			break
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited with %d before listening:\n%s", code, in.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start:\n%s", in.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var once sync.Once
	code := 0
	in.stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() { in.stop() })
	return in
}

func postJSON(t *testing.T, u, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func jwks(t *testing.T, base string) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

// verify checks an access token's signature against the JWKS and returns its claims.
func verify(t *testing.T, set jose.JSONWebKeySet, token string) map[string]any {
	t.Helper()
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", tok.Headers[0].KeyID)
	}
	var claims map[string]any
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("verify token: %v", err)
	}
	return claims
}

func chdirTemp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

// TestFirstStartAndRestart is the newcomer's path: no configuration at
// all, then a restart that must keep clients, keys and tokens valid.
func TestFirstStartAndRestart(t *testing.T) {
	dir := chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", "")
	t.Setenv("HALLPASS_ADMIN_TOKEN", "")
	os.Unsetenv("HALLPASS_SECRET")
	os.Unsetenv("HALLPASS_ADMIN_TOKEN")

	first := startServe(t)
	m := regexp.MustCompile(`(?m)^\s{4}(\S{43})$`).FindStringSubmatch(first.stdout.String())
	if m == nil {
		t.Fatalf("first start printed no admin token:\n%s", first.stdout.String())
	}
	adminToken := m[1]
	if strings.Contains(first.stderr.String(), adminToken) {
		t.Fatal("admin token written to the logs")
	}
	if !strings.Contains(first.stderr.String(), "production must set HALLPASS_SECRET") {
		t.Error("no warning about the generated secret")
	}
	info, err := os.Stat(filepath.Join(dir, "hallpass.db.secret"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, mode %v; want 0600", err, info)
	}
	if _, err := os.Stat(filepath.Join(dir, "hallpass.db")); err != nil {
		t.Fatalf("no hallpass.db in the working directory: %v", err)
	}

	resp, reg := postJSON(t, first.base+"/oauth2/register", adminToken, map[string]any{
		"client_name": "svc", "grant_types": []string{"client_credentials"}, "scope": "results:read",
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %v", resp.StatusCode, reg)
	}
	cc := clientcredentials.Config{
		ClientID: reg["client_id"].(string), ClientSecret: reg["client_secret"].(string),
		TokenURL: first.base + "/oauth2/token", Scopes: []string{"results:read"},
	}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("token before restart: %v", err)
	}
	kid := jwks(t, first.base).Keys[0].KeyID
	if code := first.stop(); code != 0 {
		t.Fatalf("graceful stop exited %d:\n%s", code, first.stderr.String())
	}
	if !strings.Contains(first.stderr.String(), `"msg":"stopped"`) {
		t.Error("no clean shutdown logged")
	}

	second := startServe(t)
	if strings.Contains(second.stdout.String(), "admin token") {
		t.Error("admin token printed again on restart")
	}
	set := jwks(t, second.base)
	if len(set.Keys) != 2 || set.Keys[0].KeyID != kid {
		t.Fatalf("restart changed the signing key: %v, want %s first and the next key", set.Keys, kid)
	}
	claims := verify(t, set, tok.AccessToken)
	if claims["client_id"] != cc.ClientID {
		t.Errorf("claims = %v", claims)
	}
	cc.TokenURL = second.base + "/oauth2/token"
	if _, err := cc.Token(context.Background()); err != nil {
		t.Fatalf("client registered before restart cannot get a token: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, second.base+"/admin/clients", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	r, err := http.DefaultClient.Do(req)
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("generated admin token after restart: %v %v", err, r)
	}
	r.Body.Close()
}

func TestWrongSecretRefusesToStart(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	t.Setenv("HALLPASS_SECRET", strings.Repeat("a", 32))
	first := startServe(t)
	kid := jwks(t, first.base).Keys[0].KeyID
	first.stop()

	t.Setenv("HALLPASS_SECRET", strings.Repeat("b", 32))
	var stderr syncBuffer
	code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, io.Discard, &stderr)
	if code == 0 {
		t.Fatal("serve started with the wrong secret")
	}
	if !strings.Contains(stderr.String(), "HALLPASS_SECRET does not match") {
		t.Errorf("error does not name the problem:\n%s", stderr.String())
	}

	t.Setenv("HALLPASS_SECRET", strings.Repeat("a", 32))
	again := startServe(t)
	if got := jwks(t, again.base); len(got.Keys) != 2 || got.Keys[0].KeyID != kid {
		t.Fatalf("keys after a failed start with the wrong secret: %v, want %s and the next key", got.Keys, kid)
	}
}

func TestShortSecretRefused(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", "short")
	var stderr syncBuffer
	if code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, io.Discard, &stderr); code == 0 {
		t.Fatal("serve accepted a 5-character secret")
	}
	if !strings.Contains(stderr.String(), "at least 32") {
		t.Errorf("stderr = %s", stderr.String())
	}
}

func TestEnvironmentConfiguresFlags(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	t.Setenv("HALLPASS_ISSUER", "https://id.example.test")
	t.Setenv("HALLPASS_DATABASE", "sqlite:"+filepath.Join(t.TempDir(), "other.db"))
	in := startServe(t)
	resp, err := http.Get(in.base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	if doc["issuer"] != "https://id.example.test" || doc["token_endpoint"] != "https://id.example.test/oauth2/token" {
		t.Errorf("HALLPASS_ISSUER not applied: %v", doc["issuer"])
	}
	if _, err := os.Stat("hallpass.db"); err == nil {
		t.Error("HALLPASS_DATABASE ignored: hallpass.db created in the working directory")
	}

	t.Setenv("HALLPASS_KEY_BITS", "1024")
	var stderr syncBuffer
	if code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, io.Discard, &stderr); code == 0 {
		t.Fatal("HALLPASS_KEY_BITS=1024 accepted")
	}
	t.Setenv("HALLPASS_KEY_BITS", "")
	t.Setenv("HALLPASS_DATABASE", "mysql://nope")
	stderr = syncBuffer{}
	if code := run(context.Background(), []string{"migrate"}, io.Discard, &stderr); code == 0 || !strings.Contains(stderr.String(), "sqlite:PATH or a postgres:// URL") {
		t.Errorf("unknown database scheme: code %d, stderr %s", code, stderr.String())
	}
}

func TestClientsCommand(t *testing.T) {
	chdirTemp(t)
	db := migrated(t, "sqlite:"+filepath.Join(t.TempDir(), "cli.db"))
	hp := func(args ...string) (string, string, int) {
		var out, errb syncBuffer
		code := run(context.Background(), append([]string{"--database", db}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	out, errOut, code := hp("clients", "create", "--id", "report-service", "--name", "Reports",
		"--grant-type", "client_credentials", "--scope", "results:read,results:write")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	var created map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create output is not JSON: %v\n%s", err, out)
	}
	if created["client_id"] != "report-service" || created["scope"] != "results:read results:write" || len(created["client_secret"].(string)) < 43 {
		t.Fatalf("created = %v", created)
	}

	if _, errOut, code := hp("clients", "create", "--id", "report-service", "--grant-type", "client_credentials"); code == 0 || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate id: code %d, %s", code, errOut)
	}
	if _, errOut, code := hp("clients", "create", "--redirect-uri", "http://evil.example/cb"); code == 0 || !strings.Contains(errOut, "invalid_redirect_uri") {
		t.Errorf("bad redirect: code %d, %s", code, errOut)
	}
	for uri, rule := range map[string]string{
		"https://\u0430pple.example/cb":   `register "https://xn--pple-43d.example/cb"`,
		`https://app.example/cb\..\admin`: "must not contain a backslash",
	} {
		if _, errOut, code := hp("clients", "create", "--redirect-uri", uri); code == 0 || !strings.Contains(errOut, "invalid_redirect_uri") || !strings.Contains(errOut, rule) {
			t.Errorf("redirect URI %q: code %d, %s; want refused saying %q", uri, code, errOut, rule)
		}
	}

	out, _, code = hp("clients", "list")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0]["client_id"] != "report-service" {
		t.Fatalf("list: %d %s", code, out)
	}
	if _, ok := list[0]["client_secret"]; ok {
		t.Error("list shows a secret")
	}
	out, _, code = hp("clients", "get", "report-service")
	if code != 0 || !strings.Contains(out, `"client_name": "Reports"`) {
		t.Fatalf("get: %d %s", code, out)
	}

	// The CLI and the server share the database: a CLI-made client gets tokens.
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	in := startServe(t, "--database", db)
	cc := clientcredentials.Config{ClientID: "report-service", ClientSecret: created["client_secret"].(string), TokenURL: in.base + "/oauth2/token"}
	if _, err := cc.Token(context.Background()); err != nil {
		t.Fatalf("token for CLI-created client: %v", err)
	}

	if _, errOut, code := hp("clients", "delete", "report-service"); code != 0 {
		t.Fatalf("delete: %s", errOut)
	}
	if _, errOut, code := hp("clients", "get", "report-service"); code == 0 || !strings.Contains(errOut, "no client") {
		t.Errorf("get after delete: %d %s", code, errOut)
	}
	// Within the server's bound for changes made elsewhere (storage/cached).
	if !eventually(5*time.Second, func() bool { _, err := cc.Token(context.Background()); return err != nil }) {
		t.Error("deleted client still gets tokens")
	}
	if _, _, code := hp("clients", "delete", "report-service"); code == 0 {
		t.Error("deleting a missing client succeeded")
	}
}

func TestVersionAndMigrate(t *testing.T) {
	chdirTemp(t)
	var out syncBuffer
	if code := run(context.Background(), []string{"version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "hallpass ") {
		t.Errorf("version: %d %q", code, out.String())
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	// The first run applies every migration and says so; the second has
	// none to apply and says that, not "applied".
	for i, want := range []string{"migration(s) applied (versions [1 2 ", "schema up to date: no migration to apply"} {
		out = syncBuffer{}
		if code := run(context.Background(), []string{"migrate", "--database", db}, &out, io.Discard); code != 0 {
			t.Fatalf("migrate run %d failed", i)
		}
		if got := out.String(); !strings.Contains(got, want) || (i == 1 && strings.Contains(got, "applied")) {
			t.Errorf("migrate run %d said %q, want %q", i, got, want)
		}
	}
}

// TestServeOnPostgres runs the same binary path on PostgreSQL: migrate on
// start, register, issue, restart, verify.
func TestServeOnPostgres(t *testing.T) {
	dsn := testdb.Postgres(t)
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("p", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	t.Setenv("HALLPASS_DATABASE", dsn)
	first := startServe(t)
	resp, reg := postJSON(t, first.base+"/oauth2/register", "test-admin-token-test-admin-token", map[string]any{
		"grant_types": []string{"client_credentials"}, "scope": "results:read",
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %v", resp.StatusCode, reg)
	}
	cc := clientcredentials.Config{ClientID: reg["client_id"].(string), ClientSecret: reg["client_secret"].(string), TokenURL: first.base + "/oauth2/token"}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first.stop()
	if _, err := os.Stat("hallpass.db"); err == nil {
		t.Error("a postgres:// HALLPASS_DATABASE still created an SQLite file")
	}
	second := startServe(t)
	if claims := verify(t, jwks(t, second.base), tok.AccessToken); claims["scope"] != "results:read" {
		t.Errorf("claims after restart = %v", claims)
	}
	r, err := http.Get(second.base + "/readyz")
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("readyz on postgres: %v %v", err, r)
	}
	r.Body.Close()
}

func TestUsersRolesScopesCommands(t *testing.T) {
	chdirTemp(t)
	db := migrated(t, "sqlite:"+filepath.Join(t.TempDir(), "dir.db"))
	hp := func(stdin string, args ...string) (string, string, int) {
		var out, errb syncBuffer
		root := newRootCmd(&out, &errb)
		root.SetIn(strings.NewReader(stdin))
		root.SetArgs(append([]string{"--database", db}, args...))
		if err := root.ExecuteContext(context.Background()); err != nil {
			return out.String(), err.Error(), 1
		}
		return out.String(), errb.String(), 0
	}
	if _, e, code := hp("", "scopes", "create", "results:read", "--description", "Read exam results", "--audience", "https://school.example/api"); code != 0 {
		t.Fatalf("scopes create: %s", e)
	}
	if _, e, code := hp("", "roles", "create", "teacher", "--scope", "results:read,results:write"); code != 0 {
		t.Fatalf("roles create: %s", e)
	}
	if _, e, code := hp("", "roles", "create", "teacher"); code == 0 || !strings.Contains(e, "already exists") {
		t.Errorf("duplicate role: %d %s", code, e)
	}
	if _, e, code := hp("", "users", "create", "--username", "carol", "--role", "ghost"); code == 0 || !strings.Contains(e, `role "ghost" does not exist`) {
		t.Errorf("user with a missing role: %d %s", code, e)
	}
	out, e, code := hp("a long passphrase\n", "users", "create", "--username", "alice", "--email", "alice@example.com", "--role", "teacher", "--password-stdin")
	if code != 0 {
		t.Fatalf("users create: %s", e)
	}
	var alice map[string]any
	if err := json.Unmarshal([]byte(out), &alice); err != nil || alice["username"] != "alice" || alice["id"] == "" {
		t.Fatalf("created user = %s", out)
	}
	if strings.Contains(out, "passphrase") || strings.Contains(out, "argon2") {
		t.Error("user output shows the password or its hash")
	}
	out, e, code = hp("", "users", "create", "--username", "bob")
	if code != 0 || !strings.Contains(e, "Generated password for bob") {
		t.Fatalf("users create without a password: %d %s", code, e)
	}

	out, _, _ = hp("", "users", "update", "alice", "--name", "Alice Liddell")
	if !strings.Contains(out, `"name": "Alice Liddell"`) || !strings.Contains(out, `"teacher"`) || !strings.Contains(out, "alice@example.com") {
		t.Errorf("update changed more than --name: %s", out)
	}
	if out, _, _ = hp("", "roles", "update", "teacher", "--description", "Teaches"); !strings.Contains(out, `"results:write"`) {
		t.Errorf("roles update dropped the scopes: %s", out)
	}
	if out, _, _ = hp("", "scopes", "get", "results:read"); !strings.Contains(out, "https://school.example/api") {
		t.Errorf("scopes get: %s", out)
	}
	if out, _, _ = hp("", "users", "list"); !strings.Contains(out, `"alice"`) || !strings.Contains(out, `"bob"`) {
		t.Errorf("users list: %s", out)
	}

	// The password set from stdin is the one that signs in.
	st := testdb.Open(t, db)
	u, err := st.GetUserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := directory.CheckPassword(u.PasswordHash, "a long passphrase"); !ok {
		t.Error("stored hash does not match the password read from stdin")
	}

	if _, e, code := hp("", "roles", "delete", "teacher"); code != 0 {
		t.Fatalf("roles delete: %s", e)
	}
	if out, _, _ = hp("", "users", "get", "alice"); strings.Contains(out, "teacher") {
		t.Errorf("deleted role still held: %s", out)
	}
	if _, e, code := hp("", "users", "delete", "alice"); code != 0 {
		t.Fatalf("users delete: %s", e)
	}
	if _, _, code := hp("", "users", "get", "alice"); code == 0 {
		t.Error("deleted user still found")
	}
}

// TestDevSeed checks --dev: the demo is seeded into an empty database and
// printed, the dev page is served, and nothing of it exists without --dev.
func TestDevSeed(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("d", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")

	plain := startServe(t, "--database", "sqlite:plain.db")
	if r, err := http.Get(plain.base + "/dev/callback"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Errorf("/dev/callback without --dev: %v %v", err, r)
	}
	plain.stop()
	if st := testdb.Open(t, "sqlite:plain.db"); true {
		if us, _ := st.ListUsers(context.Background()); len(us) != 0 {
			t.Errorf("users seeded without --dev: %v", us)
		}
	}

	dev := startServe(t, "--dev", "--database", "sqlite:dev.db")
	out := dev.stdout.String()
	for _, want := range []string{"alice (teacher)  password ", "bob   (student)  password ", "admin (admin)  password ", provider.DevClientID, "/oauth2/authorize?",
		"http://localhost:8080/console\n", "http://localhost:8080/account\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("--dev output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(dev.stderr.String(), "password") {
		t.Error("a password reached the logs")
	}
	if !strings.Contains(dev.stderr.String(), `"level":"WARN","msg":"development mode (--dev)`) {
		t.Errorf("--dev is not warned about in the logs:\n%s", dev.stderr.String())
	}
	// The generated passwords obey the rules every other path obeys.
	seeded := regexp.MustCompile(`(alice|bob) +\((?:teacher|student)\)  password (\S+)`).FindAllStringSubmatch(out, -1)
	if len(seeded) != 2 {
		t.Errorf("--dev printed %d passwords, want alice's and bob's:\n%s", len(seeded), out)
	}
	for _, m := range seeded {
		if err := directory.CheckPasswordPolicy(m[2], m[1], m[1]+"@example.com"); err != nil {
			t.Errorf("--dev password of %s breaks the password rules: %v", m[1], err)
		}
	}
	walkDevLink(t, dev)
	dev.stop()
	st := testdb.Open(t, "sqlite:dev.db")
	ctx := context.Background()
	bob, err := st.GetUserByUsername(ctx, "bob")
	if err != nil || len(bob.Roles) != 1 || bob.Roles[0] != "student" {
		t.Fatalf("bob = %+v, %v", bob, err)
	}
	if admin, err := st.GetUserByUsername(ctx, "admin"); err != nil || len(admin.Roles) != 1 || admin.Roles[0] != "admin" {
		t.Fatalf("admin = %+v, %v", admin, err)
	}
	teacher, err := st.GetRole(ctx, "teacher")
	if err != nil || strings.Join(teacher.Scopes, " ") != "results:read results:write schedule:write" {
		t.Fatalf("teacher = %+v, %v", teacher, err)
	}
	c, err := st.GetClient(ctx, provider.DevClientID)
	if err != nil || c.TokenEndpointAuthMethod != "none" || !strings.HasSuffix(c.RedirectURIs[0], "/dev/callback") {
		t.Fatalf("dev client = %+v, %v", c, err)
	}

	// A second --dev start on the same database seeds nothing again.
	again := startServe(t, "--dev", "--database", "sqlite:dev.db")
	if !strings.Contains(again.stdout.String(), "nothing seeded") {
		t.Errorf("second --dev start: %s", again.stdout.String())
	}
	// It reprints who can sign in and a working link, not the passwords.
	for _, want := range []string{"alice (teacher)", "bob   (student)", "/oauth2/authorize?"} {
		if !strings.Contains(again.stdout.String(), want) {
			t.Errorf("second --dev start lacks %q:\n%s", want, again.stdout.String())
		}
	}
	if strings.Contains(again.stdout.String(), "password "+seeded[0][2]) {
		t.Errorf("second --dev start reprinted a password")
	}
}

// walkDevLink follows the link --dev printed as a browser would: login as
// alice, allow, and land on /dev/callback showing her tokens.
func walkDevLink(t *testing.T, in *instance) {
	t.Helper()
	out := in.stdout.String()
	link := regexp.MustCompile(`http://localhost:8080(/oauth2/authorize\?\S+)`).FindStringSubmatch(out)
	pw := regexp.MustCompile(`alice \(teacher\)  password (\S+)`).FindStringSubmatch(out)
	if link == nil || pw == nil {
		t.Fatalf("no link or password in:\n%s", out)
	}
	jar, _ := cookiejar.New(nil)
	// The link names the default issuer; the test server listens elsewhere.
	hc := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		r.URL.Host = strings.TrimPrefix(in.base, "http://")
		return nil
	}}
	requestID := regexp.MustCompile(`name="request" value="([^"]+)"`)
	csrf := func(page string) string {
		if m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page); m != nil {
			return m[1]
		}
		return ""
	}
	get := func(u string) string {
		t.Helper()
		r, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}
	post := func(u string, v url.Values) string {
		t.Helper()
		r, err := hc.PostForm(u, v)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}
	page := get(in.base + link[1])
	m := requestID.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `name="password"`) {
		t.Fatalf("the dev link did not lead to the login page:\n%s", page)
	}
	// --dev's issuer is http://localhost:8080, a host name: passkeys work.
	if !strings.Contains(page, "Sign in with a passkey") || !strings.Contains(page, `data-passkey="get"`) {
		t.Errorf("the dev login page offers no passkey:\n%s", page)
	}
	page = post(in.base+"/login", url.Values{"request": {m[1]}, "csrf": {csrf(page)}, "username": {"alice"}, "password": {pw[1]}})
	// alice is a teacher, and examples/school.yaml makes teachers use a
	// second factor: her first sign-in sets up an authenticator.
	secret := regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	enrolment := regexp.MustCompile(`name="enrolment" value="([^"]+)"`).FindStringSubmatch(page)
	if m = requestID.FindStringSubmatch(page); m == nil || secret == nil || enrolment == nil {
		t.Fatalf("login did not lead alice to enrolment:\n%s", page)
	}
	if !strings.Contains(page, `data-passkey="create"`) {
		t.Errorf("alice's enrolment offers no passkey:\n%s", page)
	}
	code, err := totp.GenerateCode(secret[1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	page = post(in.base+"/login/enrol", url.Values{"request": {m[1]}, "csrf": {csrf(page)}, "enrolment": {enrolment[1]}, "code": {code}})
	if !strings.Contains(page, `id="recovery-codes"`) {
		t.Fatalf("enrolment did not show the recovery codes:\n%s", page)
	}
	page = post(in.base+"/login/continue", url.Values{"request": {m[1]}, "csrf": {csrf(page)}})
	if m = requestID.FindStringSubmatch(page); m == nil || !strings.Contains(page, `value="allow"`) {
		t.Fatalf("login did not lead to the consent page:\n%s", page)
	}
	page = post(in.base+"/consent", url.Values{"request": {m[1]}, "csrf": {csrf(page)}, "decision": {"allow"}})
	for _, want := range []string{"results:write", "&#34;preferred_username&#34;: &#34;alice&#34;", "&#34;roles&#34;", "&#34;acr&#34;: &#34;urn:hallpass:acr:mfa&#34;"} {
		if !strings.Contains(page, want) {
			t.Errorf("dev callback page lacks %q:\n%s", want, page)
		}
	}
}

// TestDirectoryCommandsRefuseUnreadableText checks that the directory
// commands refuse an argument or flag that is not valid UTF-8 before
// reaching the database, alike on both backends: PostgreSQL refused such
// a name in a lookup as "storage: unavailable", as if the database were
// down, where SQLite answered "no such record".
func TestDirectoryCommandsRefuseUnreadableText(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := migrated(t, b.DSN(t))
			for _, args := range [][]string{
				{"roles", "get", "r\xff"},
				{"roles", "create", "r1", "--description", "bad\xff"},
				{"scopes", "delete", "s\xff"},
				{"scopes", "update", "s\xff", "--description", "x"},
				{"users", "get", "u\xff"},
				{"users", "update", "u\xff", "--name", "x"},
				{"users", "reset-factors", "u\xff"},
				{"clients", "get", "c\xff"},
				{"clients", "revoke-tokens", "c\xff"},
				{"clients", "create", "--name", "c\xff", "--redirect-uri", "https://app.example/cb"},
			} {
				code, out, errOut := cli(t, "", append(args, "--database", db)...)
				if code != 1 || !strings.Contains(errOut, "valid UTF-8") || strings.Contains(errOut, "unavailable") || out != "" {
					t.Errorf("%q: exit %d\n%s%s", args, code, out, errOut)
				}
			}
		})
	}
}

// TestMissingSecretOnSetUpDatabase: HALLPASS_SECRET unset or empty, and
// no secret file, on a database whose keys a secret sealed: serve refuses,
// saying the secret is missing, and writes no secret file. It generated
// one (then refused, the new secret opening none of the keys), and every
// later start without HALLPASS_SECRET read that file as the wrong secret.
func TestMissingSecretOnSetUpDatabase(t *testing.T) {
	for _, b := range testdb.Backends() {
		for _, unset := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/unset=%v", b.Name, unset), func(t *testing.T) {
				dir := chdirTemp(t)
				db := b.DSN(t)
				t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
				if _, errOut, code := hallpass(t, db, "migrate"); code != 0 {
					t.Fatalf("migrate: %s", errOut)
				}
				if _, errOut, code := hallpass(t, db, "keys", "rotate"); code != 0 {
					t.Fatalf("keys rotate (creates the keys): %s", errOut)
				}
				before := keysList(t, db)

				t.Setenv("HALLPASS_SECRET", "")
				if unset {
					os.Unsetenv("HALLPASS_SECRET")
				}
				file := filepath.Join(dir, "lost.secret")
				var stderr syncBuffer
				code := run(context.Background(), []string{"--database", db, "--secret-file", file, "serve", "--addr", "127.0.0.1:0"}, io.Discard, &stderr)
				if code == 0 || !strings.Contains(stderr.String(), "already holds signing keys") {
					t.Errorf("serve without the secret on a set-up database: exit %d, %s; want a refusal saying the secret is missing", code, stderr.String())
				}
				if _, err := os.Stat(file); err == nil {
					t.Error("a secret file was generated for a database whose keys another secret sealed")
				}
				if after := keysList(t, db); len(after) != len(before) {
					t.Errorf("keys after the refused start: %d, want the %d there were", len(after), len(before))
				}
			})
		}
	}
}
