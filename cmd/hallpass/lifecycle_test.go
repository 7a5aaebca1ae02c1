package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/backend"
)

// introspectBasic asks in's introspection endpoint about token as client
// (id, secret) and returns the decoded answer, failing unless it is 200.
func introspectBasic(t *testing.T, base, id, secret, token string) map[string]any {
	t.Helper()
	return oauthtest.Client{Issuer: base}.Introspection(t, oauthtest.Basic(id, secret), token, "")
}

// TestClientsRevokeTokensCommand runs `hallpass clients revoke-tokens`
// against the database a running `hallpass serve` uses, on every backend:
// the client's tokens turn inactive at once, other clients' stay, and the
// client keeps getting new ones.
func TestClientsRevokeTokensCommand(t *testing.T) {
	const adminToken = "test-admin-token-test-admin-token"
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			var db string
			if b.Name == "sqlite" {
				db = "sqlite:" + filepath.Join(t.TempDir(), "revoke.db")
			} else {
				db = b.DSN(t)
			}
			chdirTemp(t)
			t.Setenv("HALLPASS_SECRET", strings.Repeat("r", 40))
			t.Setenv("HALLPASS_ADMIN_TOKEN", adminToken)
			in := startServe(t, "--database", db)
			hp := func(args ...string) (string, string, int) {
				var out, errb syncBuffer
				code := run(context.Background(), append([]string{"--database", db}, args...), &out, &errb)
				return out.String(), errb.String(), code
			}

			register := func() clientcredentials.Config {
				t.Helper()
				resp, reg := postJSON(t, in.base+"/oauth2/register", adminToken, map[string]any{
					"grant_types": []string{"client_credentials"}, "scope": "results:read",
				})
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("register: %d %v", resp.StatusCode, reg)
				}
				return clientcredentials.Config{ClientID: reg["client_id"].(string), ClientSecret: reg["client_secret"].(string), TokenURL: in.base + "/oauth2/token"}
			}
			token := func(cc clientcredentials.Config) string {
				t.Helper()
				tok, err := cc.Token(context.Background())
				if err != nil {
					t.Fatalf("token for %s: %v", cc.ClientID, err)
				}
				return tok.AccessToken
			}
			a, other := register(), register()
			// The introspecting resource server is a client of its own,
			// speaking for the tokens' audience (the issuer: no scope here
			// names a resource server), made with the CLI, which with the
			// admin API is the only way to set resource_servers.
			discResp, discErr := http.Get(in.base + "/.well-known/openid-configuration")
			if discErr != nil {
				t.Fatal(discErr)
			}
			var disc struct {
				Issuer string `json:"issuer"`
			}
			discErr = json.NewDecoder(discResp.Body).Decode(&disc)
			discResp.Body.Close()
			if discErr != nil || disc.Issuer == "" {
				t.Fatalf("discovery: issuer %q, %v", disc.Issuer, discErr)
			}
			created, errOut, code := hp("clients", "create", "--grant-type", "client_credentials", "--resource-server", disc.Issuer)
			if code != 0 {
				t.Fatalf("clients create: exit %d: %s", code, errOut)
			}
			var rsMeta struct {
				ID              string   `json:"client_id"`
				Secret          string   `json:"client_secret"`
				ResourceServers []string `json:"resource_servers"`
			}
			if err := json.Unmarshal([]byte(created), &rsMeta); err != nil || !slices.Equal(rsMeta.ResourceServers, []string{disc.Issuer}) {
				t.Fatalf("clients create --resource-server printed %s (%v)", created, err)
			}
			rs := clientcredentials.Config{ClientID: rsMeta.ID, ClientSecret: rsMeta.Secret}
			active := func(tok string) bool {
				t.Helper()
				m := introspectBasic(t, in.base, rs.ClientID, rs.ClientSecret, tok)
				if m["active"] == true {
					return true
				}
				if !reflect.DeepEqual(m, map[string]any{"active": false}) {
					t.Errorf("inactive answer %v, want exactly {\"active\":false}", m)
				}
				return false
			}
			aTok1, aTok2, otherTok := token(a), token(a), token(other)
			for _, tok := range []string{aTok1, aTok2, otherTok} {
				if !active(tok) {
					t.Fatal("fresh token inactive")
				}
			}
			// A client that is neither the token's nor its audience's
			// learns nothing about it.
			if m := introspectBasic(t, in.base, other.ClientID, other.ClientSecret, aTok1); !reflect.DeepEqual(m, map[string]any{"active": false}) {
				t.Errorf("another client's introspection of a's token = %v, want exactly {\"active\":false}", m)
			}

			out, errOut, code := hp("clients", "revoke-tokens", a.ClientID)
			if code != 0 {
				t.Fatalf("revoke-tokens: exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, a.ClientID) {
				t.Errorf("revoke-tokens printed %q, want it to name the client", out)
			}
			// The server keeps clients in memory and honours a change made
			// elsewhere (here, the CLI) within a second (storage/cached).
			if !eventually(5*time.Second, func() bool { return !active(aTok1) && !active(aTok2) }) {
				t.Error("a token of the client is still active after revoke-tokens")
			}
			if !active(otherTok) {
				t.Error("revoke-tokens revoked another client's token")
			}
			if !active(token(a)) {
				t.Error("the client's new token after revoke-tokens is inactive")
			}
			if _, errOut, code := hp("clients", "get", a.ClientID); code != 0 {
				t.Errorf("the client is gone after revoke-tokens: %s", errOut)
			}

			// Errors: an unknown client, no client.
			if _, errOut, code := hp("clients", "revoke-tokens", "no-such-client"); code == 0 || !strings.Contains(errOut, "no-such-client") {
				t.Errorf("unknown client: exit %d, stderr %q; want a failure naming it", code, errOut)
			}
			if _, _, code := hp("clients", "revoke-tokens"); code == 0 {
				t.Error("revoke-tokens without a client id succeeded")
			}
			if !active(otherTok) {
				t.Error("a failed revoke-tokens revoked something")
			}

			// The admin API does the same through the running server.
			req, _ := http.NewRequest(http.MethodPost, in.base+"/admin/clients/"+url.PathEscape(other.ClientID)+"/revoke-tokens", nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("POST /admin/clients/{id}/revoke-tokens: %d, want 204", resp.StatusCode)
			}
			if active(otherTok) {
				t.Error("token still active after revoke-tokens through the admin API")
			}
		})
	}
}

