package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// TestAdminUsernameCaseVariants: the admin API answers 409, naming the
// holder, to a user created or renamed to a username that differs from
// another user's only by case, and stores nothing; a user's own username
// may change case.
func TestAdminUsernameCaseVariants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		wantStatus(t, "create alice", ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "alice", "password": "correct horse battery staple"}), http.StatusCreated)
		wantStatus(t, "create bob", ts.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "bob", "password": "maple-cinder-quartz-58"}), http.StatusCreated)

		for _, tc := range []struct{ name, method, path, username string }{
			{"create", http.MethodPost, "/admin/users", "Alice"},
			{"create, upper case", http.MethodPost, "/admin/users", "ALICE"},
			{"rename", http.MethodPut, "/admin/users/bob", "aLiCe"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := ts.directory(t)
				res := ts.admin(t, tc.method, tc.path, map[string]any{"username": tc.username, "password": "another-willow-pass-93"})
				assertError(t, res, http.StatusConflict, "conflict")
				assertNoPassword(t, res, "another-willow-pass-93")
				var body struct {
					Description string `json:"error_description"`
				}
				_ = json.Unmarshal(res.Body, &body)
				if want := `username "` + tc.username + `" is taken (by "alice")`; !strings.Contains(body.Description, want) {
					t.Errorf("error_description = %q, want it to say %q", body.Description, want)
				}
				ts.assertDirectoryUnchanged(t, before)
			})
		}

		res := ts.admin(t, http.MethodPut, "/admin/users/alice", map[string]any{"username": "Alice"})
		wantStatus(t, "alice renamed to Alice", res, http.StatusOK)
	})
}

// TestSignInUsernameCase: a username typed in another case signs its user
// in, through the login form of an app's flow and of the account page;
// the ID token, the access token, userinfo and the audit log carry the
// stored username, and so does the SSO session the sign-in started.
func TestSignInUsernameCase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid profile email results:read")
		cb, tr := b.signIn(t, ar, "ALICE", alicePassword)
		if !tr.Login {
			t.Fatal("the first sign-in did not show the login page")
		}
		cb.wantCode(t)
		tok := e.exchange(t, ar, cb)
		if id := e.idToken(t, e.Confidential, tok, ar.Nonce); id.Sub != e.AliceID || id.PreferredUsername != "alice" {
			t.Errorf("signed in as ALICE: ID token sub %q, preferred_username %q; want alice's %q, %q", id.Sub, id.PreferredUsername, e.AliceID, "alice")
		}
		if at := e.access(t, tok.AccessToken); at.Raw["sub"] != e.AliceID || at.Raw["username"] != "alice" {
			t.Errorf("signed in as ALICE: access token sub %v, username %v; want alice's", at.Raw["sub"], at.Raw["username"])
		}
		res := e.do(t, req{Path: e.URL + provider.PathUserinfo, Auth: "Bearer " + tok.AccessToken})
		if got := res.JSON(t)["preferred_username"]; res.Status != http.StatusOK || got != "alice" {
			t.Errorf("userinfo after signing in as ALICE: %d, preferred_username %v; want alice: %s", res.Status, got, res.Body)
		}
		ok := e.wantAudit(t, "signin.success", nil)
		if d := details(t, ok); ok.Actor != "user:"+e.AliceID || d["username"] != "alice" {
			t.Errorf("signin.success for ALICE: actor %q, username %v; want alice", ok.Actor, d["username"])
		}

		// The session is alice's: the next app request signs in without
		// the login page, as alice.
		ar2 := e.Public.request("openid profile")
		cb2, tr2 := b.signIn(t, ar2, "", "")
		if tr2.Login {
			t.Error("the SSO session of ALICE's sign-in asked for the login again")
		}
		cb2.wantCode(t)
		if id := e.idToken(t, e.Public, e.exchange(t, ar2, cb2), ar2.Nonce); id.Sub != e.AliceID || id.PreferredUsername != "alice" {
			t.Errorf("SSO after signing in as ALICE: sub %q, preferred_username %q; want alice", id.Sub, id.PreferredUsername)
		}

		// The account page's sign-in is the same login form.
		p := e.consoleSignIn(t, e.newBrowser(t), provider.PathAccount, "Bob", bobPassword)
		if p.Status != http.StatusOK || p.URL.Path != provider.PathAccount || !strings.Contains(p.Body, "<dd>bob</dd>") {
			t.Errorf("account page signed in as Bob: want bob's account page, got %s", p)
		}
	})
}

