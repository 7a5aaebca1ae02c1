package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/faultproxy"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// runWithin runs the command line in-process and fails the test if it has
// not returned by the deadline: the command hangs.
func runWithin(t *testing.T, deadline time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &out, &errOut) }()
	select {
	case code = <-done:
	case <-time.After(deadline):
		cancel()
		t.Fatalf("hallpass %v still running after %v:\n%s", args, deadline, errOut.String())
	}
	return code, out.String(), errOut.String()
}

// TestUnreachableDatabase: serve and every command that opens the
// database give up on one that refuses connections or accepts them and
// never answers, and say which host they tried, never the password.
func TestUnreachableDatabase(t *testing.T) {
	const password = "s3cret"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	commands := [][]string{
		{"serve", "--addr", "127.0.0.1:0"},
		{"migrate"},
		{"clients", "list"},
		{"users", "list"},
		{"roles", "list"},
		{"scopes", "list"},
		{"keys", "list"},
		{"keys", "rotate"},
	}
	for _, db := range []struct{ name, addr, says string }{
		{"silent", faultproxy.Silent(t), "no answer within 1s"},
		{"closed", faultproxy.ClosedPort(t), "connection refused"},
	} {
		for _, form := range []struct{ name, url string }{
			{"userinfo", "postgres://u:" + password + "@" + db.addr + "/db"},
			{"password parameter", "postgres://u@" + db.addr + "/db?sslmode=disable&password=" + password},
		} {
			for _, args := range commands {
				t.Run(db.name+"/"+form.name+"/"+strings.Join(args, " "), func(t *testing.T) {
					t.Parallel()
					full := append(append([]string{}, args...), "--database", form.url, "--database-timeout", "1s", "--secret-file", secretFile)
					code, stdout, stderr := runWithin(t, 20*time.Second, full...)
					if code == 0 {
						t.Fatalf("succeeded on an unreachable database:\n%s", stdout)
					}
					if !strings.Contains(stderr, db.addr) {
						t.Errorf("error does not name %s:\n%s", db.addr, stderr)
					}
					if !strings.Contains(stderr, db.says) {
						t.Errorf("error does not say %q:\n%s", db.says, stderr)
					}
					if db.name == "silent" && !strings.Contains(stderr, "--database-timeout") {
						t.Errorf("error does not name the setting to change:\n%s", stderr)
					}
					if strings.Contains(stdout+stderr, password) {
						t.Errorf("output shows the password:\n%s%s", stdout, stderr)
					}
				})
			}
		}
	}
}

// TestDatabaseTimeoutFromEnv: HALLPASS_DATABASE_TIMEOUT sets the timeout
// like the flag, and a timeout of 0 is refused rather than taken as
// "forever".
func TestDatabaseTimeoutFromEnv(t *testing.T) {
	addr := faultproxy.Silent(t)
	t.Setenv("HALLPASS_DATABASE", "postgres://u:s3cret@"+addr+"/db")
	t.Setenv("HALLPASS_DATABASE_TIMEOUT", "1s")
	code, _, stderr := runWithin(t, 20*time.Second, "migrate")
	if code == 0 || !strings.Contains(stderr, "no answer within 1s") {
		t.Errorf("HALLPASS_DATABASE_TIMEOUT=1s: exit %d:\n%s", code, stderr)
	}
	code, _, stderr = runWithin(t, 20*time.Second, "migrate", "--database-timeout", "0")
	if code == 0 || !strings.Contains(stderr, "--database-timeout 0s: must be more than 0") {
		t.Errorf("--database-timeout 0: exit %d:\n%s", code, stderr)
	}
}

// TestDefaultDatabaseTimeout: without the flag, hallpass still gives up
// (after 10s) instead of waiting forever.
func TestDefaultDatabaseTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 10s")
	}
	t.Parallel()
	code, _, errOut := runWithin(t, 60*time.Second, "migrate", "--database", "postgres://u@"+faultproxy.Silent(t)+"/db")
	if code == 0 || !strings.Contains(errOut, "no answer within 10s") {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
}

