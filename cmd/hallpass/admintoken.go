package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hallpass/hallpass/provider"
)

func newAdminTokenCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "admin-token", Short: "Manage the admin API's bearer token"}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the stored admin token with a new one, printed once; the old one stops working at once",
		Long: `Generate a new admin token, store its digest in place of the old one and
print it once. Every server without HALLPASS_ADMIN_TOKEN reads the stored
digest on each admin request, so the old token stops working at once on all
of them. A token given by HALLPASS_ADMIN_TOKEN is not stored and cannot be
rotated here: change the variable and restart the servers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.databaseOnly(cmd); err != nil {
				return err
			}
			if adminTokenFromEnv() != "" {
				return errors.New("HALLPASS_ADMIN_TOKEN is set: servers started with it accept that token only, never a stored one, so rotating the stored token would change nothing; change HALLPASS_ADMIN_TOKEN and restart the servers instead (unset it here to rotate the stored token)")
			}
			st, err := g.migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			tok, err := provider.RotateAdminToken(cmd.Context(), st, cliAudit(st, nil))
			if err != nil {
				return err
			}
			// Printed once, outside any log: it is a credential.
			return afterChange("the admin token was replaced (the old one no longer works)",
				"the new one is lost: run hallpass admin-token rotate again with its output going where it can be written", func() error {
					_, err := fmt.Fprintf(g.stdout, "New admin token (shown only now; the old one no longer works):\n\n    %s\n\n", tok)
					return err
				})
		},
	}
	cmd.AddCommand(rotate)
	return cmd
}
