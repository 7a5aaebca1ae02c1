package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/directory/state"
	"github.com/hallpass/hallpass/examples"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/cached"
	"github.com/hallpass/hallpass/web"
)

// The demo app (cmd/demoapp) at its default address, registered by --dev
// as a public client (examples/school.yaml).
const (
	demoappClientID = "hallpass-demoapp"
	demoappURL      = "http://localhost:8082"
)

// seedDev fills an empty database with the school demo (README "See the
// sign-in flow in a browser"): examples/school.yaml (the scopes, the
// teacher and student roles, alice and bob, the demo app's public
// client) with generated passwords for its users, the console's admin
// role and an admin user holding it, and a public client whose redirect
// URI is hallpass's own /dev/callback, all in one
// transaction. It prints what it made, passwords included, and a link
// that starts a sign-in. A database that already has users or clients is
// left alone.
func seedDev(ctx context.Context, st storage.Store, issuer, adminRole string, out io.Writer) error {
	dir := directory.New(cached.New(st, 0), directory.Options{BuiltinClients: provider.BuiltinClients()})
	users, err := dir.Users().List(ctx)
	if err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	clients, err := dir.Clients().List(ctx)
	if err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	// hallpass's own client (the console's) is registered at every start.
	clients = slices.DeleteFunc(clients, func(c directory.ClientMetadata) bool { return dir.Clients().IsBuiltin(c.ClientID) })
	if len(users) > 0 || len(clients) > 0 {
		return reprintDev(ctx, dir, users, issuer, out)
	}
	school, err := state.Load(bytes.NewReader(examples.School()), "examples/school.yaml")
	if err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	// The console's role is a setting (--console-admin-role), so it and
	// its user are added here rather than written in the file.
	school.Roles = append(school.Roles, directory.RoleView{Name: adminRole, Description: "Uses the admin console"})
	school.Users = append(school.Users, state.User{UserInput: directory.UserInput{Username: "admin", Name: "Console Admin",
		Email: "admin@example.com", EmailVerified: true, Roles: []string{adminRole}}})
	// Each user's generated password reaches the service as a file's
	// password_env would, never through the environment.
	passwords := map[string]string{}
	for i := range school.Users {
		u := &school.Users[i]
		pw, err := directory.GeneratePassword(u.Username, u.Email, u.Name)
		if err != nil {
			return fmt.Errorf("dev seed: %w", err)
		}
		u.PasswordEnv = "dev password of " + u.Username
		passwords[u.PasswordEnv] = pw
	}
	callback := strings.TrimSuffix(issuer, "/") + provider.PathDevCallback
	scope := "openid profile email offline_access results:read results:write schedule:write"
	school.Clients = append(school.Clients, state.Client{ClientMetadata: directory.ClientMetadata{
		ClientID:                provider.DevClientID,
		ClientName:              "hallpass dev callback",
		RedirectURIs:            []string{callback},
		PostLogoutRedirectURIs:  []string{strings.TrimSuffix(issuer, "/") + "/"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		TokenEndpointAuthMethod: "none",
		Scope:                   scope,
	}})
	if _, err := state.Apply(ctx, dir, school, state.Options{LookupEnv: func(k string) (string, bool) {
		pw, ok := passwords[k]
		return pw, ok
	}}); err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	link := devLink(issuer, callback, scope)
	var roles, people strings.Builder
	for i, r := range school.Roles {
		if i > 0 {
			roles.WriteString(", ")
		}
		fmt.Fprintf(&roles, "%s (%s)", r.Name, strings.Join(r.Scopes, " "))
	}
	for i, u := range school.Users {
		label := "  users:  "
		if i > 0 {
			label = "          "
		}
		fmt.Fprintf(&people, "%s%-5s (%s)  password %s\n", label, u.Username, strings.Join(u.Roles, ", "), passwords[u.PasswordEnv])
	}
	fmt.Fprintf(out, `--dev: seeded the school demo from examples/school.yaml (development only).
  roles:  %s
%s  client: %s (public, PKCE) redirecting to %s
          %s (public, PKCE) for the demo app at %s (go run ./cmd/demoapp)

Open this link in a browser to sign in and see the tokens:

    %s

`, roles.String(), people.String(), provider.DevClientID, callback, demoappClientID, demoappURL, link)
	printConsoleLinks(out, issuer)
	return nil
}

// printConsoleLinks prints the links of the admin console and the account
// page.
func printConsoleLinks(out io.Writer, issuer string) {
	base := strings.TrimSuffix(issuer, "/")
	fmt.Fprintf(out, "The admin console (sign in as admin) and everyone's account page:\n\n    %s\n    %s\n\n", base+provider.PathConsole, base+provider.PathAccount)
}

// devLink is a link that starts a sign-in of the dev client, whose
// /dev/callback page redeems the code with the fixed verifier.
func devLink(issuer, callback, scope string) string {
	sum := sha256.Sum256([]byte(provider.DevCallbackVerifier))
	return strings.TrimSuffix(issuer, "/") + provider.PathAuthorize + "?" + url.Values{
		"client_id":             {provider.DevClientID},
		"response_type":         {"code"},
		"redirect_uri":          {callback},
		"scope":                 {scope},
		"state":                 {"dev-" + web.RandomToken()[:12]},
		"nonce":                 {"dev-" + web.RandomToken()[:12]},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}.Encode()
}

// reprintDev tells, on a restart of --dev on a seeded database, who can
// sign in and the link to do it: the passwords were shown at the first
// start only (only their hashes are stored).
func reprintDev(ctx context.Context, dir *directory.Service, users []directory.UserView, issuer string, out io.Writer) error {
	fmt.Fprintln(out, "--dev: the database already has users or clients; nothing seeded.")
	var people strings.Builder
	for i, u := range users {
		label := "  users:  "
		if i > 0 {
			label = "          "
		}
		fmt.Fprintf(&people, "%s%-5s (%s)\n", label, u.Username, strings.Join(u.Roles, ", "))
	}
	fmt.Fprintf(out, "%s  passwords: as printed at the first --dev start; to set one: hallpass users update USER --password-stdin\n", people.String())
	c, err := dir.Clients().Get(ctx, provider.DevClientID)
	callback := strings.TrimSuffix(issuer, "/") + provider.PathDevCallback
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("dev: %w", err)
	case !slices.Contains(c.RedirectURIs, callback):
		fmt.Fprintf(out, "\nThe dev client %s redirects to %s, not to this issuer's %s: start with a fresh database to sign in through it.\n\n", provider.DevClientID, strings.Join(c.RedirectURIs, " "), callback)
		return nil
	}
	fmt.Fprintf(out, "\nOpen this link in a browser to sign in and see the tokens:\n\n    %s\n\n", devLink(issuer, callback, c.Scope))
	printConsoleLinks(out, issuer)
	return nil
}