// TestSQLiteFilesPrivate: the SQLite database serve and migrate create,
// its -wal and -shm files are mode 0600, like the secret file beside them.
func TestSQLiteFilesPrivate(t *testing.T) {
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	private := func(t *testing.T, path string, all bool) {
		t.Helper()
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(f)
			if err != nil && (f == path || all) {
				t.Errorf("%s: %v", filepath.Base(f), err)
				continue
			}
			if err == nil && fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
			}
		}
	}

	t.Run("serve", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hallpass.db")
		in := startServe(t, "--database", "sqlite:"+path)
		// Serving has written (keys, settings) and holds the database
		// open, so the -wal and -shm files exist.
		private(t, path, true)
		in.stop()
	})
	t.Run("migrate", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hallpass.db")
		if code, _, stderr := runWithin(t, time.Minute, "migrate", "--database", "sqlite:"+path); code != 0 {
			t.Fatalf("migrate: %d\n%s", code, stderr)
		}
		// The last connection to close removes -wal and -shm; those
		// left behind must be private too.
		private(t, path, false)
	})
}

// TestShortAdminTokenRefused: serve refuses an admin token under 32 bytes
// before it touches the database, and says how to make one.
func TestShortAdminTokenRefused(t *testing.T) {
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "change-me-demo-admin-token")
	path := filepath.Join(t.TempDir(), "hallpass.db")
	code, _, stderr := runWithin(t, time.Minute, "serve", "--addr", "127.0.0.1:0", "--database", "sqlite:"+path)
	if code == 0 {
		t.Fatal("serve started with a 26-byte admin token")
	}
	if !strings.Contains(stderr, "HALLPASS_ADMIN_TOKEN has 26 bytes") || !strings.Contains(stderr, "openssl rand -base64 32") {
		t.Errorf("error does not say what is wrong and how to fix it:\n%s", stderr)
	}
	if strings.Contains(stderr, "change-me-demo-admin-token") {
		t.Errorf("error shows the token:\n%s", stderr)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("the database was created before the token was checked")
	}
}

