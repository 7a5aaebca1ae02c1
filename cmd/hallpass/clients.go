package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
)

func newClientsCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Manage OAuth clients (same as /admin/clients, directly on the database)",
	}
	var m directory.ClientMetadata
	var scopes []string
	var requirePKCE bool
	create := g.dirCmd("create", "Register a client; prints its metadata and, once, its secret", cobra.NoArgs,
		func(cmd *cobra.Command, dir *directory.Service, _ []string) error {
			m.Scope = strings.Join(scopes, " ")
			if !cmd.Flags().Changed("grant-type") {
				m.GrantTypes = nil
			}
			if !cmd.Flags().Changed("response-type") {
				m.ResponseTypes = nil
			}
			if cmd.Flags().Changed("require-pkce") {
				m.RequirePKCE = &requirePKCE
			}
			return g.printResult(dir.Clients().Create(cmd.Context(), m))
		})
	f := create.Flags()
	f.StringVar(&m.ClientID, "id", "", "client id (default: generated)")
	f.StringVar(&m.ClientName, "name", "", "human-readable client name")
	f.StringArrayVar(&m.RedirectURIs, "redirect-uri", nil, "redirect URI (repeatable)")
	f.StringArrayVar(&m.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "post-logout redirect URI (repeatable)")
	f.StringSliceVar(&m.GrantTypes, "grant-type", nil, "grant types: authorization_code, refresh_token, client_credentials (default authorization_code)")
	f.StringSliceVar(&m.ResponseTypes, "response-type", nil, "response types (default code for authorization_code clients)")
	f.StringVar(&m.TokenEndpointAuthMethod, "auth-method", "client_secret_basic", "token endpoint auth method: client_secret_basic, client_secret_post or none")
	f.StringSliceVar(&scopes, "scope", nil, "allowed scopes (comma-separated or repeated)")
	f.StringSliceVar(&m.Audience, "audience", nil, "allowed audiences")
	f.BoolVar(&m.SkipConsent, "skip-consent", false, "first-party client: users are not asked for consent")
	f.StringSliceVar(&m.ResourceServers, "resource-server", nil, "resource servers (token audiences) this client speaks for: it may introspect their tokens")
	f.BoolVar(&requirePKCE, "require-pkce", true, "false lets a legacy confidential client use the code flow without PKCE")

	revoke := g.dirCmd("revoke-tokens CLIENT_ID", "End every grant of a client (its tokens stop working), keeping the client", cobra.ExactArgs(1),
		func(cmd *cobra.Command, dir *directory.Service, args []string) error {
			if err := dir.Clients().RevokeTokens(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "revoked every token of client %s\n", args[0])
			return nil
		})
	cmd.AddCommand(create)
	cmd.AddCommand(readCmds[directory.ClientMetadata]{noun: "client", arg: "CLIENT_ID",
		list: "List clients as JSON", get: "Show one client as JSON", delete: "Delete a client and every token issued to it",
		pick: func(d *directory.Service) records[directory.ClientMetadata] { return d.Clients() }}.commands(g)...)
	cmd.AddCommand(revoke)
	return cmd
}

// migratedStore opens the database and brings its schema up to date, so
// admin commands work on a database `serve` never touched.
func (g *globalOptions) migratedStore(cmd *cobra.Command) (storage.Store, error) {
	st, err := g.openStore(cmd.Context())
	if err != nil {
		return nil, err
	}
	if err := g.migrate(cmd.Context(), st); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func (g *globalOptions) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
