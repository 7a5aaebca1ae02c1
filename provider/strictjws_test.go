package provider_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
)

// trustingKeys is hallpass's key manager that also trusts one key this
// test holds, under kid, so that the test can sign what hallpass never
// would (a crit header).
type trustingKeys struct {
	provider.KeyManager
	kid string
	pub *rsa.PublicKey
}

func (k trustingKeys) VerificationKey(kid string) (*rsa.PublicKey, bool) {
	if kid == k.kid {
		return k.pub, true
	}
	return k.KeyManager.VerificationKey(kid)
}

// signJWS is the compact JWS of header and payload, RS256-signed by key
// over signingInput(h64, payload) (nil: the usual h64.p64).
func signJWS(t *testing.T, key *rsa.PrivateKey, header map[string]any, payload []byte, signingInput func(h64 string, payload []byte) string) string {
	t.Helper()
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	h64, p64 := b64url.EncodeToString(hb), b64url.EncodeToString(payload)
	input := h64 + "." + p64
	if signingInput != nil {
		input = signingInput(h64, payload)
	}
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return h64 + "." + p64 + "." + b64url.EncodeToString(sig)
}

// unencodedPayload is RFC 7797's signing input with b64 false: the
// payload as it is.
func unencodedPayload(h64 string, payload []byte) string { return h64 + "." + string(payload) }

// respelt returns tok with segment i spelt otherwise: the same bytes, an
// unused low bit of the last character set (RFC 4648 §3.5 says they are
// zero; a lenient decoder ignores them). The segment's length must not be
// a multiple of 4.
func respelt(t *testing.T, tok string, i int) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	segs := strings.Split(tok, ".")
	s := segs[i]
	if len(s)%4 == 0 {
		t.Fatalf("segment %d of %d characters has no unused bits", i, len(s))
	}
	c := strings.IndexByte(alphabet, s[len(s)-1])
	if c < 0 || c&1 != 0 {
		t.Fatalf("segment %d does not end canonically", i)
	}
	segs[i] = s[:len(s)-1] + string(alphabet[c|1])
	return strings.Join(segs, ".")
}

// withBreak inserts what (whitespace) into segment i of tok.
func withBreak(tok string, i int, what string) string {
	segs := strings.Split(tok, ".")
	segs[i] = segs[i][:4] + what + segs[i][4:]
	return strings.Join(segs, ".")
}

