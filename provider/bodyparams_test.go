package provider_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
)

// TestParametersInURLRefused checks that the endpoints where clients
// authenticate take their parameters in the form body only (RFC 6749
// §2.3.1, §3.2; RFC 7662 §2.1; RFC 7009 §2.1; RFC 9126 §2.1): a query
// string is invalid_request, with or without a valid body, and nothing is
// issued, pushed or revoked. fosite read the query at PAR and ignored it
// elsewhere, so a client secret in the URL got "credentials missing", a
// scope there was silently dropped, and a pushed request made of query
// parameters got a request_uri.
func TestParametersInURLRefused(t *testing.T) {
	withSSOEnv(t, "endpoints", func(t *testing.T, e *ssoEnv) {
		svc := e.registerService(t, "client_secret_basic", "results:read")
		svcAuth := basic(svc.ClientID, svc.ClientSecret)
		svcTok := e.token(t, svc.ClientID, svc.ClientSecret)
		conf := e.Confidential.Meta
		confAuth := basic(conf.ClientID, conf.ClientSecret)
		pushed := urlValues(t, e.Confidential.request("openid").URL)
		pushed.Del("client_id")

		for _, c := range []struct {
			name, path, auth, query, body string
		}{
			{"token: client secret in the URL", provider.PathToken, "",
				"?" + url.Values{"client_id": {svc.ClientID}, "client_secret": {svc.ClientSecret}}.Encode(), "grant_type=client_credentials"},
			{"token: everything in the URL", provider.PathToken, svcAuth, "?grant_type=client_credentials", ""},
			{"token: scope in the URL", provider.PathToken, svcAuth, "?scope=results:read", "grant_type=client_credentials"},
			{"introspect: hint in the URL", provider.PathIntrospect, svcAuth, "?token_type_hint=access_token", "token=" + svcTok.AccessToken},
			{"revoke: token in the URL", provider.PathRevoke, svcAuth, "?token=" + svcTok.AccessToken, ""},
			{"revoke: stray query", provider.PathRevoke, svcAuth, "?x=1", "token=" + svcTok.AccessToken},
			{"PAR: request in the URL", provider.PathPAR, confAuth, "?" + pushed.Encode(), ""},
			{"PAR: stray query", provider.PathPAR, confAuth, "?x=1", pushed.Encode()},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := e.do(t, req{Method: http.MethodPost, Path: c.path + c.query, ContentType: formType, Auth: c.auth, Body: c.body})
				assertError(t, res, http.StatusBadRequest, "invalid_request")
				if !strings.Contains(string(res.Body), "not in the URL") {
					t.Errorf("the error does not say where the parameters go: %s", res.Body)
				}
			})
		}
		if n, _ := e.metric(t, "hallpass_tokens_issued_total", `grant_type="client_credentials"`); n != 1 {
			t.Errorf("%v client-credentials tokens issued, want only the one before the refused requests", n)
		}
		if !e.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), svcTok.AccessToken) {
			t.Error("a refused revocation request revoked the token")
		}
		// The same pushed request from the body is accepted: the refusals
		// above were for the URL alone.
		res := e.do(t, req{Method: http.MethodPost, Path: provider.PathPAR, ContentType: formType, Auth: confAuth, Body: pushed.Encode()})
		if res.Status != http.StatusCreated {
			t.Errorf("PAR from the body: %d %s", res.Status, res.Body)
		}
	})
}

// TestNoClientAuthentication: a request to an endpoint where clients
// authenticate that carries no client authentication at all (no
// Authorization header, no client_id, no client_assertion) is
// invalid_client with a Basic challenge (RFC 6749 §5.2), not
// invalid_request, and changes nothing.
func TestNoClientAuthentication(t *testing.T) {
	withSSOEnv(t, "endpoints", func(t *testing.T, e *ssoEnv) {
		svc := e.registerService(t, "client_secret_basic", "results:read")
		svcTok := e.token(t, svc.ClientID, svc.ClientSecret)
		pushed := urlValues(t, e.Confidential.request("openid").URL)
		pushed.Del("client_id")
		for _, c := range []struct{ name, path, body string }{
			{"token", provider.PathToken, "grant_type=client_credentials&scope=results:read"},
			{"introspection", provider.PathIntrospect, "token=" + svcTok.AccessToken},
			{"revocation", provider.PathRevoke, "token=" + svcTok.AccessToken},
			{"PAR", provider.PathPAR, pushed.Encode()},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := e.do(t, req{Method: http.MethodPost, Path: c.path, ContentType: formType, Body: c.body})
				assertError(t, res, http.StatusUnauthorized, "invalid_client")
				if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic") {
					t.Errorf("WWW-Authenticate = %q, want a Basic challenge", got)
				}
			})
		}
		if !e.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), svcTok.AccessToken) {
			t.Error("an unauthenticated revocation request revoked the token")
		}
	})
}

