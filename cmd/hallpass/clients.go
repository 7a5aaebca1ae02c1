package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
)

func newClientsCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Manage OAuth clients (as /admin/clients: on --server, or directly on the database)",
	}
	var m directory.ClientMetadata
	var scopes []string
	var requirePKCE bool
	clientFlags := func(c *cobra.Command) {
		f := c.Flags()
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
	}
	create := g.dirCmd("create", "Register a client; prints its metadata and, once, its secret", cobra.NoArgs,
		func(cmd *cobra.Command, dir directoryAPI, _ []string) error {
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
			out, err := dir.clients().Create(cmd.Context(), m)
			if err != nil {
				return err
			}
			return g.printClient(out, "created")
		})
	create.Flags().StringVar(&m.ClientID, "id", "", "client id (default: generated)")
	clientFlags(create)

	update := g.dirCmd("update CLIENT_ID", "Change a client; only the flags given change (a client turned confidential gets a secret, printed once)", cobra.ExactArgs(1),
		func(cmd *cobra.Command, dir directoryAPI, args []string) error {
			f := cmd.Flags()
			scopesGiven, pkceGiven := f.Changed("scope"), f.Changed("require-pkce")
			newScopes, newPKCE := slices.Clone(scopes), requirePKCE
			out, err := dir.clients().Change(cmd.Context(), args[0], func(old directory.ClientMetadata) (directory.ClientMetadata, error) {
				if err := overlay(f, &m, old); err != nil {
					return m, err
				}
				if scopesGiven {
					m.Scope = strings.Join(newScopes, " ")
				}
				if pkceGiven {
					m.RequirePKCE = &newPKCE
				}
				m.ClientIDIssuedAt, m.ClientSecretExpiresAt = 0, nil
				return m, nil
			})
			if err != nil {
				return err
			}
			return g.printClient(out, "changed")
		})
	clientFlags(update)

	revoke := g.dirCmd("revoke-tokens CLIENT_ID", "End every grant of a client (its tokens stop working), keeping the client", cobra.ExactArgs(1),
		func(cmd *cobra.Command, dir directoryAPI, args []string) error {
			if err := dir.revokeClientTokens(cmd.Context(), args[0]); err != nil {
				return err
			}
			return g.confirmChange("every token of client "+args[0]+" was revoked", "there is nothing more to do",
				"revoked every token of client "+args[0])
		})
	cmd.AddCommand(create, update)
	cmd.AddCommand(readCmds[directory.ClientMetadata]{noun: "client", arg: "CLIENT_ID",
		list: "List clients", get: "Show one client", delete: "Delete a client and every token issued to it",
		pick: func(d directoryAPI) records[directory.ClientMetadata] { return d.clients() }}.commands(g)...)
	cmd.AddCommand(revoke)
	return cmd
}

// printClient prints client m, just created or changed (how): with its
// secret when it was given one, which is shown only here.
func (g *globalOptions) printClient(m directory.ClientMetadata, how string) error {
	remedy := "hallpass clients get " + m.ClientID + " shows it"
	if m.ClientSecret != "" {
		remedy = "its secret, shown only there, is lost: give it a new one (the console's Rotate secret)"
	}
	return afterChange(fmt.Sprintf("client %s was %s", m.ClientID, how), remedy, func() error { return g.print(m) })
}

// migratedStore opens the database and brings its schema up to date, so
// admin commands work on a database `serve` never touched. It does not
// create an SQLite file: a typo in --database would otherwise give an
// empty database and answers such as "[]".
func (g *globalOptions) migratedStore(cmd *cobra.Command) (storage.Store, error) {
	if err := g.printable(); err != nil {
		return nil, err
	}
	if path, ok := strings.CutPrefix(g.database, "sqlite:"); ok && path != "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s (--database %s): 'hallpass migrate' or 'hallpass serve' creates one; or give --server to work through a running hallpass", path, g.database)
		}
	}
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

// printJSON prints v in the --output format (JSON unless asked or at a
// terminal).
func (g *globalOptions) printJSON(v any) error { return g.print(v) }
