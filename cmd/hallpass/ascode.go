package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/directory/state"
)

// Configuration as code: plan, apply and export the scopes, roles,
// clients and users a YAML file declares (directory/state), on the
// database directly.

// exitError ends the command with an exit code of its own, having said
// what there was to say: plan's 2 for "changes pending".
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// fileOptions are the flags of plan and apply.
type fileOptions struct {
	file      string
	prune     bool
	adminRole string
	expect    string
}

func (o *fileOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.file, "file", "f", "", "the YAML file declaring scopes, roles, clients and users ('-' reads stdin)")
	cmd.Flags().BoolVar(&o.prune, "prune", false, "delete the stored scopes, roles, clients and users the file does not name")
	// serve's setting of the same name (and variable and config key):
	// a file that would leave no enabled user holding it is refused.
	cmd.Flags().StringVar(&o.adminRole, "console-admin-role", "admin", "the role the admin console requires (as serve's): a file leaving no enabled user with it is refused")
	_ = cmd.MarkFlagRequired("file")
}

// load reads the file the flags name.
func (o *fileOptions) load(cmd *cobra.Command) (*state.File, error) {
	if o.file == "-" {
		return state.Load(cmd.InOrStdin(), "stdin")
	}
	f, err := os.Open(o.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return state.Load(f, o.file)
}

func (o *fileOptions) options() state.Options {
	return state.Options{Prune: o.prune, LookupEnv: os.LookupEnv, AdminRole: o.adminRole, Expect: o.expect}
}

func newPlanCmd(g *globalOptions) *cobra.Command {
	o := &fileOptions{}
	cmd := g.dbCmd("plan -f FILE", "Show what applying FILE would change; exit 0: nothing, 2: changes, 1: error", cobra.NoArgs,
		func(cmd *cobra.Command, dir *directory.Service, _ []string) error {
			f, err := o.load(cmd)
			if err != nil {
				return err
			}
			p, err := state.Make(cmd.Context(), dir, f, o.options())
			if err != nil {
				return err
			}
			if err := p.Write(g.stdout); err != nil {
				return err
			}
			if !p.Empty() {
				return exitError{code: 2}
			}
			return nil
		})
	cmd.Long = `Compare FILE (scopes, roles, clients, users, with the admin API's JSON
field names; see examples/school.yaml) with the directory and print what
'hallpass apply' would create, update and delete. Secrets are never printed.
The exit status is 0 when nothing would change, 2 when something would, and
1 on error, as 'terraform plan -detailed-exitcode'.`
	o.addFlags(cmd)
	return cmd
}

func newApplyCmd(g *globalOptions) *cobra.Command {
	o := &fileOptions{}
	cmd := g.dbCmd("apply -f FILE", "Make the directory match FILE, in one transaction", cobra.NoArgs,
		func(cmd *cobra.Command, dir *directory.Service, _ []string) error {
			f, err := o.load(cmd)
			if err != nil {
				return err
			}
			r, err := state.Apply(cmd.Context(), dir, f, o.options())
			if err != nil {
				return err
			}
			done, remedy := "the changes were applied", "hallpass plan shows the directory as it now is"
			if r.Plan.Empty() {
				// Said of an apply that found nothing to do, "applied"
				// was untrue.
				done = "the directory already matched the file, so nothing was changed"
			}
			if len(r.Secrets) > 0 {
				ids := make([]string, len(r.Secrets))
				for i, s := range r.Secrets {
					ids[i] = s.ClientID
				}
				remedy = "the generated secrets of clients " + strings.Join(ids, ", ") + " are lost: give each a new one (the console's Rotate secret, or client_secret_env in the file)"
			}
			return afterChange(done, remedy, func() error {
				if err := r.Plan.Write(g.stdout); err != nil {
					return err
				}
				if !r.Plan.Empty() {
					if _, err := fmt.Fprintln(g.stdout, "Applied."); err != nil {
						return err
					}
				}
				for _, s := range r.Secrets {
					// Printed once, outside any log: it is a credential.
					if _, err := fmt.Fprintf(g.stdout, "\nGenerated secret of client %s (shown only now):\n\n    %s\n", s.ClientID, s.Secret); err != nil {
						return err
					}
				}
				return nil
			})
		})
	cmd.Long = `Create, update and (with --prune) delete scopes, roles, clients and users
until the directory matches FILE. Every change is made in one transaction:
if one fails, none is kept. Applying the same file again changes nothing.
A client's secret comes from the environment variable its client_secret_env
names, or is generated at creation and printed once; a user's password comes
from password_env at creation, or the user has no usable password until one
is set ('hallpass users update USER --password-stdin'). With --expect and the
digest 'hallpass plan' printed, apply makes exactly the changes reviewed, or
none if the directory changed since.`
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.expect, "expect", "", "the digest plan printed (sha256:…): apply only if the changes are still exactly those")
	return cmd
}

func newExportCmd(g *globalOptions) *cobra.Command {
	cmd := g.dbCmd("export", "Write the scopes, roles, clients and users as a file for plan and apply", cobra.NoArgs,
		func(cmd *cobra.Command, dir *directory.Service, _ []string) error {
			f, err := state.Export(cmd.Context(), dir)
			if err != nil {
				return err
			}
			b, err := state.Marshal(f)
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(b)
			return err
		})
	cmd.Long = `Write the directory in the form 'hallpass plan' and 'hallpass apply' read,
without secrets and without what hallpass sets by itself (ids, timestamps):
planning the export shows no changes.`
	return cmd
}
