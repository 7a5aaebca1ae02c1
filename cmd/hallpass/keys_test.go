package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/storage"
)

// hallpass runs one command line in-process against database db.
func hallpass(t *testing.T, db string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb syncBuffer
	code = run(context.Background(), append([]string{"--database", db}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func keysList(t *testing.T, db string) []keys.KeyInfo {
	t.Helper()
	out, errOut, code := hallpass(t, db, "keys", "list")
	if code != 0 {
		t.Fatalf("keys list: %s", errOut)
	}
	var infos []keys.KeyInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("keys list output is not JSON: %v\n%s", err, out)
	}
	return infos
}

func keyByID(infos []keys.KeyInfo) map[string]keys.KeyInfo {
	out := map[string]keys.KeyInfo{}
	for _, k := range infos {
		out[k.ID] = k
	}
	return out
}

func TestKeysCommands(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("k", 40))
	db := migrated(t, "sqlite:"+filepath.Join(t.TempDir(), "keys.db"))

	if infos := keysList(t, db); len(infos) != 0 {
		t.Fatalf("keys on a new database: %+v", infos)
	}

	// rotate on a database without keys creates the first key and the next
	// key together, then plans the next key's promotion a lead ahead.
	start := time.Now()
	out, errOut, code := hallpass(t, db, "keys", "rotate")
	if code != 0 {
		t.Fatalf("keys rotate: %s", errOut)
	}
	var planned keys.KeyInfo
	if err := json.Unmarshal([]byte(out), &planned); err != nil {
		t.Fatalf("keys rotate output: %v\n%s", err, out)
	}
	lead := keys.DefaultJWKSMaxAge + time.Minute + keys.ClockSkew
	if planned.State != "next" || planned.ActivatesAt.Before(start.Add(lead)) || planned.ActivatesAt.After(time.Now().Add(lead)) {
		t.Errorf("keys rotate = %+v, want a next key activating %v from now", planned, lead)
	}
	if !strings.Contains(errOut, planned.ID) || !strings.Contains(errOut, "takes over at") {
		t.Errorf("keys rotate says: %q", errOut)
	}
	infos := keysList(t, db)
	byID := keyByID(infos)
	if len(infos) != 2 || byID[planned.ID].State != "next" {
		t.Fatalf("keys list after rotate = %+v", infos)
	}
	var first keys.KeyInfo
	for _, k := range infos {
		if k.State == "active" {
			first = k
		}
	}
	if first.Algorithm != "RS256" || first.CreatedAt.IsZero() || first.ActivatesAt.IsZero() || first.RetiresAt.IsZero() || first.RemovesAt.IsZero() ||
		!first.NotBefore.Equal(first.ActivatesAt) || !first.DeletedAt.Equal(first.RemovesAt) {
		t.Errorf("listed key lacks times: %+v", first)
	}
	// The active key's planned retirement was moved to now, but it keeps
	// signing until the next key's activation, which the listing shows.
	if first.RetiresAt.Before(start) || !first.RetiresAt.Equal(planned.ActivatesAt) {
		t.Errorf("listed active key retires at %v, want the next key's activation %v", first.RetiresAt, planned.ActivatesAt)
	}
	if !strings.Contains(out, `"removes_at"`) || !strings.Contains(out, `"kid"`) || !strings.Contains(out, `"not_before"`) || !strings.Contains(out, `"deleted_at"`) {
		t.Errorf("rotate output: %s", out)
	}

	out, errOut, code = hallpass(t, db, "keys", "rotate", "--immediate")
	if code != 0 || !strings.Contains(out, planned.ID) || !strings.Contains(out, `"state": "active"`) || !strings.Contains(out, `"immediate": true`) {
		t.Fatalf("keys rotate --immediate: %d %s %s", code, out, errOut)
	}
	if strings.Contains(out, "unpublished_key") || strings.Contains(errOut, "warning") {
		t.Errorf("keys rotate --immediate warns although the next key was published: %s %s", out, errOut)
	}
	infos = keysList(t, db)
	byID = keyByID(infos)
	if len(infos) != 3 || byID[first.ID].State != "retired" || byID[planned.ID].State != "active" {
		t.Fatalf("keys after the immediate rotation: %+v", byID)
	}
	var n2 string
	for _, k := range infos {
		if k.State == "next" {
			n2 = k.ID
		}
	}

	out, errOut, code = hallpass(t, db, "keys", "revoke", "--", first.ID)
	if code != 0 || !strings.Contains(out, `"revoked_kid": "`+first.ID) || !strings.Contains(out, `"active_kid": "`+planned.ID) {
		t.Fatalf("keys revoke: %d %s %s", code, out, errOut)
	}
	if byID := keyByID(keysList(t, db)); len(byID) != 2 || byID[planned.ID].State != "active" || byID[n2].State != "next" {
		t.Errorf("keys after revoking the retired key: %+v", byID)
	}

	// Revoking the active key promotes the published next key.
	out, errOut, code = hallpass(t, db, "keys", "revoke", "--", planned.ID)
	if code != 0 || !strings.Contains(out, `"active_kid": "`+n2) || strings.Contains(errOut, "warning") {
		t.Fatalf("keys revoke of the active key: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := hallpass(t, db, "keys", "revoke", "--", first.ID); code == 0 || !strings.Contains(errOut, "no signing key") {
		t.Errorf("revoking a revoked key: %d %s", code, errOut)
	}

	if _, errOut, code := hallpass(t, db, "keys", "rotate", "--key-rotation-period", "30m"); code == 0 || !strings.Contains(errOut, "--key-rotation-period 30m0s is too short: the minimum is 1h0m0s") {
		t.Errorf("keys rotate with a 30m period: %d %s", code, errOut)
	}

	// Without a secret the commands refuse instead of making one up.
	os.Unsetenv("HALLPASS_SECRET")
	if _, errOut, code := hallpass(t, db, "keys", "rotate"); code == 0 || !strings.Contains(errOut, "no key-encryption secret") {
		t.Errorf("keys rotate without a secret: %d %s", code, errOut)
	}
	if _, err := os.Stat(strings.TrimPrefix(db, "sqlite:") + ".secret"); err == nil {
		t.Error("keys rotate generated a secret file")
	}
}

func TestRotationPeriodFlag(t *testing.T) {
	chdirTemp(t)
	t.Setenv("HALLPASS_SECRET", strings.Repeat("r", 40))
	t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
	var stderr syncBuffer
	if code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--key-rotation-period", "30m"}, &syncBuffer{}, &stderr); code == 0 {
		t.Fatal("serve accepted a 30m rotation period")
	}
	if !strings.Contains(stderr.String(), "--key-rotation-period 30m0s is too short: the minimum is 1h0m0s") {
		t.Errorf("stderr = %s", stderr.String())
	}
	t.Setenv("HALLPASS_KEY_ROTATION_PERIOD", "59m")
	stderr = syncBuffer{}
	if code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, &syncBuffer{}, &stderr); code == 0 || !strings.Contains(stderr.String(), "too short") {
		t.Errorf("HALLPASS_KEY_ROTATION_PERIOD=59m: code %d, %s", code, stderr.String())
	}
	t.Setenv("HALLPASS_KEY_ROTATION_PERIOD", "2h")
	in := startServe(t, "--database", "sqlite:period.db")
	in.stop()
	infos := keysList(t, "sqlite:period.db")
	if len(infos) != 2 {
		t.Errorf("keys after serving with a 2h period: %+v, want the active and the next key", infos)
	}
	for _, k := range infos {
		if k.RetiresAt.Sub(k.ActivatesAt) != 2*time.Hour {
			t.Errorf("key after serving with a 2h period: %+v", k)
		}
	}
}

