package provider_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/faultproxy"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// syncBuffer collects log lines written from many request goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// parsed holds the records of buf's first read bytes, decoded once:
	// a sweep asks for the records after every request, and decoding
	// the whole log each time made its checks quadratic in its length.
	parsed []map[string]any
	read   int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON log records written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	// Each record is written whole, its line ended, in one Write.
	for line := range strings.Lines(string(b.buf.Bytes()[b.read:])) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		b.parsed = append(b.parsed, m)
		b.read += len(line)
	}
	return slices.Clone(b.parsed)
}

// logged reports whether a record at level names requestID.
func (b *syncBuffer) logged(t *testing.T, level, requestID string) bool {
	t.Helper()
	for _, r := range b.records(t) {
		if r["level"] == level && r["request_id"] == requestID {
			return true
		}
	}
	return false
}

// TestStorageOutage cuts hallpass off its database mid-run and checks that
// every endpoint answers with a server error that is logged, never with a
// client's or user's error (invalid_client, "wrong password", an inactive
// token), and that nothing changed: on PostgreSQL through a real TCP proxy
// that is cut and then restored, after which hallpass recovers without a
// restart; on SQLite by closing the database under the running server.
func TestStorageOutage(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		dsn, px := postgresBehindProxy(t)
		runOutage(t, dsn, func(*ssoEnv) { px.Cut() }, px.Restore)
	})
	t.Run("sqlite", func(t *testing.T) {
		runOutage(t, testdb.SQLite(t), func(e *ssoEnv) {
			if err := e.Store.Close(); err != nil {
				t.Fatalf("close the store: %v", err)
			}
		}, nil)
	})
}

// postgresBehindProxy returns a fresh PostgreSQL database's DSN reached
// through a TCP proxy the test can cut, with a short connect timeout so
// that a cut shows within seconds.
func postgresBehindProxy(t *testing.T) (string, *faultproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	px := faultproxy.New(t, u.Host)
	u.Host = px.Addr()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	return u.String(), px
}

