package provider_test

import (
	"slices"
	"testing"
	"time"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// TestStoredProtocolLookAlikeGrantsNothing: a role naming a protocol
// scope but for case ("Offline"), stored before the directory refused it
// (or behind its back), grants nothing: a client that may ask for
// "Offline" (stored alike) gets neither that scope nor, through fosite
// reading it as offline, a refresh token it was never meant to have.
func TestStoredProtocolLookAlikeGrantsNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) { c.DirectoryCacheInterval = -1 })
		now := time.Now()
		if err := e.Store.CreateRole(t.Context(), &storage.Role{Name: "legacy", Scopes: []string{"Offline"}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		const password = "a legacy pass phrase of old"
		e.newUser(t, directory.UserInput{Username: "carol", Password: password, Roles: []string{"legacy"}})
		storeBehindService(t, e, &storage.Client{ID: "legacy-offline", Name: "Legacy", RedirectURIs: []string{publicRedirect},
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
			Scopes: []string{"openid", "Offline"}, TokenEndpointAuthMethod: "none", SkipConsent: true})
		c := publicSSOClient(t, e, "legacy-offline", publicRedirect)
		ar := c.request("openid Offline")
		tok := e.signInTokens(t, e.newBrowser(t), ar, "carol", password)
		if got := grantedScope(t, tok); slices.Contains(got, "Offline") || tok.RefreshToken != "" {
			t.Errorf("granted %q, refresh token %t; want neither Offline nor a refresh token", got, tok.RefreshToken != "")
		}
	})
}