// TestServeFollowsRotation runs two servers on one database with a short
// key refresh: a rotation made from the command line reaches both within
// the refresh bound, both then sign with the new key, and a token signed
// before verifies on both.
func TestServeFollowsRotation(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			chdirTemp(t)
			db := b.DSN(t)
			t.Setenv("HALLPASS_SECRET", strings.Repeat("f", 40))
			t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
			const refresh = time.Second
			servers := []*instance{
				startServe(t, "--database", db, "--key-refresh", refresh.String()),
				startServe(t, "--database", db, "--key-refresh", refresh.String()),
			}
			resp, reg := postJSON(t, servers[0].base+"/oauth2/register", "test-admin-token-test-admin-token", map[string]any{
				"grant_types": []string{"client_credentials"}, "scope": "results:read",
			})
			if resp.StatusCode != 201 {
				t.Fatalf("register: %d %v", resp.StatusCode, reg)
			}
			token := func(in *instance) string {
				t.Helper()
				cc := clientcredentials.Config{ClientID: reg["client_id"].(string), ClientSecret: reg["client_secret"].(string), TokenURL: in.base + "/oauth2/token"}
				tok, err := cc.Token(context.Background())
				if err != nil {
					t.Fatalf("token: %v", err)
				}
				return tok.AccessToken
			}
			old := token(servers[1])

			out, errOut, code := hallpass(t, db, "keys", "rotate", "--immediate")
			if code != 0 {
				t.Fatalf("keys rotate --immediate: %s", errOut)
			}
			var rotated keys.KeyInfo
			if err := json.Unmarshal([]byte(out), &rotated); err != nil {
				t.Fatal(err)
			}
			rotatedAt := time.Now()
			for i, in := range servers {
				for jwks(t, in.base).Keys[0].KeyID != rotated.ID {
					if time.Since(rotatedAt) > refresh+2*time.Second {
						t.Fatalf("server %d does not serve the new key first %v after the rotation", i, time.Since(rotatedAt))
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			for i, in := range servers {
				set := jwks(t, in.base)
				verify(t, set, old)
				tok := token(in)
				if claims := verify(t, set, tok); claims["client_id"] != reg["client_id"] {
					t.Errorf("server %d: claims %v", i, claims)
				}
				if kid := set.Keys[0].KeyID; kid != rotated.ID {
					t.Errorf("server %d signs with %q after the rotation, want %q", i, kid, rotated.ID)
				}
			}
		})
	}
}

