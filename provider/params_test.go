package provider_test

import (
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
)

// TestRepeatedParameters checks RFC 6749 §3.1/§3.2 at every endpoint that
// takes OAuth parameters: a parameter sent twice, in the query, the body
// or one in each, is invalid_request and nothing is issued or changed.
// fosite alone would take the first value and carry on.
func TestRepeatedParameters(t *testing.T) {
	withSSOEnv(t, "endpoints", func(t *testing.T, e *ssoEnv) {
		svc := e.registerService(t, "client_secret_basic", "results:read")
		svcAuth := basic(svc.ClientID, svc.ClientSecret)
		svcTok := e.token(t, svc.ClientID, svc.ClientSecret)

		// JSON endpoints: token, introspection, revocation.
		jsonCases := []struct {
			name, path, query, body string
		}{
			{"token: grant_type in query and body", provider.PathToken, "?grant_type=client_credentials", "grant_type=client_credentials"},
			{"token: scope twice", provider.PathToken, "", "grant_type=client_credentials&scope=results:read&scope=openid"},
			{"token: client_id in query and body", provider.PathToken, "?client_id=" + svc.ClientID, "grant_type=client_credentials&client_id=" + svc.ClientID},
			{"introspect: token twice", provider.PathIntrospect, "", "token=" + svcTok.AccessToken + "&token=x"},
			{"introspect: hint in query and body", provider.PathIntrospect, "?token_type_hint=access_token", "token=" + svcTok.AccessToken + "&token_type_hint=access_token"},
			{"revoke: token twice", provider.PathRevoke, "", "token=" + svcTok.AccessToken + "&token=" + svcTok.AccessToken},
		}
		for _, c := range jsonCases {
			t.Run(c.name, func(t *testing.T) {
				res := e.do(t, req{Method: http.MethodPost, Path: c.path + c.query, ContentType: formType, Auth: svcAuth, Body: c.body})
				assertError(t, res, http.StatusBadRequest, "invalid_request")
			})
		}
		if n, _ := e.metric(t, "hallpass_tokens_issued_total", `grant_type="client_credentials"`); n != 1 {
			t.Errorf("%v client-credentials tokens issued, want only the one before the repeated requests", n)
		}
		if !e.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), svcTok.AccessToken) {
			t.Error("a revocation request with a repeated token parameter revoked the token")
		}

		// The authorization endpoint: a repeated client_id or redirect_uri
		// puts the client in doubt, so the user gets the error page and no
		// redirect; another repeated parameter goes back to the validated
		// redirect URI as invalid_request. Never a code.
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid")
		authCases := []struct {
			name     string
			method   string
			query    string
			form     url.Values
			redirect bool
		}{
			{"client_id twice", http.MethodGet, ar.URL[strings.Index(ar.URL, "?"):] + "&client_id=" + publicID, nil, false},
			{"redirect_uri twice", http.MethodGet, ar.URL[strings.Index(ar.URL, "?"):] + "&redirect_uri=" + url.QueryEscape("https://evil.example/cb"), nil, false},
			{"scope twice", http.MethodGet, ar.URL[strings.Index(ar.URL, "?"):] + "&scope=openid", nil, true},
			{"client_id in query and body", http.MethodPost, "?client_id=" + publicID, urlValues(t, ar.URL), false},
		}
		for _, c := range authCases {
			t.Run("authorize: "+c.name, func(t *testing.T) {
				p := b.do(t, c.method, e.URL+provider.PathAuthorize+c.query, c.form)
				if !c.redirect {
					p.wantErrorPage(t, http.StatusBadRequest)
					if !strings.Contains(p.Body, "more than once") {
						t.Errorf("the error page does not say a parameter was repeated: %s", p)
					}
					return
				}
				e.callback(t, p, ar).wantError(t, "invalid_request")
			})
		}

		// The end-session endpoint: nothing is signed out.
		alice := e.newBrowser(t)
		e.signInTokens(t, alice, e.Confidential.request("openid"), "alice", alicePassword)
		t.Run("logout: post_logout_redirect_uri twice", func(t *testing.T) {
			q := url.Values{"client_id": {confidentialID}, "post_logout_redirect_uri": {confidentialLogout, "https://evil.example/"}}
			alice.get(t, e.URL+provider.PathEndSession+"?"+q.Encode()).wantErrorPage(t, http.StatusBadRequest)
			ar := e.Confidential.request("openid")
			e.callback(t, alice.get(t, ar.URL), ar).wantCode(t) // still signed in
		})
	})
}

