package provider_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// jwksKids returns the kids the server's JWKS endpoint serves, in order.
func (ts *testServer) jwksKids(t *testing.T) []string {
	t.Helper()
	res := ts.do(t, req{Path: provider.PathJWKS})
	if res.Status != http.StatusOK {
		t.Fatalf("JWKS: status %d", res.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(res.Body, &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// listKeys calls GET /admin/keys.
func (ts *testServer) listKeys(t *testing.T) []keys.KeyInfo {
	t.Helper()
	res := ts.admin(t, http.MethodGet, "/admin/keys", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET /admin/keys: status %d: %s", res.Status, res.Body)
	}
	var out []keys.KeyInfo
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("GET /admin/keys: %v: %s", err, res.Body)
	}
	return out
}

func (ts *testServer) rotate(t *testing.T, body any) provider.RotateResponse {
	t.Helper()
	res := ts.admin(t, http.MethodPost, "/admin/keys/rotate", body)
	if res.Status != http.StatusOK {
		t.Fatalf("POST /admin/keys/rotate: status %d: %s", res.Status, res.Body)
	}
	var out provider.RotateResponse
	if err := json.Unmarshal(res.Body, &out); err != nil || out.ID == "" {
		t.Fatalf("POST /admin/keys/rotate: %v: %s", err, res.Body)
	}
	return out
}

func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	return parsed.Headers[0].KeyID
}

func TestAdminKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		first := ts.Keys.ActiveKeyID()

		// The normal state: the active key and the published next key,
		// which takes over when the active key retires.
		listed := ts.listKeys(t)
		if len(listed) != 2 {
			t.Fatalf("GET /admin/keys = %+v, want the active and the next key", listed)
		}
		byState := map[storage.KeyState]keys.KeyInfo{}
		for _, k := range listed {
			byState[k.State] = k
		}
		k, n1 := byState[storage.KeyActive], byState[storage.KeyNext]
		if k.ID != first || k.Algorithm != "RS256" || k.CreatedAt.IsZero() ||
			k.ActivatesAt.IsZero() || !k.RetiresAt.After(k.ActivatesAt) || !k.RemovesAt.After(k.RetiresAt) {
			t.Errorf("listed active key = %+v", k)
		}
		if n1.ID == "" || n1.ID == first || !n1.ActivatesAt.Equal(k.RetiresAt) || !n1.NotBefore.Equal(n1.ActivatesAt) || n1.DeletedAt.IsZero() {
			t.Errorf("listed next key = %+v, want it to take over when %s retires (%v)", n1, first, k.RetiresAt)
		}
		if got := ts.jwksKids(t); !slices.Equal(got, []string{first, n1.ID}) {
			t.Errorf("JWKS at start = %v, want [%s %s]", got, first, n1.ID)
		}
		res := ts.do(t, req{Path: "/admin/keys"})
		assertBareChallenge(t, res)
		res = ts.do(t, req{Method: http.MethodPost, Path: "/admin/keys/rotate", Auth: "Bearer wrong"})
		if res.Status != http.StatusUnauthorized {
			t.Errorf("rotate with a wrong token: status %d", res.Status)
		}

		svc := ts.registerService(t, "client_secret_basic", "results:read")
		before := ts.token(t, svc.ClientID, svc.ClientSecret, "results:read").AccessToken
		if tokenKID(t, before) != first {
			t.Fatal("token not signed with the active key")
		}

		// A plain rotation plans the promotion of the next key, published
		// just now, one lead later; signing does not change yet.
		planned := ts.rotate(t, nil)
		lead := ts.Keys.Status().Schedule.PublishLead
		if planned.State != "next" || planned.ID != n1.ID || planned.Immediate ||
			planned.ActivatesAt.Before(time.Now().Add(lead-time.Minute)) {
			t.Errorf("rotate = %+v, want %s activating about %v from now", planned, n1.ID, lead)
		}
		if got := ts.jwksKids(t); !slices.Equal(got, []string{first, planned.ID}) {
			t.Errorf("JWKS after a planned rotation = %v, want [%s %s]", got, first, planned.ID)
		}
		if ts.Keys.ActiveKeyID() != first {
			t.Error("a planned rotation changed the signing key at once")
		}

		res = ts.admin(t, http.MethodPost, "/admin/keys/rotate", `{"immediate":"yes"}`)
		assertError(t, res, http.StatusBadRequest, "invalid_request")

		// Immediate: the published next key signs at once, so new tokens
		// carry a kid that was in the JWKS before the rotation.
		jwksBefore := ts.jwksKids(t)
		now := ts.rotate(t, map[string]any{"immediate": true})
		if now.ID != planned.ID || now.State != "active" || !now.Immediate || now.Unpublished || now.Warning != "" {
			t.Errorf("immediate rotate = %+v, want %s active and no warning", now, planned.ID)
		}
		after := ts.token(t, svc.ClientID, svc.ClientSecret, "results:read").AccessToken
		if kid := tokenKID(t, after); kid != planned.ID || !slices.Contains(jwksBefore, kid) {
			t.Errorf("a token after the immediate rotation has kid %q, want %s, published before (%v)", kid, planned.ID, jwksBefore)
		}
		n2 := keyInState(t, ts, storage.KeyNext)
		if got := ts.jwksKids(t); len(got) != 3 || got[0] != planned.ID || !slices.Contains(got, first) || !slices.Contains(got, n2) {
			t.Errorf("JWKS after rotating = %v, want the new key first, the retired key kept, a new next key %s", got, n2)
		}
		if !ts.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), before) {
			t.Error("a token of the retired key fails introspection before it expires")
		}
		states := map[string]keys.KeyInfo{}
		for _, k := range ts.listKeys(t) {
			states[k.ID] = k
		}
		if states[first].State != "retired" || states[planned.ID].State != "active" || states[first].RemovesAt.IsZero() {
			t.Errorf("keys after rotating = %+v", states)
		}
		if n, ok := ts.metric(t, "hallpass_signing_keys", `state="retired"`); !ok || n != 1 {
			t.Errorf("hallpass_signing_keys{state=retired} = %v (present %v), want 1", n, ok)
		}
		if n, ok := ts.metric(t, "hallpass_signing_key_next_rotation_seconds", ""); !ok || n < float64(29*24*3600) {
			t.Errorf("hallpass_signing_key_next_rotation_seconds = %v (present %v), want about 30 days", n, ok)
		}
		if n, ok := ts.metric(t, "hallpass_signing_key_active_age_seconds", ""); !ok || n < 0 || n > 60 {
			t.Errorf("hallpass_signing_key_active_age_seconds = %v (present %v), want just rotated", n, ok)
		}

		// Revoking the retired key pulls it from the JWKS at once, and its
		// tokens stop passing introspection.
		res = ts.admin(t, http.MethodPost, "/admin/keys/"+first+"/revoke", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("revoke: status %d: %s", res.Status, res.Body)
		}
		var rv provider.RevokeResponse
		if err := json.Unmarshal(res.Body, &rv); err != nil || rv.Revoked != first || rv.ActiveKID != planned.ID {
			t.Errorf("revoke = %s (%v)", res.Body, err)
		}
		if got := ts.jwksKids(t); slices.Contains(got, first) {
			t.Errorf("JWKS after revoking %s = %v", first, got)
		}
		if ts.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), before) {
			t.Error("a token of the revoked key still passes introspection")
		}
		if !ts.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), after) {
			t.Error("a token of the current key fails introspection after another key was revoked")
		}
		res = ts.admin(t, http.MethodPost, "/admin/keys/"+first+"/revoke", nil)
		assertError(t, res, http.StatusNotFound, "not_found")

		// Revoking the active key promotes the published next key.
		res = ts.admin(t, http.MethodPost, "/admin/keys/"+planned.ID+"/revoke", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("revoke active: status %d: %s", res.Status, res.Body)
		}
		rv = provider.RevokeResponse{}
		_ = json.Unmarshal(res.Body, &rv)
		if rv.ActiveKID != n2 || rv.UnpublishedKey || rv.Warning != "" || ts.Keys.ActiveKeyID() != n2 {
			t.Errorf("revoke active = %+v; signing with %q; want the next key %s", rv, ts.Keys.ActiveKeyID(), n2)
		}
		n3 := keyInState(t, ts, storage.KeyNext)
		if got := ts.jwksKids(t); !slices.Equal(got, []string{n2, n3}) {
			t.Errorf("JWKS after revoking the active key = %v, want [%s %s]", got, n2, n3)
		}
		if ts.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), after) {
			t.Error("a token of the revoked active key still passes introspection")
		}
		fresh := ts.token(t, svc.ClientID, svc.ClientSecret, "results:read").AccessToken
		if tokenKID(t, fresh) != n2 || !ts.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), fresh) {
			t.Error("tokens after revoking the active key are not signed with the promoted key")
		}

		// With no next key (removed behind hallpass's back), an immediate
		// rotation signs with a key no cache holds, and the answer says so.
		if err := ts.Store.DeleteKey(t.Context(), n3); err != nil {
			t.Fatal(err)
		}
		res = ts.admin(t, http.MethodPost, "/admin/keys/rotate", map[string]any{"immediate": true})
		if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"unpublished_key":true`) ||
			!strings.Contains(string(res.Body), `"warning":`) {
			t.Errorf("immediate rotate without a next key: status %d: %s", res.Status, res.Body)
		}
		keyInState(t, ts, storage.KeyNext) // and a next key is published again
	})
}

// keyInState returns the kid of the only stored key in state.
func keyInState(t *testing.T, ts *testServer, state storage.KeyState) string {
	t.Helper()
	var out []string
	for _, k := range ts.listKeys(t) {
		if k.State == state {
			out = append(out, k.ID)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d %s keys listed (%v), want 1", len(out), state, out)
	}
	return out[0]
}

// TestKeysAcrossReplicas runs two full provider stacks on one database: a
// rotation made through one reaches the other at its next key refresh, and
// tokens each signed verify on both.
func TestKeysAcrossReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		a := newTestServer(t, dsn)
		// Replicas share the issuer; b is reached at its own address.
		b := newTestServer(t, dsn, func(c *provider.Config) { c.Issuer = a.URL })
		if a.Keys.ActiveKeyID() != b.Keys.ActiveKeyID() {
			t.Fatal("two replicas on one database start with different keys")
		}
		svc := a.registerService(t, "client_secret_basic", "results:read")
		fromA := a.token(t, svc.ClientID, svc.ClientSecret, "results:read").AccessToken

		// Both publish the next key from the start.
		planned := a.rotate(t, nil)
		if !slices.Contains(b.jwksKids(t), planned.ID) || !slices.Contains(a.jwksKids(t), planned.ID) {
			t.Fatal("a replica does not publish the next key")
		}
		if err := b.Keys.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		b.rotate(t, map[string]any{"immediate": true})
		fromB := b.token(t, svc.ClientID, svc.ClientSecret, "results:read").AccessToken
		if tokenKID(t, fromB) != planned.ID {
			t.Fatal("replica b does not sign with the key it promoted")
		}
		if err := a.Keys.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		for name, ts := range map[string]*testServer{"a": a, "b": b} {
			for tokName, tok := range map[string]string{"a's token": fromA, "b's token": fromB} {
				if !ts.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), tok) {
					t.Errorf("replica %s: %s fails introspection", name, tokName)
				}
			}
		}
		if a.Keys.ActiveKeyID() != planned.ID {
			t.Error("replica a does not sign with the new key after its refresh")
		}
	})
}

func TestProviderRefusesTokensOutlivingKeys(t *testing.T) {
	ts := newTestServer(t, "sqlite:"+t.TempDir()+"/x.db")
	_, err := provider.New(provider.Config{
		Issuer: ts.URL, Store: ts.Store, Keys: ts.Keys,
		AdminTokenDigest: make([]byte, 32), TokenSecret: make([]byte, 32),
		IDTokenLifespan: 2 * time.Hour,
	})
	if err == nil {
		t.Fatal("provider.New accepted ID tokens living longer than the key manager keeps retired keys")
	}
}

// TestRevokedKeyRefreshTokensWork is the compromise drill: revoking the
// active key makes the tokens it signed inactive at introspection and its
// ID tokens refused as id_token_hint, the published next key signs from then
// on, and the refresh token (not signed with the key) gets new tokens
// signed with it.
func TestRevokedKeyRefreshTokensWork(t *testing.T) {
	withSSOEnv(t, "revoke active key", func(t *testing.T, e *ssoEnv) {
		ar := e.Confidential.request("openid offline_access results:read")
		tok := e.signInTokens(t, e.newBrowser(t), ar, "alice", alicePassword)
		revoked := e.Keys.ActiveKeyID()
		if tokenKID(t, tok.AccessToken) != revoked || tok.RefreshToken == "" {
			t.Fatalf("sign-in tokens: kid %q, refresh token %v", tokenKID(t, tok.AccessToken), tok.RefreshToken != "")
		}
		endSession := e.URL + provider.PathEndSession
		hint := url.Values{"id_token_hint": {idTokenOf(t, tok)}}.Encode()
		if p := e.newBrowser(t).get(t, endSession+"?"+hint); p.Status == http.StatusBadRequest {
			t.Fatalf("the ID token is refused as id_token_hint before the revocation: %s", p)
		}
		jwksBefore := e.jwksKids(t)

		res := e.admin(t, http.MethodPost, "/admin/keys/"+revoked+"/revoke", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("revoke: status %d: %s", res.Status, res.Body)
		}
		if slices.Contains(e.jwksKids(t), revoked) {
			t.Error("the revoked key is still in the JWKS")
		}
		if e.Active(t, e.adminCred(), tok.AccessToken) {
			t.Error("an access token of the revoked key passes introspection")
		}
		e.newBrowser(t).get(t, endSession+"?"+hint).wantErrorPage(t, http.StatusBadRequest)

		fresh := oauthtest.DecodeToken(t, e.refresh(t, e.Confidential, tok.RefreshToken, ""))
		active := e.Keys.ActiveKeyID()
		if active == revoked || !slices.Contains(jwksBefore, active) {
			t.Errorf("signing with %q after the revocation, want the next key published before it (%v)", active, jwksBefore)
		}
		if tokenKID(t, fresh.AccessToken) != active || tokenKID(t, fresh.IDToken) != active {
			t.Errorf("tokens after refresh signed with %q / %q, want the new key %q",
				tokenKID(t, fresh.AccessToken), tokenKID(t, fresh.IDToken), active)
		}
		if !e.Active(t, e.adminCred(), fresh.AccessToken) {
			t.Error("the refreshed access token fails introspection")
		}
		freshHint := url.Values{"id_token_hint": {fresh.IDToken}}.Encode()
		if p := e.newBrowser(t).get(t, endSession+"?"+freshHint); p.Status == http.StatusBadRequest {
			t.Errorf("the new key's ID token is refused as id_token_hint: %s", p)
		}
	})
}
