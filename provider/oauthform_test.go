package provider

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ory/fosite"
)

// FuzzParseOAuthParams feeds hostile queries, bodies and content types to
// the parser every OAuth endpoint runs first: it never panics, refuses
// only with invalid_request, and what it accepts holds no single-valued
// parameter twice, in the query and the body together.
func FuzzParseOAuthParams(f *testing.F) {
	f.Add("client_id=a&scope=openid", "grant_type=client_credentials", "application/x-www-form-urlencoded")
	f.Add("client_id=a&client_id=b", "", "")
	f.Add("", "code=x&code=y", "application/x-www-form-urlencoded")
	f.Add("audience=a&audience=b", "resource=r&resource=s", "application/x-www-form-urlencoded")
	f.Add("x=%zz", "a=%", "application/x-www-form-urlencoded; charset=utf-8")
	f.Add("", "--b\r\n", "multipart/form-data; boundary=b")
	f.Fuzz(func(t *testing.T, query, body, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", contentType)
		_, err := parseOAuthParams(r)
		if err != nil {
			var rfc *fosite.RFC6749Error
			if !errors.As(err, &rfc) || rfc.ErrorField != "invalid_request" {
				t.Fatalf("refused with %v, want invalid_request", err)
			}
			return
		}
		if name := repeatedParam(r.Form); name != "" {
			t.Fatalf("accepted %q twice (query %q, body %q)", name, query, body)
		}
	})
}

func TestRepeatedParam(t *testing.T) {
	for _, c := range []struct {
		query, want string
	}{
		{"a=1&b=2", ""},
		{"scope=a&scope=b", "scope"},
		{"z=1&z=2&b=1&b=2", "b"},
		{"audience=a&audience=b&resource=x&resource=y", ""},
		{"client_id=a&client_id=a", "client_id"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize?"+c.query, nil)
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		if got := repeatedParam(r.Form); got != c.want {
			t.Errorf("repeatedParam(%q) = %q, want %q", c.query, got, c.want)
		}
	}
}
