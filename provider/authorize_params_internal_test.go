package provider

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/provider/fositestore"
)

// TestAuthorizeParamsBoundOfPushedRequest: the bound of an authorization
// request's parameters (maxAuthorizeParams) counts what the request is
// kept with, the same pushed or not. A pushed body's client credentials
// (a client_secret, a private_key_jwt assertion of up to 8 KiB) were
// counted at the PAR endpoint, though the pushed request is stored
// without them: a request the authorization endpoint accepted was
// refused when pushed.
func TestAuthorizeParamsBoundOfPushedRequest(t *testing.T) {
	base := url.Values{
		"client_id":             {"app"},
		"response_type":         {"code"},
		"redirect_uri":          {"https://app.example/cb"},
		"scope":                 {"openid"},
		"state":                 {"s"},
		"code_challenge":        {strings.Repeat("c", 43)},
		"code_challenge_method": {"S256"},
	}
	// atBound is base with a login_hint that makes it maxAuthorizeParams
	// bytes form-encoded, plus extra.
	atBound := func(extra url.Values, over int) url.Values {
		f := url.Values{}
		for k, v := range base {
			f[k] = v
		}
		pad := maxAuthorizeParams - len(f.Encode()) - len("&login_hint=") + over
		f.Set("login_hint", strings.Repeat("h", pad))
		if n := len(f.Encode()); n != maxAuthorizeParams+over {
			t.Fatalf("padded form takes %d bytes, want %d", n, maxAuthorizeParams+over)
		}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	cases := []struct {
		name string
		form url.Values
		ok   bool
	}{
		{"at the bound", atBound(nil, 0), true},
		{"over the bound", atBound(nil, 1), false},
		{"at the bound, pushed with client_secret_post", atBound(url.Values{"client_secret": {strings.Repeat("s", 64)}}, 0), true},
		{"at the bound, pushed with private_key_jwt", atBound(url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {strings.Repeat("a", 2000)},
		}, 0), true},
		{"over the bound, with a client_secret", atBound(url.Values{"client_secret": {"s"}}, 1), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ar := fosite.NewAuthorizeRequest()
			ar.Client = &fosite.DefaultClient{ID: "app", Secret: []byte("x")}
			ar.Form = c.form
			err := checkAuthorizeParams(ar)
			if c.ok && err != nil {
				t.Errorf("checkAuthorizeParams: %v, want nil", err)
			}
			if !c.ok && err == nil {
				t.Error("checkAuthorizeParams: nil, want invalid_request")
			}
		})
	}
}

// TestAuthorizeEndpointDropsCredentials: client credentials sent to the
// authorization endpoint, where nobody authenticates, are taken out of
// the request before it is checked and kept: the bound of its parameters
// does not count them (authorizeParamsSize), so kept they would have
// made the pending request as large as a body, with a secret in it.
func TestAuthorizeEndpointDropsCredentials(t *testing.T) {
	q := url.Values{
		"client_id":        {"app"},
		"response_type":    {"code"},
		"client_secret":    {strings.Repeat("s", 9000)},
		"client_assertion": {strings.Repeat("a", 9000)},
	}
	r := httptest.NewRequest(http.MethodGet, PathAuthorize+"?"+q.Encode(), nil)
	if _, _, err := parseAuthorizeParams(r, false); err != nil {
		t.Fatalf("parseAuthorizeParams: %v", err)
	}
	for name := range r.Form {
		if fositestore.ClientCredential(name) {
			t.Errorf("form still holds %s", name)
		}
	}
	if r.Form.Get("client_id") != "app" {
		t.Errorf("client_id = %q, want app", r.Form.Get("client_id"))
	}
}
