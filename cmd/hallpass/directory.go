package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/cached"
)

// The commands that manage users, roles, scopes and clients call the
// directory service on the database, as the admin API does on a server,
// or, with --server, that server's admin API (remote.go).

// dirCmd builds a subcommand that runs fn with the directory of the
// server --server names, or else of the migrated database.
func (g *globalOptions) dirCmd(use, short string, args cobra.PositionalArgs, fn func(cmd *cobra.Command, dir directoryAPI, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := readableInput(cmd, a); err != nil {
				return err
			}
			c, err := g.remote()
			if err != nil {
				return err
			}
			if c != nil {
				return fn(cmd, remoteDirectory{c}, a)
			}
			st, err := g.migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			return fn(cmd, localDirectory{g.localDirectory(st)}, a)
		},
	}
}

// readableInput refuses a directory command (or audit list) whose
// arguments or own flags hold text that is not valid UTF-8, or a NUL: no
// record can be named so (the service refuses such text), and the store
// matches nothing to it, so a lookup or a filter of it would answer "not
// found" or an empty list rather than say the input is wrong. It is the
// command line's counterpart of the server's check of requests
// (refuseBadText), with the same test (directory.CleanText). Inherited flags (--database, file paths) are left
// alone: a path may be any bytes.
//
// An empty argument is refused too: each names a record, and none is
// named "" (a shell variable left unset, `users delete "$WHO"`). Through
// --server it made the path /admin/users/, which the admin API does not
// serve, and the command blamed --server for it.
func readableInput(cmd *cobra.Command, args []string) error {
	for i, a := range args {
		if a == "" {
			return fmt.Errorf("argument %d is empty: name the record", i+1)
		}
		if !directory.CleanText(a) {
			return fmt.Errorf("argument %d must be valid UTF-8 without NUL characters", i+1)
		}
	}
	var bad string
	// VisitAll and Changed, not Visit: LocalFlags is a set cobra builds
	// anew, which knows no flag as set, so Visit would visit none.
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if bad == "" && f.Changed && !directory.CleanText(f.Value.String()) {
			bad = f.Name
		}
	})
	if bad != "" {
		return fmt.Errorf("--%s must be valid UTF-8 without NUL characters", bad)
	}
	return nil
}

// databaseOnly refuses a command that works on the database when a
// server was named (--server, HALLPASS_SERVER), rather than quietly
// reading a local database the admin did not mean.
func (g *globalOptions) databaseOnly(cmd *cobra.Command) error {
	if g.server != "" {
		return fmt.Errorf("%s works on the database (--database), not through --server", cmd.CommandPath())
	}
	return nil
}

// dbCmd builds a subcommand that runs fn with the directory service of
// the migrated database: for what the admin API does not offer.
func (g *globalOptions) dbCmd(use, short string, args cobra.PositionalArgs, fn func(cmd *cobra.Command, dir *directory.Service, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withStore(cmd, func(st storage.Store) error {
				return fn(cmd, g.localDirectory(st), a)
			})
		},
	}
}

// localDirectory is the directory service of a command working on the
// database itself: through storage/cached, whose writes change the
// directory's change stamp, so running servers honour the change within a
// second (cached.DefaultInterval). A change that ends sessions queues
// their back-channel logout notices in the database, as it would in a
// server; this command sends none (it signs nothing), so it says what it
// queued and who sends it (logoutsQueued).
func (g *globalOptions) localDirectory(st storage.Store) *directory.Service {
	return directory.New(cached.New(st, 0), directory.Options{Audit: cliAudit(st, nil), LogoutsQueued: logoutsQueued(st, g.stderr),
		BuiltinClients: provider.BuiltinClients()})
}

