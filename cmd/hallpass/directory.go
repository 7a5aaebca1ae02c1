package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// storeCmd builds a subcommand that runs fn on the migrated database.
func (g *globalOptions) storeCmd(use, short string, args cobra.PositionalArgs, fn func(cmd *cobra.Command, st storage.Store, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			st, err := g.migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			return fn(cmd, st, a)
		},
	}
}

// readPassword takes the password from the first line of stdin
// (--password-stdin) or generates one for user to print: never from a
// flag, which other users of the machine could read. Either way
// provider.CreateUser or UpdateUser checks it against the password rules.
func readPassword(stdin io.Reader, fromStdin bool, user provider.UserInput) (pw string, generated bool, err error) {
	if !fromStdin {
		pw, err := provider.GeneratePassword(user.Username, user.Email, user.Name)
		return pw, err == nil, err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("read password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}

func newUsersCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users (same as /admin/users, directly on the database)"}
	var in provider.UserInput
	var pwStdin bool
	create := g.storeCmd("create", "Create a user; without --password-stdin a password is generated and printed once", cobra.NoArgs,
		func(cmd *cobra.Command, st storage.Store, _ []string) error {
			pw, generated, err := readPassword(cmd.InOrStdin(), pwStdin, in)
			if err != nil {
				return err
			}
			in.Password = pw
			out, err := provider.CreateUser(cmd.Context(), st, in, time.Now())
			if err != nil {
				return err
			}
			if generated {
				fmt.Fprintf(g.stderr, "Generated password for %s (shown only now): %s\n", out.Username, pw)
			}
			return g.printJSON(out)
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

	update := g.storeCmd("update USER", "Change a user (by id or username); only the flags given change", cobra.ExactArgs(1),
		func(cmd *cobra.Command, st storage.Store, args []string) error {
			old, err := provider.FindUser(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			merged := provider.UserInput{Username: old.Username, Email: old.Email, EmailVerified: old.EmailVerified, Name: old.Name, Roles: old.Roles, Disabled: old.Disabled}
			f := cmd.Flags()
			if f.Changed("username") {
				merged.Username = in.Username
			}
			if f.Changed("email") {
				merged.Email = in.Email
			}
			if f.Changed("email-verified") {
				merged.EmailVerified = in.EmailVerified
			}
			if f.Changed("name") {
				merged.Name = in.Name
			}
			if f.Changed("role") {
				merged.Roles = in.Roles
			}
			if f.Changed("disabled") {
				merged.Disabled = in.Disabled
			}
			if pwStdin {
				if merged.Password, _, err = readPassword(cmd.InOrStdin(), true, merged); err != nil {
					return err
				}
			}
			out, err := provider.UpdateUser(cmd.Context(), st, old.ID, merged, time.Now())
			if err != nil {
				return err
			}
			return g.printJSON(out)
		})
	userFlags(update)

	list := g.storeCmd("list", "List users as JSON", cobra.NoArgs, func(cmd *cobra.Command, st storage.Store, _ []string) error {
		us, err := st.ListUsers(cmd.Context())
		if err != nil {
			return err
		}
		out := make([]provider.UserView, 0, len(us))
		for i := range us {
			out = append(out, provider.ViewUser(&us[i]))
		}
		return g.printJSON(out)
	})
	get := g.storeCmd("get USER", "Show a user (by id or username)", cobra.ExactArgs(1), func(cmd *cobra.Command, st storage.Store, args []string) error {
		u, err := provider.FindUser(cmd.Context(), st, args[0])
		if err != nil {
			return err
		}
		return g.printJSON(provider.ViewUser(u))
	})
	del := g.storeCmd("delete USER", "Delete a user with their sessions, consents and tokens", cobra.ExactArgs(1), func(cmd *cobra.Command, st storage.Store, args []string) error {
		if err := provider.DeleteUser(cmd.Context(), st, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "deleted user %s\n", args[0])
		return nil
	})
	cmd.AddCommand(create, list, get, update, del)
	return cmd
}

func newRolesCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "roles", Short: "Manage roles and the scopes they grant"}
	var in provider.RoleView
	save := func(create bool) func(cmd *cobra.Command, st storage.Store, args []string) error {
		return func(cmd *cobra.Command, st storage.Store, args []string) error {
			in.Name = args[0]
			if !create {
				old, err := st.GetRole(cmd.Context(), args[0])
				if err != nil {
					return fmt.Errorf("role %q: %w", args[0], err)
				}
				if !cmd.Flags().Changed("scope") {
					in.Scopes = old.Scopes
				}
				if !cmd.Flags().Changed("description") {
					in.Description = old.Description
				}
			}
			out, err := provider.SaveRole(cmd.Context(), st, in, create, time.Now())
			if err != nil {
				return err
			}
			return g.printJSON(out)
		}
	}
	create := g.storeCmd("create NAME", "Create a role", cobra.ExactArgs(1), save(true))
	update := g.storeCmd("update NAME", "Change a role's scopes or description", cobra.ExactArgs(1), save(false))
	for _, c := range []*cobra.Command{create, update} {
		c.Flags().StringSliceVar(&in.Scopes, "scope", nil, "scopes the role grants (comma-separated or repeated)")
		c.Flags().StringVar(&in.Description, "description", "", "what the role is for")
	}
	list := g.storeCmd("list", "List roles as JSON", cobra.NoArgs, func(cmd *cobra.Command, st storage.Store, _ []string) error {
		rs, err := st.ListRoles(cmd.Context())
		if err != nil {
			return err
		}
		out := make([]provider.RoleView, 0, len(rs))
		for i := range rs {
			out = append(out, provider.ViewRole(&rs[i]))
		}
		return g.printJSON(out)
	})
	get := g.storeCmd("get NAME", "Show a role", cobra.ExactArgs(1), func(cmd *cobra.Command, st storage.Store, args []string) error {
		r, err := st.GetRole(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("role %q: %w", args[0], err)
		}
		return g.printJSON(provider.ViewRole(r))
	})
	del := g.storeCmd("delete NAME", "Delete a role (users lose it)", cobra.ExactArgs(1), func(cmd *cobra.Command, st storage.Store, args []string) error {
		if err := st.DeleteRole(cmd.Context(), args[0]); err != nil {
			return fmt.Errorf("role %q: %w", args[0], err)
		}
		fmt.Fprintf(g.stdout, "deleted role %s\n", args[0])
		return nil
	})
	cmd.AddCommand(create, list, get, update, del)
	return cmd
}

func newScopesCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "scopes", Short: "Manage registered scopes: consent-page descriptions and audiences"}
	var in provider.ScopeView
	save := func(create bool) func(cmd *cobra.Command, st storage.Store, args []string) error {
		return func(cmd *cobra.Command, st storage.Store, args []string) error {
			in.Name = args[0]
			if !create {
				old, err := st.GetScope(cmd.Context(), args[0])
				if err != nil {
					return fmt.Errorf("scope %q: %w", args[0], err)
				}
				if !cmd.Flags().Changed("audience") {
					in.Audience = old.Audience
				}
				if !cmd.Flags().Changed("description") {
					in.Description = old.Description
				}
			}
			out, err := provider.SaveScope(cmd.Context(), st, in, create, time.Now())
			if err != nil {
				return err
			}
			return g.printJSON(out)
		}
	}
	create := g.storeCmd("create NAME", "Register a scope", cobra.ExactArgs(1), save(true))
	update := g.storeCmd("update NAME", "Change a scope's description or audience", cobra.ExactArgs(1), save(false))
	for _, c := range []*cobra.Command{create, update} {
		c.Flags().StringVar(&in.Description, "description", "", "what the consent page says about the scope")
		c.Flags().StringVar(&in.Audience, "audience", "", "the resource server tokens with this scope are for")
	}
	list := g.storeCmd("list", "List registered scopes as JSON", cobra.NoArgs, func(cmd *cobra.Command, st storage.Store, _ []string) error {
		ss, err := st.ListScopes(cmd.Context())
		if err != nil {
			return err
		}
		out := make([]provider.ScopeView, 0, len(ss))
		for i := range ss {
			out = append(out, provider.ViewScope(&ss[i]))
		}
		return g.printJSON(out)
	})
	get := g.storeCmd("get NAME", "Show a registered scope", cobra.ExactArgs(1), func(cmd *cobra.Command, st storage.Store, args []string) error {
		s, err := st.GetScope(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("scope %q: %w", args[0], err)
		}
		return g.printJSON(provider.ViewScope(s))
	})
	del := g.storeCmd("delete NAME", "Unregister a scope", cobra.ExactArgs(1), func(cmd *cobra.Command, st storage.Store, args []string) error {
		if err := st.DeleteScope(cmd.Context(), args[0]); err != nil {
			return fmt.Errorf("scope %q: %w", args[0], err)
		}
		fmt.Fprintf(g.stdout, "deleted scope %s\n", args[0])
		return nil
	})
	cmd.AddCommand(create, list, get, update, del)
	return cmd
}
