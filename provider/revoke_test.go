package provider_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/provider"
)

// TestRevocationWithoutToken checks RFC 7009 §2.1: token is required, so
// a revocation request without one (or with an empty one) is
// invalid_request, not the 200 of a revoked token, and leaves no
// token.revoked entry in the audit log. The error says what is missing
// rather than fosite's bare invalid_request.
func TestRevocationWithoutToken(t *testing.T) {
	withSSOEnv(t, "revoke", func(t *testing.T, e *ssoEnv) {
		svc := e.registerService(t, "client_secret_basic", "results:read")
		svcAuth := basic(svc.ClientID, svc.ClientSecret)
		revoked := func() int {
			return len(e.auditPage(t, "limit=1000&type=token.revoked").Entries)
		}
		before := revoked()
		for _, c := range []struct{ name, body string }{
			{"no token parameter", "token_type_hint=access_token"},
			{"empty token", "token="},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := e.do(t, req{Method: http.MethodPost, Path: provider.PathRevoke, ContentType: formType, Auth: svcAuth, Body: c.body})
				assertError(t, res, http.StatusBadRequest, "invalid_request")
				if !strings.Contains(string(res.Body), "token parameter is missing") {
					t.Errorf("the error does not name the missing parameter: %s", res.Body)
				}
			})
		}
		if after := revoked(); after != before {
			t.Errorf("%d token.revoked audit entries after refused requests, want %d", after, before)
		}
		// An unknown token is still 200 (RFC 7009 §2.2) and recorded.
		res := e.do(t, req{Method: http.MethodPost, Path: provider.PathRevoke, ContentType: formType, Auth: svcAuth, Body: "token=no-such-token"})
		if res.Status != http.StatusOK {
			t.Errorf("revoking an unknown token: %d %s, want 200", res.Status, res.Body)
		}
		if after := revoked(); after != before+1 {
			t.Errorf("%d token.revoked audit entries after one revocation, want %d", after, before+1)
		}
	})
}

// TestRevocationFailureLogsCause: a revocation that the database failed
// is answered 503 and logged at error level with its request id and the
// cause, as every failure of ours is (README "When something fails").
// fosite's revocation handler folds storage errors into a bare
// temporarily_unavailable, so the log line said that the server was
// overloaded and nothing about why.
func TestRevocationFailureLogsCause(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		logs := &syncBuffer{}
		st := &nthStore{failOn: []string{"DeactivateTokensByRequest"}}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			st.Store = c.Store
			c.Store = st
		})
		tok := e.signInTokens(t, e.newBrowser(t), e.Confidential.request("openid offline_access"), "alice", alicePassword)
		st.fail.Store(1)
		res := e.Revoke(t, credOf(e.Confidential.Meta), tok.RefreshToken, "refresh_token")
		if res.Status != http.StatusServiceUnavailable {
			t.Fatalf("revocation the database failed: status %d, want 503: %s", res.Status, res.Body)
		}
		id := res.Header.Get("X-Request-Id")
		var logged bool
		for _, r := range logs.records(t) {
			if msg, _ := r["err"].(string); r["level"] == "ERROR" && r["request_id"] == id && strings.Contains(msg, "injected connection reset") {
				logged = true
			}
		}
		if !logged {
			t.Errorf("no error-level log line of request %s names the cause", id)
		}
		// Tried again, the revocation completes.
		if res := e.Revoke(t, credOf(e.Confidential.Meta), tok.RefreshToken, "refresh_token"); res.Status != http.StatusOK {
			t.Errorf("revocation tried again: status %d: %s", res.Status, res.Body)
		}
		if res := e.refresh(t, e.Confidential, tok.RefreshToken, ""); res.Status == http.StatusOK {
			t.Error("the revoked refresh token still works")
		}
	})
}

// TestRevocationOfAnotherClientsToken checks RFC 7009 §2.1: the server
// "verifies whether the token was issued to the client making the
// revocation request"; when it was not, the request is refused with
// unauthorized_client (§2.2.1), 400, and nothing is revoked. Both token
// kinds, with and without each token_type_hint, by a confidential and a
// public client. What the client cannot act on still answers 200: an
// unknown token, and one already revoked, whoever presents it; and a
// client revoking its own token gets 200.
func TestRevocationOfAnotherClientsToken(t *testing.T) {
	withSSOEnv(t, "revoke", func(t *testing.T, e *ssoEnv) {
		admin := e.adminCred()
		owner := credOf(e.Confidential.Meta)
		others := []struct {
			name string
			who  cred
		}{
			{"service", credOf(e.registerService(t, "client_secret_basic", "results:read"))},
			{"public client", credOf(e.Public.Meta)},
		}
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, "openid offline_access")
		revoked := func() int { return len(e.auditPage(t, "limit=1000&type=token.revoked").Entries) }
		before := revoked()

		for _, other := range others {
			for _, tok := range []struct{ kind, token string }{{"access token", g.Access}, {"refresh token", g.Refresh}} {
				for _, hint := range []string{"", "access_token", "refresh_token"} {
					t.Run(other.name+" revokes the "+tok.kind+" hint="+hint, func(t *testing.T) {
						res := e.Revoke(t, other.who, tok.token, hint)
						assertError(t, res, http.StatusBadRequest, "unauthorized_client")
						if !strings.Contains(string(res.Body), "not issued to this client") {
							t.Errorf("the error does not say why: %s", res.Body)
						}
						if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
							t.Errorf("Cache-Control = %q, want no-store", cc)
						}
					})
				}
			}
		}
		if after := revoked(); after != before {
			t.Errorf("%d token.revoked audit entries after refused revocations, want %d", after, before)
		}
		// Nothing was revoked: both tokens stand, and the refresh token
		// still refreshes.
		e.WantActive(t, "access token after other clients tried to revoke it", admin, g.Access)
		e.WantActive(t, "refresh token after other clients tried to revoke it", admin, g.Refresh)
		r := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, g.Refresh, ""))

		// RFC 7009 §2.2: an invalid token answers 200, whoever asks.
		for _, other := range others {
			if res := e.Revoke(t, other.who, "no-such-token", ""); res.Status != http.StatusOK {
				t.Errorf("the %s revokes an unknown token: status %d, want 200: %s", other.name, res.Status, res.Body)
			}
		}
		// The owner revokes its own: 200, and the grant ends.
		e.MustRevoke(t, owner, r.RefreshToken, "refresh_token")
		e.WantInactive(t, "refresh token its client revoked", admin, r.RefreshToken, "")
		e.WantInactive(t, "access token of the grant its client revoked", admin, r.AccessToken, "")
		// Now invalid, the owner's tokens answer 200 to anyone.
		for _, other := range others {
			for _, tok := range []string{r.AccessToken, r.RefreshToken} {
				if res := e.Revoke(t, other.who, tok, ""); res.Status != http.StatusOK {
					t.Errorf("the %s revokes another client's revoked token: status %d, want 200: %s", other.name, res.Status, res.Body)
				}
			}
		}
	})
}