// logoutsQueued says, once per change, how many back-channel logout
// notices the change queued for which apps (a notice per ended session
// of an app that registered a back-channel logout URI, as the store
// queues them), and that a running hallpass server on the database sends
// them: the operator learns that the apps will be told, and by whom.
func logoutsQueued(st storage.Store, stderr io.Writer) func(ctx context.Context, ended []storage.SessionClient) {
	return func(ctx context.Context, ended []storage.SessionClient) {
		var ids []string // the apps with notices, as first met
		counts := map[string]int{}
		// Each client read once, whatever came of it: true if it takes
		// back-channel logout.
		notified := map[string]bool{}
		for _, sc := range ended {
			n, read := notified[sc.ClientID]
			if !read {
				c, err := st.GetClient(ctx, sc.ClientID)
				switch {
				case errors.Is(err, storage.ErrNotFound):
				case err != nil:
					fmt.Fprintf(stderr, "warning: could not read client %s to see whether a back-channel logout notice was queued for it: %v\n", sc.ClientID, err)
				default:
					n = c.BackchannelLogoutURI != ""
				}
				notified[sc.ClientID] = n
				if n {
					ids = append(ids, sc.ClientID)
				}
			}
			if n {
				counts[sc.ClientID]++
			}
		}
		if len(ids) == 0 {
			return
		}
		total, apps := 0, make([]string, len(ids))
		for i, id := range ids {
			total += counts[id]
			apps[i] = fmt.Sprintf("%s (%d)", id, counts[id])
		}
		notices := "notices"
		if total == 1 {
			notices = "notice"
		}
		fmt.Fprintf(stderr, "queued %d back-channel logout %s for the ended sessions, for %s: a running hallpass server on this database sends them\n",
			total, notices, strings.Join(apps, ", "))
	}
}

// withStore runs fn with the migrated database of a subcommand that works
// on the database only (not through --server), closing it after.
func (g *globalOptions) withStore(cmd *cobra.Command, fn func(st storage.Store) error) error {
	if err := g.databaseOnly(cmd); err != nil {
		return err
	}
	st, err := g.migratedStore(cmd)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

// printResult prints v in the --output format, or returns err.
func (g *globalOptions) printResult(v any, err error) error {
	if err != nil {
		return err
	}
	return g.print(v)
}

// printChange prints v, the record of noun id just created or changed
// (how), or returns err. Its output lost (a full disk), the error says
// the change was made (afterChange): a bare write error read as a
// refusal, and run again, a create answered "already exists".
func (g *globalOptions) printChange(noun, id, how string, v any, err error) error {
	if err != nil {
		return err
	}
	return afterChange(fmt.Sprintf("%s %s was %s", noun, id, how), fmt.Sprintf("hallpass %ss get %s shows it", noun, id),
		func() error { return g.print(v) })
}

// overlay makes *in the stored record old with the flags given on the
// command line applied: an update changes only what its flags name. The
// flags are bound to fields of *in, so their values are read before old
// replaces them, and then set again.
func overlay[V any](f *pflag.FlagSet, in *V, old V) error {
	type given struct {
		flag  *pflag.Flag
		text  string
		slice []string
	}
	var all []given
	f.Visit(func(fl *pflag.Flag) {
		g := given{flag: fl, text: fl.Value.String()}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			g.slice = sv.GetSlice()
		}
		all = append(all, g)
	})
	*in = old
	for _, g := range all {
		var err error
		if sv, ok := g.flag.Value.(pflag.SliceValue); ok {
			// Set would append to a list flag already set.
			err = sv.Replace(g.slice)
		} else {
			err = g.flag.Value.Set(g.text)
		}
		if err != nil {
			return fmt.Errorf("--%s: %w", g.flag.Name, err)
		}
	}
	return nil
}

// records is the directory service's part for one kind of record.
type records[V any] interface {
	List(context.Context) ([]V, error)
	Get(context.Context, string) (V, error)
	Delete(context.Context, string) error
}

// readCmds describes the list, get and delete commands of one kind of
// record.
type readCmds[V any] struct {
	noun string // "user": says what was deleted
	arg  string // how get and delete name the record: USER, NAME…
	// The commands' short help.
	list, get, delete string
	pick              func(directoryAPI) records[V]
}

