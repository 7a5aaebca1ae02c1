package provider_test

// A token's audience follows the scopes actually granted (README "Users,
// roles and scopes"): its aud is the resource servers of its granted
// scopes plus the client's registered audiences; an audience (or RFC 8707
// resource) parameter selects among them, and anything else is
// invalid_target; the consent page names them; a refresh recomputes them.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
)

// The school's second resource server: payroll, whose one scope only the
// bursar role grants. alice is a teacher and, once addPayroll ran, the
// bursar; bob is a student and neither.
const (
	payrollAudience = "https://payroll.example"
	staffID         = "staff-portal"
	staffRedirect   = "https://staff.school.example/callback"
)

// addClient creates a client through the admin API and returns it as a
// relying party of the test server.
func (e *ssoEnv) addClient(t *testing.T, m directory.ClientMetadata) *ssoClient {
	t.Helper()
	res := e.admin(t, http.MethodPost, "/admin/clients", m)
	if res.Status != http.StatusCreated {
		t.Fatalf("create client %s: status %d: %s", m.ClientID, res.Status, res.Body)
	}
	var out directory.ClientMetadata
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("decode client: %v", err)
	}
	endpoint := e.Confidential.Config.Endpoint
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if out.TokenEndpointAuthMethod == "none" {
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	return &ssoClient{Meta: out, Config: oauth2.Config{
		ClientID: out.ClientID, ClientSecret: out.ClientSecret, RedirectURL: m.RedirectURIs[0], Endpoint: endpoint,
	}}
}

// addPayroll registers payroll:read (audience payrollAudience) and the
// bursar role that grants it, makes alice a bursar too, and returns the
// staff portal: a confidential SSO client allowed the school's scopes and
// payroll:read.
func (e *ssoEnv) addPayroll(t *testing.T) *ssoClient {
	t.Helper()
	for path, body := range map[string]any{
		"/admin/scopes": map[string]any{"name": "payroll:read", "description": "See salaries", "audience": payrollAudience},
	} {
		if res := e.admin(t, http.MethodPost, path, body); res.Status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, res.Status, res.Body)
		}
	}
	if res := e.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": "bursar", "scopes": []string{"payroll:read"}}); res.Status != http.StatusCreated {
		t.Fatalf("POST /admin/roles: %d %s", res.Status, res.Body)
	}
	e.setUser(t, "alice", map[string]any{"email": "alice@example.com", "email_verified": true, "name": "Alice Liddell", "roles": []string{"teacher", "bursar"}})
	return e.addClient(t, directory.ClientMetadata{
		ClientID: staffID, ClientName: "Staff portal", RedirectURIs: []string{staffRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "client_secret_basic",
		Scope: ssoClientScopes + " payroll:read",
	})
}

// accessAud is the aud of an access token, sorted, checked against the
// JWKS first.
func (e *ssoEnv) accessAud(t *testing.T, raw string) []string {
	t.Helper()
	return audOf(e.access(t, raw).Raw)
}

