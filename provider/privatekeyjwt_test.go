package provider_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
)

// keyedClient is a private_key_jwt client: it holds its private key and
// signs its own assertions with go-jose, as a real client library does.
type keyedClient struct {
	id  string
	key crypto.Signer
	kid string
	alg jose.SignatureAlgorithm
}

// newKeyPair makes a signing key for alg.
func newKeyPair(t testing.TB, alg jose.SignatureAlgorithm) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	if alg == jose.ES256 {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

// publicJWKS is the client's public key set as it registers it.
func publicJWKS(t testing.TB, key crypto.Signer, kid string, alg jose.SignatureAlgorithm) json.RawMessage {
	t.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: kid, Use: "sig", Algorithm: string(alg)}}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatalf("encode JWKS: %v", err)
	}
	return b
}

// assertion signs claims (defaults: iss = sub = the client, aud = the
// token endpoint, a fresh jti, exp in two minutes), edited by edit.
func (c keyedClient) assertion(t testing.TB, ts *testServer, edit func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": c.id, "sub": c.id, "aud": ts.URL + provider.PathToken,
		"jti": rand.Text(), "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: c.alg, Key: jose.JSONWebKey{Key: c.key, KeyID: c.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatalf("new signer: %v", err)
	}
	s, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatalf("sign assertion: %v", err)
	}
	return s
}

// signedPayload signs payload exactly as given, so that a test can send
// claims no JSON encoder writes (a name twice, names differing in case).
func (c keyedClient) signedPayload(t testing.TB, payload string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: c.alg, Key: jose.JSONWebKey{Key: c.key, KeyID: c.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatalf("new signer: %v", err)
	}
	o, err := signer.Sign([]byte(payload))
	if err != nil {
		t.Fatalf("sign assertion: %v", err)
	}
	s, err := o.CompactSerialize()
	if err != nil {
		t.Fatalf("serialize assertion: %v", err)
	}
	return s
}

// claimsWithExp is c's usual claims for ts with exp written as the JSON
// text exp (one or more members, comma-separated, e.g. `"exp":0`).
func (c keyedClient) claimsWithExp(ts *testServer, exp string) string {
	return fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":%q,"jti":%q,"iat":%d,%s}`, c.id, c.id, ts.URL+provider.PathToken, rand.Text(), time.Now().Unix(), exp)
}

// form is a token, introspection or revocation request body
// authenticated by assertion.
func assertionForm(assertion string, extra url.Values) url.Values {
	f := url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func (ts *testServer) post(t testing.TB, path string, form url.Values) result {
	t.Helper()
	return ts.do(t, req{Method: http.MethodPost, Path: path, ContentType: "application/x-www-form-urlencoded", Body: form.Encode()})
}

// registerRaw posts metadata to the registration endpoint and returns
// the response as it is.
func (ts *testServer) registerRaw(t testing.TB, m any) result {
	t.Helper()
	enc, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encode metadata: %v", err)
	}
	return ts.do(t, req{Method: http.MethodPost, Path: provider.PathRegistration, ContentType: "application/json", Body: string(enc), Auth: "Bearer " + ts.AdminToken})
}

// registerKeyed registers m as a private_key_jwt client; unless m says
// otherwise, a client_credentials service allowed results:read.
func (ts *testServer) registerKeyed(t testing.TB, m directory.ClientMetadata) directory.ClientMetadata {
	t.Helper()
	m.TokenEndpointAuthMethod = "private_key_jwt"
	if m.ClientName == "" {
		m.ClientName = "keyed service"
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{"client_credentials"}
	}
	if m.Scope == "" {
		m.Scope = "results:read"
	}
	res := ts.registerRaw(t, m)
	if res.Status != http.StatusCreated {
		t.Fatalf("register private_key_jwt client: status %d: %s", res.Status, res.Body)
	}
	var out directory.ClientMetadata
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if out.ClientSecret != "" || out.ClientSecretExpiresAt != nil {
		t.Errorf("a private_key_jwt client got a secret: %s", res.Body)
	}
	if len(out.JWKS) == 0 && out.JWKSURI == "" {
		t.Errorf("registration response lost the keys: %s", res.Body)
	}
	return out
}

