package provider_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
	// overLimit is more than the default 64 KiB body cap.
	overLimit = 70 << 10
)

// jsonBodyCase is one malformed client-metadata request body.
type jsonBodyCase struct {
	name        string
	contentType string
	body        string
	status      int
	code        string // "" means the endpoint's own malformed-input code
}

// malformedJSONCases are bodies every JSON endpoint must refuse, whatever
// the metadata would have said.
func malformedJSONCases() []jsonBodyCase {
	valid := `{"grant_types":["client_credentials"],"scope":"results:read"}`
	return []jsonBodyCase{
		{name: "malformed JSON", contentType: jsonType, body: `{"grant_types":["client_credentials"`, status: 400},
		{name: "trailing garbage", contentType: jsonType, body: valid + ` garbage`, status: 400},
		{name: "two objects", contentType: jsonType, body: valid + valid, status: 400},
		{name: "JSON array", contentType: jsonType, body: `[` + valid + `]`, status: 400},
		{name: "JSON string", contentType: jsonType, body: `"client_credentials"`, status: 400},
		{name: "empty body", contentType: jsonType, body: ``, status: 400},
		{name: "redirect_uris is a string", contentType: jsonType, body: `{"redirect_uris":"https://app.example/cb"}`, status: 400, code: "invalid_client_metadata"},
		{name: "grant_types is an object", contentType: jsonType, body: `{"grant_types":{"client_credentials":true}}`, status: 400},
		{name: "client_name is a number", contentType: jsonType, body: `{"grant_types":["client_credentials"],"client_name":42}`, status: 400},
		{name: "body over 64 KiB", contentType: jsonType, body: `{"grant_types":["client_credentials"],"client_name":"` + strings.Repeat("a", overLimit) + `"}`, status: 413},
		{name: "valid object padded over 64 KiB", contentType: jsonType, body: valid + strings.Repeat(" ", overLimit), status: 413},
		{name: "Content-Type text/plain", contentType: "text/plain", body: valid, status: 415, code: "invalid_client_metadata"},
		{name: "no Content-Type", contentType: "", body: valid, status: 415},
		{name: "form Content-Type", contentType: formType, body: "grant_types=client_credentials", status: 415},
	}
}

// invalidMetadataCases are well-formed bodies with metadata RFC 7591
// registration must refuse.
func invalidMetadataCases() []jsonBodyCase {
	redirect := func(name, uri string) jsonBodyCase {
		return jsonBodyCase{name: name, contentType: jsonType, body: fmt.Sprintf(`{"redirect_uris":[%q]}`, uri), status: 400, code: "invalid_redirect_uri"}
	}
	return []jsonBodyCase{
		redirect("http redirect to a public host", "http://app.example/cb"),
		redirect("redirect with fragment", "https://app.example/cb#frag"),
		redirect("relative redirect", "/cb"),
		redirect("javascript redirect", "javascript:alert(document.cookie)"),
		redirect("data redirect", "data:text/html,<script>alert(1)</script>"),
		redirect("empty redirect", ""),
		{name: "code client without redirect", contentType: jsonType, body: `{"grant_types":["authorization_code"]}`, status: 400, code: "invalid_redirect_uri"},
		{name: "unknown grant type", contentType: jsonType, body: `{"grant_types":["password"]}`, status: 400, code: "invalid_client_metadata"},
		{name: "client_credentials with auth method none", contentType: jsonType,
			body: `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, status: 400, code: "invalid_client_metadata"},
		{name: "unsupported auth method", contentType: jsonType,
			body: `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt"}`, status: 400, code: "invalid_client_metadata"},
		{name: "implicit response type", contentType: jsonType,
			body: `{"redirect_uris":["https://app.example/cb"],"response_types":["token"]}`, status: 400, code: "invalid_client_metadata"},
		// Refused, not dropped: the sender would think the client now
		// authenticates with it.
		{name: "chosen client_secret", contentType: jsonType,
			body: `{"grant_types":["client_credentials"],"client_secret":"` + strings.Repeat("s", 40) + `"}`, status: 400, code: "invalid_client_metadata"},
		{name: "too many scopes", contentType: jsonType,
			body: `{"grant_types":["client_credentials"],"scope":"` + manyScopes(500) + `"}`, status: 400, code: "invalid_client_metadata"},
	}
}

func manyScopes(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("scope%d", i)
	}
	return strings.Join(s, " ")
}

