package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestBrowserFormsRefuseRepeatedFields: every form post of the console
// and the account page goes through the rule of the login and consent
// forms: a single-valued field sent twice (two names, two new passwords,
// confirm=yes and confirm=no) is refused, 400 with the error page naming
// it, before the handler reads its first copy, and nothing changes; the
// fields that hold a list (the role form's scopes, the user form's roles,
// the client form's grant types) still take every value.
func TestBrowserFormsRefuseRepeatedFields(t *testing.T) {
	e := newSSOEnv(t, "sqlite:"+t.TempDir()+"/x.db")
	e.withConsoleAdmin(t)
	ada := e.newBrowser(t)
	if p := e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK {
		t.Fatalf("the admin signing in: %s", p)
	}
	csrf := ada.formCSRF(t, e)
	ctx := context.Background()
	client, user := e.Public.Meta.ClientID, e.BobID
	type snapshot struct{ client, user, role, scope any }
	snap := func() snapshot {
		t.Helper()
		c, err1 := e.Store.GetClient(ctx, client)
		u, err2 := e.Store.GetUser(ctx, user)
		r, err3 := e.Store.GetRole(ctx, "student")
		s, err4 := e.Store.GetScope(ctx, "results:read")
		for _, err := range []error{err1, err2, err3, err4} {
			if err != nil {
				t.Fatal(err)
			}
		}
		return snapshot{c, u, r, s}
	}
	before := snap()
	twice := func(a, b string) []string { return []string{a, b} }
	for _, tc := range []struct {
		path  string
		field string
		form  url.Values
	}{
		{"/console/signout", "csrf", url.Values{"csrf": twice(csrf, csrf)}},
		{"/console/clients/new", "client_id", url.Values{"client_id": twice("a", "b"), "grant_types": twice("authorization_code", "refresh_token")}},
		{"/console/clients/" + client, "redirect_uris", url.Values{"redirect_uris": twice("https://a.example/cb", "https://evil.example/cb")}},
		{"/console/clients/" + client, "token_endpoint_auth_method", url.Values{"token_endpoint_auth_method": twice("none", "client_secret_basic")}},
		{"/console/clients/" + client + "/secret", "confirm", url.Values{"confirm": twice("yes", "yes")}},
		{"/console/clients/" + client + "/delete", "confirm", url.Values{"confirm": twice("yes", "no")}},
		{"/console/scopes", "name", url.Values{"name": twice("a", "b")}},
		{"/console/scopes/results:read", "description", url.Values{"description": twice("a", "b")}},
		{"/console/scopes/results:read/delete", "confirm", url.Values{"confirm": twice("yes", "no")}},
		{"/console/roles", "name", url.Values{"name": twice("a", "b"), "scopes": twice("results:read", "results:write")}},
		{"/console/roles/student", "require_mfa", url.Values{"require_mfa": twice("yes", "no"), "scopes": twice("results:read", "results:write")}},
		{"/console/roles/student/delete", "confirm", url.Values{"confirm": twice("yes", "no")}},
		{"/console/users", "username", url.Values{"username": twice("a", "b"), "roles": twice("student", "teacher")}},
		{"/console/users/" + user, "email", url.Values{"email": twice("a@example.com", "b@example.com"), "roles": twice("student", "teacher")}},
		{"/console/users/" + user + "/password", "password", url.Values{"password": twice("new-password-one-1", "new-password-two-2")}},
		{"/console/users/" + user + "/sessions", "confirm", url.Values{"confirm": twice("yes", "no")}},
		{"/console/users/" + user + "/factors", "confirm", url.Values{"confirm": twice("yes", "no")}},
		{"/console/keys/rotate", "confirm", url.Values{"confirm": twice("yes", "no")}},
		{"/console/keys/some-kid/revoke", "confirm", url.Values{"confirm": twice("yes", "no")}},
		{"/account/signout", "csrf", url.Values{"csrf": twice(csrf, csrf)}},
		{"/account/password", "new", url.Values{"current": {adminPassword}, "new": twice("another-pass-phrase-1", "another-pass-phrase-2"), "confirm": {"another-pass-phrase-1"}}},
		{"/account/security/totp", "code", url.Values{"code": twice("123456", "654321")}},
		{"/account/passkeys", "name", url.Values{"name": twice("a", "b")}},
		{"/account/passkeys/some-id/remove", "confirm", url.Values{"confirm": twice("yes", "no")}},
		{"/account/apps/" + client + "/withdraw", "confirm", url.Values{"confirm": twice("yes", "no")}},
		{"/account/sessions/some-handle/end", "confirm", url.Values{"confirm": twice("yes", "no")}},
	} {
		t.Run(tc.path+"/"+tc.field, func(t *testing.T) {
			if !tc.form.Has("csrf") {
				tc.form.Set("csrf", csrf)
			}
			p := ada.post(t, e.URL+tc.path, tc.form)
			if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "The field &#34;"+tc.field+"&#34; was sent more than once") {
				t.Errorf("POST %s with %s twice: %s; want 400 naming the field", tc.path, tc.field, p)
			}
			if after := snap(); !reflect.DeepEqual(before, after) {
				t.Errorf("POST %s with %s twice changed what is stored", tc.path, tc.field)
			}
		})
	}
	// Still signed in (neither sign-out was taken), the lists still work.
	p := ada.post(t, e.URL+"/console/roles", url.Values{"csrf": {csrf}, "name": {"reviewer"}, "scopes": twice("results:read", "results:write")})
	r, err := e.Store.GetRole(ctx, "reviewer")
	if err != nil || !slices.Equal(r.Scopes, []string{"results:read", "results:write"}) {
		t.Errorf("a role posted with two scopes: %s; stored %+v (%v)", p, r, err)
	}
}
