package provider_test

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
)

// libraryWords may never appear in an error description: they are Go or
// JSON-library wording, not words a client can act on.
var libraryWords = []string{"Go value", "json:", "jsontext", "unmarshal", "struct", "[]string", "string into"}

// assertPlainDescription fails if res's error_description does not
// contain want or speaks Go.
func assertPlainDescription(t *testing.T, res result, want string) {
	t.Helper()
	var body struct {
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, res.Body)
	}
	if !strings.Contains(body.Description, want) {
		t.Errorf("error_description = %q, want it to contain %q", body.Description, want)
	}
	for _, w := range libraryWords {
		if strings.Contains(body.Description, w) {
			t.Errorf("error_description %q contains library wording %q", body.Description, w)
		}
	}
}

// jsonEndpoint is one endpoint that reads a JSON body, with a field of
// each kind its body has ("" when it has none).
type jsonEndpoint struct {
	method, path string
	code         string // the RFC error code for malformed input
	strict       bool   // unknown fields are refused
	list         string // GET path whose answer must not change
	arrayField   string
	stringField  string
	boolField    string
}

// badJSONBody is a body an endpoint must refuse with 400 and a
// description containing want.
type badJSONBody struct {
	name, body, want string
}

// badJSONBodies builds the bodies to refuse for e, skipping those for a
// kind of field e does not have.
func badJSONBodies(e jsonEndpoint) []badJSONBody {
	var out []badJSONBody
	add := func(field, name, body, want string) {
		if field != "" {
			out = append(out, badJSONBody{name, body, want})
		}
	}
	s, a, b := e.stringField, e.arrayField, e.boolField
	add(s, "duplicate field", fmt.Sprintf(`{%q:"a",%q:"b"}`, s, s), fmt.Sprintf("duplicate field %q", s))
	add(a, "duplicate array field", fmt.Sprintf(`{%q:["a"],%q:["b"]}`, a, a), fmt.Sprintf("duplicate field %q", a))
	add(s, "number for a string", fmt.Sprintf(`{%q:42}`, s), fmt.Sprintf("field %q must be a string", s))
	add(s, "object for a string", fmt.Sprintf(`{%q:{"a":1}}`, s), fmt.Sprintf("field %q must be a string", s))
	add(a, "string for an array", fmt.Sprintf(`{%q:"a"}`, a), fmt.Sprintf("field %q must be an array of strings", a))
	add(a, "number in an array of strings", fmt.Sprintf(`{%q:["a",1]}`, a), fmt.Sprintf("field %q must be an array of strings", a))
	add(b, "string for a boolean", fmt.Sprintf(`{%q:"yes"}`, b), fmt.Sprintf("field %q must be true or false", b))
	add(s, "NUL in a string", fmt.Sprintf(`{%q:"a\u0000b"}`, s), fmt.Sprintf("field %q must not contain a NUL character", s))
	add(a, "NUL in an array element", fmt.Sprintf(`{%q:["ok","\u0000"]}`, a), fmt.Sprintf("field %q must not contain a NUL character", a))
	add(s, "invalid UTF-8 in a string", fmt.Sprintf("{%q:\"a\xffb\"}", s), "request body is not valid UTF-8 (at byte")
	add(s, "lone surrogate escape", fmt.Sprintf(`{%q:"\ud800"}`, s), "request body is not valid JSON (at byte")
	add(s, "trailing comma", fmt.Sprintf(`{%q:"a",}`, s), "request body is not valid JSON (at byte")
	add(s, "truncated", fmt.Sprintf(`{%q:"a"`, s), "request body is not valid JSON")
	add(s, "two objects", fmt.Sprintf(`{%q:"a"}{}`, s), "exactly one JSON object")
	out = append(out,
		badJSONBody{"array", `[{}]`, "must be a JSON object"},
		badJSONBody{"null", `null`, "must be a JSON object"},
		badJSONBody{"not JSON", `<xml/>`, "request body is not valid JSON (at byte 0)"},
		badJSONBody{"empty", ``, "request body is empty"},
	)
	if !e.strict {
		// Even a member that is ignored may not be duplicated.
		out = append(out, badJSONBody{"duplicate inside an unknown member", `{"x":{"a":1,"a":2}}`, `duplicate field "x.a"`})
		return out
	}
	out = append(out, badJSONBody{"unknown field", `{"rolez":["teacher"]}`, `unknown field "rolez"`})
	// Names match exactly, as RFC 7591 and the admin API spell them.
	add(s, "field in another case", fmt.Sprintf(`{%q:"a"}`, strings.ToUpper(s)), fmt.Sprintf("unknown field %q", strings.ToUpper(s)))
	return out
}