// urlValues returns the query of raw.
func urlValues(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// TestOneClientAuthentication checks RFC 6749 §2.3: a client authenticates
// in one way per request. HTTP Basic (or, at introspection, the admin
// token) together with credentials in the body, or a body client_id naming
// another client, is refused before any
// credential is checked: even with a wrong secret the answer is
// invalid_request, not invalid_client.
func TestOneClientAuthentication(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		a := ts.registerService(t, "client_secret_basic", "results:read")
		other := ts.registerService(t, "client_secret_post", "results:read")
		tok := ts.token(t, a.ClientID, a.ClientSecret)
		cc := "grant_type=client_credentials"
		cases := []struct {
			name, path, auth, body string
		}{
			{"Basic and client_secret in the body", provider.PathToken, basic(a.ClientID, a.ClientSecret), cc + "&client_secret=" + a.ClientSecret},
			{"Basic and another client's credentials in the body", provider.PathToken, basic(a.ClientID, a.ClientSecret),
				cc + "&client_id=" + other.ClientID + "&client_secret=" + other.ClientSecret},
			{"Basic and another client_id in the body", provider.PathToken, basic(a.ClientID, a.ClientSecret), cc + "&client_id=" + other.ClientID},
			{"wrong Basic secret and another client_id", provider.PathToken, basic(a.ClientID, "wrong"), cc + "&client_id=" + other.ClientID},
			{"introspection, two methods", provider.PathIntrospect, basic(a.ClientID, a.ClientSecret), "token=" + tok.AccessToken + "&client_secret=" + a.ClientSecret},
			{"revocation, two methods", provider.PathRevoke, basic(a.ClientID, a.ClientSecret), "token=" + tok.AccessToken + "&client_id=" + other.ClientID},
			// The admin token is an authentication too: the body's
			// client would be ignored for it.
			{"introspection, admin token and client_secret_post", provider.PathIntrospect, "Bearer " + ts.AdminToken,
				"token=" + tok.AccessToken + "&client_id=" + other.ClientID + "&client_secret=wrong"},
			{"introspection, admin token and a client_id", provider.PathIntrospect, "Bearer " + ts.AdminToken, "token=" + tok.AccessToken + "&client_id=" + a.ClientID},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := ts.do(t, req{Method: http.MethodPost, Path: c.path, ContentType: formType, Auth: c.auth, Body: c.body})
				assertError(t, res, http.StatusBadRequest, "invalid_request")
			})
		}
		// A client assertion with a secret in the body is two methods too,
		// whoever the secret belongs to.
		key := newKeyPair(t, jose.RS256)
		m := ts.registerKeyed(t, directory.ClientMetadata{JWKS: publicJWKS(t, key, "k1", jose.RS256), TokenEndpointAuthSigningAlg: "RS256"})
		keyed := keyedClient{id: m.ClientID, key: key, kid: "k1", alg: jose.RS256}
		for _, c := range []struct {
			name, path string
			extra      url.Values
		}{
			{"client_assertion and another client's secret", provider.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_secret": {other.ClientSecret}}},
			{"client_assertion and another client's client_secret_post", provider.PathToken,
				url.Values{"grant_type": {"client_credentials"}, "client_id": {other.ClientID}, "client_secret": {other.ClientSecret}}},
			{"introspection, client_assertion and a secret", provider.PathIntrospect, url.Values{"token": {tok.AccessToken}, "client_secret": {other.ClientSecret}}},
			{"revocation, client_assertion and a secret", provider.PathRevoke, url.Values{"token": {tok.AccessToken}, "client_secret": {other.ClientSecret}}},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := ts.post(t, c.path, assertionForm(keyed.assertion(t, ts, nil), c.extra))
				assertError(t, res, http.StatusBadRequest, "invalid_request")
			})
		}
		if !ts.Active(t, oauthtest.Basic(a.ClientID, a.ClientSecret), tok.AccessToken) {
			t.Error("a refused revocation revoked the token")
		}
		// The same client_id in the body as in Basic is one authentication.
		res := ts.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
			Auth: basic(a.ClientID, a.ClientSecret), Body: cc + "&client_id=" + a.ClientID})
		if res.Status != http.StatusOK {
			t.Errorf("Basic plus the same client_id in the body: status %d, want 200: %s", res.Status, res.Body)
		}
		// A parameter sent without a value is one omitted (RFC 6749 §3.2):
		// an empty client_secret, assertion or assertion type is no second
		// method.
		for _, empty := range []string{"client_secret=", "client_assertion=", "client_assertion_type=", "client_secret=&client_assertion_type="} {
			res := ts.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
				Auth: basic(a.ClientID, a.ClientSecret), Body: cc + "&" + empty})
			if res.Status != http.StatusOK {
				t.Errorf("Basic plus %s in the body: status %d, want 200: %s", empty, res.Status, res.Body)
			}
		}
		res = ts.post(t, provider.PathToken, assertionForm(keyed.assertion(t, ts, nil), url.Values{"grant_type": {"client_credentials"}, "client_secret": {""}}))
		if res.Status != http.StatusOK {
			t.Errorf("client_assertion plus an empty client_secret: status %d, want 200: %s", res.Status, res.Body)
		}
	})
}

// TestMultipartRefused checks that OAuth endpoints take form-encoded
// bodies only: fosite would parse a multipart body past the repeated-
// parameter check.
func TestMultipartRefused(t *testing.T) {
	ts := newTestServer(t, "sqlite:"+t.TempDir()+"/hallpass.db")
	svc := ts.registerService(t, "client_secret_post", "results:read")
	var body strings.Builder
	mw := multipart.NewWriter(&body)
	for _, kv := range [][2]string{{"grant_type", "client_credentials"}, {"client_id", svc.ClientID}, {"client_secret", svc.ClientSecret}, {"client_id", "other"}} {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	res := ts.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: mw.FormDataContentType(), Body: body.String()})
	assertError(t, res, http.StatusBadRequest, "invalid_request")
}