// consentAudiences are the resource servers a consent page names.
func consentAudiences(t *testing.T, p page) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatalf("parse consent page: %v", err)
	}
	var out []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "li" {
			if a := attr(n, "data-audience"); a != "" {
				if textOf(n) != a {
					t.Errorf("consent page item for %q reads %q", a, textOf(n))
				}
				out = append(out, a)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestAudienceFollowsGrantedScopes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		staff := e.addPayroll(t)
		const all = "openid offline_access results:read payroll:read"

		t.Run("the consent page names the resource servers the grant reaches", func(t *testing.T) {
			_, tr := e.newBrowser(t).signIn(t, staff.request(all), "alice", alicePassword)
			if !tr.Consent {
				t.Fatal("no consent page")
			}
			if got, want := consentAudiences(t, tr.ConsentPage), sorted(schoolAudience, payrollAudience); !slices.Equal(got, want) {
				t.Errorf("alice's consent page names %q, want %q", got, want)
			}
			_, tr = e.newBrowser(t).signIn(t, staff.request(all), "bob", bobPassword)
			if got := consentAudiences(t, tr.ConsentPage); !slices.Equal(got, []string{schoolAudience}) {
				t.Errorf("bob's consent page names %q, want only the school API (he holds no payroll scope)", got)
			}
			_, tr = e.newBrowser(t).signIn(t, staff.request("openid"), "bob", bobPassword)
			if got := consentAudiences(t, tr.ConsentPage); len(got) != 0 || strings.Contains(tr.ConsentPage.Body, "This gives access to") {
				t.Errorf("a sign-in-only consent page names resource servers %q", got)
			}
		})

		t.Run("aud names payroll only when a payroll scope is granted", func(t *testing.T) {
			for _, tc := range []struct {
				name, user, password, scope string
				want                        []string
			}{
				{"alice with payroll:read", "alice", alicePassword, all, sorted(schoolAudience, payrollAudience)},
				{"alice without asking for payroll:read", "alice", alicePassword, "openid results:read", []string{schoolAudience}},
				{"alice asking only for payroll:read", "alice", alicePassword, "openid payroll:read", []string{payrollAudience}},
				// The client may be granted payroll:read, bob may not: his
				// token never names payroll.
				{"bob asking for payroll:read", "bob", bobPassword, all, []string{schoolAudience}},
				{"bob with sign-in scopes only", "bob", bobPassword, "openid profile", []string{e.URL}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					g := e.grant(t, e.newBrowser(t), staff, tc.user, tc.password, tc.scope)
					if got := e.accessAud(t, g.Access); !slices.Equal(got, tc.want) {
						t.Errorf("access token aud = %q, want %q (granted %q)", got, tc.want, grantedScope(t, g.Token))
					}
					if got := audOf(e.WantActive(t, "the access token", e.adminCred(), g.Access)); !slices.Equal(got, tc.want) {
						t.Errorf("introspected aud = %q, want %q", got, tc.want)
					}
				})
			}
		})

		t.Run("an audience parameter selects among the reachable resource servers", func(t *testing.T) {
			ar := staff.request(all, oauth2.SetAuthURLParam("audience", payrollAudience))
			g := grantFor(t, e, ar, "alice", alicePassword)
			if got := e.accessAud(t, g.AccessToken); !slices.Equal(got, []string{payrollAudience}) {
				t.Errorf("aud = %q, want only the selected %s", got, payrollAudience)
			}
			// RFC 8707 resource is read as audience.
			ar = staff.request(all, oauth2.SetAuthURLParam("resource", schoolAudience))
			g = grantFor(t, e, ar, "alice", alicePassword)
			if got := e.accessAud(t, g.AccessToken); !slices.Equal(got, []string{schoolAudience}) {
				t.Errorf("aud = %q with resource=%s, want only it", got, schoolAudience)
			}
		})

		t.Run("a student asking for the payroll audience gets invalid_target and no token", func(t *testing.T) {
			// The request could reach payroll (it asks for payroll:read),
			// so only bob's roles refuse it: after login, before consent.
			b := e.newBrowser(t)
			ar := staff.request(all, oauth2.SetAuthURLParam("audience", payrollAudience))
			p := b.login(t, b.get(t, ar.URL), "bob", bobPassword)
			if p.kind() == "consent" {
				t.Fatal("bob is asked to consent to a grant that cannot be issued")
			}
			e.callback(t, p, ar).wantError(t, "invalid_target")
			// The same through the resource parameter.
			ar = staff.request(all, oauth2.SetAuthURLParam("resource", payrollAudience))
			e.callback(t, b.get(t, ar.URL), ar).wantError(t, "invalid_target")
		})

		t.Run("an audience no scope of the request reaches is refused up front", func(t *testing.T) {
			for name, ar := range map[string]authRequest{
				"payroll without payroll:read":       staff.request("openid results:read", oauth2.SetAuthURLParam("audience", payrollAudience)),
				"payroll resource without scope":     staff.request("openid results:read", oauth2.SetAuthURLParam("resource", payrollAudience)),
				"an audience the client may never":   staff.request(all, oauth2.SetAuthURLParam("audience", "https://evil.example")),
				"payroll for a client never allowed": e.Confidential.request("openid", oauth2.SetAuthURLParam("audience", payrollAudience)),
			} {
				t.Run(name, func(t *testing.T) {
					e.newBrowser(t).refusedUpFront(t, ar).wantError(t, "invalid_target")
				})
			}
		})

		t.Run("a role lost between consent page and Allow ends in invalid_target", func(t *testing.T) {
			b := e.newBrowser(t)
			ar := staff.request(all+" email", oauth2.SetAuthURLParam("audience", payrollAudience))
			p := b.login(t, b.get(t, ar.URL), "alice", alicePassword).want(t, "consent")
			e.setUser(t, "alice", map[string]any{"email": "alice@example.com", "roles": []string{"teacher"}})
			t.Cleanup(func() {
				e.setUser(t, "alice", map[string]any{"email": "alice@example.com", "roles": []string{"teacher", "bursar"}})
			})
			e.callback(t, b.decide(t, p, "allow"), ar).wantError(t, "invalid_target")
		})
	})
}