func (k readCmds[V]) commands(g *globalOptions) []*cobra.Command {
	list := g.dirCmd("list", k.list, cobra.NoArgs, func(cmd *cobra.Command, dir directoryAPI, _ []string) error {
		return g.printResult(k.pick(dir).List(cmd.Context()))
	})
	get := g.dirCmd("get "+k.arg, k.get, cobra.ExactArgs(1), func(cmd *cobra.Command, dir directoryAPI, args []string) error {
		return g.printResult(k.pick(dir).Get(cmd.Context(), args[0]))
	})
	del := g.dirCmd("delete "+k.arg, k.delete, cobra.ExactArgs(1), func(cmd *cobra.Command, dir directoryAPI, args []string) error {
		if err := k.pick(dir).Delete(cmd.Context(), args[0]); err != nil {
			return err
		}
		return g.confirmChange(fmt.Sprintf("%s %s was deleted", k.noun, args[0]), "there is nothing more to do",
			fmt.Sprintf("deleted %s %s", k.noun, args[0]))
	})
	return []*cobra.Command{list, get, del}
}

// readPassword takes the password from the first line of stdin
// (--password-stdin) or generates one for user to print: never from a
// flag, which other users of the machine could read. Either way the
// directory service checks it against the password rules. An empty first
// line is an error: to the directory an empty password means "leave it
// as it is", so `users update` fed by a command that printed nothing (a
// secret store that failed) would report success and change nothing.
func readPassword(stdin io.Reader, fromStdin bool, user directory.UserInput) (pw string, generated bool, err error) {
	if !fromStdin {
		pw, err := directory.GeneratePassword(user.Username, user.Email, user.Name)
		return pw, err == nil, err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("read password from stdin: %w", err)
	}
	pw = strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", false, errors.New("--password-stdin: the first line of stdin is empty; give the password on it")
	}
	return pw, false, nil
}

func newUsersCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users (as /admin/users: on --server, or directly on the database)"}
	var in directory.UserInput
	var pwStdin bool
	create := g.dirCmd("create", "Create a user; without --password-stdin a password is generated and printed once", cobra.NoArgs,
		func(cmd *cobra.Command, dir directoryAPI, _ []string) error {
			pw, generated, err := readPassword(cmd.InOrStdin(), pwStdin, in)
			if err != nil {
				return err
			}
			in.Password = pw
			out, err := dir.users().Create(cmd.Context(), in)
			if err != nil {
				return err
			}
			done := "user " + out.Username + " was created"
			if generated {
				err := afterChange(done, "its generated password is lost: set one with hallpass users update "+out.Username+" --password-stdin", func() error {
					_, err := fmt.Fprintf(g.stderr, "Generated password for %s (shown only now): %s\n", out.Username, pw)
					return err
				})
				if err != nil {
					return err
				}
			}
			return afterChange(done, "hallpass users get "+out.Username+" shows it", func() error { return g.print(out) })
		})
	userFlags := func(c *cobra.Command) {
		f := c.Flags()
		f.StringVar(&in.Username, "username", "", "username (required on create)")
		f.StringVar(&in.Email, "email", "", "email address")
		f.BoolVar(&in.EmailVerified, "email-verified", false, "the email address is verified")
		f.StringVar(&in.Name, "name", "", "full name")
		f.StringSliceVar(&in.Roles, "role", nil, "roles (comma-separated or repeated); each must exist")
		f.BoolVar(&in.Disabled, "disabled", false, "the user cannot sign in")
		f.BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin")
	}
	userFlags(create)

	update := g.dirCmd("update USER", "Change a user (by id or username); only the flags given change", cobra.ExactArgs(1),
		func(cmd *cobra.Command, dir directoryAPI, args []string) error {
			// The password is read before the user: the time it takes to
			// type falls before the read, not between it and the write.
			var pw string
			if pwStdin {
				var err error
				if pw, _, err = readPassword(cmd.InOrStdin(), true, in); err != nil {
					return err
				}
			}
			out, err := dir.users().Change(cmd.Context(), args[0], func(old directory.UserView) (directory.UserInput, error) {
				stored := directory.UserInput{Username: old.Username, Email: old.Email, EmailVerified: old.EmailVerified, Name: old.Name, Roles: old.Roles, Disabled: old.Disabled}
				if err := overlay(cmd.Flags(), &in, stored); err != nil {
					return in, err
				}
				in.Password = pw
				return in, nil
			})
			return g.printChange("user", args[0], "changed", out, err)
		})
	userFlags(update)

	reset := g.dirCmd("reset-factors USER", "Delete a user's second factors (authenticator, passkeys, recovery codes); they enrol again if a role requires it", cobra.ExactArgs(1),
		func(cmd *cobra.Command, dir directoryAPI, args []string) error {
			if err := dir.resetFactors(cmd.Context(), args[0]); err != nil {
				return err
			}
			return g.confirmChange("the second factors of user "+args[0]+" were reset", "there is nothing more to do",
				"reset the second factors of user "+args[0])
		})

	cmd.AddCommand(create, update, reset)
	cmd.AddCommand(readCmds[directory.UserView]{noun: "user", arg: "USER",
		list: "List users", get: "Show a user (by id or username)", delete: "Delete a user with their sessions, consents and tokens",
		pick: func(d directoryAPI) records[directory.UserView] { return d.users() }}.commands(g)...)
	return cmd
}

