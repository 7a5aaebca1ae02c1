package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestBackchannelLogout checks the app's receiving side of OpenID
// Back-Channel Logout: a valid logout token ends the sessions it names
// (by sid, else by sub) and no other; an invalid one changes nothing and
// is answered 400. The end-to-end delivery from hallpass is proven in
// provider's TestBackchannelLogout.
func TestBackchannelLogout(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *rsa.PrivateKey, typ string, edit func(map[string]any)) string {
		claims := map[string]any{
			"iss": testIssuer, "aud": "demo", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(), "jti": rand.Text(),
			"events": map[string]any{backchannelEvent: map[string]any{}}, "sub": "u1", "sid": "s1",
		}
		if edit != nil {
			edit(claims)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	setup := func(t *testing.T) (*app, map[string]string) {
		a := testApp(t)
		a.verifier = oidc.NewVerifier(testIssuer, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&key.PublicKey}}, &oidc.Config{ClientID: "demo"})
		ids := map[string]string{}
		for name, s := range map[string]*session{
			"u1 in s1":       {user: user{Subject: "u1"}, sid: "s1"},
			"u1 in s2":       {user: user{Subject: "u1"}, sid: "s2"},
			"u2 in s3":       {user: user{Subject: "u2"}, sid: "s3"},
			"u2 without sid": {user: user{Subject: "u2"}},
		} {
			id, err := a.sessions.put(s)
			if err != nil {
				t.Fatal(err)
			}
			ids[name] = id
		}
		return a, ids
	}
	alive := func(a *app, ids map[string]string) map[string]bool {
		out := map[string]bool{}
		for name, id := range ids {
			_, ok := a.sessions.get(id)
			out[name] = ok
		}
		return out
	}
	post := func(t *testing.T, a *app, tok string) *http.Response {
		return request(t, a.routes(), http.MethodPost, "/backchannel-logout", url.Values{"logout_token": {tok}})
	}

	t.Run("by sid", func(t *testing.T) {
		a, ids := setup(t)
		if resp := post(t, a, sign(key, "logout+jwt", nil)); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, bodyOf(resp))
		}
		got := alive(a, ids)
		if got["u1 in s1"] || !got["u1 in s2"] || !got["u2 in s3"] || !got["u2 without sid"] {
			t.Errorf("sessions alive after logout of s1: %v, want only s1 gone", got)
		}
	})
	t.Run("by sub", func(t *testing.T) {
		a, ids := setup(t)
		resp := post(t, a, sign(key, "logout+jwt", func(c map[string]any) { delete(c, "sid"); c["sub"] = "u2" }))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, bodyOf(resp))
		}
		got := alive(a, ids)
		if got["u2 in s3"] || got["u2 without sid"] || !got["u1 in s1"] || !got["u1 in s2"] {
			t.Errorf("sessions alive after logout of u2: %v, want u2's gone", got)
		}
	})
	for name, tok := range map[string]string{
		"missing":        "",
		"not a JWT":      "garbage",
		"typ JWT":        sign(key, "JWT", nil),
		"another key":    sign(other, "logout+jwt", nil),
		"another client": sign(key, "logout+jwt", func(c map[string]any) { c["aud"] = "other" }),
		"another issuer": sign(key, "logout+jwt", func(c map[string]any) { c["iss"] = "http://evil.test" }),
		"expired":        sign(key, "logout+jwt", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
		"no event":       sign(key, "logout+jwt", func(c map[string]any) { delete(c, "events") }),
		"with a nonce":   sign(key, "logout+jwt", func(c map[string]any) { c["nonce"] = "n" }),
		"no sid, no sub": sign(key, "logout+jwt", func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }),
	} {
		t.Run("refused "+name, func(t *testing.T) {
			a, ids := setup(t)
			if resp := post(t, a, tok); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %s", resp.StatusCode, bodyOf(resp))
			}
			for n, ok := range alive(a, ids) {
				if !ok {
					t.Errorf("session %s ended by a refused token", n)
				}
			}
		})
	}
}

// FuzzVerifyLogoutToken feeds arbitrary logout tokens to the app's
// back-channel endpoint check: it must never panic, and nothing not signed
// by the key it trusts is accepted.
func FuzzVerifyLogoutToken(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	a := &app{verifier: oidc.NewVerifier(testIssuer, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&key.PublicKey}}, &oidc.Config{ClientID: "demo"}), hallpass: http.DefaultClient}
	f.Add("eyJ0eXAiOiJsb2dvdXQrand0IiwiYWxnIjoiUlMyNTYifQ.e30.c2ln")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		r, _ := http.NewRequest(http.MethodPost, "/backchannel-logout", nil)
		if c, reason := a.verifyLogoutToken(r, raw); reason == "" || c != nil {
			t.Fatalf("accepted %q", raw)
		}
	})
}