// TestServeIssuerRules: serve refuses, before it creates the database, an
// issuer with a trailing slash, an http issuer on a host that is not
// loopback, and one its own client's redirect URIs could not be
// registered with (a host not in ASCII, given by flag or HALLPASS_ISSUER,
// with its A-label to set instead); --insecure-http-issuer (or its
// variable) lets the http one through, published exactly as given, with a
// warning, and the A-label starts with the console and passkeys on.
func TestServeIssuerRules(t *testing.T) {
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	for _, tc := range []struct{ issuer, want string }{
		{"http://id.example.test", "--insecure-http-issuer"},
		{"http://0.0.0.0:8080", "use https"},
		{"https://id.example.test/", `set it without, as "https://id.example.test"`},
		{"http://localhost:8080/", "ends with a slash"},
		// Its own client's redirect URIs, on the issuer, could not be
		// registered: the console and the account page were off, with
		// a warning, and passkeys too.
		{"https://例え.jp", `set the issuer as "https://xn--r8jz45g.jp"`},
		{"https://id.example.test.", "ending with a dot"},
		{"https://id..example.test", "empty label"},
		{"https://id.example.test/a/../b", "dot segment"},
	} {
		t.Run(tc.issuer, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hallpass.db")
			code, _, stderr := runWithin(t, time.Minute, "serve", "--addr", "127.0.0.1:0", "--database", "sqlite:"+path, "--issuer", tc.issuer)
			if code == 0 {
				t.Fatalf("serve accepted issuer %q", tc.issuer)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("error does not say %q:\n%s", tc.want, stderr)
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("the database was created before the issuer was checked")
			}
		})
	}
	t.Run("HALLPASS_ISSUER with a Unicode host", func(t *testing.T) {
		t.Setenv("HALLPASS_ISSUER", "https://例え.jp")
		path := filepath.Join(t.TempDir(), "hallpass.db")
		code, _, stderr := runWithin(t, time.Minute, "serve", "--addr", "127.0.0.1:0", "--database", "sqlite:"+path)
		if code == 0 {
			t.Fatal("serve accepted the issuer https://例え.jp")
		}
		if want := `--issuer: issuer: "https://例え.jp" must name its host in ASCII: set the issuer as "https://xn--r8jz45g.jp"`; !strings.Contains(stderr, want) {
			t.Errorf("error does not say %q:\n%s", want, stderr)
		}
		if _, err := os.Stat(path); err == nil {
			t.Error("the database was created before the issuer was checked")
		}
	})

	issuerOf := func(t *testing.T, in *instance) string {
		t.Helper()
		resp, err := http.Get(in.base + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		s, _ := doc["issuer"].(string)
		return s
	}
	t.Run("flag", func(t *testing.T) {
		in := startServe(t, "--database", "sqlite:"+filepath.Join(t.TempDir(), "hallpass.db"), "--issuer", "http://id.example.test", "--insecure-http-issuer")
		if got := issuerOf(t, in); got != "http://id.example.test" {
			t.Errorf("issuer = %q", got)
		}
		if !strings.Contains(in.stderr.String(), "unencrypted") {
			t.Errorf("no warning logged:\n%s", in.stderr.String())
		}
	})
	t.Run("variable", func(t *testing.T) {
		t.Setenv("HALLPASS_INSECURE_HTTP_ISSUER", "true")
		in := startServe(t, "--database", "sqlite:"+filepath.Join(t.TempDir(), "hallpass.db"), "--issuer", "http://10.0.0.5:8080")
		if got := issuerOf(t, in); got != "http://10.0.0.5:8080" {
			t.Errorf("issuer = %q", got)
		}
	})
	t.Run("its A-label", func(t *testing.T) {
		t.Setenv("HALLPASS_ISSUER", "https://xn--r8jz45g.jp")
		in := startServe(t, "--database", "sqlite:"+filepath.Join(t.TempDir(), "hallpass.db"))
		if got := issuerOf(t, in); got != "https://xn--r8jz45g.jp" {
			t.Errorf("issuer = %q", got)
		}
		if s := in.stderr.String(); strings.Contains(s, "console and the account page are unavailable") || strings.Contains(s, "passkeys are off") {
			t.Errorf("the A-label issuer started without the console or passkeys:\n%s", s)
		}
	})
}

// TestLockedSQLiteFileNamed: migrating an SQLite file another process
// holds write-locked gives up after --database-timeout naming the lock,
// not "is the database up and reachable?", which sends the operator to
// look for a server an SQLite file does not have.
func TestLockedSQLiteFileNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hallpass.db")
	// In WAL mode, as hallpass leaves its files: readers go on, writers wait.
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("lock the file: %v", err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	code, _, stderr := runWithin(t, time.Minute, "migrate", "--database", "sqlite:"+path, "--database-timeout", "1s")
	if code == 0 || !strings.Contains(stderr, "write lock") || strings.Contains(stderr, "reachable") {
		t.Errorf("migrate on a locked file: exit %d, stderr %q; want a failure naming the write lock", code, stderr)
	}
}

// TestServeRefusesEmptyAddr: an empty listen address (HALLPASS_ADDR set
// to an unset template variable) is refused before the database is
// touched, naming the setting, instead of listening on every interface at
// a random port.
func TestServeRefusesEmptyAddr(t *testing.T) {
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 40))
	t.Setenv("HALLPASS_ADDR", "")
	path := filepath.Join(t.TempDir(), "hallpass.db")
	code, _, stderr := runWithin(t, 20*time.Second, "serve", "--database", "sqlite:"+path)
	if code == 0 || !strings.Contains(stderr, "--addr is empty") {
		t.Errorf("serve with HALLPASS_ADDR empty: exit %d, stderr %q; want a refusal naming --addr", code, stderr)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("the database was created before the address was checked")
	}
}

