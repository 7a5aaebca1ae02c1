package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

// honouredWithin polls ok on a replica until it holds, failing the test if
// it does not within d. Clients, scopes and roles are cached for at most
// a second (storage/cached, whose own test proves the bound with a moved
// clock); d leaves room for a loaded machine.
func honouredWithin(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: replica B still honours the old state %v after the change on A", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicasHonourDirectoryChanges runs two hallpass instances on one
// PostgreSQL database and changes, through replica A's admin API, what
// replica B keeps in memory: a client's redirect URI, a role's scopes, a
// client's existence. B honours each change within the cache's bound.
func TestReplicasHonourDirectoryChanges(t *testing.T) {
	rs := replicas(t, testdb.Postgres(t), 2, newKeyClock())
	a, b := rs[0], rs[1]

	// A browser client, as B sees it: its registered redirect URI is
	// accepted (on to the login page), another is refused.
	meta := directory.ClientMetadata{
		ClientName: "app", RedirectURIs: []string{"https://app.example/old"},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: "none", Scope: "openid",
	}
	res := a.admin(t, http.MethodPost, "/admin/clients", meta)
	if res.Status != http.StatusCreated {
		t.Fatalf("create client: %d %s", res.Status, res.Body)
	}
	meta = decodeClient(t, res)
	// The first answer only: a registered redirect URI is answered 303
	// (on to sign-in), an unregistered one 400.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(redirect string) int {
		q := url.Values{"client_id": {meta.ClientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"state-0123456789"}, "code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
		res, err := noFollow.Get(b.URL + provider.PathAuthorize + "?" + q.Encode())
		if err != nil {
			t.Fatalf("authorize at B: %v", err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := authorize("https://app.example/old"); st == http.StatusBadRequest {
		t.Fatalf("B refuses the registered redirect URI: %d", st)
	}
	meta.RedirectURIs = []string{"https://app.example/new"}
	if res := a.admin(t, http.MethodPut, "/admin/clients/"+meta.ClientID, meta); res.Status != http.StatusOK {
		t.Fatalf("change redirect URI on A: %d %s", res.Status, res.Body)
	}
	honouredWithin(t, "changed redirect URI", 5*time.Second, func() bool {
		return authorize("https://app.example/old") == http.StatusBadRequest
	})
	if st := authorize("https://app.example/new"); st == http.StatusBadRequest {
		t.Errorf("B refuses the new redirect URI: %d", st)
	}

	// A role's scopes, as B's admin API reads them.
	if res := a.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": "auditor", "scopes": []string{"results:read"}}); res.Status != http.StatusCreated {
		t.Fatalf("create role: %d %s", res.Status, res.Body)
	}
	if res := b.admin(t, http.MethodGet, "/admin/roles/auditor", nil); !strings.Contains(string(res.Body), "results:read") {
		t.Fatalf("B's view of the role: %d %s", res.Status, res.Body)
	}
	if res := a.admin(t, http.MethodPut, "/admin/roles/auditor", map[string]any{"name": "auditor", "scopes": []string{"results:write"}}); res.Status != http.StatusOK {
		t.Fatalf("change role on A: %d %s", res.Status, res.Body)
	}
	honouredWithin(t, "changed role scopes", 5*time.Second, func() bool {
		body := string(b.admin(t, http.MethodGet, "/admin/roles/auditor", nil).Body)
		return strings.Contains(body, "results:write") && !strings.Contains(body, "results:read")
	})

	// A deleted service client gets no more tokens from B.
	svc := a.registerService(t, "client_secret_basic", "")
	tokenAtB := func() int {
		return b.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
			Auth: basic(svc.ClientID, svc.ClientSecret), Body: "grant_type=client_credentials"}).Status
	}
	if st := tokenAtB(); st != http.StatusOK {
		t.Fatalf("B's token for the service: %d", st)
	}
	if res := a.admin(t, http.MethodDelete, "/admin/clients/"+svc.ClientID, nil); res.Status != http.StatusNoContent {
		t.Fatalf("delete client on A: %d %s", res.Status, res.Body)
	}
	honouredWithin(t, "deleted client", 5*time.Second, func() bool { return tokenAtB() == http.StatusUnauthorized })
}