func runOutage(t *testing.T, dsn string, cut func(*ssoEnv), restore func()) {
	logs := &syncBuffer{}
	e := newSSOEnv(t, dsn, func(c *provider.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		// Every read of clients, scopes and roles asks the database first,
		// so the outage shows at once instead of within the cache's
		// interval (TestDirectoryCacheOutage checks that bound).
		c.DirectoryCacheInterval = -1
	})

	// Before the outage: a service with a token, alice signed in with a
	// refresh token, and a second browser halfway through signing in.
	svc := e.registerService(t, "client_secret_basic", "results:read")
	svcTok := e.token(t, svc.ClientID, svc.ClientSecret)
	alice := e.newBrowser(t)
	aliceTok := e.signInTokens(t, alice, e.Confidential.request("openid profile offline_access"), "alice", alicePassword)
	visitor := e.newBrowser(t)
	loginPage := visitor.get(t, e.Confidential.request("openid").URL).want(t, "login")
	portal := credOf(e.Confidential.Meta)
	// bob, signed in, is asked to consent to the public app.
	bob := e.newBrowser(t)
	consentPage := bob.login(t, bob.get(t, e.Public.request("openid").URL), "bob", bobPassword).want(t, "consent")

	cut(e)

	type answer struct {
		status int
		header http.Header
		body   string
	}
	fromResult := func(r result) answer { return answer{r.Status, r.Header, string(r.Body)} }
	fromPage := func(p page) answer { return answer{p.Status, p.Header, p.Body} }
	cases := []struct {
		name string
		do   func() answer
		// notWant is text that would mean hallpass blamed the caller.
		notWant string
	}{
		{"token: client credentials", func() answer {
			return fromResult(e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
				Auth: basic(svc.ClientID, svc.ClientSecret), Body: "grant_type=client_credentials"}))
		}, "invalid_client"},
		{"token: refresh", func() answer {
			return fromResult(e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
				Auth: basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret),
				Body: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {aliceTok.RefreshToken}}.Encode()}))
		}, "invalid_"},
		{"authorize", func() answer { return fromPage(alice.get(t, e.Confidential.request("openid").URL)) }, "does not exist"},
		{"introspect as admin", func() answer {
			return fromResult(e.Introspect(t, e.adminCred(), aliceTok.AccessToken, ""))
		}, "active"},
		{"introspect a refresh token", func() answer {
			return fromResult(e.Introspect(t, portal, aliceTok.RefreshToken, "refresh_token"))
		}, "active"},
		{"introspect as client", func() answer {
			return fromResult(e.Introspect(t, credOf(svc), svcTok.AccessToken, ""))
		}, "invalid_client"},
		{"revoke", func() answer { return fromResult(e.Revoke(t, portal, aliceTok.RefreshToken, "refresh_token")) }, "invalid_client"},
		{"userinfo", func() answer {
			return fromResult(e.do(t, req{Path: provider.PathUserinfo, Auth: "Bearer " + aliceTok.AccessToken}))
		}, "invalid_token"},
		{"CORS preflight", func() answer {
			return fromResult(e.do(t, req{Method: http.MethodOptions, Path: provider.PathToken,
				Header: http.Header{"Origin": {portalOrigin}, "Access-Control-Request-Method": {http.MethodPost}}}))
		}, "not allowed"},
		{"logout", func() answer { return fromPage(alice.get(t, e.URL+provider.PathEndSession)) }, "signed out"},
		{"registration", func() answer {
			return fromResult(e.admin(t, http.MethodPost, provider.PathRegistration, map[string]any{"grant_types": []string{"client_credentials"}}))
		}, "invalid_"},
		{"admin: list clients", func() answer { return fromResult(e.admin(t, http.MethodGet, "/admin/clients", nil)) }, "[]"},
		{"admin: get user", func() answer { return fromResult(e.admin(t, http.MethodGet, "/admin/users/alice", nil)) }, "not_found"},
		{"admin: create role", func() answer {
			return fromResult(e.admin(t, http.MethodPost, "/admin/roles", map[string]any{"name": "auditor"}))
		}, "invalid_"},
		{"login page", func() answer { return fromPage(visitor.get(t, loginPage.URL.String())) }, "expired"},
		{"consent page", func() answer { return fromPage(bob.get(t, consentPage.URL.String())) }, "expired"},
		{"consent", func() answer { return fromPage(bob.decide(t, consentPage, "allow")) }, "expired"},
		{"login", func() answer {
			return fromPage(visitor.submit(t, loginPage, url.Values{"username": {"alice"}, "password": {alicePassword}}))
		}, "incorrect"},
	}
	for _, c := range cases {
		a := c.do()
		if a.status < 500 || a.status > 599 {
			t.Errorf("%s during the outage: status %d, want a 5xx: %.300s", c.name, a.status, a.body)
			continue
		}
		if strings.Contains(a.body, c.notWant) {
			t.Errorf("%s during the outage: the answer blames the caller (%q): %.300s", c.name, c.notWant, a.body)
		}
		if a.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") == "" {
			t.Errorf("%s during the outage: 503 without Retry-After", c.name)
		}
		if ct := a.header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
			var body struct{ Error string }
			if err := json.Unmarshal([]byte(a.body), &body); err != nil || (body.Error != "server_error" && body.Error != "temporarily_unavailable") {
				t.Errorf("%s during the outage: error %q, want server_error or temporarily_unavailable: %.300s", c.name, body.Error, a.body)
			}
		}
		if id := a.header.Get("X-Request-Id"); !logs.logged(t, "ERROR", id) {
			t.Errorf("%s during the outage: nothing logged at error level for request %s", c.name, id)
		}
	}
	if res := e.do(t, req{Path: "/readyz"}); res.Status != http.StatusServiceUnavailable {
		t.Errorf("readyz during the outage: status %d, want 503", res.Status)
	}
	if restore == nil {
		return
	}

	restore()
	deadline := time.Now().Add(30 * time.Second)
	for e.do(t, req{Path: "/readyz"}).Status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("hallpass did not become ready within 30s of the database coming back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Recovered without a restart, and the outage changed nothing: the
	// tokens issued before it still work, the refresh token included.
	if !e.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), svcTok.AccessToken) {
		t.Error("after the outage: the service's access token is not active")
	}
	if e.token(t, svc.ClientID, svc.ClientSecret).AccessToken == "" {
		t.Error("after the outage: no client-credentials token")
	}
	if res := e.refresh(t, e.Confidential, aliceTok.RefreshToken, ""); res.Status != http.StatusOK {
		t.Errorf("after the outage: refresh status %d: %s", res.Status, res.Body)
	}
	// alice's consent is remembered, so she comes straight back with a code.
	ar := e.Confidential.request("openid profile offline_access")
	e.callback(t, alice.get(t, ar.URL), ar).wantCode(t)
	visitor.get(t, e.Confidential.request("openid").URL).want(t, "login")
	if p := bob.decide(t, consentPage, "allow"); p.Redirect == nil || p.Redirect.Query().Get("code") == "" {
		t.Errorf("after the outage: consent did not complete: %s", p)
	}
	if res := e.admin(t, http.MethodGet, "/admin/clients", nil); res.Status != http.StatusOK {
		t.Errorf("after the outage: list clients status %d", res.Status)
	}
}

