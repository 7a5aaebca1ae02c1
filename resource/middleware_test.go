package resource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/resource"
)

// schoolAPIHandler is a tiny school API: GET /results needs results:read,
// POST /results results:write (checked by introspection), GET /me any
// valid token. Handlers answer the claims they were given.
func schoolAPIHandler(v *resource.Verifier) http.Handler {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := resource.FromContext(r.Context())
		if !ok {
			http.Error(w, "no claims in context", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /me", v.Middleware(echo))
	mux.Handle("GET /results", v.Middleware(resource.RequireScope("results:read")(echo)))
	mux.Handle("POST /results", v.IntrospectMiddleware(resource.RequireScope("results:write")(echo)))
	mux.Handle("GET /unprotected-scope", resource.RequireScope("results:read")(echo))
	return mux
}

type apiCase struct {
	name   string
	method string
	path   string
	header http.Header
	// want
	status    int
	challenge string // the exact WWW-Authenticate, "" for none
	errorCode string // the JSON body's error, "" for a success
	subject   string // on success
	// bare: the answer to a request without any authentication
	// information, which carries no error information (RFC 6750 §3.1),
	// so no body either.
	bare bool
}

func runAPICases(t *testing.T, api *httptest.Server, tests []apiCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(cmpOr(tt.method, http.MethodGet), api.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			resp, err := api.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate:\n got %s\nwant %s", got, tt.challenge)
			}
			if tt.bare {
				if len(body) != 0 {
					t.Errorf("body %q, want none: no error code or other error information", body)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			if tt.errorCode != "" {
				var e map[string]string
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatalf("error body is not a JSON object: %v: %s", err, body)
				}
				if e["error"] != tt.errorCode || e["error_description"] == "" {
					t.Errorf("error body %s, want error %q with a description", body, tt.errorCode)
				}
				return
			}
			var c resource.Claims
			if err := json.Unmarshal(body, &c); err != nil {
				t.Fatalf("decode claims: %v: %s", err, body)
			}
			if c.Subject != tt.subject || c.Issuer == "" {
				t.Errorf("handler saw claims %+v, want subject %q", c, tt.subject)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestMiddleware(t *testing.T) {
	h := newSchool(t)
	var logs bytes.Buffer
	v := newVerifier(t, h, newRecorder(h.HTTP.Transport), func(c *resource.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	api := httptest.NewServer(schoolAPIHandler(v))
	t.Cleanup(api.Close)

	reader := h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")
	writer := h.serviceToken(t, h.WriterID, h.WriterSecret, "results:read results:write")
	user := h.userTokens(t, "openid results:read results:write")
	expired := h.sign(t, "at+jwt", with(h.claims(time.Now()), map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	otherAPI := h.sign(t, "at+jwt", with(h.claims(time.Now()), map[string]any{"aud": []string{"https://other.example"}}))

	const realm = `Bearer realm="` + schoolAPI + `"`
	invalidToken := func(desc string) string {
		return realm + `, error="invalid_token", error_description="` + desc + `"`
	}
	tests := []apiCase{
		{name: "no Authorization header", path: "/me", status: 401, challenge: realm, bare: true},
		{name: "Basic credentials", path: "/me", header: http.Header{"Authorization": {oauthtest.BasicAuth("alice", "pw")}}, status: 401, challenge: realm, bare: true},
		{name: "another scheme", path: "/me", header: http.Header{"Authorization": {"DPoP " + reader}}, status: 401, challenge: realm, bare: true},
		{name: "a token without a scheme", path: "/me", header: http.Header{"Authorization": {reader}}, status: 401, challenge: realm, bare: true},
		{name: "token in the query string is not read", path: "/me?access_token=" + url.QueryEscape(reader), status: 401, challenge: realm, bare: true},
		{name: "empty Bearer credentials", path: "/me", header: http.Header{"Authorization": {"Bearer "}}, status: 400,
			challenge: realm + `, error="invalid_request", error_description="The Bearer credentials are empty"`, errorCode: "invalid_request"},
		{name: "the Bearer scheme alone", path: "/me", header: http.Header{"Authorization": {"Bearer"}}, status: 400,
			challenge: realm + `, error="invalid_request", error_description="The Bearer credentials are empty"`, errorCode: "invalid_request"},
		{name: "two Authorization headers", path: "/me", header: http.Header{"Authorization": {"Bearer " + reader, "Bearer " + writer}}, status: 400,
			challenge: realm + `, error="invalid_request", error_description="The request has more than one Authorization header"`, errorCode: "invalid_request"},
		{name: "token with a space", path: "/me", header: bearer(reader + " x"), status: 400,
			challenge: realm + `, error="invalid_request", error_description="The Bearer credentials are not a single b64token"`, errorCode: "invalid_request"},
		{name: "garbage token", path: "/me", header: bearer("abc.def.ghi"), status: 401, challenge: invalidToken("The access token is malformed"), errorCode: "invalid_token"},
		{name: "expired token", path: "/me", header: bearer(expired), status: 401, challenge: invalidToken("The access token expired"), errorCode: "invalid_token"},
		{name: "token for another API", path: "/me", header: bearer(otherAPI), status: 401, challenge: invalidToken("The access token is not meant for this resource"), errorCode: "invalid_token"},
		{name: "ID token", path: "/me", header: bearer(user.IDToken), status: 401, challenge: invalidToken("The token is not an access token (typ at+jwt)"), errorCode: "invalid_token"},
		{name: "valid token", path: "/me", header: bearer(reader), status: 200, subject: h.ServiceID},
		{name: "lower-case scheme", path: "/me", header: http.Header{"Authorization": {"bearer " + reader}}, status: 200, subject: h.ServiceID},
		{name: "upper-case scheme", path: "/me", header: http.Header{"Authorization": {"BEARER " + reader}}, status: 200, subject: h.ServiceID},
		{name: "user token", path: "/me", header: bearer(user.AccessToken), status: 200, subject: h.AliceID},
		{name: "scope granted", path: "/results", header: bearer(reader), status: 200, subject: h.ServiceID},
		{name: "scope check needs a token first", path: "/results", status: 401, challenge: realm, bare: true},
		{name: "introspected route without a token", method: "POST", path: "/results", status: 401, challenge: realm, bare: true},
		{name: "scope missing", method: "POST", path: "/results", header: bearer(reader), status: 403,
			challenge: realm + `, error="insufficient_scope", error_description="The access token does not grant the scope results:write", scope="results:write"`, errorCode: "insufficient_scope"},
		{name: "scope granted, introspected", method: "POST", path: "/results", header: bearer(writer), status: 200, subject: h.WriterID},
		{name: "user with the teacher role, introspected", method: "POST", path: "/results", header: bearer(user.AccessToken), status: 200, subject: h.AliceID},
		{name: "RequireScope without a middleware", path: "/unprotected-scope", header: bearer(reader), status: 500, errorCode: "server_error"},
	}
	runAPICases(t, api, tests)

	for name, tok := range map[string]string{"reader": reader, "writer": writer, "user": user.AccessToken, "expired": expired} {
		sig := tok[strings.LastIndex(tok, ".")+1:]
		if strings.Contains(logs.String(), sig) {
			t.Errorf("the %s token was logged", name)
		}
	}
	if !strings.Contains(logs.String(), "access token rejected") {
		t.Errorf("rejections were not logged at Debug:\n%s", logs.String())
	}
}

func TestFromContext(t *testing.T) {
	if c, ok := resource.FromContext(context.Background()); ok || c != nil {
		t.Errorf("FromContext(empty) = %v, %v", c, ok)
	}
	want := &resource.Claims{Subject: "s", Scopes: []string{"a"}}
	c, ok := resource.FromContext(resource.NewContext(context.Background(), want))
	if !ok || c != want {
		t.Errorf("FromContext(NewContext(c)) = %v, %v", c, ok)
	}
	if _, ok := resource.FromContext(resource.NewContext(context.Background(), nil)); ok {
		t.Error("FromContext reports nil claims as present")
	}
	var none *resource.Claims
	if none.HasScope("a") || none.HasRole("a") {
		t.Error("nil claims grant something")
	}
}

func TestRequireScopePanicsOnBadScope(t *testing.T) {
	for _, s := range []string{"", "a b", `a"b`, "a\\b", "é"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RequireScope(%q) did not panic", s)
				}
			}()
			resource.RequireScope(s)
		}()
	}
}

func TestIntrospect(t *testing.T) {
	h := newSchool(t)
	rec := newRecorder(h.HTTP.Transport)
	v := newVerifier(t, h, rec)
	ctx := context.Background()

	live := h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")
	revoked := h.serviceToken(t, h.ServiceID, h.ServiceSecret, "results:read")
	user := h.userTokens(t, "openid offline_access results:read results:write")
	// Signed by hallpass's key but never issued: hallpass's database does
	// not know it, so introspection says inactive though Verify passes.
	unissued := h.sign(t, "at+jwt", h.claims(time.Now()))
	expired := h.sign(t, "at+jwt", with(h.claims(time.Now()), map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))

	h.revoke(t, h.ServiceID, h.ServiceSecret, revoked)

	tests := []struct {
		name          string
		token         string
		offline       bool   // Verify's verdict
		introspected  bool   // Introspect's verdict
		wantErr       string // in Introspect's error
		introspection bool   // whether hallpass is asked
	}{
		{"active token", live, true, true, "", true},
		{"user token keeps roles and username", user.AccessToken, true, true, "", true},
		{"revoked token: offline still passes, introspection fails", revoked, true, false, "not active", true},
		{"never issued", unissued, true, false, "not active", true},
		{"expired: refused before asking hallpass", expired, false, false, "expired", false},
		{"refresh token: refused before asking hallpass", user.RefreshToken, false, false, "malformed", false},
		{"garbage: refused before asking hallpass", "x.y.z", false, false, "malformed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.Verify(ctx, tt.token); (err == nil) != tt.offline {
				t.Errorf("Verify = %v, want accepted %v", err, tt.offline)
			}
			before := rec.count(provider.PathIntrospect)
			c, err := v.Introspect(ctx, tt.token)
			if asked := rec.count(provider.PathIntrospect) > before; asked != tt.introspection {
				t.Errorf("hallpass asked: %v, want %v", asked, tt.introspection)
			}
			if !tt.introspected {
				if err == nil || !errors.Is(err, resource.ErrInvalidToken) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Introspect = %+v, %v; want ErrInvalidToken saying %q", c, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Introspect = %v", err)
			}
			if c.Issuer != h.URL || !c.HasAudience(schoolAPI) || c.ClientID == "" || len(c.Scopes) == 0 {
				t.Errorf("claims %+v", c)
			}
			if c.ClientID == portalID && (c.Username != "alice" || !c.HasRole("teacher") || c.Subject != h.AliceID) {
				t.Errorf("user claims %+v, want alice the teacher", c)
			}
		})
	}

	// IntrospectMiddleware turns the same verdicts into answers.
	api := httptest.NewServer(v.IntrospectMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	})))
	t.Cleanup(api.Close)
	const realm = `Bearer realm="` + schoolAPI + `"`
	runAPICases(t, api, []apiCase{
		{name: "middleware: active", path: "/", header: bearer(live), status: 200, subject: h.ServiceID},
		{name: "middleware: revoked", path: "/", header: bearer(revoked), status: 401,
			challenge: realm + `, error="invalid_token", error_description="The access token is not active"`, errorCode: "invalid_token"},
	})

	// hallpass unreachable: not the token's fault.
	rec.setFail(provider.PathIntrospect, true)
	if _, err := v.Introspect(ctx, live); !errors.Is(err, resource.ErrUnavailable) || errors.Is(err, resource.ErrInvalidToken) {
		t.Errorf("Introspect with hallpass down = %v, want ErrUnavailable", err)
	}
	runAPICases(t, api, []apiCase{
		{name: "middleware: hallpass down", path: "/", header: bearer(live), status: 503, errorCode: "temporarily_unavailable"},
	})
	rec.setFail(provider.PathIntrospect, false)

	// Wrong credentials: hallpass refuses to answer.
	bad := newVerifier(t, h, newRecorder(h.HTTP.Transport), func(c *resource.Config) { c.ClientSecret = "wrong" })
	if _, err := bad.Introspect(ctx, live); err == nil || errors.Is(err, resource.ErrInvalidToken) {
		t.Errorf("Introspect with a wrong secret = %v, want a non-token error", err)
	}

	// No credentials: no introspection.
	off := newVerifier(t, h, newRecorder(h.HTTP.Transport), func(c *resource.Config) { c.ClientID, c.ClientSecret = "", "" })
	if _, err := off.Introspect(ctx, live); !errors.Is(err, resource.ErrNoIntrospection) {
		t.Errorf("Introspect without ClientID = %v, want ErrNoIntrospection", err)
	}
	offAPI := httptest.NewServer(off.IntrospectMiddleware(http.NotFoundHandler()))
	t.Cleanup(offAPI.Close)
	runAPICases(t, offAPI, []apiCase{
		{name: "middleware: no introspection configured", path: "/", header: bearer(live), status: 500, errorCode: "server_error"},
	})
}
