package provider_test

import (
	"slices"
	"strings"
	"testing"
)

// TestConsentGrantsOnlyWhatWasShown: a user allows exactly the scopes the
// consent page showed them. When what the request would grant changes
// between the page and the answer (here an admin gives bob the teacher
// role, which reaches results:write), "Allow" must not grant the scope
// bob never saw: the page is shown again with the new list.
func TestConsentGrantsOnlyWhatWasShown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		b := e.newBrowser(t)
		ar := c.request("openid results:read results:write")
		page := b.login(t, b.get(t, ar.URL), "bob", bobPassword).want(t, "consent")
		if !listsScope(page, "results:read") || listsScope(page, "results:write") {
			t.Fatalf("the student's consent page should list results:read only: %s", page.Body)
		}
		e.setUser(t, "bob", map[string]any{"email": "bob@example.com", "name": "Bob Tables", "roles": []string{"teacher"}})

		again := b.decide(t, page, "allow")
		if again.Redirect != nil {
			cb := e.callback(t, again, ar)
			if cb.Code != "" {
				tok := e.exchange(t, ar, cb)
				if slices.Contains(grantedScope(t, tok), "results:write") {
					t.Fatalf("allow granted results:write, which the consent page never showed: %v", grantedScope(t, tok))
				}
			}
			t.Fatalf("want the consent page again, got %s", again)
		}
		again.want(t, "consent")
		if !listsScope(again, "results:write") {
			t.Fatalf("the consent page shown again does not list results:write: %s", again.Body)
		}
		tok := e.exchange(t, ar, e.callback(t, b.decide(t, again, "allow"), ar))
		if got := grantedScope(t, tok); !slices.Contains(got, "results:write") {
			t.Errorf("granted %v after allowing the page that listed results:write", got)
		}
	})
}

// listsScope reports whether consent page p lists scope.
func listsScope(p page, scope string) bool {
	return strings.Contains(p.Body, `data-scope="`+scope+`"`)
}