// TestJSONInputErrors sends malformed bodies to every endpoint that reads
// JSON: each is a 400 with the endpoint's RFC error code, a description
// naming the field in plain words, and changes nothing.
func TestJSONInputErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		for _, c := range []struct {
			path string
			body any
		}{
			{"/admin/clients", map[string]any{"client_id": "existing", "grant_types": []string{"client_credentials"}, "scope": "results:read"}},
			{"/admin/scopes", map[string]any{"name": "results:read"}},
			{"/admin/roles", map[string]any{"name": "teacher", "scopes": []string{"results:read"}}},
			{"/admin/users", map[string]any{"username": "alice", "password": "correct horse battery staple", "roles": []string{"teacher"}}},
		} {
			wantStatus(t, "create "+c.path, ts.admin(t, http.MethodPost, c.path, c.body), http.StatusCreated)
		}
		clients := jsonEndpoint{code: "invalid_client_metadata", strict: true, list: "/admin/clients",
			arrayField: "redirect_uris", stringField: "client_name", boolField: "skip_consent"}
		users := jsonEndpoint{code: "invalid_request", strict: true, list: "/admin/users",
			arrayField: "roles", stringField: "username", boolField: "disabled"}
		roles := jsonEndpoint{code: "invalid_request", strict: true, list: "/admin/roles", arrayField: "scopes", stringField: "description"}
		scopes := jsonEndpoint{code: "invalid_request", strict: true, list: "/admin/scopes", stringField: "audience"}
		at := func(e jsonEndpoint, method, path string) jsonEndpoint {
			e.method, e.path = method, path
			return e
		}
		registration := clients
		registration.strict = false
		endpoints := []jsonEndpoint{
			at(registration, http.MethodPost, provider.PathRegistration),
			at(clients, http.MethodPost, "/admin/clients"),
			at(clients, http.MethodPut, "/admin/clients/existing"),
			at(users, http.MethodPost, "/admin/users"),
			at(users, http.MethodPut, "/admin/users/alice"),
			at(roles, http.MethodPost, "/admin/roles"),
			at(roles, http.MethodPut, "/admin/roles/teacher"),
			at(scopes, http.MethodPost, "/admin/scopes"),
			at(scopes, http.MethodPut, "/admin/scopes/results:read"),
			{method: http.MethodPost, path: "/admin/keys/rotate", code: "invalid_request", strict: true, list: "/admin/keys", boolField: "immediate"},
		}
		for _, e := range endpoints {
			t.Run(e.method+" "+e.path, func(t *testing.T) {
				for _, tc := range badJSONBodies(e) {
					if tc.body == "" && e.path == "/admin/keys/rotate" {
						continue // its body is optional: empty is accepted
					}
					t.Run(tc.name, func(t *testing.T) {
						before := ts.admin(t, http.MethodGet, e.list, nil)
						res := ts.do(t, req{Method: e.method, Path: e.path, ContentType: jsonType, Body: tc.body, Auth: "Bearer " + ts.AdminToken})
						assertError(t, res, http.StatusBadRequest, e.code)
						assertPlainDescription(t, res, tc.want)
						if after := ts.admin(t, http.MethodGet, e.list, nil); string(after.Body) != string(before.Body) {
							t.Errorf("GET %s changed:\nbefore %s\nafter  %s", e.list, before.Body, after.Body)
						}
					})
				}
			})
		}
	})
}