// checkJSONBodyCases sends every case to method path with the admin token
// and checks the error and that no client changed.
func checkJSONBodyCases(t *testing.T, ts *testServer, method, path, defaultCode string, cases []jsonBodyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.clients(t)
			res := ts.do(t, req{Method: method, Path: path, ContentType: tc.contentType, Body: tc.body, Auth: "Bearer " + ts.AdminToken})
			code := tc.code
			if code == "" {
				code = defaultCode
			}
			assertError(t, res, tc.status, code)
			ts.assertClientsUnchanged(t, before)
		})
	}
}

func TestRegistrationBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		cases := append(malformedJSONCases(), invalidMetadataCases()...)
		checkJSONBodyCases(t, ts, http.MethodPost, provider.PathRegistration, "invalid_client_metadata", cases)
	})
}

func TestAdminClientsBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		res := ts.admin(t, http.MethodPost, "/admin/clients", map[string]any{
			"client_id": "existing", "grant_types": []string{"client_credentials"}, "scope": "results:read",
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		secret := decodeClient(t, res).ClientSecret
		cases := append(malformedJSONCases(), invalidMetadataCases()...)
		cases = append(cases, jsonBodyCase{
			name: "client_id with a slash", contentType: jsonType,
			body: `{"client_id":"a/b","grant_types":["client_credentials"]}`, status: 400, code: "invalid_client_metadata",
		})
		t.Run("POST", func(t *testing.T) {
			checkJSONBodyCases(t, ts, http.MethodPost, "/admin/clients", "invalid_client_metadata", cases)
		})
		t.Run("PUT", func(t *testing.T) {
			checkJSONBodyCases(t, ts, http.MethodPut, "/admin/clients/existing", "invalid_client_metadata", cases)
		})
		if !ts.canGetToken(t, "existing", secret) {
			t.Error("the existing client no longer works after refused updates")
		}
		// The client's own secret sent back (the create's answer PUT back,
		// RFC 7592 §2.2) is no change, not a refusal.
		res = ts.admin(t, http.MethodPut, "/admin/clients/existing", map[string]any{
			"grant_types": []string{"client_credentials"}, "scope": "results:read", "client_secret": secret,
		})
		if res.Status != http.StatusOK {
			t.Errorf("PUT with the client's own secret: %d %s", res.Status, res.Body)
		}
		if !ts.canGetToken(t, "existing", secret) {
			t.Error("the client's secret changed after a PUT that sent it back")
		}
	})
}

func TestTokenEndpointBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		svc := ts.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		good := basic(svc.ClientID, svc.ClientSecret)
		cc := url.Values{"grant_type": {"client_credentials"}}.Encode()

		tests := []struct {
			name        string
			method      string
			contentType string
			body        string
			query       string
			auth        []string // Authorization header lines
			status      []int
			codes       []string
		}{
			{name: "GET", method: http.MethodGet, query: "?" + cc, auth: []string{good},
				status: []int{405}, codes: []string{"invalid_request"}},
			{name: "PUT", method: http.MethodPut, contentType: formType, body: cc, auth: []string{good},
				status: []int{405}, codes: []string{"invalid_request"}},
			{name: "empty body", contentType: formType, auth: []string{good},
				status: []int{400}, codes: []string{"invalid_request"}},
			{name: "JSON body", contentType: jsonType, body: `{"grant_type":"client_credentials"}`, auth: []string{good},
				status: []int{400}, codes: []string{"invalid_request"}},
			{name: "missing grant_type", contentType: formType, body: "scope=results:read", auth: []string{good},
				status: []int{400}, codes: []string{"invalid_request"}},
			{name: "empty grant_type", contentType: formType, body: "grant_type=", auth: []string{good},
				status: []int{400}, codes: []string{"invalid_request"}},
			{name: "unknown grant type", contentType: formType, body: "grant_type=urn:example:magic", auth: []string{good},
				status: []int{400}, codes: []string{"unsupported_grant_type"}},
			{name: "jwt-bearer grant type (not enabled)", contentType: formType,
				body: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"x.y.z"}}.Encode(), auth: []string{good},
				status: []int{400}, codes: []string{"unsupported_grant_type"}},
			{name: "implicit grant type", contentType: formType, body: "grant_type=implicit", auth: []string{good},
				status: []int{400}, codes: []string{"unsupported_grant_type"}},
			{name: "oversized form body", contentType: formType, body: cc + "&scope=" + strings.Repeat("a", overLimit), auth: []string{good},
				status: []int{400, 413}, codes: []string{"invalid_request"}},
			{name: "malformed Basic header", contentType: formType, body: cc, auth: []string{"Basic !!!"},
				status: []int{400, 401}, codes: []string{"invalid_request", "invalid_client"}},
			{name: "Basic without colon", contentType: formType, body: cc, auth: []string{"Basic " + b64(svc.ClientID)},
				status: []int{400, 401}, codes: []string{"invalid_request", "invalid_client"}},
			{name: "Basic with bad percent-encoding", contentType: formType, body: cc, auth: []string{"Basic " + b64("%zz:"+svc.ClientSecret)},
				status: []int{400, 401}, codes: []string{"invalid_request", "invalid_client"}},
			{name: "empty Basic", contentType: formType, body: cc, auth: []string{"Basic "},
				status: []int{400, 401}, codes: []string{"invalid_request", "invalid_client"}},
			{name: "no client authentication", contentType: formType, body: cc,
				status: []int{400, 401}, codes: []string{"invalid_request", "invalid_client"}},
			{name: "duplicate Authorization, wrong one first", contentType: formType, body: cc,
				auth:   []string{basic(svc.ClientID, "wrong"), good},
				status: []int{400, 401}, codes: []string{"invalid_request", "invalid_client"}},
			{name: "duplicate Authorization, right one first", contentType: formType, body: cc,
				auth:   []string{good, basic(svc.ClientID, "wrong")},
				status: []int{400, 401}, codes: []string{"invalid_request", "invalid_client"}},
			// RFC 6749 §3.2: parameters MUST NOT be repeated; §5.2 names
			// the error for a request that "repeats a parameter".
			{name: "repeated scope parameter", contentType: formType, body: cc + "&scope=results:read&scope=results:read", auth: []string{good},
				status: []int{400}, codes: []string{"invalid_request"}},
			{name: "repeated grant_type parameter", contentType: formType, body: cc + "&" + cc, auth: []string{good},
				status: []int{400}, codes: []string{"invalid_request"}},
			{name: "many scopes", contentType: formType, body: cc + "&scope=" + url.QueryEscape(manyScopes(3000)), auth: []string{good},
				status: []int{400}, codes: []string{"invalid_scope"}},
			{name: "scope with control characters", contentType: formType, body: cc + "&scope=" + url.QueryEscape("results:read\x00\n"), auth: []string{good},
				status: []int{400}, codes: []string{"invalid_scope", "invalid_request"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := ts.clients(t)
				method := tc.method
				if method == "" {
					method = http.MethodPost
				}
				h := http.Header{}
				for _, a := range tc.auth {
					h.Add("Authorization", a)
				}
				res := ts.do(t, req{Method: method, Path: provider.PathToken + tc.query, ContentType: tc.contentType, Body: tc.body, Header: h})
				status := tc.status[0]
				for _, s := range tc.status {
					if res.Status == s {
						status = s
					}
				}
				assertError(t, res, status, tc.codes...)
				if res.Status == http.StatusUnauthorized && res.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				ts.assertClientsUnchanged(t, before)
			})
		}
		if n, _ := ts.metric(t, "hallpass_tokens_issued_total", `grant_type="client_credentials"`); n != 0 {
			t.Errorf("%v tokens issued to malformed requests", n)
		}
		// The client itself still works: nothing above locked it out.
		ts.token(t, svc.ClientID, svc.ClientSecret)
	})
}

func TestUnknownRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		tests := []struct {
			name, method, path, auth string
			status                   int
			code                     string
		}{
			{"unknown path", http.MethodGet, "/no/such/thing", "", 404, "not_found"},
			{"unknown oauth2 path", http.MethodPost, "/oauth2/nope", "", 404, "not_found"},
			// chi answers an unknown method 405 wherever it is sent; where
			// no method is served, that was a 405 with an empty Allow.
			{"unknown path by unknown method", "BREW", "/no/such/thing", "", 404, "not_found"},
			{"unknown admin path by unknown method", "BREW", "/admin/nope", "Bearer " + ts.AdminToken, 404, "not_found"},
			{"unknown admin path", http.MethodGet, "/admin/nope", "Bearer " + ts.AdminToken, 404, "not_found"},
			{"unknown admin path with a wrong token", http.MethodGet, "/admin/nope", "Bearer wrong", 401, "invalid_token"},
			{"registration by GET", http.MethodGet, provider.PathRegistration, "Bearer " + ts.AdminToken, 405, "invalid_request"},
			{"discovery by POST", http.MethodPost, provider.PathDiscovery, "", 405, "invalid_request"},
			{"PATCH a client", http.MethodPatch, "/admin/clients/x", "Bearer " + ts.AdminToken, 405, "invalid_request"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				res := ts.do(t, req{Method: tc.method, Path: tc.path, Auth: tc.auth})
				assertError(t, res, tc.status, tc.code)
			})
		}
	})
}

func TestRequestID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)

		t.Run("plain id is kept", func(t *testing.T) {
			res := ts.do(t, req{Path: "/healthz", Header: http.Header{"X-Request-Id": {"req-42.abc_DEF"}}})
			if got := res.Header.Get("X-Request-Id"); got != "req-42.abc_DEF" {
				t.Errorf("X-Request-Id = %q, want the caller's", got)
			}
		})
		t.Run("missing id is generated", func(t *testing.T) {
			a := ts.do(t, req{Path: "/healthz"}).Header.Get("X-Request-Id")
			b := ts.do(t, req{Path: "/healthz"}).Header.Get("X-Request-Id")
			if a == "" || a == b {
				t.Errorf("generated ids %q and %q; want distinct, non-empty", a, b)
			}
		})

		overHTTP := []struct{ name, id string }{
			{"very long", strings.Repeat("a", 4096)},
			{"65 characters", strings.Repeat("b", 65)},
			{"spaces and quotes", `a b "c"`},
			{"log-forging equals", `x level=ERROR msg=forged`},
		}
		for _, tc := range overHTTP {
			t.Run(tc.name, func(t *testing.T) {
				res := ts.do(t, req{Path: "/healthz", Header: http.Header{"X-Request-Id": {tc.id}}})
				got := res.Header.Get("X-Request-Id")
				if got == "" || got == tc.id || len(got) > 64 {
					t.Errorf("X-Request-Id = %q; want a fresh short id in place of %.80q", got, tc.id)
				}
			})
		}

		// net/http clients refuse to send these, so they go straight to the
		// handler, as a lenient proxy might pass them on.
		direct := []struct{ name, id string }{
			{"newline", "abc\nlevel=ERROR msg=forged"},
			{"CRLF header injection", "abc\r\nSet-Cookie: x=y"},
			{"NUL", "abc\x00def"},
		}
		for _, tc := range direct {
			t.Run(tc.name, func(t *testing.T) {
				r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
				r.Header["X-Request-Id"] = []string{tc.id}
				w := httptest.NewRecorder()
				ts.Handler.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					t.Errorf("status %d", w.Code)
				}
				got := w.Header().Get("X-Request-Id")
				if got == "" || got == tc.id || strings.ContainsAny(got, "\r\n\x00") {
					t.Errorf("X-Request-Id = %q; want a fresh id in place of %q", got, tc.id)
				}
				if w.Header().Get("Set-Cookie") != "" {
					t.Error("header injected")
				}
			})
		}
	})
}