// TestPrivateKeyJWT authenticates clients that sign their own assertions
// (RFC 7523 §2.2, OIDC Core §9) at the token endpoint, with each
// supported algorithm, and checks every rule on the assertion: audience
// exactly the issuer or the token endpoint, a short lifetime, a jti used
// once, the registered key and algorithm.
func TestPrivateKeyJWT(t *testing.T) {
	keys := map[jose.SignatureAlgorithm]crypto.Signer{}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256} {
		keys[alg] = newKeyPair(t, alg)
	}
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		ts.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": "results:read", "description": "Read results", "audience": "https://school.example/api"})
		clients := map[jose.SignatureAlgorithm]keyedClient{}
		for alg, key := range keys {
			m := ts.registerKeyed(t, directory.ClientMetadata{JWKS: publicJWKS(t, key, "k-"+string(alg), alg), TokenEndpointAuthSigningAlg: string(alg)})
			clients[alg] = keyedClient{id: m.ClientID, key: key, kid: "k-" + string(alg), alg: alg}
		}
		for alg, c := range clients {
			t.Run("accepted "+string(alg), func(t *testing.T) {
				res := ts.post(t, provider.PathToken, assertionForm(c.assertion(t, ts, nil), url.Values{"grant_type": {"client_credentials"}}))
				if res.Status != http.StatusOK {
					t.Fatalf("status %d: %s", res.Status, res.Body)
				}
				claims := rawClaims(t, res.JSON(t)["access_token"].(string))
				if claims["client_id"] != c.id || claims["sub"] != c.id {
					t.Errorf("token for client_id %v sub %v, want %s", claims["client_id"], claims["sub"], c.id)
				}
			})
		}
		rs := clients[jose.RS256]
		t.Run("aud is the issuer", func(t *testing.T) {
			a := rs.assertion(t, ts, func(m map[string]any) { m["aud"] = ts.URL })
			if res := ts.post(t, provider.PathToken, assertionForm(a, url.Values{"grant_type": {"client_credentials"}})); res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
		})
		t.Run("aud as a list holding the token endpoint", func(t *testing.T) {
			a := rs.assertion(t, ts, func(m map[string]any) { m["aud"] = []string{"https://other.example", ts.URL + provider.PathToken} })
			if res := ts.post(t, provider.PathToken, assertionForm(a, url.Values{"grant_type": {"client_credentials"}})); res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
		})
		// NumericDate is any JSON number: a client computing exp as
		// time.time()+60 (Python) sends a fraction, a JSON encoder of
		// doubles may write an exponent.
		for name, exp := range map[string]string{
			"exp with a fraction":    fmt.Sprintf(`"exp":%d.25`, time.Now().Add(time.Minute).Unix()),
			"exp with an exponent":   fmt.Sprintf(`"exp":%de-2`, time.Now().Add(time.Minute).Unix()*100),
			"exp beside other cases": fmt.Sprintf(`"exp":%d,"Exp":1,"EXP":"x"`, time.Now().Add(time.Minute).Unix()),
		} {
			t.Run("accepted "+name, func(t *testing.T) {
				a := rs.signedPayload(t, rs.claimsWithExp(ts, exp))
				if res := ts.post(t, provider.PathToken, assertionForm(a, url.Values{"grant_type": {"client_credentials"}})); res.Status != http.StatusOK {
					t.Fatalf("status %d: %s", res.Status, res.Body)
				}
			})
		}
		other := keyedClient{id: rs.id, key: keys[jose.PS256], kid: rs.kid, alg: jose.RS256}
		es := clients[jose.ES256]
		refused := []struct {
			name      string
			assertion func() string
		}{
			{"aud another server", func() string {
				return rs.assertion(t, ts, func(m map[string]any) { m["aud"] = "https://other.example/token" })
			}},
			{"aud a prefix of the token endpoint", func() string {
				return rs.assertion(t, ts, func(m map[string]any) { m["aud"] = ts.URL + "/oauth2" })
			}},
			{"aud the issuer with a slash", func() string {
				return rs.assertion(t, ts, func(m map[string]any) { m["aud"] = ts.URL + "/" })
			}},
			{"exp an hour ahead", func() string {
				return rs.assertion(t, ts, func(m map[string]any) { m["exp"] = time.Now().Add(time.Hour).Unix() })
			}},
			{"no exp", func() string { return rs.assertion(t, ts, func(m map[string]any) { delete(m, "exp") }) }},
			// fosite takes an exp below 1 for none, and remembers the
			// jti until then: such an assertion would never expire and
			// could be replayed for ever.
			{"exp 0", func() string { return rs.signedPayload(t, rs.claimsWithExp(ts, `"exp":0`)) }},
			{"exp 0.5", func() string { return rs.signedPayload(t, rs.claimsWithExp(ts, `"exp":0.5`)) }},
			// Expiring within the current second: fosite would still
			// take it, with its jti already forgotten.
			{"exp the current second", func() string {
				return rs.signedPayload(t, rs.claimsWithExp(ts, fmt.Sprintf(`"exp":%d`, time.Now().Unix())))
			}},
			// fosite reads "exp" exactly; a near "EXP" must not stand in
			// for a far exp.
			{"exp far ahead beside an EXP near", func() string {
				return rs.signedPayload(t, rs.claimsWithExp(ts, fmt.Sprintf(`"exp":%d,"EXP":%d`, time.Now().Add(10*365*24*time.Hour).Unix(), time.Now().Add(time.Minute).Unix())))
			}},
			// Refused by fosite's go-jose as well; here before any key
			// is looked up.
			{"exp named twice", func() string {
				return rs.signedPayload(t, rs.claimsWithExp(ts, fmt.Sprintf(`"exp":%d,"exp":%d`, time.Now().Add(time.Hour).Unix(), time.Now().Add(time.Minute).Unix())))
			}},
			{"exp a string", func() string {
				return rs.signedPayload(t, rs.claimsWithExp(ts, fmt.Sprintf(`"exp":"%d"`, time.Now().Add(time.Minute).Unix())))
			}},
			{"expired", func() string {
				return rs.assertion(t, ts, func(m map[string]any) { m["exp"] = time.Now().Add(-time.Hour).Unix() })
			}},
			{"no jti", func() string { return rs.assertion(t, ts, func(m map[string]any) { delete(m, "jti") }) }},
			{"iss another client", func() string {
				return rs.assertion(t, ts, func(m map[string]any) { m["iss"] = es.id })
			}},
			{"signed by a key not registered", func() string { return other.assertion(t, ts, nil) }},
			{"alg other than registered", func() string {
				return keyedClient{id: es.id, key: keys[jose.RS256], kid: es.kid, alg: jose.RS256}.assertion(t, ts, nil)
			}},
			{"not a JWT", func() string { return "not.a.jwt" }},
			{"unsigned", func() string {
				return "eyJhbGciOiJub25lIn0." + strings.Split(rs.assertion(t, ts, nil), ".")[1] + "."
			}},
		}
		for _, tc := range refused {
			t.Run("refused "+tc.name, func(t *testing.T) {
				res := ts.post(t, provider.PathToken, assertionForm(tc.assertion(), url.Values{"grant_type": {"client_credentials"}}))
				assertError(t, res, http.StatusUnauthorized, "invalid_client")
			})
		}
		t.Run("replayed assertion is invalid_client", func(t *testing.T) {
			a := rs.assertion(t, ts, nil)
			form := assertionForm(a, url.Values{"grant_type": {"client_credentials"}})
			if res := ts.post(t, provider.PathToken, form); res.Status != http.StatusOK {
				t.Fatalf("first use: status %d: %s", res.Status, res.Body)
			}
			assertError(t, ts.post(t, provider.PathToken, form), http.StatusUnauthorized, "invalid_client")
			// At another endpoint too: a jti is spent everywhere.
			assertError(t, ts.post(t, provider.PathRevoke, assertionForm(a, url.Values{"token": {"x"}})), http.StatusUnauthorized, "invalid_client")
		})
		// RFC 7523 §3: a jti is unique per issuer. Another client using
		// the same (say, a counter's) jti is not replaying anything, and
		// must not spend it for the first, nor the first for it.
		t.Run("a jti is spent for its client only", func(t *testing.T) {
			jti := rand.Text()
			withJTI := func(m map[string]any) { m["jti"] = jti }
			grant := url.Values{"grant_type": {"client_credentials"}}
			if res := ts.post(t, provider.PathToken, assertionForm(rs.assertion(t, ts, withJTI), grant)); res.Status != http.StatusOK {
				t.Fatalf("first client: status %d: %s", res.Status, res.Body)
			}
			if res := ts.post(t, provider.PathToken, assertionForm(es.assertion(t, ts, withJTI), grant)); res.Status != http.StatusOK {
				t.Fatalf("another client, the same jti: status %d: %s", res.Status, res.Body)
			}
			assertError(t, ts.post(t, provider.PathToken, assertionForm(rs.assertion(t, ts, withJTI), grant)), http.StatusUnauthorized, "invalid_client")
			assertError(t, ts.post(t, provider.PathToken, assertionForm(es.assertion(t, ts, withJTI), grant)), http.StatusUnauthorized, "invalid_client")
		})
		// The store records a jti for the assertion's sub, which fosite
		// has checked is the authenticated client before it asks: no
		// mismatch of sub, iss and client_id lets one client spend a jti
		// for another (nor for itself, under another's name).
		t.Run("a refused assertion spends no jti", func(t *testing.T) {
			grant := url.Values{"grant_type": {"client_credentials"}}
			for _, tc := range []struct {
				name   string
				claims func(m map[string]any)
				extra  url.Values
			}{
				{"sub another client", func(m map[string]any) { m["sub"] = es.id }, nil},
				{"iss and sub another client", func(m map[string]any) { m["iss"], m["sub"] = es.id, es.id }, nil},
				{"sub another client, client_id its own", func(m map[string]any) { m["sub"] = es.id }, url.Values{"client_id": {rs.id}}},
				{"sub another client, client_id that client", func(m map[string]any) { m["sub"] = es.id }, url.Values{"client_id": {es.id}}},
				{"iss and sub its own, client_id another client", nil, url.Values{"client_id": {es.id}}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					jti := rand.Text()
					form := assertionForm(rs.assertion(t, ts, func(m map[string]any) {
						m["jti"] = jti
						if tc.claims != nil {
							tc.claims(m)
						}
					}), grant)
					for k, v := range tc.extra {
						form[k] = v
					}
					res := ts.post(t, provider.PathToken, form)
					if res.Status < 400 || res.Status >= 500 {
						t.Fatalf("status %d, want a refusal: %s", res.Status, res.Body)
					}
					for _, c := range []keyedClient{es, rs} {
						if res := ts.post(t, provider.PathToken, assertionForm(c.assertion(t, ts, func(m map[string]any) { m["jti"] = jti }), grant)); res.Status != http.StatusOK {
							t.Errorf("%s's own assertion with the refused one's jti: status %d: %s", c.id, res.Status, res.Body)
						}
					}
				})
			}
		})
		t.Run("x/oauth2 clientcredentials", func(t *testing.T) {
			cfg := clientcredentials.Config{
				ClientID: rs.id, TokenURL: ts.URL + provider.PathToken, AuthStyle: oauth2.AuthStyleInParams,
				EndpointParams: url.Values{
					"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
					"client_assertion":      {rs.assertion(t, ts, nil)},
				},
			}
			tok, err := cfg.Token(ts.ctx())
			if err != nil {
				t.Fatalf("token: %v", err)
			}
			if tok.AccessToken == "" {
				t.Fatal("no access token")
			}
			// The same config again replays the assertion.
			if _, err := cfg.Token(ts.ctx()); err == nil || !strings.Contains(err.Error(), "invalid_client") {
				t.Errorf("replay through x/oauth2: %v, want invalid_client", err)
			}
		})
		t.Run("introspection and revocation", func(t *testing.T) {
			res := ts.post(t, provider.PathToken, assertionForm(rs.assertion(t, ts, nil), url.Values{"grant_type": {"client_credentials"}}))
			at, _ := res.JSON(t)["access_token"].(string)
			if at == "" {
				t.Fatalf("no token: %s", res.Body)
			}
			intro := func() map[string]any {
				res := ts.post(t, provider.PathIntrospect, assertionForm(rs.assertion(t, ts, nil), url.Values{"token": {at}}))
				if res.Status != http.StatusOK {
					t.Fatalf("introspect: status %d: %s", res.Status, res.Body)
				}
				return res.JSON(t)
			}
			if got := intro(); got["active"] != true || got["client_id"] != rs.id {
				t.Fatalf("introspection of own token = %v, want active", got)
			}
			if res := ts.post(t, provider.PathRevoke, assertionForm(rs.assertion(t, ts, nil), url.Values{"token": {at}})); res.Status != http.StatusOK {
				t.Fatalf("revoke: status %d: %s", res.Status, res.Body)
			}
			if got := intro(); got["active"] != false {
				t.Fatalf("introspection after revocation = %v, want inactive", got)
			}
			// A bad assertion at introspection is a 401, as at the token endpoint.
			bad := rs.assertion(t, ts, func(m map[string]any) { m["aud"] = "https://other.example" })
			assertError(t, ts.post(t, provider.PathIntrospect, assertionForm(bad, url.Values{"token": {at}})), http.StatusUnauthorized, "invalid_client")
		})
	})
}