// TestUnknownFields: the admin API refuses a field it does not know
// (a typo must not silently create a user without roles), while RFC 7591
// §2 registration ignores metadata it does not understand.
func TestUnknownFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "create role", ts.admin(t, http.MethodPost, "/admin/roles", `{"name":"teacher","scopes":["results:read"]}`), http.StatusCreated)

		before := ts.directory(t)
		res := ts.admin(t, http.MethodPost, "/admin/users", `{"username":"alice","password":"correct horse battery staple","rolez":["teacher"]}`)
		assertError(t, res, http.StatusBadRequest, "invalid_request")
		assertPlainDescription(t, res, `unknown field "rolez"`)
		ts.assertDirectoryUnchanged(t, before)

		clientsBefore := ts.clients(t)
		res = ts.admin(t, http.MethodPost, "/admin/clients", `{"grant_types":["client_credentials"],"software_statement":"x"}`)
		assertError(t, res, http.StatusBadRequest, "invalid_client_metadata")
		assertPlainDescription(t, res, `unknown field "software_statement"`)
		ts.assertClientsUnchanged(t, clientsBefore)

		// Registration: unknown metadata, even of a type no field has, is
		// ignored and the client is created with what was understood.
		res = ts.do(t, req{Method: http.MethodPost, Path: provider.PathRegistration, ContentType: jsonType, Auth: "Bearer " + ts.AdminToken,
			Body: `{"grant_types":["client_credentials"],"scope":"results:read","software_statement":{"x":[1,2]},"logo_uri":"https://app.example/logo.png","Scope":"admin"}`})
		wantStatus(t, "register with unknown metadata", res, http.StatusCreated)
		m := decodeClient(t, res)
		if m.Scope != "results:read" {
			t.Errorf("registered scope = %q, want results:read (field names are case-sensitive)", m.Scope)
		}
		if got := len(ts.clients(t)); got != len(clientsBefore)+1 {
			t.Errorf("%d clients stored, want %d", got, len(clientsBefore)+1)
		}
		// Registration still refuses a duplicate, even of a member it ignores.
		res = ts.do(t, req{Method: http.MethodPost, Path: provider.PathRegistration, ContentType: jsonType, Auth: "Bearer " + ts.AdminToken,
			Body: `{"grant_types":["client_credentials"],"logo_uri":"https://a.example/1.png","logo_uri":"https://a.example/2.png"}`})
		assertError(t, res, http.StatusBadRequest, "invalid_client_metadata")
		assertPlainDescription(t, res, `duplicate field "logo_uri"`)
	})
}

// rawHTTP sends one hand-written HTTP/1.1 request over TCP to ts, so the
// framing is exactly what the test says, and returns the response.
func rawHTTP(t *testing.T, ts *testServer, method, path string, header []string, body string) result {
	t.Helper()
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, u.Host)
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	return result{Status: resp.StatusCode, Header: resp.Header, Body: rb}
}

