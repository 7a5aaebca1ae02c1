package provider_test

import (
	"net/http"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
)

// An admin narrows a client's scopes: a grant holding a scope the client
// may no longer be granted ends (invalid_grant: sign in again, as when
// its audience is narrowed), whether or not the refresh names a scope;
// it is not answered invalid_scope, as if the refresh had asked for the
// scope. A grant within the new scopes refreshes as before.
func TestLifecycleClientScopesNarrowed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		wide := e.grant(t, b, e.Confidential, "alice", alicePassword, lcScope)
		narrow := e.grant(t, b, e.Confidential, "alice", alicePassword, "openid offline_access")

		m := e.Confidential.Meta
		m.Scope = "openid profile email offline_access"
		m.ClientSecret, m.ClientIDIssuedAt, m.ClientSecretExpiresAt = "", 0, nil
		if res := e.admin(t, http.MethodPut, "/admin/clients/"+m.ClientID, m); res.Status != http.StatusOK {
			t.Fatalf("narrow the client: status %d: %s", res.Status, res.Body)
		}

		for _, scope := range []string{"", "openid offline_access"} {
			assertError(t, e.refresh(t, e.Confidential, wide.Refresh, scope), http.StatusBadRequest, "invalid_grant")
		}
		oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, narrow.Refresh, ""))
	})
}

// TestCodeExchangeAfterClientNarrowed checks that an authorization code
// issued before an admin narrowed its client's scopes mints no token
// carrying a scope the client may no longer be granted: fosite checks a
// code exchange against the client's registration for nothing but the
// redirect URI, so the tokens, a refresh token included, carried the
// scope the registration had dropped (the first refresh then ended the
// grant). The exchange is invalid_grant, as that refresh is; a code
// within the new scopes is exchanged as before.
func TestCodeExchangeAfterClientNarrowed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		wideAR, narrowAR := e.Confidential.request(lcScope), e.Confidential.request("openid offline_access")
		wide, _ := b.signIn(t, wideAR, "alice", alicePassword)
		wide.wantCode(t)
		narrow, _ := b.signIn(t, narrowAR, "alice", alicePassword)
		narrow.wantCode(t)
		m := e.Confidential.Meta
		m.Scope = "openid profile email offline_access"
		m.ClientSecret, m.ClientIDIssuedAt, m.ClientSecretExpiresAt = "", 0, nil
		if res := e.admin(t, http.MethodPut, "/admin/clients/"+m.ClientID, m); res.Status != http.StatusOK {
			t.Fatalf("narrow the client: status %d: %s", res.Status, res.Body)
		}
		tok, err := e.tryExchange(wideAR, wide)
		if err == nil {
			t.Fatalf("a code for a scope its client lost minted tokens: scope %q", tok.Extra("scope"))
		}
		wantRetrieveError(t, err, "invalid_grant")
		if _, err := e.tryExchange(narrowAR, narrow); err != nil {
			t.Errorf("a code within the narrowed scopes: %v", err)
		}
	})
}