// TestPrivateKeyJWTJWKSURI authenticates a client that publishes its keys
// at a jwks_uri (served here by an httptest server: no internet), follows
// its key rotation, and refuses a jwks_uri that redirects or answers too
// much.
func TestPrivateKeyJWTJWKSURI(t *testing.T) {
	key1, key2 := newKeyPair(t, jose.ES256), newKeyPair(t, jose.ES256)
	var current atomic.Value
	current.Store(publicJWKS(t, key1, "k1", jose.ES256))
	var fetches, broken atomic.Int32
	keysrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			fetches.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(current.Load().(json.RawMessage))
		case "/redirect":
			http.Redirect(w, r, "/jwks", http.StatusFound)
		case "/broken":
			broken.Add(1)
			http.Error(w, "down", http.StatusInternalServerError)
		case "/huge":
			_, _ = w.Write([]byte(`{"keys":[`))
			_, _ = w.Write([]byte(strings.Repeat(" ", directory.MaxJWKSBytes)))
			_, _ = w.Write([]byte(`]}`))
		}
	}))
	t.Cleanup(keysrv.Close)

	// The clock hallpass reads, so the refetch interval can pass without
	// the test waiting for it.
	var skew atomic.Int64
	ts := newTestServer(t, testdb.SQLite(t), func(c *provider.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	m := ts.registerKeyed(t, directory.ClientMetadata{JWKSURI: keysrv.URL + "/jwks", TokenEndpointAuthSigningAlg: "ES256"})
	c := keyedClient{id: m.ClientID, key: key1, kid: "k1", alg: jose.ES256}
	grant := url.Values{"grant_type": {"client_credentials"}}
	for i := range 2 {
		if res := ts.post(t, provider.PathToken, assertionForm(c.assertion(t, ts, nil), grant)); res.Status != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i, res.Status, res.Body)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("jwks_uri fetched %d times for two requests, want 1 (cached)", n)
	}
	// The client rotates to a key with a new kid. Within the minimum
	// refetch interval the cached set answers, so the assertion is
	// refused without a fetch; past it, the unknown kid makes hallpass
	// fetch again and the new key is accepted.
	current.Store(publicJWKS(t, key2, "k2", jose.ES256))
	rotated := keyedClient{id: m.ClientID, key: key2, kid: "k2", alg: jose.ES256}
	assertError(t, ts.post(t, provider.PathToken, assertionForm(rotated.assertion(t, ts, nil), grant)), http.StatusUnauthorized, "invalid_client")
	if n := fetches.Load(); n != 1 {
		t.Errorf("jwks_uri fetched %d times within the refetch interval, want 1", n)
	}
	skew.Store(int64(15 * time.Second))
	if res := ts.post(t, provider.PathToken, assertionForm(rotated.assertion(t, ts, nil), grant)); res.Status != http.StatusOK {
		t.Fatalf("rotated key after the refetch interval: status %d: %s", res.Status, res.Body)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("jwks_uri fetched %d times, want 2 (once more for the new kid)", n)
	}

	// A jwks_uri that fails is not fetched again for every assertion:
	// its error answers until the refetch interval has passed.
	bm := ts.registerKeyed(t, directory.ClientMetadata{JWKSURI: keysrv.URL + "/broken", TokenEndpointAuthSigningAlg: "ES256"})
	bc := keyedClient{id: bm.ClientID, key: key1, kid: "k1", alg: jose.ES256}
	for range 3 {
		assertError(t, ts.post(t, provider.PathToken, assertionForm(bc.assertion(t, ts, nil), grant)), http.StatusUnauthorized, "invalid_client")
	}
	if n := broken.Load(); n != 1 {
		t.Errorf("failing jwks_uri fetched %d times for three assertions within the refetch interval, want 1", n)
	}
	skew.Store(int64(30 * time.Second))
	assertError(t, ts.post(t, provider.PathToken, assertionForm(bc.assertion(t, ts, nil), grant)), http.StatusUnauthorized, "invalid_client")
	if n := broken.Load(); n != 2 {
		t.Errorf("failing jwks_uri fetched %d times, want 2 (once more after the refetch interval)", n)
	}

	for _, path := range []string{"/redirect", "/huge", "/missing"} {
		t.Run("refused jwks_uri "+path, func(t *testing.T) {
			m := ts.registerKeyed(t, directory.ClientMetadata{JWKSURI: keysrv.URL + path, TokenEndpointAuthSigningAlg: "ES256"})
			c := keyedClient{id: m.ClientID, key: key1, kid: "k1", alg: jose.ES256}
			assertError(t, ts.post(t, provider.PathToken, assertionForm(c.assertion(t, ts, nil), grant)), http.StatusUnauthorized, "invalid_client")
		})
	}
}