// TestEmptyBodyAnyFraming: a POST that takes no body, or an optional one,
// accepts an empty body whether it is framed by Content-Length: 0, by
// chunked encoding with no chunk, or not at all, with or without a
// Content-Type.
func TestEmptyBodyAnyFraming(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "create client", ts.admin(t, http.MethodPost, "/admin/clients",
			map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}}), http.StatusCreated)
		auth := "Authorization: Bearer " + ts.AdminToken
		framings := []struct {
			name   string
			header []string
			body   string
		}{
			{"Content-Length 0", []string{auth, "Content-Length: 0"}, ""},
			{"chunked, no chunk", []string{auth, "Transfer-Encoding: chunked"}, "0\r\n\r\n"},
			{"chunked, no chunk, JSON Content-Type", []string{auth, "Transfer-Encoding: chunked", "Content-Type: application/json"}, "0\r\n\r\n"},
			{"chunked, empty chunk and trailer", []string{auth, "Transfer-Encoding: chunked"}, "0\r\nX-Trailer: 1\r\n\r\n"},
			{"no framing", []string{auth}, ""},
		}
		for _, f := range framings {
			t.Run(f.name, func(t *testing.T) {
				res := rawHTTP(t, ts, http.MethodPost, "/admin/keys/rotate", f.header, f.body)
				if res.Status != http.StatusOK {
					t.Fatalf("POST /admin/keys/rotate: status %d: %s", res.Status, res.Body)
				}
				var out provider.RotateResponse
				if err := json.Unmarshal(res.Body, &out); err != nil || out.ID == "" || out.Immediate {
					t.Errorf("rotate answered %s (%v): want a scheduled rotation", res.Body, err)
				}

				res = rawHTTP(t, ts, http.MethodPost, "/admin/clients/svc/revoke-tokens", f.header, f.body)
				if res.Status != http.StatusNoContent {
					t.Errorf("POST /admin/clients/svc/revoke-tokens: status %d: %s", res.Status, res.Body)
				}
			})
		}

		t.Run("chunked JSON body is read", func(t *testing.T) {
			body := `{"immediate":true}`
			res := rawHTTP(t, ts, http.MethodPost, "/admin/keys/rotate",
				[]string{auth, "Transfer-Encoding: chunked", "Content-Type: application/json"},
				fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body))
			var out provider.RotateResponse
			if res.Status != http.StatusOK || json.Unmarshal(res.Body, &out) != nil || !out.Immediate || out.State != "active" {
				t.Errorf("chunked {\"immediate\":true}: status %d: %s", res.Status, res.Body)
			}
		})
		t.Run("non-empty body still needs a JSON Content-Type", func(t *testing.T) {
			res := rawHTTP(t, ts, http.MethodPost, "/admin/keys/rotate", []string{auth, "Transfer-Encoding: chunked"}, "2\r\n{}\r\n0\r\n\r\n")
			assertError(t, res, http.StatusUnsupportedMediaType, "invalid_request")
		})
		t.Run("a required body may not be empty", func(t *testing.T) {
			before := ts.directory(t)
			res := rawHTTP(t, ts, http.MethodPost, "/admin/roles", []string{auth, "Transfer-Encoding: chunked", "Content-Type: application/json"}, "0\r\n\r\n")
			assertError(t, res, http.StatusBadRequest, "invalid_request")
			assertPlainDescription(t, res, "request body is empty")
			ts.assertDirectoryUnchanged(t, before)
		})
	})
}