func TestKeysReencrypt(t *testing.T) {
	t.Run("HALLPASS_SECRET", func(t *testing.T) {
		chdirTemp(t)
		oldSecret, newSecret := strings.Repeat("o", 40), strings.Repeat("n", 40)
		t.Setenv("HALLPASS_SECRET", oldSecret)
		t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
		first := startServe(t)
		resp, reg := postJSON(t, first.base+"/oauth2/register", "test-admin-token-test-admin-token", map[string]any{
			"grant_types": []string{"client_credentials"}, "scope": "results:read",
		})
		if resp.StatusCode != 201 {
			t.Fatalf("register: %d %v", resp.StatusCode, reg)
		}
		cc := clientcredentials.Config{ClientID: reg["client_id"].(string), ClientSecret: reg["client_secret"].(string), TokenURL: first.base + "/oauth2/token"}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		kid := jwks(t, first.base).Keys[0].KeyID
		first.stop()
		// A user's authenticator secret, sealed as the provider seals it.
		totpAD := []byte("hallpass totp secret u-1")
		st := testdb.Open(t, "sqlite:hallpass.db")
		oldSealer, _ := keys.NewSealer([]byte(oldSecret))
		sealedTOTP, _ := oldSealer.Seal([]byte("JBSWY3DPEHPK3PXP"), totpAD)
		if err := st.CreateUser(context.Background(), &storage.User{ID: "u-1", Username: "carol", PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutTOTP(context.Background(), &storage.TOTP{UserID: "u-1", Secret: sealedTOTP, LastStep: 9}); err != nil {
			t.Fatal(err)
		}

		if _, errOut, code := hallpass(t, "sqlite:hallpass.db", "keys", "reencrypt"); code == 0 || !strings.Contains(errOut, "HALLPASS_NEW_SECRET") {
			t.Errorf("reencrypt without HALLPASS_NEW_SECRET: %d %s", code, errOut)
		}
		t.Setenv("HALLPASS_NEW_SECRET", oldSecret)
		if _, errOut, code := hallpass(t, "sqlite:hallpass.db", "keys", "reencrypt"); code == 0 || !strings.Contains(errOut, "is the current secret") {
			t.Errorf("reencrypt to the same secret: %d %s", code, errOut)
		}
		t.Setenv("HALLPASS_NEW_SECRET", newSecret)
		out, errOut, code := hallpass(t, "sqlite:hallpass.db", "keys", "reencrypt")
		if code != 0 || !strings.Contains(out, "re-encrypted 2 signing keys, 2 settings and 1 authenticator secrets") || !strings.Contains(out, "set HALLPASS_SECRET") {
			t.Fatalf("reencrypt: %d %s %s", code, out, errOut)
		}
		newSealer, _ := keys.NewSealer([]byte(newSecret))
		if got, err := st.GetTOTP(context.Background(), "u-1"); err != nil || got.LastStep != 9 {
			t.Fatalf("authenticator after reencrypt: %+v, %v", got, err)
		} else if pt, err := newSealer.Open(got.Secret, totpAD); err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
			t.Errorf("authenticator secret after reencrypt: %q, %v", pt, err)
		}

		var stderr syncBuffer
		if code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, &syncBuffer{}, &stderr); code == 0 || !strings.Contains(stderr.String(), "HALLPASS_SECRET does not match") {
			t.Fatalf("serve with the old secret after reencrypt: %d %s", code, stderr.String())
		}
		t.Setenv("HALLPASS_SECRET", newSecret)
		second := startServe(t) // opens the re-sealed token secret too
		set := jwks(t, second.base)
		if len(set.Keys) != 2 || set.Keys[0].KeyID != kid {
			t.Errorf("keys after reencrypt: %v, want %s first and the next key", set.Keys, kid)
		}
		verify(t, set, tok.AccessToken)
		cc.TokenURL = second.base + "/oauth2/token"
		if _, err := cc.Token(context.Background()); err != nil {
			t.Errorf("token after reencrypt: %v", err)
		}
	})

	t.Run("secret file", func(t *testing.T) {
		dir := chdirTemp(t)
		t.Setenv("HALLPASS_SECRET", "")
		os.Unsetenv("HALLPASS_SECRET")
		t.Setenv("HALLPASS_ADMIN_TOKEN", "test-admin-token-test-admin-token")
		startServe(t).stop()
		file := filepath.Join(dir, "hallpass.db.secret")
		newSecret := strings.Repeat("m", 40)
		t.Setenv("HALLPASS_NEW_SECRET", newSecret)
		out, errOut, code := hallpass(t, "sqlite:hallpass.db", "keys", "reencrypt")
		if code != 0 || !strings.Contains(out, "hallpass.db.secret now holds the new secret") {
			t.Fatalf("reencrypt: %d %s %s", code, out, errOut)
		}
		b, err := os.ReadFile(file)
		if err != nil || strings.TrimSpace(string(b)) != newSecret {
			t.Fatalf("secret file after reencrypt: %q, %v", b, err)
		}
		if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
			t.Errorf("secret file mode %v, want 0600", info.Mode().Perm())
		}
		startServe(t) // starts with the rewritten file
	})
}