// TestIntrospectRevokeRefuseAlike checks that introspection and
// revocation answer the same refused request (checkOAuthRequest's) with
// the same status, challenge and body, hint included: both go through one
// writer (writeRefusalWithHint), where introspection had its own mapping.
func TestIntrospectRevokeRefuseAlike(t *testing.T) {
	withSSOEnv(t, "endpoints", func(t *testing.T, e *ssoEnv) {
		svc := e.registerService(t, "client_secret_basic", "results:read")
		svcAuth := basic(svc.ClientID, svc.ClientSecret)
		tok := e.token(t, svc.ClientID, svc.ClientSecret)
		for _, c := range []struct{ name, query, auth, body string }{
			{"no client authentication", "", "", "token=" + tok.AccessToken},
			{"parameters in the URL", "?token=" + tok.AccessToken, svcAuth, ""},
			{"two authentication methods", "", svcAuth, "token=" + tok.AccessToken + "&client_secret=" + svc.ClientSecret},
		} {
			t.Run(c.name, func(t *testing.T) {
				intro := e.do(t, req{Method: http.MethodPost, Path: provider.PathIntrospect + c.query, ContentType: formType, Auth: c.auth, Body: c.body})
				rev := e.do(t, req{Method: http.MethodPost, Path: provider.PathRevoke + c.query, ContentType: formType, Auth: c.auth, Body: c.body})
				assertError(t, intro, rev.Status, "invalid_request", "invalid_client")
				if intro.Status != rev.Status || string(intro.Body) != string(rev.Body) {
					t.Errorf("introspection answered %d %s, revocation %d %s", intro.Status, intro.Body, rev.Status, rev.Body)
				}
				if a, b := intro.Header.Get("WWW-Authenticate"), rev.Header.Get("WWW-Authenticate"); a != b {
					t.Errorf("WWW-Authenticate: introspection %q, revocation %q", a, b)
				}
			})
		}
		if !e.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), tok.AccessToken) {
			t.Error("a refused revocation revoked the token")
		}
	})
}

// TestMalformedClientCredentials checks RFC 6749 §5.2 at every endpoint
// where clients authenticate: an Authorization header that holds no
// usable HTTP Basic credentials (not base64, no colon, a broken
// form-encoding of §2.3.1, or another scheme) is a failed client
// authentication, 401 invalid_client with a challenge, alike everywhere.
// The token and revocation endpoints answered 400 invalid_request where
// introspection and PAR answered 401.
func TestMalformedClientCredentials(t *testing.T) {
	withSSOEnv(t, "endpoints", func(t *testing.T, e *ssoEnv) {
		svc := e.registerService(t, "client_secret_basic", "results:read")
		tok := e.token(t, svc.ClientID, svc.ClientSecret)
		pushed := urlValues(t, e.Confidential.request("openid").URL)
		pushed.Del("client_id")
		bodies := map[string]string{
			provider.PathToken:      "grant_type=client_credentials",
			provider.PathPAR:        pushed.Encode(),
			provider.PathIntrospect: "token=" + tok.AccessToken,
			provider.PathRevoke:     "token=" + tok.AccessToken,
		}
		headers := []struct{ name, auth string }{
			{"not base64", "Basic !!!"},
			{"empty Basic", "Basic "},
			{"no colon", "Basic " + b64(svc.ClientID)},
			{"broken encoding of the id", "Basic " + b64("%zz:"+svc.ClientSecret)},
			{"broken encoding of the secret", "Basic " + b64(svc.ClientID+":%zz")},
			{"another scheme", "Digest username=" + svc.ClientID},
		}
		for path, body := range bodies {
			headers := headers
			if path != provider.PathIntrospect {
				// Only introspection takes a bearer token (the admin's).
				headers = append(headers, struct{ name, auth string }{"a bearer token", "Bearer " + tok.AccessToken})
			}
			for _, h := range headers {
				t.Run(path+"/"+h.name, func(t *testing.T) {
					res := e.do(t, req{Method: http.MethodPost, Path: path, ContentType: formType, Auth: h.auth, Body: body})
					assertError(t, res, http.StatusUnauthorized, "invalid_client")
					if res.Header.Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
				})
			}
		}
		if !e.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), tok.AccessToken) {
			t.Error("a refused revocation revoked the token")
		}
	})
}