// TestServeStopsWhileWaitingForDatabase: serve waiting for a PostgreSQL
// server that refuses connections logs each attempt as JSON, naming the
// database without its password (in the URL's userinfo or a parameter),
// and a SIGTERM (its context ending) stops it at once with exit 0, as
// during serving, without waiting out --database-timeout, also in the
// middle of an attempt.
func TestServeStopsWhileWaitingForDatabase(t *testing.T) {
	const password = "s3cret-wait"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	closed, silent := faultproxy.ClosedPort(t), faultproxy.Silent(t)
	for name, dsn := range map[string]string{
		"userinfo":           "postgres://u:" + password + "@" + closed + "/db",
		"password parameter": "postgres://u@" + closed + "/db?sslmode=disable&password=" + password,
		// Stopped in the middle of an attempt: a server that accepts
		// and never answers.
		"silent server": "postgres://u:" + password + "@" + silent + "/db",
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database", dsn,
					"--database-timeout", "5s", "--secret-file", secretFile}, &out, &errOut)
			}()
			// Two attempts logged, then the signal; on the silent server
			// the first attempt is still under way.
			if name == "silent server" {
				time.Sleep(300 * time.Millisecond)
			}
			for name != "silent server" && strings.Count(errOut.String(), "trying again") < 2 {
				select {
				case code := <-done:
					t.Fatalf("serve exited with %d without logging two attempts:\n%s", code, errOut.String())
				case <-time.After(20 * time.Millisecond):
				}
			}
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("serve stopped while waiting exited %d, want 0:\n%s", code, errOut.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("serve still waiting 20s after its context ended:\n%s", errOut.String())
			}
			stderr := errOut.String()
			if strings.Contains(out.String()+stderr, password) {
				t.Errorf("output shows the password:\n%s", stderr)
			}
			for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("not a JSON log line: %q", line)
					continue
				}
				if rec["msg"] == "database not accepting connections yet; trying again" && !strings.Contains(fmt.Sprint(rec["database"]), closed) {
					t.Errorf("attempt's line does not name the database: %q", line)
				}
			}
		})
	}
}

// TestMisconfiguredDatabase: serve and every command that opens the
// database, given a PostgreSQL URL the server refuses for what it asks
// (a run-time parameter it does not know), fail at the first attempt with
// the server's reason, never the password, instead of retrying for
// --database-timeout as if the database were down.
func TestMisconfiguredDatabase(t *testing.T) {
	const password = "s3cret-misconfigured"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(testdb.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	q := u.Query()
	q.Set("bogus_param", "1")
	u.RawQuery = q.Encode()
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0"},
		{"migrate"},
		{"clients", "list"},
		{"users", "list"},
		{"keys", "list"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			full := append(append([]string{}, args...), "--database", u.String(), "--database-timeout", "3s", "--secret-file", secretFile)
			code, stdout, stderr := runWithin(t, time.Minute, full...)
			if code == 0 {
				t.Fatalf("succeeded on a URL with an unknown parameter:\n%s", stdout)
			}
			if !strings.Contains(stderr, `unrecognized configuration parameter "bogus_param"`) || !strings.Contains(stderr, "not retried") {
				t.Errorf("error does not say the parameter is refused and not retried:\n%s", stderr)
			}
			if strings.Contains(stderr, "trying again") || strings.Contains(stderr, "still failing") {
				t.Errorf("retried a refused parameter as if the database were down:\n%s", stderr)
			}
			if strings.Contains(stdout+stderr, password) {
				t.Errorf("output shows the password:\n%s%s", stdout, stderr)
			}
		})
	}
}