// TestLoginLockAcrossUsernameCase: wrong passwords for one user typed in
// five spellings lock the account after five, as five in one spelling
// do, whatever the spelling of the next try; the spellings include a
// KELVIN SIGN and a LONG S, which equal "k" and "s" under case folding
// (and so name the user), but not under lower-casing alone.
func TestLoginLockAcrossUsernameCase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		clock := &testClock{}
		e := newSSOEnv(t, dsn, patient, func(c *provider.Config) { c.Now = clock.Now })
		const oskarPassword = "fjord-lantern-pebble-72"
		wantStatus(t, "create oskar", e.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "oskar", "password": oskarPassword}), http.StatusCreated)
		spellings := []string{"oskar", "OSKAR", "o\u017fkar", "os\u212aar", "O\u017f\u212aAR"}
		if len(spellings) != accountFreeFailures {
			t.Fatalf("%d spellings for %d free failures", len(spellings), accountFreeFailures)
		}
		b, p := loginPage(t, e)
		for i, name := range spellings {
			wantChecked(t, fmt.Sprintf("wrong password %d, as %q", i+1, name), b.postLogin(t, e.URL, p, name, fmt.Sprintf("wrong-%d", i), ""))
		}
		for _, name := range []string{"oskar", "Oskar", "o\u017fkar"} {
			wantThrottled(t, fmt.Sprintf("the right password as %q after 5 failures in 5 spellings", name), b.postLogin(t, e.URL, p, name, oskarPassword, ""), 60)
		}
		clock.Advance(time.Minute)
		if p := b.postLogin(t, e.URL, p, "O\u017fKAR", oskarPassword, ""); p.kind() != "consent" {
			t.Fatalf("the right password as a LONG S spelling once the lock ended: want the consent page, got %s", p)
		}
	})
}

// TestSignInLegacyCaseVariants: a database from before the directory
// refused case variants holds bob and Bob (and Carol, with no variant).
// Each of bob and Bob signs in by their exact username; BOB names
// neither, and fails exactly as a username nobody holds does, even with
// one of their passwords; carol still finds Carol.
func TestSignInLegacyCaseVariants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		const bigBobPassword, carolPassword = "harbour-quill-meadow-19", "sable-orchard-tinsel-44"
		legacy := map[string]string{"Bob": bigBobPassword, "Carol": carolPassword}
		ids := map[string]string{"bob": e.BobID}
		for _, name := range []string{"Bob", "Carol"} {
			hash, err := directory.HashPassword(legacy[name])
			if err != nil {
				t.Fatal(err)
			}
			ids[name] = "legacy-" + strings.ToLower(name)
			// Straight into the store: the directory would refuse Bob.
			if err := e.Store.CreateUser(context.Background(), &storage.User{ID: ids[name], Username: name, PasswordHash: hash, Roles: []string{"student"}}); err != nil {
				t.Fatalf("store %s: %v", name, err)
			}
		}
		for _, tc := range []struct{ typed, password, want string }{
			{"bob", bobPassword, "bob"},
			{"Bob", bigBobPassword, "Bob"},
			{"carol", carolPassword, "Carol"},
		} {
			ar := e.Confidential.request("openid profile")
			tok := e.signInTokens(t, e.newBrowser(t), ar, tc.typed, tc.password)
			if id := e.idToken(t, e.Confidential, tok, ar.Nonce); id.Sub != ids[tc.want] || id.PreferredUsername != tc.want {
				t.Errorf("signed in as %q: sub %q, preferred_username %q; want %s (%s)", tc.typed, id.Sub, id.PreferredUsername, tc.want, ids[tc.want])
			}
		}

		// BOB, with either Bob's password, against nobody-here.
		failure := func(typed, password string) (page, map[string]any) {
			t.Helper()
			b, p := loginPage(t, e)
			before := logins(t, e.testServer, "failure")
			r := b.postLogin(t, e.URL, p, typed, password, "")
			wantChecked(t, "sign-in as "+typed, r)
			if n := logins(t, e.testServer, "failure"); n != before+1 {
				t.Errorf("sign-in as %s: %d failed password checks, want 1", typed, n-before)
			}
			if _, ok := b.cookie("hallpass_session"); ok {
				t.Errorf("sign-in as %s set a session cookie", typed)
			}
			entry := e.wantAudit(t, "signin.failure", nil)
			d := details(t, entry)
			if entry.Actor != "" || entry.Object != "" || d["username"] != nil {
				t.Errorf("sign-in as %s recorded a user: actor %q, object %q, username %v", typed, entry.Actor, entry.Object, d["username"])
			}
			delete(d, "username_digest")
			return r, d
		}
		unknown, unknownDetails := failure("nobody-here", bobPassword)
		if unknownDetails["reason"] != "unknown_user" {
			t.Fatalf("an unknown user's failure recorded %v", unknownDetails)
		}
		for _, password := range []string{bobPassword, bigBobPassword} {
			r, d := failure("BOB", password)
			if !reflect.DeepEqual(d, unknownDetails) {
				t.Errorf("audit details of BOB: %v; of an unknown user: %v", d, unknownDetails)
			}
			if r.Status != unknown.Status || pageText(t, r) != pageText(t, unknown) {
				t.Errorf("BOB answered %d %q; an unknown user %d %q", r.Status, pageText(t, r), unknown.Status, pageText(t, unknown))
			}
		}
	})
}

