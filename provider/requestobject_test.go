package provider_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
)

// TestRequestObjectsNotSupported checks OIDC Core §3.1.2.6 and RFC 9101
// §10.2 against what discovery says (request_parameter_supported and
// request_uri_parameter_supported false): a request object, and a
// request_uri the PAR endpoint did not issue, are refused with
// request_not_supported and request_uri_not_supported, sent back to the
// validated redirect URI with the query's state. fosite read a request
// object for any client with registered keys, unsigned (alg none) too,
// and let its claims override the query's parameters.
func TestRequestObjectsNotSupported(t *testing.T) {
	withSSOEnv(t, "request objects", func(t *testing.T, e *ssoEnv) {
		key := newKeyPair(t, jose.RS256)
		var m directory.ClientMetadata
		res := e.registerRaw(t, directory.ClientMetadata{
			ClientName: "keyed web app", GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
			RedirectURIs: []string{"https://keyed.example/cb"}, TokenEndpointAuthMethod: "private_key_jwt",
			Scope: "openid", JWKS: publicJWKS(t, key, "k1", jose.RS256),
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", res.Status, res.Body)
		}
		if err := json.Unmarshal(res.Body, &m); err != nil {
			t.Fatal(err)
		}
		keyed := *e.Confidential
		keyed.Meta = m
		keyed.Config.ClientID, keyed.Config.ClientSecret, keyed.Config.RedirectURL = m.ClientID, "", "https://keyed.example/cb"

		seg := func(v any) string {
			b, _ := json.Marshal(v)
			return base64.RawURLEncoding.EncodeToString(b)
		}
		unsigned := seg(map[string]string{"alg": "none"}) + "." +
			seg(map[string]any{"state": "from-the-request-object", "prompt": "none", "scope": "openid"}) + "."

		for _, c := range []struct {
			name, param, value, code string
			client                   *ssoClient
		}{
			{"unsigned request object, keyed client", "request", unsigned, "request_not_supported", &keyed},
			{"unsigned request object, client without keys", "request", unsigned, "request_not_supported", e.Confidential},
			{"foreign request_uri, keyed client", "request_uri", "https://keyed.example/request.jwt", "request_uri_not_supported", &keyed},
			{"foreign request_uri", "request_uri", "https://evil.example/r", "request_uri_not_supported", e.Confidential},
		} {
			t.Run(c.name, func(t *testing.T) {
				ar := c.client.request("openid").withParam(t, c.param, c.value)
				p := e.newBrowser(t).get(t, ar.URL)
				e.callback(t, p, ar).wantError(t, c.code)
			})
		}

		// A request refused for a repeated parameter is still answered
		// at the query's redirect URI with the query's state: the request
		// object is not read there either.
		t.Run("unsigned request object, repeated parameter", func(t *testing.T) {
			ar := keyed.request("openid").withParam(t, "request", unsigned)
			ar.URL += "&ui_locales=en&ui_locales=fr"
			p := e.newBrowser(t).get(t, ar.URL)
			e.callback(t, p, ar).wantError(t, "invalid_request")
		})

		// PAR: the same, as a JSON error.
		pushed := urlValues(t, e.Confidential.request("openid").URL)
		pushed.Del("client_id")
		pushed.Set("request", unsigned)
		res = e.do(t, req{Method: http.MethodPost, Path: provider.PathPAR, ContentType: formType,
			Auth: basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret), Body: pushed.Encode()})
		assertError(t, res, http.StatusBadRequest, "request_not_supported")
	})
}

// TestEmptyRequestObjectOmitted checks RFC 6749 §3.1 against the refusal
// of request objects: a request or request_uri parameter without a value
// is one omitted, and the request goes on, pushed or not.
func TestEmptyRequestObjectOmitted(t *testing.T) {
	withSSOEnv(t, "request objects", func(t *testing.T, e *ssoEnv) {
		for _, param := range []string{"request", "request_uri"} {
			t.Run(param, func(t *testing.T) {
				ar := e.Confidential.request("openid")
				ar.URL += "&" + param + "="
				if p := e.newBrowser(t).get(t, ar.URL); p.kind() != "login" {
					t.Errorf("want the login page, got %s", p)
				}
				pushed := urlValues(t, e.Confidential.request("openid").URL)
				pushed.Del("client_id")
				pushed.Set(param, "")
				res := e.do(t, req{Method: http.MethodPost, Path: provider.PathPAR, ContentType: formType,
					Auth: basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret), Body: pushed.Encode()})
				if res.Status != http.StatusCreated {
					t.Errorf("PAR: status %d, want 201: %s", res.Status, res.Body)
				}
			})
		}
	})
}