// grantFor signs username in for ar and redeems the code.
func grantFor(t *testing.T, e *ssoEnv, ar authRequest, username, password string) *oauth2.Token {
	t.Helper()
	cb, _ := e.newBrowser(t).signIn(t, ar, username, password)
	cb.wantCode(t)
	return e.exchange(t, ar, cb)
}

func TestAudienceOnRefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		staff := e.addPayroll(t)
		const all = "openid offline_access results:read payroll:read"

		t.Run("a narrowed scope drops its resource server", func(t *testing.T) {
			g := e.grant(t, e.newBrowser(t), staff, "alice", alicePassword, all)
			if got := e.accessAud(t, g.Access); !slices.Equal(got, sorted(schoolAudience, payrollAudience)) {
				t.Fatalf("aud before refresh = %q", got)
			}
			r := oauthtest.DecodeToken(t, e.refresh(t, staff, g.Refresh, "openid offline_access results:read"))
			if got := e.accessAud(t, r.AccessToken); !slices.Equal(got, []string{schoolAudience}) {
				t.Errorf("aud after narrowing to results:read = %q, want only %s", got, schoolAudience)
			}
			if got := audOf(e.WantActive(t, "refreshed access token", e.adminCred(), r.AccessToken)); !slices.Equal(got, []string{schoolAudience}) {
				t.Errorf("introspected aud after narrowing = %q", got)
			}
			// The narrowed grant stays narrowed.
			r2 := oauthtest.DecodeToken(t, e.refresh(t, staff, r.RefreshToken, ""))
			if got := e.accessAud(t, r2.AccessToken); !slices.Equal(got, []string{schoolAudience}) {
				t.Errorf("aud on the next refresh = %q, want only %s", got, schoolAudience)
			}
			// Narrowed to sign-in scopes only, the token is for hallpass.
			r3 := oauthtest.DecodeToken(t, e.refresh(t, staff, r2.RefreshToken, "openid offline_access"))
			if got := e.accessAud(t, r3.AccessToken); !slices.Equal(got, []string{e.URL}) {
				t.Errorf("aud with no resource scope left = %q, want the issuer", got)
			}
		})

		t.Run("a lost role drops its resource server", func(t *testing.T) {
			g := e.grant(t, e.newBrowser(t), staff, "alice", alicePassword, all)
			e.setUser(t, "alice", map[string]any{"email": "alice@example.com", "roles": []string{"teacher"}})
			t.Cleanup(func() {
				e.setUser(t, "alice", map[string]any{"email": "alice@example.com", "roles": []string{"teacher", "bursar"}})
			})
			r := oauthtest.DecodeToken(t, e.refresh(t, staff, g.Refresh, ""))
			if got := e.accessAud(t, r.AccessToken); !slices.Equal(got, []string{schoolAudience}) {
				t.Errorf("aud after alice lost the bursar role = %q, want only %s", got, schoolAudience)
			}
		})

		t.Run("a grant for an audience the client lost ends", func(t *testing.T) {
			reports := e.addClient(t, directory.ClientMetadata{
				ClientID: "reports-portal", RedirectURIs: []string{"https://reports.school.example/cb"},
				GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "client_secret_basic",
				Scope: ssoClientScopes, Audience: []string{"https://reports.example"},
			})
			g := e.grant(t, e.newBrowser(t), reports, "alice", alicePassword, "openid offline_access results:read")
			if got := e.accessAud(t, g.Access); !slices.Equal(got, sorted(schoolAudience, "https://reports.example")) {
				t.Fatalf("aud = %q, want the school API and the registered audience", got)
			}
			m := reports.Meta
			m.ClientSecret, m.Audience = "", nil
			if res := e.admin(t, http.MethodPut, "/admin/clients/reports-portal", m); res.Status != http.StatusOK {
				t.Fatalf("PUT: %d %s", res.Status, res.Body)
			}
			// Not the refresh request's fault: invalid_grant, not invalid_target.
			assertError(t, e.refresh(t, reports, g.Refresh, ""), http.StatusBadRequest, "invalid_grant")
		})

		t.Run("a selected audience stays selected", func(t *testing.T) {
			tok := grantFor(t, e, staff.request(all, oauth2.SetAuthURLParam("audience", payrollAudience)), "alice", alicePassword)
			r := oauthtest.DecodeToken(t, e.refresh(t, staff, tok.RefreshToken, ""))
			if got := e.accessAud(t, r.AccessToken); !slices.Equal(got, []string{payrollAudience}) {
				t.Errorf("aud after refresh = %q, want the selected %s", got, payrollAudience)
			}
			// Its scope gone, nothing selected is left: the token is for
			// hallpass, never for a resource server nobody selected.
			r2 := oauthtest.DecodeToken(t, e.refresh(t, staff, r.RefreshToken, "openid offline_access results:read"))
			if got := e.accessAud(t, r2.AccessToken); !slices.Equal(got, []string{e.URL}) {
				t.Errorf("aud after dropping the selected audience's scope = %q, want the issuer", got)
			}
		})
	})
}

