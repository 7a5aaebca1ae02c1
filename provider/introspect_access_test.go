package provider_test

// Introspection answers only those entitled to the answer: a token's own
// client, a resource server its aud names (for access tokens), the admin.
// Everyone else hears exactly {"active":false}, as for a token that does
// not exist.

import (
	"net/http"
	"slices"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

func TestIntrospectionEntitlement(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		staff := e.addPayroll(t)
		// Resource servers of the school API and of payroll, and a service
		// that is neither (allowed results:read for tokens of its own).
		schoolRS := credOf(e.registerResourceServer(t, "client_secret_basic", "", schoolAudience))
		payrollRS := credOf(e.registerResourceServer(t, "client_secret_post", "", payrollAudience))
		svcMeta := e.registerService(t, "client_secret_basic", "results:read")
		svc := credOf(svcMeta)
		owner := credOf(e.Confidential.Meta)
		admin := e.adminCred()

		alice := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, "openid offline_access results:read")
		payroll := e.grant(t, e.newBrowser(t), staff, "alice", alicePassword, "openid offline_access payroll:read")
		svcTok := e.token(t, svcMeta.ClientID, svcMeta.ClientSecret, "results:read").AccessToken
		if got := e.accessAud(t, alice.Access); !slices.Equal(got, []string{schoolAudience}) {
			t.Fatalf("alice's access token aud = %q", got)
		}
		if got := e.accessAud(t, payroll.Access); !slices.Equal(got, []string{payrollAudience}) {
			t.Fatalf("alice's payroll token aud = %q", got)
		}

		for _, tc := range []struct {
			name   string
			who    cred
			token  string
			active bool
		}{
			{"its own client, access token", owner, alice.Access, true},
			{"its own client, refresh token", owner, alice.Refresh, true},
			{"a service, its own token", svc, svcTok, true},
			{"the admin, access token", admin, alice.Access, true},
			{"the admin, refresh token", admin, alice.Refresh, true},
			{"the admin, a service's token", admin, svcTok, true},
			{"the resource server its aud names", schoolRS, alice.Access, true},
			{"the resource server a service token's aud names", schoolRS, svcTok, true},
			{"the payroll resource server, a payroll token", payrollRS, payroll.Access, true},
			{"an unrelated client, access token", svc, alice.Access, false},
			{"an unrelated client, refresh token", svc, alice.Refresh, false},
			{"another SSO client, a service's token", owner, svcTok, false},
			{"another SSO client, a payroll token", owner, payroll.Access, false},
			{"a resource server the aud does not name", payrollRS, alice.Access, false},
			{"the school resource server, a payroll token", schoolRS, payroll.Access, false},
			{"a resource server its aud names, refresh token", schoolRS, alice.Refresh, false},
			{"the payroll resource server, a payroll refresh token", payrollRS, payroll.Refresh, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, hint := range []string{"", "access_token", "refresh_token"} {
					if !tc.active {
						e.WantInactive(t, tc.name+" (hint "+hint+")", tc.who, tc.token, hint)
						continue
					}
					m := e.Introspection(t, tc.who, tc.token, hint)
					if m["active"] != true || m["client_id"] == nil || m["scope"] == nil {
						t.Errorf("hint %q: introspection says %v, want the active token's answer", hint, m)
					}
				}
			})
		}
	})
}

func TestResourceServersAreSetByAdminsOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)

		t.Run("admin API stores and shows them", func(t *testing.T) {
			rs := ts.registerResourceServer(t, "client_secret_basic", "", "https://school.example/api", "urn:library")
			got := decodeClient(t, ts.admin(t, http.MethodGet, "/admin/clients/"+rs.ClientID, nil))
			if !slices.Equal(got.ResourceServers, []string{"https://school.example/api", "urn:library"}) {
				t.Errorf("resource_servers = %q after create", got.ResourceServers)
			}
			got.ClientSecret = ""
			got.ResourceServers = nil
			res := ts.admin(t, http.MethodPut, "/admin/clients/"+rs.ClientID, got)
			if res.Status != http.StatusOK || len(decodeClient(t, res).ResourceServers) != 0 {
				t.Errorf("PUT without resource_servers: %d %s; want them cleared", res.Status, res.Body)
			}
		})

		t.Run("bad entries are refused", func(t *testing.T) {
			for name, rs := range map[string][]string{
				"empty":       {""},
				"with spaces": {"https://school.example/api https://payroll.example"},
				"control":     {"https://school.example/\napi"},
			} {
				t.Run(name, func(t *testing.T) {
					before := ts.clients(t)
					res := ts.admin(t, http.MethodPost, "/admin/clients", map[string]any{
						"grant_types": []string{"client_credentials"}, "resource_servers": rs,
					})
					assertError(t, res, http.StatusBadRequest, "invalid_client_metadata")
					ts.assertClientsUnchanged(t, before)
				})
			}
		})

		t.Run("registration cannot set them", func(t *testing.T) {
			before := ts.clients(t)
			res := ts.do(t, req{
				Method: http.MethodPost, Path: provider.PathRegistration, ContentType: "application/json", Auth: "Bearer " + ts.AdminToken,
				Body: `{"grant_types":["client_credentials"],"resource_servers":["https://school.example/api"]}`,
			})
			assertError(t, res, http.StatusBadRequest, "invalid_client_metadata")
			ts.assertClientsUnchanged(t, before)
		})
	})
}
