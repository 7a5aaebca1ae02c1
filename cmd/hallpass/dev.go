package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// devAudience is the audience of the demo school API's scopes.
const devAudience = "http://localhost:8081"

// The demo app (cmd/demoapp) at its default address, registered by --dev
// as a public client.
const (
	demoappClientID = "hallpass-demoapp"
	demoappURL      = "http://localhost:8082"
)

// seedDev fills an empty database with the school demo (README "See the
// sign-in flow in a browser"): the
// scopes, the teacher and student roles, alice and bob, and a public client
// whose redirect URI is hallpass's own /dev/callback, and the demo app's
// public client (cmd/demoapp on its default address). It prints what it
// made, passwords included, and a link that starts a sign-in. A database
// that already has users or clients is left alone.
func seedDev(ctx context.Context, st storage.Store, issuer, adminRole string, out io.Writer) error {
	dir := directory.New(st, directory.Options{})
	users, err := dir.Users().List(ctx)
	if err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	clients, err := dir.Clients().List(ctx)
	if err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	// hallpass's own client (the console's) is registered at every start.
	clients = slices.DeleteFunc(clients, func(c directory.ClientMetadata) bool { return c.ClientID == provider.SelfClientID })
	if len(users) > 0 || len(clients) > 0 {
		fmt.Fprintln(out, "--dev: the database already has users or clients; nothing seeded.")
		return nil
	}
	for _, s := range []directory.ScopeView{
		{Name: "results:read", Description: "Read exam results", Audience: devAudience},
		{Name: "results:write", Description: "Publish exam results", Audience: devAudience},
		{Name: "schedule:write", Description: "Set the exam schedule", Audience: devAudience},
	} {
		if _, err := dir.Scopes().Create(ctx, s); err != nil {
			return fmt.Errorf("dev seed: %w", err)
		}
	}
	for _, r := range []directory.RoleView{
		{Name: "teacher", Description: "Reads and publishes results, sets the schedule", Scopes: []string{"results:read", "results:write", "schedule:write"}},
		{Name: "student", Description: "Reads results", Scopes: []string{"results:read"}},
		{Name: adminRole, Description: "Uses the admin console"},
	} {
		if _, err := dir.Roles().Create(ctx, r); err != nil {
			return fmt.Errorf("dev seed: %w", err)
		}
	}
	passwords := map[string]string{}
	for _, u := range []directory.UserInput{
		{Username: "alice", Name: "Alice Teacher", Email: "alice@example.com", EmailVerified: true, Roles: []string{"teacher"}},
		{Username: "bob", Name: "Bob Student", Email: "bob@example.com", EmailVerified: true, Roles: []string{"student"}},
		{Username: "admin", Name: "Console Admin", Email: "admin@example.com", EmailVerified: true, Roles: []string{adminRole}},
	} {
		if u.Password, err = directory.GeneratePassword(u.Username, u.Email, u.Name); err != nil {
			return fmt.Errorf("dev seed: %w", err)
		}
		passwords[u.Username] = u.Password
		if _, err := dir.Users().Create(ctx, u); err != nil {
			return fmt.Errorf("dev seed: %w", err)
		}
	}
	callback := strings.TrimSuffix(issuer, "/") + provider.PathDevCallback
	scope := "openid profile email offline_access results:read results:write schedule:write"
	if _, err := dir.Clients().Create(ctx, directory.ClientMetadata{
		ClientID:                provider.DevClientID,
		ClientName:              "hallpass dev callback",
		RedirectURIs:            []string{callback},
		PostLogoutRedirectURIs:  []string{strings.TrimSuffix(issuer, "/") + "/"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		TokenEndpointAuthMethod: "none",
		Scope:                   scope,
	}); err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	if _, err := dir.Clients().Create(ctx, directory.ClientMetadata{
		ClientID:                demoappClientID,
		ClientName:              "Results Viewer (demo app)",
		RedirectURIs:            []string{demoappURL + "/callback"},
		PostLogoutRedirectURIs:  []string{demoappURL + "/"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		TokenEndpointAuthMethod: "none",
		Scope:                   scope,
	}); err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	sum := sha256.Sum256([]byte(provider.DevCallbackVerifier))
	link := strings.TrimSuffix(issuer, "/") + provider.PathAuthorize + "?" + url.Values{
		"client_id":             {provider.DevClientID},
		"response_type":         {"code"},
		"redirect_uri":          {callback},
		"scope":                 {scope},
		"state":                 {"dev-" + web.RandomToken()[:12]},
		"nonce":                 {"dev-" + web.RandomToken()[:12]},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}.Encode()
	fmt.Fprintf(out, `--dev: seeded the school demo (development only).
  roles:  teacher (results:read results:write schedule:write), student (results:read), %s (the console)
  users:  alice (teacher)  password %s
          bob   (student)  password %s
          admin (%s)  password %s
  client: %s (public, PKCE) redirecting to %s
          %s (public, PKCE) for the demo app at %s (go run ./cmd/demoapp)

Open this link in a browser to sign in and see the tokens:

    %s

The admin console (sign in as admin) and everyone's account page:

    %s
    %s

`, adminRole, passwords["alice"], passwords["bob"], adminRole, passwords["admin"], provider.DevClientID, callback, demoappClientID, demoappURL, link,
		strings.TrimSuffix(issuer, "/")+provider.PathConsole, strings.TrimSuffix(issuer, "/")+provider.PathAccount)
	return nil
}
