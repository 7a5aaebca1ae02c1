package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// The console's scope, role, user and key pages over HTTP: each change
// lands through the directory service or the key manager, a refused form
// changes nothing and says why beside the field, and destructive changes
// need their confirmation.
func TestConsolePages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		ctx := context.Background()
		ada := e.newBrowser(t)
		if p := e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK {
			t.Fatalf("sign in: %s", p)
		}
		csrf := ada.formCSRF(t, e)
		post := func(path string, v url.Values) page {
			t.Helper()
			v.Set("csrf", csrf)
			return ada.post(t, e.URL+path, v)
		}
		// edit posts v to an edit page as sent from the page just read:
		// with the version of the record it shows.
		edit := func(path string, v url.Values) page {
			t.Helper()
			v.Set("version", browserPost(t, ada.get(t, e.URL+path), path).Get("version"))
			return post(path, v)
		}
		wantRefused := func(what string, p page, field string) {
			t.Helper()
			if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `role="alert"`) ||
				!regexp.MustCompile(`name="`+field+`"[^>]*aria-invalid="true"`).MatchString(p.Body) {
				t.Errorf("%s: want 400 with an alert and %s marked invalid, got %s", what, field, p)
			}
		}

		// Scopes.
		wantRefused("a scope named with a space", post("/console/scopes", url.Values{"name": {"library read"}}), "name")
		if _, err := e.Store.GetScope(ctx, "library read"); err == nil {
			t.Error("a refused scope was registered")
		}
		if p := post("/console/scopes", url.Values{"name": {"library:read"}, "description": {"Borrow books"}, "audience": {"https://library.example"}}); p.Status != http.StatusOK || !strings.Contains(p.Body, "Borrow books") {
			t.Fatalf("register a scope: %s", p)
		}
		if p := post("/console/scopes", url.Values{"name": {"library:read"}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "already exists") {
			t.Errorf("register it twice: %s", p)
		}
		edit("/console/scopes/library:read", url.Values{"description": {"Borrow library books"}, "audience": {"https://library.example"}})
		if s, err := e.Store.GetScope(ctx, "library:read"); err != nil || s.Description != "Borrow library books" {
			t.Errorf("scope after the edit: %+v %v", s, err)
		}

		// Roles.
		if p := post("/console/roles", url.Values{"name": {"librarian"}, "description": {"Runs the library"}, "scopes": {"library:read", "results:read"}}); p.Status != http.StatusOK {
			t.Fatalf("create a role: %s", p)
		}
		if r, err := e.Store.GetRole(ctx, "librarian"); err != nil || strings.Join(r.Scopes, " ") != "library:read results:read" {
			t.Errorf("role = %+v %v", r, err)
		}
		edit("/console/roles/librarian", url.Values{"description": {"Runs the library"}, "scopes": {"library:read"}})
		if r, _ := e.Store.GetRole(ctx, "librarian"); strings.Join(r.Scopes, " ") != "library:read" {
			t.Errorf("role after the edit = %v", r.Scopes)
		}

		// Users: created with a generated password, shown once, that
		// signs in.
		wantRefused("a user with a weak password", post("/console/users", url.Values{"username": {"carol"}, "password": {"short"}}), "password")
		p := post("/console/users", url.Values{"username": {"carol"}, "name": {"Carol Reader"}, "roles": {"librarian"}})
		m := regexp.MustCompile(`<td data-label="Password">([^<]+)</td>`).FindStringSubmatch(p.Body)
		if p.Status != http.StatusOK || m == nil {
			t.Fatalf("create a user: no password shown: %s", p)
		}
		carolPassword := m[1]
		carol, err := e.Store.GetUserByUsername(ctx, "carol")
		if err != nil || strings.Join(carol.Roles, " ") != "librarian" {
			t.Fatalf("carol = %+v %v", carol, err)
		}
		carolBrowser := e.newBrowser(t)
		if p := e.consoleSignIn(t, carolBrowser, provider.PathAccount, "carol", carolPassword); p.Status != http.StatusOK || !strings.Contains(p.Body, "librarian") {
			t.Fatalf("carol signs in with the shown password: %s", p)
		}
		// Search.
		if p := ada.get(t, e.URL+"/console/users?q=Reader"); !strings.Contains(p.Body, ">carol</a>") || strings.Contains(p.Body, ">alice</a>") {
			t.Errorf("search for Reader: %s", p)
		}
		// Ending sessions needs the confirmation.
		if p := post("/console/users/"+carol.ID+"/sessions", url.Values{}); p.URL.Path != "/console/users/"+carol.ID+"/sessions" || !strings.Contains(p.Body, "Sign carol out everywhere?") {
			t.Errorf("end sessions without confirming: %s", p)
		}
		if p := carolBrowser.get(t, e.URL+provider.PathAccount); p.Status != http.StatusOK {
			t.Fatalf("an unconfirmed post ended carol's session: %s", p)
		}
		post("/console/users/"+carol.ID+"/sessions", url.Values{"confirm": {"yes"}})
		if p := carolBrowser.get(t, e.URL+provider.PathAccount); p.kind() != "login" {
			t.Errorf("carol after her sessions were ended: %s", p)
		}
		// Disabling: she cannot sign in.
		edit("/console/users/"+carol.ID, url.Values{"name": {"Carol Reader"}, "roles": {"librarian"}, "disabled": {"yes"}})
		if u, _ := e.Store.GetUser(ctx, carol.ID); !u.Disabled || strings.Join(u.Roles, " ") != "librarian" {
			t.Errorf("carol after disabling = %+v", u)
		}
		if p := e.consoleSignIn(t, e.newBrowser(t), provider.PathAccount, "carol", carolPassword); p.kind() != "login" {
			t.Errorf("a disabled user signed in: %s", p)
		}
		// Reset: a new password, the old one stops working.
		edit("/console/users/"+carol.ID, url.Values{"name": {"Carol Reader"}, "roles": {"librarian"}})
		p = post("/console/users/"+carol.ID+"/password", url.Values{})
		m = regexp.MustCompile(`<td data-label="Password">([^<]+)</td>`).FindStringSubmatch(p.Body)
		if m == nil || m[1] == carolPassword {
			t.Fatalf("reset password: %s", p)
		}
		if p := e.consoleSignIn(t, e.newBrowser(t), provider.PathAccount, "carol", m[1]); p.Status != http.StatusOK {
			t.Errorf("the reset password does not sign in: %s", p)
		}

		// Deleting a role needs the confirmation too.
		if p := post("/console/roles/librarian/delete", url.Values{}); !strings.Contains(p.Body, "Delete the role librarian?") {
			t.Errorf("delete a role without confirming: %s", p)
		}
		if _, err := e.Store.GetRole(ctx, "librarian"); err != nil {
			t.Fatal("an unconfirmed delete deleted the role")
		}
		post("/console/roles/librarian/delete", url.Values{"confirm": {"yes"}})
		if _, err := e.Store.GetRole(ctx, "librarian"); err == nil {
			t.Error("the confirmed delete left the role")
		}
		post("/console/scopes/library:read/delete", url.Values{"confirm": {"yes"}})
		if _, err := e.Store.GetScope(ctx, "library:read"); err == nil {
			t.Error("the confirmed delete left the scope")
		}

		// Keys: the timeline, a rotation, a revocation that says what
		// breaks.
		if p := ada.get(t, e.URL+"/console/keys"); !strings.Contains(p.Body, e.Keys.ActiveKeyID()) || !strings.Contains(p.Body, `class="active"`) {
			t.Errorf("the key page does not show the active key: %s", p)
		}
		post("/console/keys/rotate", url.Values{})
		var next string
		keyList, err := e.Keys.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keyList {
			if k.State == storage.KeyNext {
				next = k.ID
			}
		}
		if next == "" {
			t.Fatalf("no next key after a rotation: %+v", keyList)
		}
		confirm := ada.get(t, e.URL+"/console/keys/"+next+"/revoke")
		if !strings.Contains(confirm.Body, "stops validating") || !strings.Contains(confirm.Body, "next key") {
			t.Errorf("the revoke confirmation does not say what breaks: %s", confirm)
		}
		post("/console/keys/"+next+"/revoke", url.Values{"confirm": {"yes"}})
		keyList, _ = e.Keys.Keys(ctx)
		for _, k := range keyList {
			if k.ID == next {
				t.Errorf("the revoked key is still listed: %+v", k)
			}
		}
		if p := post("/console/keys/no-such-kid/revoke", url.Values{"confirm": {"yes"}}); p.Status != http.StatusNotFound {
			t.Errorf("revoke an unknown key: %d, want 404", p.Status)
		}
	})
}