// TestReencryptRefusesPaddedNewSecret: a HALLPASS_NEW_SECRET with
// whitespace at either end is refused before anything is re-sealed. The
// secret file is read trimmed, so re-sealing under the padded value and
// writing it there left a file whose secret opened none of the keys.
func TestReencryptRefusesPaddedNewSecret(t *testing.T) {
	for _, pad := range []struct{ name, before, after string }{
		{"trailing newline", "", "\n"},
		{"trailing space", "", " "},
		{"leading tab", "\t", ""},
	} {
		t.Run(pad.name, func(t *testing.T) {
			dir := chdirTemp(t)
			t.Setenv("HALLPASS_SECRET", "")
			os.Unsetenv("HALLPASS_SECRET")
			file := filepath.Join(dir, "hallpass.db.secret")
			oldSecret := strings.Repeat("o", 40)
			if err := os.WriteFile(file, []byte(oldSecret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, errOut, code := hallpass(t, "sqlite:hallpass.db", "migrate"); code != 0 {
				t.Fatalf("migrate: %s", errOut)
			}
			if _, errOut, code := hallpass(t, "sqlite:hallpass.db", "keys", "rotate"); code != 0 {
				t.Fatalf("keys rotate (creates the keys): %s", errOut)
			}
			t.Setenv("HALLPASS_NEW_SECRET", pad.before+strings.Repeat("n", 40)+pad.after)
			if _, errOut, code := hallpass(t, "sqlite:hallpass.db", "keys", "reencrypt"); code == 0 || !strings.Contains(errOut, "whitespace") {
				t.Errorf("reencrypt to a padded secret: exit %d, %s; want a refusal naming the whitespace", code, errOut)
			}
			if b, err := os.ReadFile(file); err != nil || string(b) != oldSecret+"\n" {
				t.Errorf("secret file after the refusal: %q, %v; want it unchanged", b, err)
			}
			// The file's secret still opens every key.
			if _, errOut, code := hallpass(t, "sqlite:hallpass.db", "keys", "rotate"); code != 0 {
				t.Errorf("keys rotate with the file's secret after the refused reencrypt: %s", errOut)
			}
		})
	}
}