// TestBadTextNeverServerError walks every admin route, and the protocol
// and browser endpoints, with a NUL or invalid UTF-8 where an id, a query
// value, a form value, Basic credentials, a JSON string or the client a
// client assertion names goes: each is a client error on both backends (PostgreSQL refuses NUL in text, which
// used to surface as a 500), and nothing changes.
func TestBadTextNeverServerError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		svc := ts.registerService(t, "client_secret_basic", "results:read", schoolAPI)
		wantStatus(t, "create role", ts.admin(t, http.MethodPost, "/admin/roles", `{"name":"teacher","scopes":["results:read"]}`), http.StatusCreated)

		type call struct {
			method, path, contentType, body, auth string
		}
		admin := "Bearer " + ts.AdminToken
		var calls []call
		for _, id := range []string{"%00", "a%00b", "%ff", "a%ffb", "%c3%28", "%ed%a0%80", "%c0%80"} {
			for _, c := range []call{
				{method: http.MethodGet, path: "/admin/clients/" + id},
				{method: http.MethodPut, path: "/admin/clients/" + id, body: `{"grant_types":["client_credentials"]}`},
				{method: http.MethodDelete, path: "/admin/clients/" + id},
				{method: http.MethodPost, path: "/admin/clients/" + id + "/revoke-tokens"},
				{method: http.MethodGet, path: "/admin/users/" + id},
				{method: http.MethodPut, path: "/admin/users/" + id, body: `{"username":"bob"}`},
				{method: http.MethodDelete, path: "/admin/users/" + id},
				{method: http.MethodGet, path: "/admin/roles/" + id},
				{method: http.MethodPut, path: "/admin/roles/" + id, body: `{"scopes":[]}`},
				{method: http.MethodDelete, path: "/admin/roles/" + id},
				{method: http.MethodGet, path: "/admin/scopes/" + id},
				{method: http.MethodPut, path: "/admin/scopes/" + id, body: `{"description":"x"}`},
				{method: http.MethodDelete, path: "/admin/scopes/" + id},
				{method: http.MethodPost, path: "/admin/keys/" + id + "/revoke"},
				{method: http.MethodGet, path: "/admin/clients?x=" + id},
				{method: http.MethodGet, path: "/admin/keys?" + id + "=1"},
				{method: http.MethodPost, path: "/admin/keys/rotate?immediate=" + id},
			} {
				c.auth = admin
				if c.body != "" {
					c.contentType = jsonType
				}
				calls = append(calls, c)
			}
			for _, c := range []call{
				{method: http.MethodPost, path: provider.PathToken, contentType: formType, body: "grant_type=client_credentials&client_id=" + id + "&client_secret=x"},
				{method: http.MethodPost, path: provider.PathToken, contentType: formType, body: "grant_type=client_credentials&scope=" + id, auth: basic(svc.ClientID, svc.ClientSecret)},
				{method: http.MethodPost, path: provider.PathToken, contentType: formType, body: "grant_type=client_credentials", auth: basic(mustUnescape(t, id), "x")},
				{method: http.MethodPost, path: provider.PathToken, contentType: formType, body: "grant_type=client_credentials", auth: "Basic " + b64(mustUnescape(t, id)+":x")},
				{method: http.MethodPost, path: provider.PathIntrospect, contentType: formType, body: "token=" + id, auth: basic(svc.ClientID, svc.ClientSecret)},
				{method: http.MethodPost, path: provider.PathRevoke, contentType: formType, body: "token=" + id, auth: basic(svc.ClientID, svc.ClientSecret)},
				{method: http.MethodGet, path: provider.PathAuthorize + "?response_type=code&client_id=" + id + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"},
				{method: http.MethodGet, path: provider.PathLogin + "?login_challenge=" + id},
				{method: http.MethodPost, path: provider.PathLogin, contentType: formType, body: "username=" + id + "&password=correct+horse+battery+staple"},
				{method: http.MethodPost, path: provider.PathConsent, contentType: formType, body: "decision=allow&consent_challenge=" + id},
				{method: http.MethodGet, path: provider.PathEndSession + "?client_id=" + id + "&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2F"},
				{method: http.MethodGet, path: provider.PathUserinfo + "?access_token=" + id},
			} {
				calls = append(calls, c)
			}
		}
		for _, c := range []call{
			{method: http.MethodPost, path: "/admin/users", body: `{"username":"a\u0000b","password":"correct horse battery staple"}`},
			{method: http.MethodPost, path: "/admin/users", body: `{"username":"bob","password":"correct horse battery staple","roles":["teacher\u0000"]}`},
			{method: http.MethodPost, path: "/admin/roles", body: `{"name":"r\u0000","scopes":["results:read"]}`},
			{method: http.MethodPost, path: "/admin/scopes", body: `{"name":"s","description":"\u0000"}`},
			{method: http.MethodPost, path: "/admin/clients", body: `{"client_id":"c\u0000","grant_types":["client_credentials"]}`},
			{method: http.MethodPost, path: provider.PathRegistration, body: `{"grant_types":["client_credentials"],"client_name":"\u0000"}`},
			{method: http.MethodPost, path: provider.PathRegistration, body: "{\"grant_types\":[\"client_credentials\"],\"scope\":\"\xff\"}"},
		} {
			c.auth, c.contentType = admin, jsonType
			calls = append(calls, c)
		}

		clientsBefore, dirBefore := ts.clients(t), ts.directory(t)
		for _, c := range calls {
			res := ts.do(t, req{Method: c.method, Path: c.path, ContentType: c.contentType, Body: c.body, Auth: c.auth})
			if res.Status != http.StatusBadRequest && res.Status != http.StatusNotFound {
				t.Errorf("%s %s %q: status %d, want 400 or 404: %.200s", c.method, c.path, c.body, res.Status, res.Body)
			}
			// The pages a person sees answer with a page, not JSON.
			path, _, _ := strings.Cut(c.path, "?")
			if ct := res.Header.Get("Content-Type"); (path == provider.PathAuthorize || path == provider.PathLogin ||
				path == provider.PathConsent || path == provider.PathEndSession) && !strings.HasPrefix(ct, "text/html") {
				t.Errorf("%s %s %q: Content-Type %q, want an HTML page", c.method, c.path, c.body, ct)
			}
		}
		// A client assertion names its client in sub and iss, which are
		// read (to find the key) before the signature can be checked:
		// a NUL there is an unknown client, never a failed lookup.
		for _, who := range []string{`a\u0000b`, `\u0000`} {
			claims := fmt.Sprintf(`{"iss":"%s","sub":"%s","aud":"%s","jti":"j1","iat":%d,"exp":%d}`,
				who, who, ts.URL+provider.PathToken, time.Now().Unix(), time.Now().Add(time.Minute).Unix())
			assertion := b64url.EncodeToString([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + b64url.EncodeToString([]byte(claims)) + "." + b64url.EncodeToString([]byte("signature"))
			for _, path := range []string{provider.PathToken, provider.PathIntrospect, provider.PathRevoke, provider.PathPAR} {
				form := assertionForm(assertion, url.Values{"grant_type": {"client_credentials"}, "token": {"x"},
					"response_type": {"code"}, "redirect_uri": {"https://app.example/cb"}})
				assertError(t, ts.post(t, path, form), http.StatusUnauthorized, "invalid_client")
			}
		}
		ts.assertClientsUnchanged(t, clientsBefore)
		ts.assertDirectoryUnchanged(t, dirBefore)
		if !ts.canGetToken(t, svc.ClientID, svc.ClientSecret) {
			t.Error("the registered client no longer works")
		}
	})
}