// TestServeRunsHousekeeping: `hallpass serve` deletes expired rows in the
// background and keeps live ones, on every backend.
func TestServeRunsHousekeeping(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			var db string
			if b.Name == "sqlite" {
				db = "sqlite:" + filepath.Join(t.TempDir(), "housekeeping.db")
			} else {
				db = b.DSN(t)
			}
			chdirTemp(t)
			t.Setenv("HALLPASS_SECRET", strings.Repeat("h", 40))
			t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
			startServe(t, "--database", db, "--housekeeping-interval", "20ms")

			ctx := context.Background()
			st, err := backend.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			now := time.Now().UTC()
			for sig, exp := range map[string]time.Time{"expired": now.Add(-time.Minute), "live": now.Add(time.Hour)} {
				tok := &storage.Token{Kind: storage.KindAccessToken, Signature: sig, RequestID: "req-" + sig, RequestedAt: now.Add(-time.Hour),
					ClientID: "c", Subject: "s", Session: []byte(`{}`), Active: true, ExpiresAt: exp}
				if err := st.CreateToken(ctx, tok); err != nil {
					t.Fatal(err)
				}
			}
			// Wait for a pass: the interval is 20 ms, the deadline generous.
			deadline := time.Now().Add(15 * time.Second)
			for {
				_, err := st.GetToken(ctx, storage.KindAccessToken, "expired")
				if errors.Is(err, storage.ErrNotFound) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if time.Now().After(deadline) {
					t.Fatal("serve did not delete an expired token row within 15 s (--housekeeping-interval 20ms)")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := st.GetToken(ctx, storage.KindAccessToken, "live"); err != nil {
				t.Errorf("housekeeping deleted a live row: %v", err)
			}
		})
	}
}

// eventually polls ok until it holds, or d has passed: changes made by the
// CLI reach a running server's in-memory clients within a second.
func eventually(d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