// TestPrivateKeyJWTMetadata checks what registration accepts for
// private_key_jwt: keys in exactly one place, public halves only, strong
// enough and fit for the algorithm, a jwks_uri hallpass may call.
func TestPrivateKeyJWTMetadata(t *testing.T) {
	ts := newTestServer(t, testdb.SQLite(t))
	rsaKey := newKeyPair(t, jose.RS256)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privateSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: rsaKey, KeyID: "p", Use: "sig"}}})
	base := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"client_name": "k", "grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "scope": "a"}
		edit(m)
		return m
	}
	jwks := publicJWKS(t, rsaKey, "k", jose.RS256)
	for _, tc := range []struct {
		name string
		m    map[string]any
	}{
		{"no keys", base(func(map[string]any) {})},
		{"jwks and jwks_uri", base(func(m map[string]any) { m["jwks"] = jwks; m["jwks_uri"] = "https://app.example/jwks" })},
		{"private key", base(func(m map[string]any) { m["jwks"] = json.RawMessage(privateSet) })},
		{"small RSA key", base(func(m map[string]any) { m["jwks"] = publicJWKS(t, small, "s", jose.RS256) })},
		{"empty set", base(func(m map[string]any) { m["jwks"] = json.RawMessage(`{"keys":[]}`) })},
		{"not a set", base(func(m map[string]any) { m["jwks"] = json.RawMessage(`"x"`) })},
		{"RSA key for ES256", base(func(m map[string]any) { m["jwks"] = jwks; m["token_endpoint_auth_signing_alg"] = "ES256" })},
		{"alg none", base(func(m map[string]any) { m["jwks"] = jwks; m["token_endpoint_auth_signing_alg"] = "none" })},
		{"alg HS256", base(func(m map[string]any) { m["jwks"] = jwks; m["token_endpoint_auth_signing_alg"] = "HS256" })},
		{"http jwks_uri", base(func(m map[string]any) { m["jwks_uri"] = "http://app.example/jwks" })},
		{"jwks_uri with fragment", base(func(m map[string]any) { m["jwks_uri"] = "https://app.example/jwks#x" })},
		{"relative jwks_uri", base(func(m map[string]any) { m["jwks_uri"] = "/jwks" })},
		{"jwks for a secret client", base(func(m map[string]any) { m["token_endpoint_auth_method"] = "client_secret_basic"; m["jwks"] = jwks })},
		{"signing alg for a secret client", base(func(m map[string]any) {
			m["token_endpoint_auth_method"] = "client_secret_basic"
			m["token_endpoint_auth_signing_alg"] = "RS256"
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.clients(t)
			assertError(t, ts.registerRaw(t, tc.m), http.StatusBadRequest, "invalid_client_metadata")
			ts.assertClientsUnchanged(t, before)
		})
	}
	// The admin API takes the same metadata, and an update to
	// private_key_jwt drops the secret.
	res := ts.admin(t, http.MethodPost, "/admin/clients", map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}, "scope": "a"})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	res = ts.admin(t, http.MethodPut, "/admin/clients/svc", base(func(m map[string]any) { m["jwks"] = jwks }))
	if res.Status != http.StatusOK {
		t.Fatalf("update to private_key_jwt: %d %s", res.Status, res.Body)
	}
	for _, c := range ts.clients(t) {
		if c.ID == "svc" && (len(c.SecretHash) != 0 || c.JWKS == "" || c.TokenEndpointAuthSigningAlg != "RS256") {
			t.Errorf("after update: secret %x, jwks %q, alg %q; want no secret, the keys, RS256", c.SecretHash, c.JWKS, c.TokenEndpointAuthSigningAlg)
		}
	}
}

