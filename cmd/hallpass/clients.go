package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

func newClientsCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Manage OAuth clients (same as /admin/clients, directly on the database)",
	}
	var m provider.ClientMetadata
	var scopes []string
	var requirePKCE bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Register a client; prints its metadata and, once, its secret",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
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
			out, err := provider.CreateClient(cmd.Context(), st, &m, true, time.Now())
			if err != nil {
				return err
			}
			return g.printJSON(out)
		},
	}
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

	list := &cobra.Command{
		Use:   "list",
		Short: "List clients as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			cs, err := st.ListClients(cmd.Context())
			if err != nil {
				return err
			}
			out := make([]provider.ClientMetadata, 0, len(cs))
			for i := range cs {
				out = append(out, provider.ClientMetadataOf(&cs[i]))
			}
			return g.printJSON(out)
		},
	}
	get := &cobra.Command{
		Use:   "get CLIENT_ID",
		Short: "Show one client as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			c, err := st.GetClient(cmd.Context(), args[0])
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no client with id %q", args[0])
			}
			if err != nil {
				return err
			}
			return g.printJSON(provider.ClientMetadataOf(c))
		},
	}
	del := &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client and every token issued to it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			err = st.DeleteClient(cmd.Context(), args[0])
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no client with id %q", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "deleted client %s\n", args[0])
			return nil
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke-tokens CLIENT_ID",
		Short: "End every grant of a client (its tokens stop working), keeping the client",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := provider.RevokeClientTokens(cmd.Context(), st, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "revoked every token of client %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, get, del, revoke)
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