// TestRedirectURIRules: registration and the admin API refuse, with
// invalid_redirect_uri naming the rule, every redirect URI no legitimate
// client needs, and create or change nothing; the URIs real clients use
// are still accepted. A port out of range, an invisible character, a
// backslash, a host not in ASCII (the message gives the A-label form to
// register) or an A-label that is none is refused in every URI a client
// registers, the server URLs hallpass calls with invalid_client_metadata
// (RFC 7591 §3.2.2), each naming its field; so is a host a browser would
// not go to as written (percent-encoded, an empty label, a trailing dot,
// localhost. among them) and a dot segment in the path, plain or
// percent-encoded, which browsers resolve away.
func TestRedirectURIRules(t *testing.T) {
	type uriCase struct {
		name   string
		meta   map[string]any
		rule   string // part of the description naming the rule; "" means accepted
		public bool
		field  string // the field the description names, if the case checks it
		code   string // the error code, when not invalid_redirect_uri
	}
	redirect := func(name, uri, rule string) uriCase {
		return uriCase{name: name, meta: map[string]any{"redirect_uris": []string{uri}}, rule: rule, field: "redirect_uris"}
	}
	postLogout := func(name, uri, rule string) uriCase {
		return uriCase{name: name, meta: map[string]any{"redirect_uris": []string{"https://app.example/cb"}, "post_logout_redirect_uris": []string{uri}}, rule: rule,
			field: "post_logout_redirect_uris"}
	}
	backchannel := func(name, uri, rule string) uriCase {
		return uriCase{name: name, meta: map[string]any{"redirect_uris": []string{"https://app.example/cb"}, "backchannel_logout_uri": uri}, rule: rule,
			field: "backchannel_logout_uri", code: "invalid_client_metadata"}
	}
	jwksURI := func(name, uri, rule string) uriCase {
		return uriCase{name: name, meta: map[string]any{"redirect_uris": []string{"https://app.example/cb"}, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri},
			rule: rule, field: "jwks_uri", code: "invalid_client_metadata"}
	}
	public := func(c uriCase) uriCase {
		c.meta["token_endpoint_auth_method"] = "none"
		c.public = true
		return c
	}
	cases := []uriCase{
		redirect("wildcard host", "https://*.app.example/cb", "wildcard (*)"),
		redirect("wildcard path", "https://app.example/*", "wildcard (*)"),
		redirect("userinfo", "https://user:secret@app.example/cb", "user information"),
		redirect("fragment", "https://app.example/cb#x", "fragment"),
		redirect("empty fragment", "https://app.example/cb#", "fragment"),
		redirect("relative", "/cb", "absolute URI"),
		public(redirect("javascript", "javascript:alert(1)", "javascript: scheme")),
		public(redirect("JavaScript", "JavaScript:alert(1)", "javascript: scheme")),
		public(redirect("data", "data:text/html,x", "data: scheme")),
		public(redirect("file", "file:///etc/passwd", "file: scheme")),
		public(redirect("vbscript", "vbscript:x", "vbscript: scheme")),
		redirect("http to a public host", "http://app.example/cb", "must use https"),
		redirect("custom scheme, confidential client", "com.example.app:/cb", "public clients"),
		redirect("code in query", "https://app.example/cb?code=x", `"code"`),
		redirect("state in query", "https://app.example/cb?state=x", `"state"`),
		redirect("iss in query", "https://app.example/cb?iss=x", `"iss"`),
		redirect("error in query", "https://app.example/cb?error=x", `"error"`),
		postLogout("post-logout wildcard", "https://app.example/*", "wildcard (*)"),
		postLogout("post-logout fragment", "https://app.example/#", "fragment"),
		postLogout("post-logout http to a public host", "http://app.example/", "must use https"),
		postLogout("post-logout state in query", "https://app.example/?state=x", `"state"`),
		postLogout("post-logout custom scheme, confidential client", "com.example.app:/bye", "public clients"),
		redirect("port above 65535", "https://app.example:99999/cb", "port from 1 to 65535"),
		redirect("port 0", "https://app.example:0/cb", "port from 1 to 65535"),
		redirect("port with a leading zero", "https://app.example:0443/cb", "without leading zeros"),
		redirect("loopback port above 65535", "http://127.0.0.1:65536/cb", "port from 1 to 65535"),
		redirect("right-to-left override", "https://app.example/c\u202Eb", "U+202E"),
		redirect("zero-width space in host", "https://app\u200B.example/cb", "U+200B"),
		redirect("left-to-right isolate", "https://app.example/cb?x=\u2066y", "U+2066"),
		public(redirect("right-to-left override, custom scheme", "com.example.app:/c\u202Eb", "U+202E")),
		postLogout("post-logout port above 65535", "https://app.example:99999/bye", "port from 1 to 65535"),
		postLogout("post-logout right-to-left override", "https://app.example/by\u202Ee", "U+202E"),
		backchannel("back-channel logout port above 65535", "https://app.example:99999/bc", "port from 1 to 65535"),
		backchannel("back-channel logout port 0", "https://app.example:0/bc", "port from 1 to 65535"),
		backchannel("back-channel logout right-to-left override", "https://app.example/b\u202Ec", "U+202E"),
		backchannel("back-channel logout zero-width space", "https://app\u200B.example/bc", "U+200B"),
		jwksURI("jwks_uri port above 65535", "https://app.example:99999/jwks", "port from 1 to 65535"),
		jwksURI("jwks_uri left-to-right isolate", "https://app.example/\u2066jwks", "U+2066"),
		redirect("backslash in path", `https://app.example/cb\..\admin`, "backslash"),
		redirect("backslash in query", `https://app.example/cb?next=\\evil.example`, "backslash"),
		redirect("backslash before user information", `https://app.example\@evil.example/cb`, "backslash"),
		public(redirect("backslash, custom scheme", `com.example.app:/c\b`, "backslash")),
		postLogout("post-logout backslash", `https://app.example/\bye`, "backslash"),
		backchannel("back-channel logout backslash", `https://app.example/b\c`, "backslash"),
		jwksURI("jwks_uri backslash", `https://app.example/jw\ks`, "backslash"),
		redirect("internationalised host", "https://bücher.example/cb", `register "https://xn--bcher-kva.example/cb"`),
		redirect("look-alike host (Cyrillic a)", "https://\u0430pple.example/cb", `register "https://xn--pple-43d.example/cb"`),
		redirect("percent-encoded internationalised host", "https://b%C3%BCcher.example/cb", `A-label (punycode) "xn--bcher-kva.example"`),
		redirect("invalid A-label", "https://xn--zz.example/cb", "no valid A-label"),
		postLogout("post-logout internationalised host", "https://\u0430pple.example/bye", `register "https://xn--pple-43d.example/bye"`),
		backchannel("back-channel logout internationalised host", "https://bücher.example/bc", `register "https://xn--bcher-kva.example/bc"`),
		jwksURI("jwks_uri internationalised host", "https://\u0430pple.example/jwks", `register "https://xn--pple-43d.example/jwks"`),
		jwksURI("jwks_uri invalid A-label", "https://xn--.example/jwks", "no valid A-label"),
		redirect("percent-encoded host", "https://b%25.example/cb", "must not percent-encode its host"),
		redirect("empty label in host", "https://app..example/cb", "empty label"),
		redirect("trailing dot in host", "https://app.example./cb", "ending with a dot"),
		redirect("localhost with a trailing dot", "http://localhost./cb", "ending with a dot"),
		redirect("LOCALHOST with a trailing dot", "http://LOCALHOST.:8080/cb", "ending with a dot"),
		redirect("double-dot segment", "https://app.example/a/../cb", `dot segment ".."`),
		redirect("single-dot segment", "https://app.example/./cb", `dot segment "."`),
		redirect("percent-encoded double-dot segment", "https://app.example/a/%2e%2e/cb", `dot segment "%2e%2e"`),
		public(redirect("dot segment, custom scheme", "com.example.app:/a/../cb", "dot segment")),
		postLogout("post-logout trailing dot", "https://app.example./bye", "ending with a dot"),
		postLogout("post-logout dot segment", "https://app.example/a/%2E./bye", "dot segment"),
		backchannel("back-channel logout percent-encoded host", "https://b%25.example/bc", "percent-encode"),
		backchannel("back-channel logout dot segment", "https://app.example/a/../bc", "dot segment"),
		jwksURI("jwks_uri empty label", "https://app..example/jwks", "empty label"),
		jwksURI("jwks_uri trailing dot", "https://app.example./jwks", "ending with a dot"),

		redirect("https with query", "https://app.example/cb?tenant=a", ""),
		redirect("loopback", "http://127.0.0.1:8080/cb", ""),
		redirect("localhost", "http://localhost/cb", ""),
		redirect("IPv6 loopback", "http://[::1]/cb", ""),
		redirect("highest port", "https://app.example:65535/cb", ""),
		redirect("internationalised host as its A-label", "https://xn--pple-43d.example/cb", ""),
		redirect("percent-encoded backslash", "https://app.example/c%5Cb", ""),
		redirect("dots inside path segments", "https://app.example/a..b/cb.d", ""),
		backchannel("back-channel logout with port", "https://app.example:8443/bc", ""),
		public(redirect("custom scheme, public client", "com.example.app:/cb", "")),
		public(postLogout("post-logout custom scheme, public client", "com.example.app:/bye", "")),
	}
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "create client", ts.admin(t, http.MethodPost, "/admin/clients",
			map[string]any{"client_id": "existing", "redirect_uris": []string{"https://app.example/cb"}}), http.StatusCreated)
		endpoints := []struct{ method, path string }{
			{http.MethodPost, provider.PathRegistration},
			{http.MethodPost, "/admin/clients"},
			{http.MethodPut, "/admin/clients/existing"},
		}
		for _, e := range endpoints {
			for _, tc := range cases {
				t.Run(e.method+" "+e.path+"/"+tc.name, func(t *testing.T) {
					before := ts.clients(t)
					res := ts.admin(t, e.method, e.path, tc.meta)
					if tc.rule == "" {
						want := http.StatusCreated
						if e.method == http.MethodPut {
							want = http.StatusOK
						}
						wantStatus(t, "accepted URI", res, want)
						if m := decodeClient(t, res); (m.TokenEndpointAuthMethod == "none") != tc.public {
							t.Errorf("token_endpoint_auth_method = %q", m.TokenEndpointAuthMethod)
						}
						return
					}
					code := tc.code
					if code == "" {
						code = "invalid_redirect_uri"
					}
					assertError(t, res, http.StatusBadRequest, code)
					assertPlainDescription(t, res, tc.rule)
					if tc.field != "" {
						assertPlainDescription(t, res, tc.field+": ")
					}
					ts.assertClientsUnchanged(t, before)
				})
			}
		}
	})
}