// introspectWithAssertion registers a private_key_jwt client, gets a
// token with one assertion and introspects it at introspection with
// another.
func introspectWithAssertion(t *testing.T, ts *testServer, introspection string) {
	t.Helper()
	key := newKeyPair(t, jose.ES256)
	m := ts.registerKeyed(t, directory.ClientMetadata{JWKS: publicJWKS(t, key, "k", jose.ES256), TokenEndpointAuthSigningAlg: "ES256"})
	c := keyedClient{id: m.ClientID, key: key, kid: "k", alg: jose.ES256}
	res := ts.post(t, provider.PathToken, assertionForm(c.assertion(t, ts, nil), url.Values{"grant_type": {"client_credentials"}}))
	at, _ := res.JSON(t)["access_token"].(string)
	if at == "" {
		t.Fatalf("no token: %d %s", res.Status, res.Body)
	}
	res = ts.post(t, introspection, assertionForm(c.assertion(t, ts, nil), url.Values{"token": {at}}))
	if res.Status != http.StatusOK || res.JSON(t)["active"] != true {
		t.Fatalf("introspection: %d %s, want active", res.Status, res.Body)
	}
}

// TestAssertionReplayAcrossReplicas sends one client assertion many times
// at once to two hallpass instances sharing a database, then once more
// to each: exactly one request is accepted, for the jti is spent in the
// database both read, not in a replica's memory. Another client's
// assertion with the same jti, sent as many times among them, is
// accepted once as well: the jti is spent per client (RFC 7523 §3).
func TestAssertionReplayAcrossReplicas(t *testing.T) {
	keys := []crypto.Signer{newKeyPair(t, jose.ES256), newKeyPair(t, jose.ES256)}
	forEachBackend(t, func(t *testing.T, dsn string) {
		rs := replicas(t, dsn, 2, newKeyClock())
		a := rs[0]
		a.admin(t, http.MethodPost, "/admin/scopes", map[string]any{"name": "results:read", "description": "Read results", "audience": "https://school.example/api"})
		jti := rand.Text()
		var forms []url.Values
		for _, key := range keys {
			m := a.registerKeyed(t, directory.ClientMetadata{JWKS: publicJWKS(t, key, "k1", jose.ES256), TokenEndpointAuthSigningAlg: "ES256"})
			c := keyedClient{id: m.ClientID, key: key, kid: "k1", alg: jose.ES256}
			forms = append(forms, assertionForm(c.assertion(t, a, func(m map[string]any) { m["jti"] = jti }), url.Values{"grant_type": {"client_credentials"}}))
		}
		const n = 8 // requests per client
		type outcome struct{ client, status int }
		outcomes := make(chan outcome, n*len(forms))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n * len(forms) {
			client, r := i%len(forms), rs[(i/len(forms))%len(rs)]
			body := forms[client].Encode()
			wg.Go(func() {
				<-start
				hr, err := http.NewRequest(http.MethodPost, r.URL+provider.PathToken, strings.NewReader(body))
				if err != nil {
					t.Errorf("new request: %v", err)
					return
				}
				hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := r.HTTP.Do(hr)
				if err != nil {
					t.Errorf("post: %v", err)
					return
				}
				res.Body.Close()
				outcomes <- outcome{client, res.StatusCode}
			})
		}
		close(start)
		wg.Wait()
		close(outcomes)
		counts := make([]map[int]int, len(forms))
		for i := range counts {
			counts[i] = map[int]int{}
		}
		for o := range outcomes {
			counts[o.client][o.status]++
		}
		for i, c := range counts {
			if c[http.StatusOK] != 1 || c[http.StatusUnauthorized] != n-1 {
				t.Errorf("client %d: one assertion sent %d times to two replicas, beside another client's with the same jti: statuses %v, want one 200 and %d 401", i, n, c, n-1)
			}
		}
		for _, r := range rs {
			for _, form := range forms {
				assertError(t, r.post(t, provider.PathToken, form), http.StatusUnauthorized, "invalid_client")
			}
		}
	})
}
