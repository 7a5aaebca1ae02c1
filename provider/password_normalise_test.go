package provider_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// One password in its two canonical spellings: "é" as one code point
// (NFC) and as e + combining acute (NFD).
var (
	accentedNFC = norm.NFC.String("crème-brûlée-café-Noël-42")
	accentedNFD = norm.NFD.String("crème-brûlée-café-Noël-42")
)

// legacyHash is the hash hallpass made of password before passwords were
// normalised: argon2id of the bytes as typed, without norm=nfkc.
func legacyHash(t *testing.T, password string) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte(password), salt, 2, 19*1024, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$%s$%s", base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// TestSignInNormalisedPassword, over HTTP: a password set through the
// admin API in one Unicode spelling signs in typed in the other, at the
// login page and as the account page's current password; a password the
// account page sets in full-width letters signs in typed in ASCII; a
// legacy hash (of the password as typed, made before normalisation)
// still signs in as typed.
func TestSignInNormalisedPassword(t *testing.T) {
	if accentedNFC == accentedNFD {
		t.Fatal("the NFC and NFD spellings are the same bytes: the test would prove nothing")
	}
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		ctx := context.Background()
		for name, pw := range map[string]string{"chloe": accentedNFD, "dora": accentedNFC} {
			wantStatus(t, "create "+name, e.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": name, "password": pw, "roles": []string{"student"}}), http.StatusCreated)
		}
		if err := e.Store.CreateUser(ctx, &storage.User{ID: "legacy-erin", Username: "erin", PasswordHash: legacyHash(t, accentedNFD), Roles: []string{"student"}}); err != nil {
			t.Fatalf("store erin: %v", err)
		}
		for _, tc := range []struct {
			name, username, password string
			want                     bool
		}{
			{"NFD set, NFC typed", "chloe", accentedNFC, true},
			{"NFD set, NFD typed", "chloe", accentedNFD, true},
			{"NFC set, NFD typed", "dora", accentedNFD, true},
			{"legacy NFD hash, NFD typed", "erin", accentedNFD, true},
			// A legacy hash is checked against the password as typed only
			// (directory.CheckPassword says why).
			{"legacy NFD hash, NFC typed", "erin", accentedNFC, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if !tc.want {
					e.wantLoginRefused(t, e.Confidential, tc.username, tc.password)
					return
				}
				cb, _ := e.newBrowser(t).signIn(t, e.Confidential.request("openid"), tc.username, tc.password)
				cb.wantCode(t)
			})
		}

		t.Run("account page", func(t *testing.T) {
			b := e.newBrowser(t)
			if p := e.consoleSignIn(t, b, provider.PathAccount, "chloe", accentedNFD); p.Status != http.StatusOK {
				t.Fatalf("chloe's account page: %s", p)
			}
			const fullWidth = "ｑｕｉｅｔ ｃｏｐｐｅｒ ｍｅａｄｏｗ ７"
			p := b.post(t, e.URL+"/account/password", url.Values{"current": {accentedNFC}, "new": {fullWidth}, "confirm": {fullWidth}, "csrf": {b.formCSRF(t, e)}})
			if p.Status != http.StatusOK || p.kind() == "login" || strings.Contains(p.Body, `role="alert"`) {
				t.Fatalf("chloe's password change, the current one typed in NFC: %s", p)
			}
			cb, _ := e.newBrowser(t).signIn(t, e.Confidential.request("openid"), "chloe", "quiet copper meadow 7")
			cb.wantCode(t)
		})
	})
}

// TestAdminPasswordControlCharacters: the admin API refuses a new
// password holding a control character (tab, line break) with 400
// invalid_request naming the problem, never quoting the password, and
// stores nothing: no user created, no password changed.
func TestAdminPasswordControlCharacters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "alice", ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "alice", "password": "violet-otter-harbour-31"}), http.StatusCreated)
		for _, pw := range []string{"gentle-walrus\ttuba-94", "gentle-walrus\ntuba-94", "gentle-walrus\rtuba-94", "gentle-walrus\u0085tuba-94"} {
			for _, call := range []struct{ method, path, username string }{
				{http.MethodPost, "/admin/users", "dave"},
				{http.MethodPut, "/admin/users/alice", "alice"},
			} {
				t.Run(fmt.Sprintf("%s %+q", call.method, pw), func(t *testing.T) {
					before := ts.directory(t)
					res := ts.admin(t, call.method, call.path, map[string]any{"username": call.username, "password": pw})
					assertError(t, res, http.StatusBadRequest, "invalid_request")
					if !strings.Contains(string(res.Body), "without control characters") {
						t.Errorf("the refusal does not say what is wrong: %s", res.Body)
					}
					assertNoPassword(t, res, "walrus", "tuba")
					ts.assertDirectoryUnchanged(t, before)
				})
			}
		}
	})
}

// TestSignInLongSpelling, over HTTP: a password of 120 Hangul syllables,
// 360 bytes in NFC but 1080 in NFD (more than directory.MaxPasswordLen),
// set in NFC signs in typed in NFD, at the login page and as the account
// page's current password; and the account page takes a new password
// typed in NFD in one box and in NFC in the other as the same password,
// which then signs in.
func TestSignInLongSpelling(t *testing.T) {
	var b strings.Builder
	for i := range 120 {
		s := (i*7919 + 13) % 11172
		if s%28 == 0 {
			s++ // a syllable with a final consonant: three jamo in NFD
		}
		b.WriteRune(rune(0xAC00 + s))
	}
	nfc, nfd := norm.NFC.String(b.String()), norm.NFD.String(b.String())
	if len(nfd) <= directory.MaxPasswordLen || len(nfc) > directory.MaxPasswordLen {
		t.Fatalf("the spellings are %d (NFC) and %d (NFD) bytes: the test would prove nothing", len(nfc), len(nfd))
	}
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		wantStatus(t, "create hana", e.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "hana", "password": nfc, "roles": []string{"student"}}), http.StatusCreated)
		cb, _ := e.newBrowser(t).signIn(t, e.Confidential.request("openid"), "hana", nfd)
		cb.wantCode(t)

		br := e.newBrowser(t)
		if p := e.consoleSignIn(t, br, provider.PathAccount, "hana", nfd); p.Status != http.StatusOK {
			t.Fatalf("hana's account page: %s", p)
		}
		p := br.post(t, e.URL+"/account/password", url.Values{"current": {nfd}, "new": {accentedNFD}, "confirm": {accentedNFC}, "csrf": {br.formCSRF(t, e)}})
		if p.Status != http.StatusOK || p.kind() == "login" || strings.Contains(p.Body, `role="alert"`) {
			t.Fatalf("hana's password change, the current one typed in NFD, the new one in NFD then NFC: %s", p)
		}
		cb, _ = e.newBrowser(t).signIn(t, e.Confidential.request("openid"), "hana", accentedNFC)
		cb.wantCode(t)
	})
}
