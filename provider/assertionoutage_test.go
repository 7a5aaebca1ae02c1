package provider_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/faultproxy"
	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

// TestAssertionJTIStoreFailure: a failure of the database while a
// private_key_jwt client assertion's jti is looked up or recorded, at
// every endpoint that authenticates clients, is ours: a logged 5xx
// (what "When something fails" says for that endpoint), never the
// invalid_client "jti already used" fosite makes of any error of the
// look-up. Nothing is spent: the same assertion is then accepted, and
// only its replay is invalid_client. On PostgreSQL the database is cut
// off (a TCP proxy) just before the call; on SQLite the store fails it.
func TestAssertionJTIStoreFailure(t *testing.T) {
	key := newKeyPair(t, jose.ES256)
	backends := []struct {
		name string
		open func(t *testing.T) (string, *faultproxy.Proxy)
	}{
		{"postgres", postgresBehindProxy},
		{"sqlite", func(t *testing.T) (string, *faultproxy.Proxy) { return testdb.SQLite(t), nil }},
	}
	for _, b := range backends {
		for _, call := range []string{"GetClientAssertionJTI", "SetClientAssertionJTI"} {
			t.Run(b.name+"/"+call, func(t *testing.T) {
				dsn, px := b.open(t)
				// The store fails call (or, with the proxy, cuts the
				// database off just before it) once per st.fail.
				st := &nthStore{failOn: []string{call}}
				if px != nil {
					st.cut = px.Cut
				}
				logs := &syncBuffer{}
				e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{}, func(c *provider.Config) {
					c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
					st.Store = c.Store
					c.Store = st
				}))
				restore := func() {}
				if px != nil {
					restore = func() {
						px.Restore()
						deadline := time.Now().Add(30 * time.Second)
						for e.do(t, req{Path: "/readyz"}).Status != http.StatusOK {
							if time.Now().After(deadline) {
								t.Fatal("hallpass did not become ready within 30s of the database coming back")
							}
							time.Sleep(50 * time.Millisecond)
						}
					}
				}
				conf := e.Confidential.Meta
				m := e.registerKeyed(t, directory.ClientMetadata{
					JWKS: publicJWKS(t, key, "k1", jose.ES256), TokenEndpointAuthSigningAlg: "ES256",
					GrantTypes: []string{"client_credentials", "authorization_code"}, ResponseTypes: []string{"code"},
					RedirectURIs: conf.RedirectURIs, Scope: "openid results:read",
				})
				c := keyedClient{id: m.ClientID, key: key, kid: "k1", alg: jose.ES256}
				svc := e.registerService(t, "client_secret_basic", "results:read")
				svcTok := e.token(t, svc.ClientID, svc.ClientSecret)
				pushed := urlValues(t, e.Confidential.request("openid").URL)
				pushed.Set("client_id", c.id)

				endpoints := []struct {
					name, path string
					params     url.Values
					ok         int
				}{
					{"token", provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, http.StatusOK},
					{"introspection", provider.PathIntrospect, url.Values{"token": {svcTok.AccessToken}}, http.StatusOK},
					{"revocation", provider.PathRevoke, url.Values{"token": {"not-a-token"}}, http.StatusOK},
					{"PAR", provider.PathPAR, pushed, http.StatusCreated},
				}
				for _, ep := range endpoints {
					t.Run(ep.name, func(t *testing.T) {
						send := func(form url.Values) answer { return fromResult(e.post(t, ep.path, form)) }
						form := assertionForm(c.assertion(t, e.testServer, nil), ep.params)
						st.fail.Store(1)
						st.arm(1<<30, false) // only to list the request's calls
						a := send(form)
						calls, _ := st.disarm()
						if st.fail.Swap(0) > 0 {
							t.Fatalf("the request made no %s call: %v", call, calls)
						}
						restore()
						checkFailureAnswer(t, logs, a, call, calls, false)

						if a := send(form); a.status != ep.ok {
							t.Errorf("the same assertion once the database is back: status %d, want %d: %.300s", a.status, ep.ok, a.body)
						}
						assertError(t, e.post(t, ep.path, form), http.StatusUnauthorized, "invalid_client")
					})
				}
			})
		}
	}
}