// TestRevocationOfSpentRefreshTokenByAssertion: a private_key_jwt client
// that revokes a refresh token it already rotated ends the grant it was
// rotated into, as a client authenticating with a secret does: the
// revocation authenticates it once, and its assertion's jti is spent by
// then.
func TestRevocationOfSpentRefreshTokenByAssertion(t *testing.T) {
	withSSOEnv(t, "revoke", func(t *testing.T, e *ssoEnv) {
		const redirect = "https://keyed.school.example/cb"
		key := newKeyPair(t, jose.ES256)
		m := e.registerKeyed(t, directory.ClientMetadata{
			ClientName: "keyed web app", RedirectURIs: []string{redirect},
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
			TokenEndpointAuthSigningAlg: "ES256", JWKS: publicJWKS(t, key, "k", jose.ES256), Scope: "openid offline_access",
		})
		keyed := keyedClient{id: m.ClientID, key: key, kid: "k", alg: jose.ES256}
		c := &ssoClient{Meta: m, Config: oauth2.Config{ClientID: m.ClientID, RedirectURL: redirect, Endpoint: oauth2.Endpoint{
			AuthURL: endpoint(t, e.Discovery, "authorization_endpoint"), TokenURL: endpoint(t, e.Discovery, "token_endpoint"),
		}}}
		ar := c.request("openid offline_access")
		cb, _ := e.newBrowser(t).signIn(t, ar, "alice", alicePassword)
		code := cb.wantCode(t)
		call := func(path string, form url.Values) result {
			return postFrom(t, e, path, assertionForm(keyed.assertion(t, e.testServer, nil), form), "", "")
		}
		tokens := func(form url.Values) (access, refresh string) {
			t.Helper()
			res := call(provider.PathToken, form)
			if res.Status != http.StatusOK {
				t.Fatalf("token (%s): %d %s", form.Get("grant_type"), res.Status, res.Body)
			}
			access, _ = res.JSON(t)["access_token"].(string)
			refresh, _ = res.JSON(t)["refresh_token"].(string)
			return access, refresh
		}
		_, spent := tokens(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {ar.Verifier}})
		access, refresh := tokens(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {spent}})
		if res := call(provider.PathRevoke, url.Values{"token": {spent}}); res.Status != http.StatusOK {
			t.Fatalf("revoke the spent refresh token: %d %s", res.Status, res.Body)
		}
		admin := e.adminCred()
		e.WantInactive(t, "current refresh token after revoking the spent one", admin, refresh, "")
		e.WantInactive(t, "current access token after revoking the spent one", admin, access, "")
	})
}

// TestRevocationOfAnotherClientsExpiredToken: another client's token that
// has expired is an invalid token like any other, answered 200 (RFC 7009
// §2.2), not unauthorized_client: the client can do nothing about it, and
// the token no longer works. fosite finds expired tokens too, and its
// refusal was answered 400.
func TestRevocationOfAnotherClientsExpiredToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		var skew atomic.Int64
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		})
		svc := credOf(e.registerService(t, "client_secret_basic", "results:read"))
		g := e.grant(t, e.newBrowser(t), e.Confidential, "alice", alicePassword, "openid offline_access")
		// Live, it is refused.
		assertError(t, e.Revoke(t, svc, g.Access, ""), http.StatusBadRequest, "unauthorized_client")
		// Past the access token's lifetime, not the refresh token's.
		skew.Store(int64(3 * time.Hour))
		for _, hint := range []string{"", "access_token", "refresh_token"} {
			if res := e.Revoke(t, svc, g.Access, hint); res.Status != http.StatusOK {
				t.Errorf("another client's expired access token, hint %q: %d %s, want 200", hint, res.Status, res.Body)
			}
		}
		assertError(t, e.Revoke(t, svc, g.Refresh, ""), http.StatusBadRequest, "unauthorized_client")
		e.WantActive(t, "refresh token after another client tried to revoke it", e.adminCred(), g.Refresh)
	})
}
