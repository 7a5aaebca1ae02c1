package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// settingsOf parses args as hallpass would and applies the environment
// and the config file, returning the command they apply to.
func settingsOf(t *testing.T, args ...string) (*cobra.Command, []string, error) {
	t.Helper()
	root := newRootCmd(io.Discard, io.Discard)
	cmd, rest, err := root.Find(args)
	if err != nil {
		t.Fatalf("find %v: %v", args, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("parse %v: %v", rest, err)
	}
	warnings, err := applySettings(cmd)
	return cmd, warnings, err
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hallpass.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func flagValue(t *testing.T, cmd *cobra.Command, name string) string {
	t.Helper()
	f := cmd.Flags().Lookup(name)
	if f == nil {
		t.Fatalf("no flag --%s on %s", name, cmd.Name())
	}
	return f.Value.String()
}

// The command line wins over the environment, which wins over the file,
// which wins over the default; lists in the file replace the default.
func TestConfigPrecedence(t *testing.T) {
	path := writeConfig(t, `
addr: 127.0.0.1:9999
issuer: https://from-file.example
code-lifespan: 3m
database: sqlite:from-file.db
trusted-proxies:
  - 10.0.0.0/8
  - 192.168.0.1
`)
	t.Setenv("HALLPASS_ISSUER", "https://from-env.example")
	t.Setenv("HALLPASS_CODE_LIFESPAN", "4m")
	t.Setenv("HALLPASS_CONFIG", path)
	cmd, _, err := settingsOf(t, "serve", "--code-lifespan", "5m")
	if err != nil {
		t.Fatalf("applySettings: %v", err)
	}
	for name, want := range map[string]string{
		"addr":             "127.0.0.1:9999",           // file
		"database":         "sqlite:from-file.db",      // file, a global flag
		"issuer":           "https://from-env.example", // env over file
		"code-lifespan":    "5m0s",                     // flag over env and file
		"session-lifetime": "12h0m0s",                  // default
		"trusted-proxies":  "[10.0.0.0/8,192.168.0.1]", // a list
		"config":           path,                       // HALLPASS_CONFIG
	} {
		if got := flagValue(t, cmd, name); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"unknown key named, with its likely intent", "issuer_url: https://x.example\n", []string{`unknown key "issuer_url"`, "did you mean issuer?", "line 1"}},
		{"object flags are no settings", "addr: localhost:1\nusername: alice\n", []string{`unknown key "username"`}},
		{"zero lifetime refused", "session-lifetime: 0s\n", []string{"--session-lifetime", "HALLPASS_SESSION_LIFETIME", "must be more than 0"}},
		{"zero database timeout refused", "database-timeout: 0s\n", []string{"--database-timeout", "must be more than 0"}},
		{"bad value", "code-lifespan: soon\n", []string{"code-lifespan", "line 1"}},
		{"list for a single value", "addr: [a, b]\n", []string{"addr", "one value"}},
		{"nested mapping", "addr:\n  host: x\n", []string{"addr", "a value or a list"}},
		{"empty value", "addr:\n", []string{"addr has no value"}},
		{"duplicate key", "addr: a\naddr: b\n", []string{"addr"}},
		{"not a mapping", "- addr\n", []string{"must be a mapping"}},
		{"config in config", "config: other.yaml\n", []string{`unknown key "config"`}},
		// A tag was dropped ("!env"), its text taken as the value.
		{"local tag", "addr: localhost:1\nissuer: !env ISSUER\n", []string{"line 2: tag !env is not supported"}},
		{"binary tag", "issuer: !!binary aHR0cHM6Ly9ldmlsLmV4YW1wbGU=\n", []string{"tag !!binary"}},
		{"alias as a value", "addr: &a localhost:1\nissuer: *a\n", []string{"issuer must be a value or a list"}},
		{"merge key", "base: &b {addr: localhost:1}\n<<: *b\n", []string{"base must be a value or a list"}},
		// yaml.Unmarshal read the first document and dropped the rest.
		{"second document", "addr: localhost:1\n---\nissuer: https://x.example\n", []string{"line 3: a second YAML document"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := settingsOf(t, "serve", "--config", writeConfig(t, tc.file))
			if err == nil {
				t.Fatal("applySettings accepted the file")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, _, err := settingsOf(t, "serve", "--config", filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: err = %v, want one naming the file", err)
	}
}

// TestConfigRefusesSecrets: a secret written into the config file is
// refused saying which variable it belongs in, never echoing its value,
// rather than as an unknown key with a "did you mean" for another one.
func TestConfigRefusesSecrets(t *testing.T) {
	const value = "s3cr3t-value-written-into-the-file-0123"
	for key, env := range map[string]string{"secret": "HALLPASS_SECRET", "admin-token": "HALLPASS_ADMIN_TOKEN", "new-secret": "HALLPASS_NEW_SECRET"} {
		t.Run(key, func(t *testing.T) {
			_, _, err := settingsOf(t, "serve", "--config", writeConfig(t, "addr: localhost:1\n"+key+": "+value+"\n"))
			if err == nil || !strings.Contains(err.Error(), env+" in the environment") || !strings.Contains(err.Error(), "line 2") {
				t.Errorf("err = %v, want a refusal naming %s and line 2", err, env)
			}
			if err != nil && strings.Contains(err.Error(), value) {
				t.Errorf("the refusal repeats the secret: %v", err)
			}
		})
	}
}

// One file serves serve and the admin commands: a command applies the
// keys that are its flags and leaves the others.
func TestConfigSharedWithCommands(t *testing.T) {
	path := writeConfig(t, "addr: 127.0.0.1:1\ndatabase: sqlite:shared.db\nkey-bits: 3072\n")
	cmd, _, err := settingsOf(t, "users", "list", "--config", path)
	if err != nil {
		t.Fatalf("users list: %v", err)
	}
	if got := flagValue(t, cmd, "database"); got != "sqlite:shared.db" {
		t.Errorf("--database = %q", got)
	}
	cmd, _, err = settingsOf(t, "keys", "rotate", "--config", path)
	if err != nil {
		t.Fatalf("keys rotate: %v", err)
	}
	if got := flagValue(t, cmd, "key-bits"); got != "3072" {
		t.Errorf("keys rotate --key-bits = %q, want the file's 3072", got)
	}
}

// A zero lifetime from the environment is refused as from the file.
func TestZeroDurationFromEnvRefused(t *testing.T) {
	t.Setenv("HALLPASS_ACCESS_TOKEN_LIFESPAN", "0")
	if _, _, err := settingsOf(t, "serve"); err == nil || !strings.Contains(err.Error(), "--access-token-lifespan") {
		t.Fatalf("err = %v, want --access-token-lifespan refused", err)
	}
	// 0 keeps its meaning where it has one.
	t.Setenv("HALLPASS_ACCESS_TOKEN_LIFESPAN", "10m")
	if _, _, err := settingsOf(t, "serve", "--housekeeping-interval", "0", "--key-refresh", "0"); err != nil {
		t.Fatalf("0 housekeeping and key refresh: %v", err)
	}
}

func TestUnknownEnvWarned(t *testing.T) {
	t.Setenv("HALLPASS_ISSUER_URL", "https://typo.example")
	t.Setenv("HALLPASS_ADRR", "localhost:1")
	t.Setenv("HALLPASS_ADMIN_TOKN", strings.Repeat("t", 32))
	t.Setenv("HALLPASS_SECRET", strings.Repeat("s", 32)) // read directly: no warning
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("version exited %d: %s", code, stderr.String())
	}
	for _, want := range []string{
		"HALLPASS_ISSUER_URL is not a hallpass setting and is ignored (did you mean HALLPASS_ISSUER?)",
		"HALLPASS_ADRR is not a hallpass setting and is ignored (did you mean HALLPASS_ADDR?)",
		// A variable read directly (no flag) is suggested too.
		"HALLPASS_ADMIN_TOKN is not a hallpass setting and is ignored (did you mean HALLPASS_ADMIN_TOKEN?)",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), strings.Repeat("t", 32)) {
		t.Errorf("a warning repeats a variable's value:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "HALLPASS_SECRET") {
		t.Errorf("HALLPASS_SECRET warned about:\n%s", stderr.String())
	}
}

func TestHelpNamesEnvironment(t *testing.T) {
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, &stdout, io.Discard); code != 0 {
		t.Fatalf("serve --help exited %d", code)
	}
	help := stdout.String()
	for _, want := range []string{"[HALLPASS_ADDR]", "[HALLPASS_DATABASE]", "[HALLPASS_CONFIG]", "(run 'hallpass migrate' instead)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	// pflag turns a backquoted word into the flag's argument name.
	if strings.Contains(help, "--no-migrate hallpass") {
		t.Errorf("backquotes became an argument name:\n%s", help)
	}
}

// The example in the repository loads: every key is a setting and every
// value parses.
func TestExampleConfigLoads(t *testing.T) {
	cmd, _, err := settingsOf(t, "serve", "--config", filepath.Join("..", "..", "hallpass.example.yaml"))
	if err != nil {
		t.Fatalf("hallpass.example.yaml: %v", err)
	}
	if got := flagValue(t, cmd, "issuer"); got != "https://login.example.com" {
		t.Errorf("issuer = %q", got)
	}
}

// FuzzParseConfig: no config file makes the parser panic.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("addr: localhost:1\ntrusted-proxies: [10.0.0.0/8]\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Add([]byte("- x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseConfig(b)
	})
}
