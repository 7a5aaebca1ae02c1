package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/internal/version"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/backend"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	database        string
	databaseTimeout time.Duration
	secretFile      string
	logLevel        string
	configFile      string
	server          string
	token           string
	output          string
	// warnings are what reading the settings found worth saying (unknown
	// HALLPASS_* variables); serve logs them, other commands print them.
	warnings []string
	stdout   io.Writer
	stderr   io.Writer
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalOptions{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "hallpass",
		Short: "hallpass is an OAuth 2.0 and OpenID Connect identity provider",
		Long: `hallpass is an OAuth 2.0 and OpenID Connect identity provider in one binary.

Every flag can also be set with an environment variable (--some-flag is
HALLPASS_SOME_FLAG) and with the key of the same name in the YAML file
--config names (some-flag: value). The command line wins over the
environment, which wins over the file. Secrets are never read from the
file: HALLPASS_SECRET (key-encryption secret) and HALLPASS_ADMIN_TOKEN come
from the environment (--token too, for a one-off command through --server).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if ctx := cmd.Context(); ctx != nil {
				// What a command changes is recorded in the audit log
				// as the operating-system user's doing.
				cmd.SetContext(audit.WithActor(ctx, cliActor()))
			}
			warnings, err := applySettings(cmd)
			if err != nil {
				return err
			}
			g.warnings = warnings
			if cmd.Name() != "serve" {
				for _, w := range warnings {
					fmt.Fprintln(g.stderr, "hallpass: warning:", w)
				}
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.database, "database", "sqlite:hallpass.db", "storage: sqlite:PATH for an SQLite file, or a postgres:// URL")
	pf.DurationVar(&g.databaseTimeout, "database-timeout", backend.DefaultTimeout, "how long to wait for the database to connect, and to migrate at start, before giving up")
	pf.StringVar(&g.secretFile, "secret-file", "", "file holding the key-encryption secret when HALLPASS_SECRET is unset (default: beside the SQLite database, or ./hallpass.secret)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.configFile, "config", "", "YAML file of settings: each key is a flag's name (addr: localhost:8080); the command line and the environment win over it")
	pf.StringVar(&g.server, "server", "", "URL of a running hallpass (its admin listener, if separate): the admin commands then go through its admin API with the admin token instead of the database")
	pf.StringVar(&g.token, "token", "", "admin token for --server (default HALLPASS_ADMIN_TOKEN, which is safer: command lines are visible to other users)")
	pf.StringVarP(&g.output, "output", "o", "", "how the admin commands print records: table, json or yaml (default table at a terminal, json otherwise)")
	requirePositive(pf, "database-timeout")

	root.AddCommand(newServeCmd(g), newMigrateCmd(g), newClientsCmd(g), newUsersCmd(g), newRolesCmd(g), newScopesCmd(g), newKeysCmd(g), newVersionCmd(g))
	root.AddCommand(newHealthcheckCmd(g))
	root.AddCommand(newPlanCmd(g), newApplyCmd(g), newExportCmd(g))
	root.AddCommand(newAdminTokenCmd(g))
	root.AddCommand(newAuditCmd(g))
	documentFlags(root)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes each command that only groups others
// (users, keys, audit…) refuse an argument naming none of them. cobra
// printed the group's help and exited 0, so a typo (`hallpass users
// craete`) or a command that does not exist (`hallpass keys remove KID`)
// "succeeded" in a script having done nothing. The root already refuses.
func refuseUnknownSubcommands(c *cobra.Command) {
	if c.HasParent() && c.HasSubCommands() && !c.Runnable() {
		c.Args = cobra.NoArgs
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
}

func (g *globalOptions) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", g.logLevel)
	}
	return slog.New(slog.NewJSONHandler(g.stderr, &slog.HandlerOptions{Level: lvl, ReplaceAttr: durationText})), nil
}

// durationText writes a time.Duration as Go's duration text ("1s",
// "1m30s"), as the flags take it: the JSON handler wrote it as a count of
// nanoseconds ("interval":1000000000), which nobody reads as a second.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// openStore opens the database named by --database for a command other
// than serve, without migrating, giving up after --database-timeout. On
// PostgreSQL each of its statements also waits at most that long for a
// lock another transaction holds (backend.OpenBounded): a command has no
// request timeout to end the wait, and a row left locked hung `hallpass
// users update` until it was killed. serve's requests are bounded by
// their own timeout.
func (g *globalOptions) openStore(ctx context.Context) (storage.Store, error) {
	return g.openStoreWith(ctx, backend.OpenBounded, nil)
}

// openStoreLogged is openStore for serve, logging to log each attempt
// to reach a PostgreSQL server that is not accepting connections yet.
func (g *globalOptions) openStoreLogged(ctx context.Context, log *slog.Logger) (storage.Store, error) {
	return g.openStoreWith(ctx, backend.OpenWaiting, log)
}

