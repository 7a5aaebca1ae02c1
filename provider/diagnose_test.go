package provider_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestRefusalsAreDiagnosable checks that each refused authorization or
// token request is logged at info level with its request id, client,
// redirect URI (where one was sent), error code and the hint, and never
// with the secret; and that the error page says the cause before the
// boilerplate.
func TestRefusalsAreDiagnosable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		logs := &syncBuffer{}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		})
		svc := e.registerService(t, "client_secret_basic", "results:read")
		b := e.newBrowser(t)
		badRedirect := "https://portal.school.example/other"
		ar := e.Confidential.request("openid").withParam(t, "redirect_uri", badRedirect)

		type refusal struct {
			name        string
			requestID   string
			clientID    string
			redirectURI string
			code        string
			hint        string
		}
		var got []refusal

		p := b.get(t, ar.URL)
		p.wantErrorPage(t, http.StatusBadRequest)
		main := p.Body[strings.Index(p.Body, "<main"):]
		if i, j := strings.Index(main, "redirect_uri"), strings.Index(main, "invalid request"); i < 0 || j < 0 || i > j {
			t.Errorf("the error page does not name the cause (redirect_uri) before the boilerplate: %s", main)
		}
		got = append(got, refusal{"authorize: unregistered redirect_uri", p.Header.Get("X-Request-Id"), confidentialID, badRedirect, "invalid_request", "redirect_uri"})

		res := e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
			Auth: basic(svc.ClientID, "not-the-secret"), Body: "grant_type=client_credentials"})
		assertError(t, res, http.StatusUnauthorized, "invalid_client")
		got = append(got, refusal{"token: wrong secret", res.Header.Get("X-Request-Id"), svc.ClientID, "", "invalid_client", "authentication failed"})

		res = e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: formType,
			Auth: basic(e.Confidential.Meta.ClientID, e.Confidential.Meta.ClientSecret),
			Body: url.Values{"grant_type": {"authorization_code"}, "code": {"ory_ac_nope.nope"}, "redirect_uri": {confidentialRedirect}}.Encode()})
		assertError(t, res, http.StatusBadRequest, "invalid_grant")
		got = append(got, refusal{"token: unknown code", res.Header.Get("X-Request-Id"), confidentialID, confidentialRedirect, "invalid_grant", ""})

		for _, want := range got {
			found := false
			for _, r := range logs.records(t) {
				if r["request_id"] != want.requestID {
					continue
				}
				found = true
				if r["level"] != "INFO" {
					t.Errorf("%s: logged at %v, want INFO", want.name, r["level"])
				}
				if r["client_id"] != want.clientID || r["error"] != want.code {
					t.Errorf("%s: logged client_id=%v error=%v, want %s %s", want.name, r["client_id"], r["error"], want.clientID, want.code)
				}
				if want.redirectURI != "" && r["redirect_uri"] != want.redirectURI {
					t.Errorf("%s: logged redirect_uri=%v, want %s", want.name, r["redirect_uri"], want.redirectURI)
				}
				if hint, _ := r["hint"].(string); !strings.Contains(strings.ToLower(hint), want.hint) {
					t.Errorf("%s: logged hint %q, want it to mention %q", want.name, hint, want.hint)
				}
				break
			}
			if !found {
				t.Errorf("%s: no log record for request %s", want.name, want.requestID)
			}
		}
		if strings.Contains(logs.buf.String(), "not-the-secret") || strings.Contains(logs.buf.String(), e.Confidential.Meta.ClientSecret) {
			t.Error("a client secret was logged")
		}
	})
}

// TestLogoutLogCapsClientID checks that the logout's log line, which
// names the client a request without id_token_hint says it comes from,
// caps that client_id as every refusal's log line caps what a request
// sends (a URL may be a megabyte long): it is the requester's text, not a
// registered client's id.
func TestLogoutLogCapsClientID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		logs := &syncBuffer{}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		})
		long := strings.Repeat("x", 100_000)
		p := e.newBrowser(t).get(t, e.URL+provider.PathEndSession+"?"+url.Values{"client_id": {long}}.Encode())
		if p.Status != http.StatusOK {
			t.Fatalf("logout: %s", p)
		}
		id := p.Header.Get("X-Request-Id")
		found := false
		for _, r := range logs.records(t) {
			if r["msg"] != "logout" || r["request_id"] != id {
				continue
			}
			found = true
			if got, _ := r["client_id"].(string); len(got) > 300 {
				t.Errorf("the logout's log line holds a client_id of %d bytes", len(got))
			}
		}
		if !found {
			t.Fatalf("no logout log line for request %s", id)
		}
	})
}