func TestAudienceClientCredentials(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.addPayroll(t)
		svc := e.registerService(t, "client_secret_basic", "results:read payroll:read", "https://reports.example")
		cc := func(t *testing.T, form url.Values) result {
			t.Helper()
			form.Set("grant_type", "client_credentials")
			return e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType, Body: form.Encode(), Auth: basic(svc.ClientID, svc.ClientSecret)})
		}
		for _, tc := range []struct {
			name string
			form url.Values
			want []string // nil: refused with invalid_target
		}{
			{"scopes decide", url.Values{"scope": {"results:read"}}, sorted(schoolAudience, "https://reports.example")},
			{"every allowed scope", url.Values{}, sorted(schoolAudience, payrollAudience, "https://reports.example")},
			{"select payroll with its scope", url.Values{"scope": {"results:read payroll:read"}, "audience": {payrollAudience}}, []string{payrollAudience}},
			{"select the registered audience", url.Values{"scope": {"results:read"}, "audience": {"https://reports.example"}}, []string{"https://reports.example"}},
			{"select two", url.Values{"scope": {"results:read payroll:read"}, "audience": {payrollAudience, schoolAudience}}, sorted(schoolAudience, payrollAudience)},
			{"resource is audience", url.Values{"scope": {"results:read"}, "resource": {schoolAudience}}, []string{schoolAudience}},
			{"payroll without its scope", url.Values{"scope": {"results:read"}, "audience": {payrollAudience}}, nil},
			{"payroll resource without its scope", url.Values{"scope": {"results:read"}, "resource": {payrollAudience}}, nil},
			{"one of two out of reach", url.Values{"scope": {"results:read"}, "audience": {schoolAudience, payrollAudience}}, nil},
			{"an audience never allowed", url.Values{"scope": {"results:read"}, "audience": {"https://evil.example"}}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := cc(t, tc.form)
				if tc.want == nil {
					assertError(t, res, http.StatusBadRequest, "invalid_target")
					if strings.Contains(string(res.Body), "access_token") {
						t.Errorf("refused request got a token: %s", res.Body)
					}
					return
				}
				tok := oauthtest.DecodeToken(t, res)
				if got := e.accessAud(t, tok.AccessToken); !slices.Equal(got, tc.want) {
					t.Errorf("aud = %q, want %q", got, tc.want)
				}
			})
		}
	})
}