// TestClientCredentialsOfPublicClient checks RFC 6749 §4.4 and §5.2: a
// public client, which the client credentials grant is never for, gets
// unauthorized_client, as a confidential client not registered for the
// grant does. fosite answered invalid_grant, which speaks of a grant
// (code, refresh token) the request does not carry.
func TestClientCredentialsOfPublicClient(t *testing.T) {
	withSSOEnv(t, "token", func(t *testing.T, e *ssoEnv) {
		for _, c := range []*ssoClient{e.Public, e.Confidential} {
			t.Run(c.Meta.ClientID, func(t *testing.T) {
				res := e.tokenRequest(t, c, url.Values{"grant_type": {"client_credentials"}, "scope": {"results:read"}})
				assertError(t, res, http.StatusBadRequest, "unauthorized_client")
			})
		}
	})
}

// TestOverlongAuthorizationRequest: an authorization request whose
// parameters, unknown ones included, take more than 8 KiB is refused
// before anything is stored (the error goes back to the validated
// redirect URI; PAR answers it), by GET, by POST and pushed. hallpass
// kept every parameter of every request with its pending row for the
// request's lifetime, for anyone who asked: up to a request body's
// 64 KiB each time. One just under the bound reaches the login page.
func TestOverlongAuthorizationRequest(t *testing.T) {
	withSSOEnv(t, "authorize", func(t *testing.T, e *ssoEnv) {
		ar := e.Confidential.request("openid profile")
		long := ar.withParam(t, "login_hint", strings.Repeat("h", 9000))
		t.Run("GET", func(t *testing.T) {
			e.callback(t, e.newBrowser(t).get(t, long.URL), ar).wantError(t, "invalid_request")
		})
		t.Run("POST, unknown parameter", func(t *testing.T) {
			u, _, _ := strings.Cut(ar.URL, "?")
			form := urlValues(t, ar.URL)
			form.Set("x-padding", strings.Repeat("p", 60<<10))
			e.callback(t, e.newBrowser(t).post(t, u, form), ar).wantError(t, "invalid_request")
		})
		t.Run("PAR", func(t *testing.T) {
			_, res := e.push(t, e.Confidential, "openid", func(f url.Values) { f.Set("login_hint", strings.Repeat("h", 9000)) })
			assertError(t, res, http.StatusBadRequest, "invalid_request")
		})
		t.Run("just under the bound", func(t *testing.T) {
			pad := 8<<10 - len(urlValues(t, ar.URL).Encode()) - len("&login_hint=")
			e.newBrowser(t).get(t, ar.withParam(t, "login_hint", strings.Repeat("h", pad)).URL).want(t, "login")
		})
	})
}