// namedCmds describes the commands of roles or scopes, which differ only
// in their flags and their help.
type namedCmds[V any] struct {
	readCmds[V]
	use, short, create, update string
	named                      func(directoryAPI) kind[V, V]
	// in is what the flags fill in; name is its name, set from NAME.
	in   *V
	name *string
	// flags binds the flags of create and update to in.
	flags func(*pflag.FlagSet)
}

func (k namedCmds[V]) command(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: k.use, Short: k.short}
	create := g.dirCmd("create NAME", k.create, cobra.ExactArgs(1), func(cmd *cobra.Command, dir directoryAPI, args []string) error {
		*k.name = args[0]
		out, err := k.named(dir).Create(cmd.Context(), *k.in)
		return g.printChange(k.noun, args[0], "created", out, err)
	})
	update := g.dirCmd("update NAME", k.update, cobra.ExactArgs(1), func(cmd *cobra.Command, dir directoryAPI, args []string) error {
		out, err := k.named(dir).Change(cmd.Context(), args[0], func(old V) (V, error) {
			if err := overlay(cmd.Flags(), k.in, old); err != nil {
				return old, err
			}
			return *k.in, nil
		})
		return g.printChange(k.noun, args[0], "changed", out, err)
	})
	k.flags(create.Flags())
	k.flags(update.Flags())
	k.pick = func(d directoryAPI) records[V] { return k.named(d) }
	cmd.AddCommand(create, update)
	cmd.AddCommand(k.commands(g)...)
	return cmd
}

func newRolesCmd(g *globalOptions) *cobra.Command {
	var in directory.RoleView
	return namedCmds[directory.RoleView]{
		readCmds: readCmds[directory.RoleView]{noun: "role", arg: "NAME", list: "List roles", get: "Show a role", delete: "Delete a role (users lose it)"},
		use:      "roles", short: "Manage roles and the scopes they grant",
		create: "Create a role", update: "Change a role's scopes or description",
		named: directoryAPI.roles, in: &in, name: &in.Name,
		flags: func(f *pflag.FlagSet) {
			f.StringSliceVar(&in.Scopes, "scope", nil, "scopes the role grants (comma-separated or repeated)")
			f.StringVar(&in.Description, "description", "", "what the role is for")
			f.BoolVar(&in.RequireMFA, "require-mfa", false, "holders must sign in with a second factor (--require-mfa=false lifts it)")
		},
	}.command(g)
}

func newScopesCmd(g *globalOptions) *cobra.Command {
	var in directory.ScopeView
	return namedCmds[directory.ScopeView]{
		readCmds: readCmds[directory.ScopeView]{noun: "scope", arg: "NAME", list: "List registered scopes", get: "Show a registered scope", delete: "Unregister a scope"},
		use:      "scopes", short: "Manage registered scopes: consent-page descriptions and audiences",
		create: "Register a scope", update: "Change a scope's description or audience",
		named: directoryAPI.scopes, in: &in, name: &in.Name,
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&in.Description, "description", "", "what the consent page says about the scope")
			f.StringVar(&in.Audience, "audience", "", "the resource server tokens with this scope are for")
		},
	}.command(g)
}
