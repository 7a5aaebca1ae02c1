package provider_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestConsoleRefusesClientURI: the console's client form, posted with a
// redirect URI whose port no browser goes to, that holds a character
// showing as nothing or a backslash, whose host is not in ASCII (the
// message gives its A-label form) or not as a browser goes to it, or
// whose path has a dot segment, is shown again with the service's
// message beside the field, and no client is created. The message quotes the URI with
// the character escaped, never as itself.
func TestConsoleRefusesClientURI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		ada := e.newBrowser(t)
		if p := e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK {
			t.Fatalf("sign in: %s", p)
		}
		for _, tc := range []struct{ name, field, uri, rule string }{
			{"redirect URI, port above 65535", "redirect_uris", "https://app.example:99999/cb", "port from 1 to 65535"},
			{"redirect URI, right-to-left override", "redirect_uris", "https://app.example/c\u202Eb", "U+202E"},
			{"sign-out URI, zero-width space", "post_logout_redirect_uris", "https://app\u200B.example/bye", "U+200B"},
			{"redirect URI, backslash", "redirect_uris", `https://app.example/cb\..\admin`, "backslash"},
			{"redirect URI, internationalised host", "redirect_uris", "https://\u0430pple.example/cb", `register "https://xn--pple-43d.example/cb"`},
			{"sign-out URI, invalid A-label", "post_logout_redirect_uris", "https://xn--zz.example/bye", "no valid A-label"},
			{"redirect URI, dot segment", "redirect_uris", "https://app.example/a/../cb", `dot segment ".."`},
			{"redirect URI, trailing dot", "redirect_uris", "https://app.example./cb", "ending with a dot"},
			{"sign-out URI, percent-encoded host", "post_logout_redirect_uris", "https://b%25.example/bye", "percent-encode"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.clients(t)
				form := url.Values{"csrf": {ada.formCSRF(t, e)}, "client_id": {"refused"},
					"redirect_uris": {"https://app.example/cb"}, "grant_types": {"authorization_code"},
					"token_endpoint_auth_method": {"none"}, "require_pkce": {"yes"}}
				form.Set(tc.field, tc.uri)
				p := ada.post(t, e.URL+"/console/clients/new", form)
				if text := html.UnescapeString(p.Body); p.Status != http.StatusBadRequest || !strings.Contains(text, tc.field+": ") || !strings.Contains(text, tc.rule) {
					t.Errorf("want the form again with %q about %s: %s", tc.rule, tc.field, p)
				}
				if !strings.Contains(p.Body, `name="`+tc.field+`" rows=`) || !strings.Contains(p.Body, `aria-describedby`) {
					t.Errorf("the form is not shown again: %s", p)
				}
				if strings.Contains(p.Body, `name="`+tc.field+`"`) && !strings.Contains(p.Body[strings.Index(p.Body, `name="`+tc.field+`"`):], `aria-invalid="true"`) {
					t.Errorf("%s is not marked invalid", tc.field)
				}
				e.assertClientsUnchanged(t, before)
			})
		}
	})
}