func mustUnescape(t *testing.T, s string) string {
	t.Helper()
	u, err := url.PathUnescape(s)
	if err != nil {
		t.Fatalf("unescape %q: %v", s, err)
	}
	return u
}

// TestBadTextAtBrowserPages checks that the pages a person reads
// (authorization, login and its steps, consent, logout, the console and
// the account page) answer a request holding a NUL or invalid UTF-8, in
// the query, a form or an Authorization header, with a 400 HTML page
// (refuseUnreadable), like every other answer of theirs, and the protocol
// endpoints with a JSON invalid_request.
func TestBadTextAtBrowserPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		pages := []string{provider.PathAuthorize, provider.PathLogin, provider.PathConsent, provider.PathEndSession,
			provider.PathSecondFactor, provider.PathEnrol, provider.PathFactorContinue, provider.PathLoginPasskey,
			provider.PathSecondFactorPasskey, provider.PathEnrolPasskey,
			provider.PathConsole, provider.PathConsole + "/", provider.PathConsole + "/roles", provider.PathConsole + "/clients/new",
			provider.PathAccount, provider.PathAccount + "/", provider.PathAccount + "/password", provider.PathAccount + "/security"}
		for _, path := range pages {
			for _, rq := range []req{
				{Path: path + "?state=a%00b"},
				{Method: http.MethodPost, Path: path, ContentType: formType, Body: "csrf=x&name=a%ffb"},
				{Method: http.MethodPost, Path: path, ContentType: formType, Body: "csrf=x", Header: http.Header{"Authorization": {"a", "b"}}},
			} {
				res := ts.do(t, rq)
				if res.Status != http.StatusBadRequest || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
					t.Errorf("%s %s %q: %d %s, want a 400 page", cmp.Or(rq.Method, "GET"), rq.Path, rq.Body, res.Status, res.Header.Get("Content-Type"))
				}
			}
		}
		assertError(t, ts.do(t, req{Path: provider.PathUserinfo + "?state=a%ffb"}), http.StatusBadRequest, "invalid_request")
	})
}