// openStoreWith opens --database with open, giving up after
// --database-timeout.
func (g *globalOptions) openStoreWith(ctx context.Context, open func(context.Context, string, time.Duration, *slog.Logger) (storage.Store, error), log *slog.Logger) (storage.Store, error) {
	if g.databaseTimeout <= 0 {
		return nil, fmt.Errorf("--database-timeout %v: must be more than 0", g.databaseTimeout)
	}
	st, err := open(ctx, g.database, g.databaseTimeout, log)
	if err != nil {
		return nil, g.timeoutHint(err)
	}
	return st, nil
}

// migrate brings st's schema up to date, giving up after
// --database-timeout: a server that answered the connection can still go
// silent.
func (g *globalOptions) migrate(ctx context.Context, st storage.Store) error {
	_, err := g.migrated(ctx, st)
	return err
}

// migrated is migrate returning the versions that were pending before it
// (none when the schema was up to date), for saying what it did: another
// process migrating at the same time may have applied some of them.
func (g *globalOptions) migrated(ctx context.Context, st storage.Store) ([]int, error) {
	ctx, cancel := context.WithTimeout(ctx, g.databaseTimeout)
	defer cancel()
	pending, err := st.PendingMigrations(ctx)
	if err == nil {
		err = st.Migrate(ctx)
	}
	if err != nil {
		return nil, g.timeoutHint(fmt.Errorf("database %s: %w", backend.Redact(g.database), err))
	}
	return pending, nil
}

// checkMigrated refuses a database whose schema lacks migrations of this
// release (serve --no-migrate): serving on it would fail request after
// request, or quietly, on a table or column that is not there, while
// readiness said ready.
func (g *globalOptions) checkMigrated(ctx context.Context, st storage.Store) error {
	ctx, cancel := context.WithTimeout(ctx, g.databaseTimeout)
	defer cancel()
	pending, err := st.PendingMigrations(ctx)
	if err != nil {
		return g.timeoutHint(fmt.Errorf("database %s: %w", backend.Redact(g.database), err))
	}
	if len(pending) > 0 {
		return fmt.Errorf("database %s: its schema lacks %d migration(s) of this release (versions %v); run `hallpass migrate` first, or serve without --no-migrate",
			backend.Redact(g.database), len(pending), pending)
	}
	return nil
}

// timeoutHint tells the operator which setting a timeout came from, and
// its likely cause: an SQLite file is always "up", so there a timeout is
// another process holding its write lock.
func (g *globalOptions) timeoutHint(err error) error {
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if strings.HasPrefix(g.database, "sqlite:") {
		return fmt.Errorf("%w; is another process holding the SQLite file's write lock (a long transaction, a sqlite3 shell)? (--database-timeout sets how long to wait)", err)
	}
	return fmt.Errorf("%w; is the database up and reachable? (--database-timeout sets how long to wait)", err)
}

// secret returns the key-encryption secret: HALLPASS_SECRET, else the
// secret file, else a new random secret written to that file (0600) with a
// warning, so a first `hallpass serve` needs no setup. mayGenerate, when
// not nil, is asked first: its error refuses the generation, and nothing
// is written.
func (g *globalOptions) secret(log *slog.Logger, mayGenerate func(file string) error) ([]byte, error) {
	if s := os.Getenv("HALLPASS_SECRET"); s != "" {
		// Counted without surrounding whitespace, as the file is: 32
		// spaces, or a short secret with a newline run, are no secret.
		if len(strings.TrimSpace(s)) < 32 {
			return nil, errors.New("HALLPASS_SECRET must be at least 32 characters (e.g. `openssl rand -base64 32`), not counting whitespace at either end")
		}
		if strings.TrimSpace(s) != s {
			// Used as given (the keys of a database set up with it are
			// sealed under it), but a refusal "does not match" would
			// otherwise not say why when the same secret was in the file.
			log.Warn("HALLPASS_SECRET begins or ends with whitespace (a newline copied with it?); it is used as given, whereas the secret file is read without it")
		}
		return []byte(s), nil
	}
	path := g.secretPath()
	b, mode, err := readSecretFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, fmt.Errorf("secret file %s holds fewer than 32 characters", path)
		}
		if mode&0o077 != 0 {
			// Warned, not refused: a secret mounted by an orchestrator is
			// often 0644 in a container of one user.
			log.Warn("the secret file can be read or written by users other than its owner; chmod 600 it", "file", path, "mode", fmt.Sprintf("%#o", mode))
		}
		return []byte(s), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	// A symbolic link to nothing: the secret is meant to be elsewhere
	// (a mount not there yet), and creating one through it is refused
	// below anyway, as "file exists".
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(path)
		return nil, fmt.Errorf("secret file %s is a symbolic link to %s, which does not exist; hallpass generates no secret through a link: create the file it names, set HALLPASS_SECRET, or remove the link", path, target)
	}
	if mayGenerate != nil {
		if err := mayGenerate(path); err != nil {
			return nil, err
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	s := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("write secret file: %w", err)
	}
	if err := writeNewSecretFile(path, s+"\n"); err != nil {
		return nil, fmt.Errorf("write secret file: %w", err)
	}
	log.Warn("HALLPASS_SECRET is not set: generated a key-encryption secret; production must set HALLPASS_SECRET and keep it safe", "file", path)
	return []byte(s), nil
}