// TestGrantConfirmationFailures: a token request that issues a refresh
// token confirms the user's credential. When the database fails there,
// the request is a logged server error that spent nothing: the code or
// refresh token it presented works when the client tries again. It used
// to be confirmed after the tokens were committed, so the credential was
// spent without the client getting the tokens, and a client retrying a
// refresh set off reuse detection, which revoked the user's whole grant.
// When the credential changed meanwhile, the request is invalid_grant.
func TestGrantConfirmationFailures(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		logs := &syncBuffer{}
		st := &nthStore{failOn: []string{"ConfirmUserCredential"}}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			st.Store = c.Store
			c.Store = st
		})
		for _, c := range []struct {
			name string
			// request returns the token request to send twice.
			request func(t *testing.T) url.Values
		}{
			{"code exchange", func(t *testing.T) url.Values {
				ar := e.Confidential.request("openid offline_access")
				cb, _ := e.newBrowser(t).signIn(t, ar, "alice", alicePassword)
				return url.Values{"grant_type": {"authorization_code"}, "code": {cb.wantCode(t)},
					"redirect_uri": {ar.RedirectURI}, "code_verifier": {ar.Verifier}}
			}},
			{"refresh", func(t *testing.T) url.Values {
				tok := e.signInTokens(t, e.newBrowser(t), e.Confidential.request("openid offline_access"), "alice", alicePassword)
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
			}},
		} {
			for _, f := range []struct {
				name string
				err  error
				// status and code answer the request; retried: the
				// same request then succeeds.
				status  int
				code    string
				retried bool
			}{
				{"database failing", fmt.Errorf("confirm credential: %w: connection reset", storage.ErrUnavailable), http.StatusInternalServerError, "server_error", true},
				{"credential changed", fmt.Errorf("confirm credential: %w", storage.ErrNotFound), http.StatusBadRequest, "invalid_grant", false},
			} {
				t.Run(c.name+"/"+f.name, func(t *testing.T) {
					form := c.request(t)
					st.err = f.err
					st.fail.Store(1)
					res := e.tokenRequest(t, e.Confidential, form)
					if st.fail.Load() > 0 {
						t.Fatalf("the credential was never confirmed: status %d: %s", res.Status, res.Body)
					}
					var body struct{ Error string }
					if err := json.Unmarshal(res.Body, &body); err != nil || res.Status != f.status || body.Error != f.code {
						t.Errorf("status %d, want %d %s: %s", res.Status, f.status, f.code, res.Body)
					}
					if id := res.Header.Get("X-Request-Id"); f.status >= 500 && !logs.logged(t, "ERROR", id) {
						t.Errorf("nothing logged at error level for request %s", id)
					}
					if !f.retried {
						return
					}
					// The failure spent nothing: the same request
					// succeeds, and the tokens it gets work.
					tok := oauthtest.DecodeToken(t, e.tokenRequest(t, e.Confidential, form))
					oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, tok.RefreshToken, ""))
				})
			}
		}
	})
}