// payloadWithUnusedBits marshals claims, with a "pad" claim if need be so
// that the payload's encoding has unused bits (respelt applies).
func payloadWithUnusedBits(t *testing.T, claims map[string]any) []byte {
	t.Helper()
	for n := range 4 {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		if n > 0 {
			c["pad"] = strings.Repeat("x", n)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(b64url.EncodeToString(b))%4 != 0 {
			return b
		}
	}
	t.Fatal("no pad gives unused bits")
	return nil
}

// TestJWTInputsAreCanonical: every JWT hallpass reads (an access token at
// introspection, an id_token_hint at authorization and at logout, a
// private_key_jwt client assertion) is taken only as written, in its one
// canonical compact serialization, and without crit. go-jose, under
// fosite (v3) and in the logout handler (v4), would also take line breaks
// (v3: any whitespace), segments with the unused bits of their last
// character set, and crit, all of which still verify.
func TestJWTInputsAreCanonical(t *testing.T) {
	testKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const testKid = "strict-test-key"
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Keys = trustingKeys{KeyManager: c.Keys, kid: testKid, pub: &testKey.PublicKey}
		})
		c := e.Confidential
		b := e.newBrowser(t)
		tok := e.signInTokens(t, b, c.request("openid results:read"), "alice", alicePassword)
		idToken := idTokenOf(t, tok)
		idClaims := rawClaims(t, idToken)
		// An ID token of alice's, signed by hallpass, whose payload has
		// unused bits.
		padded, err := e.Keys.Sign(payloadWithUnusedBits(t, idClaims), "JWT")
		if err != nil {
			t.Fatal(err)
		}
		idPayload, err := json.Marshal(idClaims)
		if err != nil {
			t.Fatal(err)
		}
		idHeader := map[string]any{"alg": "RS256", "kid": testKid, "typ": "JWT"}
		testSigned := signJWS(t, testKey, idHeader, idPayload, nil)

		// Spellings of alice's ID token.
		hints := []struct {
			name  string
			token string
		}{
			{"line feed in the payload", withBreak(idToken, 1, "\n")},
			{"CRLF in the header", withBreak(idToken, 0, "\r\n")},
			{"space in the signature", withBreak(idToken, 2, " ")},
			{"trailing newline", idToken + "\n"},
			{"signature respelt", respelt(t, idToken, 2)},
			{"payload respelt", respelt(t, padded, 1)},
			{"padding", idToken + "=="},
			{"crit empty", signJWS(t, testKey, withHeader(idHeader, map[string]any{"crit": []string{}}), idPayload, nil)},
			{"crit b64 true", signJWS(t, testKey, withHeader(idHeader, map[string]any{"crit": []string{"b64"}, "b64": true}), idPayload, nil)},
			{"crit b64 false", signJWS(t, testKey, withHeader(idHeader, map[string]any{"crit": []string{"b64"}, "b64": false}), idPayload, unencodedPayload)},
		}

		// fosite's id_token_hint check at the authorization endpoint
		// (prompt=none), through the signer's Decode.
		authorize := func(hint string) callback {
			ar := c.request("openid results:read", oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", hint))
			return e.callback(t, b.get(t, ar.URL), ar)
		}
		for _, good := range []string{idToken, padded, testSigned} {
			authorize(good).wantCode(t)
		}
		for _, h := range hints {
			t.Run("authorize id_token_hint "+h.name, func(t *testing.T) {
				authorize(h.token).wantError(t, "invalid_request")
			})
		}

		// Introspection of an access token: the hand-written verifier.
		introspect := func(token string) any {
			t.Helper()
			res := e.do(t, req{Method: http.MethodPost, Path: provider.PathIntrospect, ContentType: "application/x-www-form-urlencoded",
				Body: url.Values{"token": {token}}.Encode(),
				Auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.Meta.ClientID)+":"+url.QueryEscape(c.Meta.ClientSecret)))})
			if res.Status != http.StatusOK {
				t.Fatalf("introspect: status %d: %s", res.Status, res.Body)
			}
			return res.JSON(t)["active"]
		}
		at := tok.AccessToken
		atClaims, err := json.Marshal(rawClaims(t, at))
		if err != nil {
			t.Fatal(err)
		}
		atHeader := map[string]any{"alg": "RS256", "kid": testKid, "typ": "at+jwt"}
		if got := introspect(at); got != true {
			t.Fatalf("introspection of the access token: active %v", got)
		}
		if got := introspect(signJWS(t, testKey, atHeader, atClaims, nil)); got != true {
			t.Fatalf("introspection of the access token signed by the test key: active %v", got)
		}
		for name, token := range map[string]string{
			"line feed in the payload": withBreak(at, 1, "\n"),
			"space in the signature":   withBreak(at, 2, " "),
			"signature respelt":        respelt(t, at, 2),
			"crit empty":               signJWS(t, testKey, map[string]any{"alg": "RS256", "kid": testKid, "typ": "at+jwt", "crit": []string{}}, atClaims, nil),
		} {
			t.Run("introspect "+name, func(t *testing.T) {
				if got := introspect(token); got != false {
					t.Errorf("active %v, want false", got)
				}
			})
		}

		// private_key_jwt: the client assertion, before fosite.
		keyed := e.registerKeyed(t, directory.ClientMetadata{JWKS: publicJWKS(t, testKey, "client-key", jose.RS256), TokenEndpointAuthSigningAlg: "RS256"})
		assertion := func(header map[string]any, signingInput func(string, []byte) string) string {
			now := time.Now()
			claims := map[string]any{
				"iss": keyed.ClientID, "sub": keyed.ClientID, "aud": e.URL + provider.PathToken,
				"jti": rand.Text(), "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
			}
			return signJWS(t, testKey, header, payloadWithUnusedBits(t, claims), signingInput)
		}
		aHeader := map[string]any{"alg": "RS256", "kid": "client-key", "typ": "JWT"}
		clientCredentials := func(a string) result {
			return e.post(t, provider.PathToken, assertionForm(a, url.Values{"grant_type": {"client_credentials"}}))
		}
		if res := clientCredentials(assertion(aHeader, nil)); res.Status != http.StatusOK {
			t.Fatalf("canonical assertion: status %d: %s", res.Status, res.Body)
		}
		for name, a := range map[string]func() string{
			"line feed in the header": func() string { return withBreak(assertion(aHeader, nil), 0, "\n") },
			"space in the signature":  func() string { return withBreak(assertion(aHeader, nil), 2, " ") },
			"tab in the header":       func() string { return withBreak(assertion(aHeader, nil), 0, "\t") },
			"leading space":           func() string { return " " + assertion(aHeader, nil) },
			"signature respelt":       func() string { return respelt(t, assertion(aHeader, nil), 2) },
			"payload respelt":         func() string { return respelt(t, assertion(aHeader, nil), 1) },
			"crit empty":              func() string { return assertion(withHeader(aHeader, map[string]any{"crit": []string{}}), nil) },
			"crit b64 true": func() string {
				return assertion(withHeader(aHeader, map[string]any{"crit": []string{"b64"}, "b64": true}), nil)
			},
			"crit b64 false": func() string {
				return assertion(withHeader(aHeader, map[string]any{"crit": []string{"b64"}, "b64": false}), unencodedPayload)
			},
			"crit naming a registered": func() string { return assertion(withHeader(aHeader, map[string]any{"crit": []string{"exp"}}), nil) },
		} {
			t.Run("client_assertion "+name, func(t *testing.T) {
				assertError(t, clientCredentials(a()), http.StatusUnauthorized, "invalid_client")
			})
		}

		// RP-initiated logout, without cookies: a hint hallpass takes
		// ends alice's session; last, as the canonical hint does that.
		logout := func(hint string) result {
			return e.do(t, req{Path: provider.PathEndSession + "?" + url.Values{"id_token_hint": {hint}}.Encode()})
		}
		for _, h := range hints {
			t.Run("logout id_token_hint "+h.name, func(t *testing.T) {
				if res := logout(h.token); res.Status != http.StatusBadRequest {
					t.Errorf("status %d, want 400", res.Status)
				}
			})
		}
		authorize(idToken).wantCode(t) // still signed in
		for _, good := range []string{testSigned, padded, idToken} {
			if res := logout(good); res.Status != http.StatusOK {
				t.Fatalf("logout with a canonical hint: status %d", res.Status)
			}
		}
		authorize(idToken).wantError(t, "login_required")
	})
}

// withHeader returns a copy of header with changes made.
func withHeader(header, changes map[string]any) map[string]any {
	h := maps.Clone(header)
	maps.Copy(h, changes)
	return h
}