// writeNewSecretFile creates path (0600; an existing file is an error)
// holding text, synced to disk: the signing keys are encrypted under it
// right after. A write that fails (a full disk) removes the file again,
// which would otherwise be left empty or cut short, and every later start
// refused with "holds fewer than 32 characters" until someone deleted it.
//
// The directory is synced too: without it a crash could lose the new
// file's name while the keys encrypted under the secret are committed to
// the database, unreadable for good.
func writeNewSecretFile(path, text string) error {
	return writeSecretFile(path, text, syncDir)
}

// writeSecretFile is writeNewSecretFile syncing the file's directory with
// sync (a test makes it fail).
func writeSecretFile(path, text string, sync func(dir string) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = sync(filepath.Dir(path))
	}
	if err != nil {
		// Ours: created above, with O_EXCL.
		_ = os.Remove(path)
		return err
	}
	return nil
}

// syncDir flushes the entries of the directory dir to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// readSecretFile returns the contents of the secret file at path
// (following a symbolic link) and its permission bits.
func readSecretFile(path string) ([]byte, fs.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, err
	}
	return b, fi.Mode().Perm(), nil
}

// secretPath is the secret file used when HALLPASS_SECRET is unset:
// --secret-file, else beside the SQLite database, else ./hallpass.secret.
func (g *globalOptions) secretPath() string {
	if g.secretFile != "" {
		return g.secretFile
	}
	if db, ok := strings.CutPrefix(g.database, "sqlite:"); ok {
		return db + ".secret"
	}
	return "hallpass.secret"
}

// remote returns the client of the admin API --server names, or nil
// without --server.
func (g *globalOptions) remote() (*adminClient, error) {
	if err := g.printable(); err != nil {
		return nil, err
	}
	if g.server == "" {
		return nil, nil
	}
	tok := g.token
	if tok == "" {
		tok = adminTokenFromEnv()
	}
	return newAdminClient(g.server, tok)
}

// printable refuses an --output the admin commands cannot print. They
// check it first, through remote or migratedStore, which every one of
// them calls before it changes anything: checked when printing, after the
// change, a format such as xml was refused once the change was made
// (clients create -o xml made the client and lost its secret). serve and
// healthcheck, which print no records, never read it.
func (g *globalOptions) printable() error {
	_, err := g.outputFormat()
	return err
}

// sealer builds the key-encryption sealer from the configured secret. A
// secret is generated only for a database that holds nothing sealed yet:
// with HALLPASS_SECRET unset or empty and the secret file missing on a
// database set up before, a generated secret opened none of its keys, so
// the start was refused all the same, but only after writing a secret file
// that every later start without HALLPASS_SECRET read as the wrong secret.
func (g *globalOptions) sealer(ctx context.Context, log *slog.Logger, st keys.Store) (*keys.Sealer, error) {
	secret, err := g.secret(log, func(file string) error {
		sealed, err := keys.Sealed(ctx, st)
		if err != nil {
			return fmt.Errorf("check the database before generating a key-encryption secret: %w", err)
		}
		if sealed {
			return fmt.Errorf("no key-encryption secret: HALLPASS_SECRET is unset or empty and %s does not exist, but this database already holds signing keys sealed under a secret; set HALLPASS_SECRET or restore the secret file (no secret was generated, nothing was changed)", file)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys.NewSealer(secret)
}

func newVersionCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the hallpass version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := version.Read()
			if format, err := g.outputFormat(); err != nil {
				return err
			} else if format != "table" && g.output != "" {
				return g.print(v)
			}
			fmt.Fprintln(g.stdout, "hallpass", v.Version)
			if v.Commit != "" {
				fmt.Fprintln(g.stdout, "commit:", v.Commit)
			}
			if v.Date != "" {
				fmt.Fprintln(g.stdout, "date:  ", v.Date)
			}
			return nil
		},
	}
}

func newMigrateCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database schema migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			pending, err := g.migrated(cmd.Context(), st)
			if err != nil {
				return err
			}
			// It said "migrations applied" on a database that was up to
			// date too, which reads as if this run changed the schema.
			if len(pending) == 0 {
				return g.confirmChange("the schema was up to date, so nothing was changed", "there is nothing more to do",
					"schema up to date: no migration to apply")
			}
			return g.confirmChange(fmt.Sprintf("%d migration(s) were applied (versions %v)", len(pending), pending), "there is nothing more to do",
				fmt.Sprintf("schema brought up to date: %d migration(s) applied (versions %v)", len(pending), pending))
		},
	}
}