// pageText is the text a person reads on p.
func pageText(t *testing.T, p page) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	return strings.Join(strings.Fields(textOf(doc)), " ")
}

// TestLoginLockLegacyCaseVariants: where a database still holds bob and
// Bob, their spellings share one lockout count, so bob's correct password,
// at the login form or the account page's password change, takes back its
// own attempt and nothing more. It must not forget failures that may be
// guesses at Bob's: whoever knows bob's password would otherwise get Bob's
// free failures again and again. Nor may it lock: counted as the fifth,
// it set the lock, which its success lifts. So after 4 guesses at Bob and
// bob's password, a fifth guess at Bob is still checked, and locks.
// The clock reads nanoseconds the database drops (nanosecondClock): the
// entry bob's attempt counted comes back from it as its own all the same.
func TestLoginLockLegacyCaseVariants(t *testing.T) {
	const newPassword = "quiet-harbor-lantern-95"
	for _, tc := range []struct {
		name  string
		prove func(t *testing.T, e *ssoEnv, account *browser) page
	}{
		{"login", func(t *testing.T, e *ssoEnv, _ *browser) page {
			b, p := loginPage(t, e)
			return b.postLogin(t, e.URL, p, "bob", bobPassword, "")
		}},
		{"password change", func(t *testing.T, e *ssoEnv, account *browser) page {
			return account.post(t, e.URL+"/account/password", url.Values{"current": {bobPassword}, "new": {newPassword}, "confirm": {newPassword}, "csrf": {account.formCSRF(t, e)}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, dsn string) {
				e := newSSOEnv(t, dsn, patient, nanosecondClock)
				const bigBobPassword = "harbour-quill-meadow-19"
				hash, err := directory.HashPassword(bigBobPassword)
				if err != nil {
					t.Fatal(err)
				}
				// Straight into the store: the directory would refuse Bob.
				if err := e.Store.CreateUser(context.Background(), &storage.User{ID: "legacy-bob", Username: "Bob", PasswordHash: hash, Roles: []string{"student"}}); err != nil {
					t.Fatalf("store Bob: %v", err)
				}
				account := e.newBrowser(t)
				if p := e.consoleSignIn(t, account, provider.PathAccount, "bob", bobPassword); p.Status != http.StatusOK {
					t.Fatalf("bob's account page: %s", p)
				}
				b, p := loginPage(t, e)
				for i := range accountFreeFailures - 1 {
					wantChecked(t, fmt.Sprintf("guess %d at Bob", i+1), b.postLogin(t, e.URL, p, "Bob", fmt.Sprintf("guess-%d", i), ""))
				}
				if r := tc.prove(t, e, account); r.Status != http.StatusOK || r.kind() == "login" || strings.Contains(r.Body, `role="alert"`) {
					t.Fatalf("bob's password (%s): want it taken, got %s", tc.name, r)
				}
				wantChecked(t, "guess 5 at Bob, after bob's "+tc.name, b.postLogin(t, e.URL, p, "Bob", "guess-5", ""))
				wantThrottled(t, "Bob's password after 4 guesses at Bob, bob's "+tc.name+" and guess 5", b.postLogin(t, e.URL, p, "Bob", bigBobPassword, ""), 60)
			})
		})
	}
}