// TestFormBodyRequired checks that the endpoints where clients
// authenticate say what is wrong with a body that is not
// application/x-www-form-urlencoded (RFC 6749 §3.2, RFC 7662 §2.1, RFC
// 7009 §2.1, RFC 9126 §2.1): fosite, which reads no such body, answered
// that the body was empty, or that the token parameter was missing.
func TestFormBodyRequired(t *testing.T) {
	withSSOEnv(t, "endpoints", func(t *testing.T, e *ssoEnv) {
		svc := e.registerService(t, "client_secret_basic", "results:read")
		auth := basic(svc.ClientID, svc.ClientSecret)
		tok := e.token(t, svc.ClientID, svc.ClientSecret)
		conf := e.Confidential.Meta
		pushed := urlValues(t, e.Confidential.request("openid").URL)
		pushed.Del("client_id")
		bodies := []struct{ path, auth, form string }{
			{provider.PathToken, auth, "grant_type=client_credentials"},
			{provider.PathIntrospect, auth, "token=" + tok.AccessToken},
			{provider.PathRevoke, auth, "token=" + tok.AccessToken},
			{provider.PathPAR, basic(conf.ClientID, conf.ClientSecret), pushed.Encode()},
		}
		for _, b := range bodies {
			for _, ct := range []string{"application/json", "text/plain", ""} {
				t.Run(b.path+"/"+ct, func(t *testing.T) {
					res := e.do(t, req{Method: http.MethodPost, Path: b.path, ContentType: ct, Auth: b.auth, Body: b.form})
					assertError(t, res, http.StatusBadRequest, "invalid_request")
					if desc := res.JSON(t)["error_description"]; !strings.Contains(desc.(string), "application/x-www-form-urlencoded") {
						t.Errorf("error_description %q does not say the body must be a form", desc)
					}
				})
			}
		}
		if !e.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), tok.AccessToken) {
			t.Error("a refused revocation revoked the token")
		}
	})
}

// gzipped is s compressed with gzip.
func gzipped(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestContentEncodingRefused: a body with a content coding is refused
// with 415 and Accept-Encoding: identity (RFC 9110 §8.4, RFC 7694 §3), at
// every kind of endpoint, and changes nothing. hallpass decodes no body:
// it read a form sent as "gzip" as it stood (a proxy decoding it would see
// another request), and a compressed JSON body as broken JSON (400). A
// request without a body may name a coding.
func TestContentEncodingRefused(t *testing.T) {
	withSSOEnv(t, "endpoints", func(t *testing.T, e *ssoEnv) {
		svc := e.registerService(t, "client_secret_basic", "results:read")
		admin := "Bearer " + e.AdminToken
		bomb := gzipped(t, `{"name":"bomb","description":"`+strings.Repeat("a", 8<<20)+`"}`)
		dirBefore := e.directory(t)
		for _, tc := range []struct {
			name, coding string
			rq           req
		}{
			{"token endpoint, plain form named gzip", "gzip", req{Method: http.MethodPost, Path: provider.PathToken,
				Auth: basic(svc.ClientID, svc.ClientSecret), ContentType: formType, Body: "grant_type=client_credentials"}},
			{"token endpoint, gzipped form", "x-gzip, identity", req{Method: http.MethodPost, Path: provider.PathToken,
				Auth: basic(svc.ClientID, svc.ClientSecret), ContentType: formType, Body: gzipped(t, "grant_type=client_credentials")}},
			{"admin API, gzipped JSON", "gzip", req{Method: http.MethodPost, Path: "/admin/scopes", Auth: admin,
				ContentType: jsonType, Body: gzipped(t, `{"name":"zipped:read"}`)}},
			{"admin API, gzip bomb", "GZIP", req{Method: http.MethodPost, Path: "/admin/scopes", Auth: admin, ContentType: jsonType, Body: bomb}},
			{"registration, deflate", "deflate", req{Method: http.MethodPost, Path: provider.PathRegistration, Auth: admin,
				ContentType: jsonType, Body: `{"grant_types":["client_credentials"]}`}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.rq.Header = http.Header{"Content-Encoding": {tc.coding}}
				res := e.do(t, tc.rq)
				assertError(t, res, http.StatusUnsupportedMediaType, "invalid_request")
				if got := res.Header.Get("Accept-Encoding"); got != "identity" {
					t.Errorf("Accept-Encoding = %q, want identity", got)
				}
			})
		}
		e.assertDirectoryUnchanged(t, dirBefore)

		t.Run("login form", func(t *testing.T) {
			res := e.do(t, req{Method: http.MethodPost, Path: provider.PathLogin, ContentType: formType, Body: "username=alice",
				Header: http.Header{"Content-Encoding": {"br"}}})
			if res.Status != http.StatusUnsupportedMediaType || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				t.Errorf("login form compressed: %d %s, want a 415 page", res.Status, res.Header.Get("Content-Type"))
			}
		})
		t.Run("no body", func(t *testing.T) {
			for _, coding := range []string{"gzip", "identity"} {
				res := e.do(t, req{Path: provider.PathDiscovery, Header: http.Header{"Content-Encoding": {coding}}})
				if res.Status != http.StatusOK {
					t.Errorf("discovery with Content-Encoding %s and no body: %d %s", coding, res.Status, res.Body)
				}
			}
			res := e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, Auth: basic(svc.ClientID, svc.ClientSecret),
				ContentType: formType, Body: "grant_type=client_credentials", Header: http.Header{"Content-Encoding": {"identity"}}})
			if res.Status != http.StatusOK {
				t.Errorf("token request with Content-Encoding identity: %d %s", res.Status, res.Body)
			}
		})
	})
}
