package provider_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
)

// refreshFor refreshes rt as c with form's extra parameters (resource).
func (e *ssoEnv) refreshFor(t *testing.T, c *ssoClient, rt string, extra url.Values) result {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	return e.tokenRequest(t, c, form)
}

// TestResourceIndicators checks RFC 8707 at the token endpoint: one grant
// for two APIs yields, through refreshes naming a resource, a token for
// each API alone; a resource outside the grant, or not a URI, is
// invalid_target; a code exchange cannot widen or silently ignore one.
func TestResourceIndicators(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		staff := e.addPayroll(t)
		const all = "openid offline_access results:read payroll:read"

		t.Run("one grant, a token per API", func(t *testing.T) {
			g := e.grant(t, e.newBrowser(t), staff, "alice", alicePassword, all)
			if got := e.accessAud(t, g.Access); !slices.Equal(got, sorted(schoolAudience, payrollAudience)) {
				t.Fatalf("aud of the grant's first token = %q", got)
			}
			rt := g.Refresh
			for _, api := range []string{schoolAudience, payrollAudience, schoolAudience} {
				r := oauthtest.DecodeToken(t, e.refreshFor(t, staff, rt, url.Values{"resource": {api}}))
				if got := e.accessAud(t, r.AccessToken); !slices.Equal(got, []string{api}) {
					t.Errorf("aud with resource=%s = %q, want only it", api, got)
				}
				// Introspection agrees with the JWT.
				if got := audOf(e.WantActive(t, "per-API token", e.adminCred(), r.AccessToken)); !slices.Equal(got, []string{api}) {
					t.Errorf("introspected aud = %q, want %s", got, api)
				}
				rt = r.RefreshToken
			}
			// Without resource, the token is for the whole grant again.
			r := oauthtest.DecodeToken(t, e.refreshFor(t, staff, rt, nil))
			if got := e.accessAud(t, r.AccessToken); !slices.Equal(got, sorted(schoolAudience, payrollAudience)) {
				t.Errorf("aud without resource = %q, want both APIs", got)
			}
			rt = r.RefreshToken
			for name, res := range map[string]url.Values{
				"not in the grant": {"resource": {"https://library.example"}},
				"not a URI":        {"resource": {"school-api"}},
				"with a fragment":  {"resource": {schoolAudience + "#x"}},
			} {
				t.Run(name, func(t *testing.T) {
					assertError(t, e.refreshFor(t, staff, rt, res), http.StatusBadRequest, "invalid_target")
				})
			}
			// A refused refresh spent nothing: the refresh token still works.
			r = oauthtest.DecodeToken(t, e.refreshFor(t, staff, rt, url.Values{"resource": {payrollAudience}}))
			if got := e.accessAud(t, r.AccessToken); !slices.Equal(got, []string{payrollAudience}) {
				t.Errorf("aud after refused refreshes = %q", got)
			}
		})

		t.Run("a grant for one API cannot refresh into another", func(t *testing.T) {
			tok := grantFor(t, e, staff.request(all, oauth2.SetAuthURLParam("resource", schoolAudience)), "alice", alicePassword)
			if got := e.accessAud(t, tok.AccessToken); !slices.Equal(got, []string{schoolAudience}) {
				t.Fatalf("aud = %q", got)
			}
			assertError(t, e.refreshFor(t, staff, tok.RefreshToken, url.Values{"resource": {payrollAudience}}), http.StatusBadRequest, "invalid_target")
		})

		t.Run("authorization refuses a resource that is not a URI", func(t *testing.T) {
			ar := staff.request(all, oauth2.SetAuthURLParam("resource", "payroll"))
			e.callback(t, e.newBrowser(t).get(t, ar.URL), ar).wantError(t, "invalid_target")
		})

		t.Run("code exchange", func(t *testing.T) {
			for name, tc := range map[string]struct {
				resource []string
				ok       bool
			}{
				"the grant's audience": {[]string{schoolAudience, payrollAudience}, true},
				"one of two":           {[]string{payrollAudience}, false},
				"outside the grant":    {[]string{"https://library.example"}, false},
				// The path of a URI is case-sensitive (RFC 3986 §6.2.2.1),
				// and a refresh compares resources as spelt.
				"the grant's audience, spelt otherwise": {[]string{strings.Replace(schoolAudience, "/api", "/API", 1), payrollAudience}, false},
			} {
				t.Run(name, func(t *testing.T) {
					ar := staff.request(all)
					cb, _ := e.newBrowser(t).signIn(t, ar, "alice", alicePassword)
					form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.wantCode(t)}, "redirect_uri": {ar.RedirectURI}, "code_verifier": {ar.Verifier}, "resource": tc.resource}
					res := e.tokenRequest(t, staff, form)
					if !tc.ok {
						assertError(t, res, http.StatusBadRequest, "invalid_target")
						// The code was not spent by the refused exchange.
						delete(form, "resource")
						res = e.tokenRequest(t, staff, form)
					}
					if res.Status != http.StatusOK {
						t.Fatalf("exchange: %d %s", res.Status, res.Body)
					}
				})
			}
		})

		// The resource check reads the grant from the exchange's one read
		// of the code: a code fosite refuses is refused as before, naming
		// the grant's own audience or not.
		t.Run("a spent or another client's code", func(t *testing.T) {
			grant := []string{schoolAudience, payrollAudience}
			exchange := func(c *ssoClient, ar authRequest, code string, resource []string) result {
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {ar.RedirectURI}, "code_verifier": {ar.Verifier}}
				if resource != nil {
					form["resource"] = resource
				}
				return e.tokenRequest(t, c, form)
			}
			ar := staff.request(all)
			cb, _ := e.newBrowser(t).signIn(t, ar, "alice", alicePassword)
			code := cb.wantCode(t)
			if res := exchange(staff, ar, code, nil); res.Status != http.StatusOK {
				t.Fatalf("first exchange: %d %s", res.Status, res.Body)
			}
			for _, resource := range [][]string{grant, {"https://library.example"}} {
				assertError(t, exchange(staff, ar, code, resource), http.StatusBadRequest, "invalid_grant")
			}

			ar = staff.request(all)
			cb, _ = e.newBrowser(t).signIn(t, ar, "alice", alicePassword)
			code = cb.wantCode(t)
			for _, resource := range [][]string{grant, {"https://library.example"}} {
				assertError(t, exchange(e.Confidential, ar, code, resource), http.StatusBadRequest, "invalid_grant")
			}
			// Refused for the other client, the code still serves its own.
			if res := exchange(staff, ar, code, grant); res.Status != http.StatusOK {
				t.Fatalf("exchange by the code's client: %d %s", res.Status, res.Body)
			}
		})
	})
}
