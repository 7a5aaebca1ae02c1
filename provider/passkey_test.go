package provider_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// The passkey forms over HTTP with a software authenticator written here
// (an ECDSA P-256 key, hand-made authenticator data and client data):
// what a browser could post that is wrong is refused with 400 (429 once
// the limits are reached) and a message, never a 500.

var b64u = base64.RawURLEncoding

// softKey is a passkey held by the test: its credential id, key pair,
// owner and signature counter; a synced one (iCloud, Google Password
// Manager) keeps no counter and always reports 0.
type softKey struct {
	id      []byte
	key     *ecdsa.PrivateKey
	userID  string
	counter uint32
	synced  bool
}

func newSoftKey(t *testing.T, userID string) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{id: id, key: k, userID: userID}
}

// cose is the public key as a COSE_Key (RFC 9053: EC2, ES256, P-256),
// CBOR written out by hand: {1: 2, 3: -7, -1: 1, -2: x, -3: y}.
func (k *softKey) cose() []byte {
	pub, err := k.key.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		panic(err)
	}
	out := []byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20}
	out = append(out, pub[1:33]...)
	out = append(out, 0x22, 0x58, 0x20)
	return append(out, pub[33:65]...)
}

// store registers the key as the user's passkey directly in the store.
func (k *softKey) store(t *testing.T, st storage.Store, name string) {
	t.Helper()
	if err := st.CreatePasskey(t.Context(), &storage.Passkey{ID: b64u.EncodeToString(k.id), UserID: k.userID, PublicKey: k.cose(),
		UserVerified: true, Name: name, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatalf("CreatePasskey: %v", err)
	}
}

// assertion is the browser's answer to a sign-in ceremony with this key:
// for challenge at origin, signed, with the authenticator data's flags
// (user present 0x01, user verified 0x04) and the next counter.
func (k *softKey) assertion(t *testing.T, challenge, origin, rpID string, flags byte) string {
	t.Helper()
	if !k.synced {
		k.counter++
	}
	cdj, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": challenge, "origin": origin, "crossOrigin": false})
	rpHash := sha256.Sum256([]byte(rpID))
	ad := append(rpHash[:], flags)
	ad = binary.BigEndian.AppendUint32(ad, k.counter)
	cdHash := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64u.EncodeToString(cdj), "authenticatorData": b64u.EncodeToString(ad),
			"signature": b64u.EncodeToString(sig), "userHandle": b64u.EncodeToString([]byte(k.userID))},
	})
	return string(b)
}

var optionsRE = regexp.MustCompile(`data-options="([^"]*)"`)

// challengeOf reads the challenge of the page's passkey form.
func challengeOf(t *testing.T, p page) string {
	t.Helper()
	m := optionsRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no passkey form: %s", p)
	}
	var opts struct {
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &opts); err != nil || opts.Challenge == "" {
		t.Fatalf("passkey options %q: %v", m[1], err)
	}
	return opts.Challenge
}

const (
	flagsUPUV = 0x01 | 0x04
	flagsUP   = 0x01
)

func TestPasskeyBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		u, _ := url.Parse(e.URL)
		origin, rpID := e.URL, u.Hostname()
		key := newSoftKey(t, e.BobID)
		key.store(t, e.Store, "Soft key")

		b := e.newBrowser(t)
		login := b.get(t, e.Confidential.request("openid").URL)
		if login.URL.Path != provider.PathLogin {
			t.Fatalf("want the login page, got %s", login)
		}
		if csp := login.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("login page CSP = %q, want script-src 'self' only", csp)
		}
		challenge := challengeOf(t, login)
		post := func(fields url.Values) page {
			t.Helper()
			return b.submitTo(t, login, provider.PathLoginPasskey, fields)
		}
		const unreadable, refused = "did not answer in a way hallpass understands", "could not sign you in"

		// What is not a passkey answer at all.
		for name, cred := range map[string]string{
			"empty":          "",
			"malformed JSON": `{"id":`,
			"not an object":  `[1,2,3]`,
			"no response":    `{"id":"AAAA","rawId":"AAAA","type":"public-key"}`,
			"bad base64": `{"id":"!!","rawId":"!!","type":"public-key","response":{"clientDataJSON":"!!","authenticatorData":"!!",` +
				`"signature":"!!"}}`,
			"too long":        `{"id":"` + strings.Repeat("A", 20<<10) + `"}`,
			"blank":           "   ",
			"duplicate names": `{"id":"AAAA","id":"BBBB","rawId":"AAAA","type":"public-key","response":{}}`,
			"NUL":             `{"id":"A\u0000","rawId":"AAAA","type":"public-key","response":{}}`,
		} {
			if p := post(url.Values{"credential": {cred}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, unreadable) {
				t.Errorf("%s credential: want 400 with %q, got %s", name, unreadable, p)
			}
		}
		// A body over the limit of every request.
		if p := post(url.Values{"credential": {strings.Repeat("A", 70<<10)}}); p.Status != http.StatusBadRequest {
			t.Errorf("an oversized body: want 400, got %s", p)
		}
		// A state that is not the page's.
		good := key.assertion(t, challenge, origin, rpID, flagsUPUV)
		for name, state := range map[string]string{"missing": "", "forged": b64u.EncodeToString([]byte("forged state")), "garbage": "%%%"} {
			if p := post(url.Values{"credential": {good}, "state": {state}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, unreadable) {
				t.Errorf("%s state: want 400 with %q, got %s", name, unreadable, p)
			}
		}
		// Answers that are well formed but prove nothing.
		other := newSoftKey(t, e.BobID) // never registered
		for name, cred := range map[string]string{
			"wrong challenge":      key.assertion(t, b64u.EncodeToString([]byte("a challenge hallpass never sent")), origin, rpID, flagsUPUV),
			"wrong origin":         key.assertion(t, challenge, "http://evil.example", rpID, flagsUPUV),
			"wrong rp id":          key.assertion(t, challenge, origin, "evil.example", flagsUPUV),
			"unknown credential":   other.assertion(t, challenge, origin, rpID, flagsUPUV),
			"no user verification": key.assertion(t, challenge, origin, rpID, flagsUP),
		} {
			if p := post(url.Values{"credential": {cred}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, refused) {
				t.Errorf("%s: want 400 with %q, got %s", name, refused, p)
			}
		}
		// Bob's passkey failures count against his limit; the audit log
		// records each.
		if n := auditCount(t, e, "mfa.passkey_failed"); n < 4 {
			t.Errorf("%d mfa.passkey_failed events, want at least 4", n)
		}
		if v, _ := e.metric(t, "hallpass_signins_total", `outcome="mfa_failed"`); v < 4 {
			t.Errorf("hallpass_signins_total{outcome=\"mfa_failed\"} = %v, want at least 4", v)
		}

		// The right answer signs bob in, passwordless.
		ok := post(url.Values{"credential": {good}})
		if ok.URL.Path != provider.PathConsent {
			t.Fatalf("a good passkey answer: want the consent page, got %s", ok)
		}
		// The same answer again: its ceremony was answered already (the
		// answers above, which proved nothing, did not use it up).
		if p := post(url.Values{"credential": {good}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, unreadable) {
			t.Errorf("a replayed answer: want 400 with %q, got %s", unreadable, p)
		}
		// A new ceremony answered with a counter that did not advance (a
		// cloned authenticator): refused and audited.
		b2 := e.newBrowser(t)
		login2 := b2.get(t, e.Confidential.request("openid").URL)
		stored, err := e.Store.GetPasskey(t.Context(), b64u.EncodeToString(key.id))
		if err != nil {
			t.Fatal(err)
		}
		key.counter = stored.SignCount - 1 // the next answer counts what is stored
		cloned := key.assertion(t, challengeOf(t, login2), origin, rpID, flagsUPUV)
		if p := b2.submitTo(t, login2, provider.PathLoginPasskey, url.Values{"credential": {cloned}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, refused) {
			t.Errorf("a counter that did not advance: want 400 with %q, got %s", refused, p)
		}
		if n := auditCount(t, e, "mfa.passkey_clone_warning"); n != 1 {
			t.Errorf("%d mfa.passkey_clone_warning events, want 1", n)
		}
		if n := auditCount(t, e, "signin.success"); n != 1 {
			t.Errorf("%d signin.success events, want the passkey's 1", n)
		}
	})
}

// auditCount is how many audit events of action the log holds.
func auditCount(t *testing.T, e *ssoEnv, action string) int {
	t.Helper()
	res := e.admin(t, http.MethodGet, "/admin/audit?type="+url.QueryEscape(action), nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET /admin/audit: %d %s", res.Status, res.Body)
	}
	var out struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("decode audit: %v: %s", err, res.Body)
	}
	return len(out.Entries)
}

// Wrong passkey answers for one account are limited as wrong codes are.
func TestPasskeyThrottled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		u, _ := url.Parse(e.URL)
		key := newSoftKey(t, e.BobID)
		key.store(t, e.Store, "Soft key")
		b := e.newBrowser(t)
		login := b.get(t, e.Confidential.request("openid").URL)
		challenge := challengeOf(t, login)
		var p page
		for range 6 {
			p = b.submitTo(t, login, provider.PathLoginPasskey, url.Values{"credential": {key.assertion(t, challenge, e.URL, u.Hostname(), flagsUP)}})
		}
		wantAlert(t, p, http.StatusTooManyRequests, "Too many failed attempts")
		if p.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After on a throttled passkey")
		}
		// Locked: even the right answer waits.
		p = b.submitTo(t, login, provider.PathLoginPasskey, url.Values{"credential": {key.assertion(t, challenge, e.URL, u.Hostname(), flagsUPUV)}})
		wantAlert(t, p, http.StatusTooManyRequests, "Too many failed attempts")
	})
}

// On an issuer whose host is an IP address there are no passkeys: no
// form, no script.
func TestPasskeysOffOnIPIssuer(t *testing.T) {
	ts := newTestServer(t, testdb.SQLite(t))
	e := ssoEnvOn(t, ts)
	p := e.newBrowser(t).get(t, e.Confidential.request("openid").URL)
	if p.URL.Path != provider.PathLogin || strings.Contains(p.Body, "data-passkey") || strings.Contains(p.Body, "<script") {
		t.Errorf("login page on %s offers passkeys: %s", e.URL, p)
	}
	if csp := p.Header.Get("Content-Security-Policy"); strings.Contains(csp, "script-src") {
		t.Errorf("login page CSP = %q, want no script", csp)
	}
}

// A passkey alone is two factors: alice, a teacher whose role requires
// a second factor, is not taken to enrolment, and a client's step-up
// (acr_values) asks nothing more of her session.
func TestPasskeySatisfiesPolicy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		if res := e.admin(t, http.MethodPut, "/admin/roles/teacher", map[string]any{"name": "teacher",
			"scopes": []string{"results:read", "results:write", "schedule:write"}, "require_mfa": true}); res.Status != http.StatusOK {
			t.Fatalf("require MFA of teachers: %d %s", res.Status, res.Body)
		}
		u, _ := url.Parse(e.URL)
		key := newSoftKey(t, e.AliceID)
		key.store(t, e.Store, "Soft key")
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid")
		login := b.get(t, ar.URL)
		p := b.submitTo(t, login, provider.PathLoginPasskey, url.Values{"credential": {key.assertion(t, challengeOf(t, login), e.URL, u.Hostname(), flagsUPUV)}})
		p = b.decide(t, p, "allow")
		tok := e.exchange(t, ar, e.callback(t, p, ar))
		e.wantMFAClaims(t, ar, tok, provider.ACRMFA, "hwk", "user", "mfa")

		step := e.Confidential.request("openid", oauth2.SetAuthURLParam("acr_values", provider.ACRMFA))
		p = b.get(t, step.URL)
		if p.Redirect == nil {
			t.Fatalf("a step-up on a passkey session: want the redirect to the client at once, got %s", p)
		}
		tok = e.exchange(t, step, e.callback(t, p, step))
		e.wantMFAClaims(t, step, tok, provider.ACRMFA, "hwk", "user", "mfa")
	})
}

// The account page's passkey forms: what is not a passkey answer is
// refused with 400, another user's passkey cannot be removed, and the
// user's own is removed and audited; the console's user page counts them.
func TestPasskeyAccount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		e.withConsoleAdmin(t)
		mine, theirs := newSoftKey(t, e.BobID), newSoftKey(t, e.AliceID)
		mine.store(t, e.Store, "Bob's key")
		theirs.store(t, e.Store, "Alice's key")
		b := e.newBrowser(t)
		home := e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword)
		if home.URL.Path != provider.PathSecondFactor {
			t.Fatalf("bob has a passkey: want the second-factor step, got %s", home)
		}
		home = b.submitTo(t, home, provider.PathSecondFactorPasskey, url.Values{"credential": {mine.assertion(t, challengeOf(t, home), e.URL, "localhost", flagsUP)}})
		if home.URL.Path != provider.PathAccount || !strings.Contains(home.Body, "Bob&#39;s key") {
			t.Fatalf("after the passkey: want the account page listing it, got %s", home)
		}
		for name, fields := range map[string]url.Values{
			"malformed": {"name": {"Laptop"}, "credential": {`{"id":`}},
			"no name":   {"name": {"  "}, "credential": {`{}`}},
			"bad state": {"name": {"Laptop"}, "credential": {`{}`}, "state": {"AAAA"}},
		} {
			if p := b.submitTo(t, home, provider.PathAccountPasskeys, fields); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `role="alert"`) {
				t.Errorf("%s: want 400 with an alert, got %s", name, p)
			}
		}
		csrf := b.formCSRF(t, e)
		removePath := func(k *softKey) string {
			return e.URL + provider.PathAccountPasskeys + "/" + b64u.EncodeToString(k.id) + "/remove"
		}
		if p := b.post(t, removePath(theirs), url.Values{"csrf": {csrf}}); p.Status != http.StatusNotFound {
			t.Errorf("removing alice's passkey as bob: want 404, got %s", p)
		}
		if p := b.post(t, removePath(mine), url.Values{"csrf": {"forged"}}); p.Status != http.StatusForbidden {
			t.Errorf("removing without the csrf token: want 403, got %s", p)
		}
		if p := b.post(t, removePath(mine), url.Values{"csrf": {csrf}}); p.Status != http.StatusOK || !strings.Contains(p.Body, "The passkey was removed.") {
			t.Errorf("removing bob's passkey: %s", p)
		}
		if pks, err := e.Store.ListPasskeys(t.Context(), e.BobID); err != nil || len(pks) != 0 {
			t.Errorf("bob's passkeys after the removal = %+v, %v", pks, err)
		}
		if n := auditCount(t, e, "mfa.passkey_removed"); n != 1 {
			t.Errorf("%d mfa.passkey_removed events, want 1", n)
		}

		// The console shows alice's passkey; the admin's reset removes it.
		admin := e.newBrowser(t)
		e.consoleSignIn(t, admin, "/console", adminUsername, adminPassword)
		if p := admin.get(t, e.URL+"/console/users/"+e.AliceID); !strings.Contains(p.Body, "1 passkey") {
			t.Errorf("alice's console page does not count her passkey: %s", p)
		}
		if res := e.admin(t, http.MethodDelete, "/admin/users/alice/factors", nil); res.Status != http.StatusNoContent {
			t.Fatalf("reset alice's factors: %d %s", res.Status, res.Body)
		}
		if pks, err := e.Store.ListPasskeys(t.Context(), e.AliceID); err != nil || len(pks) != 0 {
			t.Errorf("alice's passkeys after the reset = %+v, %v", pks, err)
		}
	})
}

// A passkey signs in alone, so removing one ends what it signed in: bob
// finds a passkey he did not add on his account and removes it; the
// browser that signed in with it is signed out (the authorization
// endpoint asks it to sign in) and its refresh token stops working,
// while bob's own browser, which removed it, stays signed in.
func TestPasskeyRemovalEndsOtherSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		mine, intruders := newSoftKey(t, e.BobID), newSoftKey(t, e.BobID)
		mine.store(t, e.Store, "Bob's key")
		intruders.store(t, e.Store, "Not bob's key")

		// The intruder signs in with the passkey alone, and lets the
		// portal keep them signed in.
		intruder := e.newBrowser(t)
		ar := e.Confidential.request("openid offline_access")
		login := intruder.get(t, ar.URL)
		p := intruder.submitTo(t, login, provider.PathLoginPasskey, url.Values{"credential": {intruders.assertion(t, challengeOf(t, login), e.URL, "localhost", flagsUPUV)}})
		if p.kind() == "consent" {
			p = intruder.decide(t, p, "allow")
		}
		tok := e.exchange(t, ar, e.callback(t, p, ar))
		if tok.RefreshToken == "" {
			t.Fatal("the intruder's sign-in got no refresh token")
		}
		if p := intruder.get(t, e.Confidential.request("openid").URL); p.kind() != "redirect" {
			t.Fatalf("the intruder's session does not sign in to begin with: %s", p)
		}

		// Bob signs in with his password and his own passkey, and
		// removes the other one.
		b := e.newBrowser(t)
		home := e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword)
		home = b.submitTo(t, home, provider.PathSecondFactorPasskey, url.Values{"credential": {mine.assertion(t, challengeOf(t, home), e.URL, "localhost", flagsUP)}})
		if home.URL.Path != provider.PathAccount {
			t.Fatalf("after bob's passkey: want the account page, got %s", home)
		}
		remove := e.URL + provider.PathAccountPasskeys + "/" + b64u.EncodeToString(intruders.id) + "/remove"
		if p := b.post(t, remove, url.Values{"csrf": {b.formCSRF(t, e)}}); p.Status != http.StatusOK || !strings.Contains(p.Body, "Your other sessions were signed out.") {
			t.Fatalf("removing the intruder's passkey: %s", p)
		}

		if p := intruder.get(t, e.Confidential.request("openid").URL); p.kind() != "login" {
			t.Errorf("the intruder's browser after the removal: %s, want the login page", p)
		}
		if _, err := e.refreshWorks(e.Confidential, tok.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("the intruder's refresh token after the removal: %v, want invalid_grant", err)
		}
		if p := b.get(t, e.URL+provider.PathAccount); p.Status != http.StatusOK || p.URL.Path != provider.PathAccount || !strings.Contains(p.Body, "Bob&#39;s key") {
			t.Errorf("bob's browser after the removal: %s, want the account page", p)
		}
		if p := b.get(t, e.Confidential.request("openid").URL); p.kind() != "redirect" {
			t.Errorf("bob's session does not sign in to the portal after the removal: %s", p)
		}
	})
}

// The second-factor and enrolment steps' passkey forms refuse what is not
// a passkey answer for them with 400 and a message.
func TestPasskeyStepsBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		if res := e.admin(t, http.MethodPut, "/admin/roles/teacher", map[string]any{"name": "teacher",
			"scopes": []string{"results:read", "results:write", "schedule:write"}, "require_mfa": true}); res.Status != http.StatusOK {
			t.Fatalf("require MFA of teachers: %d %s", res.Status, res.Body)
		}
		const unreadable, refused, noName = "did not answer in a way hallpass understands", "could not sign you in", "Give the passkey a name"

		// Bob has a passkey: the code step offers it.
		key := newSoftKey(t, e.BobID)
		key.store(t, e.Store, "Soft key")
		b := e.newBrowser(t)
		code := b.login(t, b.get(t, e.Confidential.request("openid").URL), "bob", bobPassword)
		wantPath(t, code, provider.PathSecondFactor)
		challenge := challengeOf(t, code)
		for name, c := range map[string]struct {
			fields url.Values
			want   string
		}{
			"malformed":       {url.Values{"credential": {`{"id":`}}, unreadable},
			"forged state":    {url.Values{"credential": {`{}`}, "state": {"AAAA"}}, unreadable},
			"wrong challenge": {url.Values{"credential": {key.assertion(t, b64u.EncodeToString([]byte("not the challenge")), e.URL, "localhost", flagsUP)}}, refused},
			"unknown key":     {url.Values{"credential": {newSoftKey(t, e.BobID).assertion(t, challenge, e.URL, "localhost", flagsUP)}}, refused},
			"another's key":   {url.Values{"credential": {newSoftKey(t, e.AliceID).assertion(t, challenge, e.URL, "localhost", flagsUP)}}, refused},
		} {
			if p := b.submitTo(t, code, provider.PathSecondFactorPasskey, c.fields); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, c.want) {
				t.Errorf("code step, %s: want 400 with %q, got %s", name, c.want, p)
			}
		}
		// The login page's state is not the code step's.
		if p := b.submitTo(t, code, provider.PathSecondFactorPasskey, url.Values{"credential": {`{}`},
			"state": {code.formWith(t, provider.PathSecondFactorPasskey).hidden().Get("state") + "x"}}); p.Status != http.StatusBadRequest {
			t.Errorf("code step with a tampered state: %s", p)
		}

		// Alice must enrol: the enrolment step offers a passkey.
		a := e.newBrowser(t)
		enrol := a.login(t, a.get(t, e.Confidential.request("openid").URL), "alice", alicePassword)
		wantPath(t, enrol, provider.PathEnrol)
		for name, c := range map[string]struct {
			fields url.Values
			want   string
		}{
			"no name":      {url.Values{"name": {""}, "credential": {`{}`}}, noName},
			"long name":    {url.Values{"name": {strings.Repeat("n", 65)}, "credential": {`{}`}}, noName},
			"malformed":    {url.Values{"name": {"Phone"}, "credential": {`{"id":`}}, unreadable},
			"an assertion": {url.Values{"name": {"Phone"}, "credential": {key.assertion(t, challengeOf(t, enrol), e.URL, "localhost", flagsUPUV)}}, unreadable},
			"forged state": {url.Values{"name": {"Phone"}, "credential": {`{}`}, "state": {"AAAA"}}, unreadable},
		} {
			if p := a.submitTo(t, enrol, provider.PathEnrolPasskey, c.fields); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, c.want) {
				t.Errorf("enrolment step, %s: want 400 with %q, got %s", name, c.want, p)
			}
		}
		if pks, err := e.Store.ListPasskeys(t.Context(), e.AliceID); err != nil || len(pks) != 0 {
			t.Errorf("alice's passkeys after refused enrolments = %+v, %v", pks, err)
		}
	})
}

// A passkey ceremony begun on one replica finishes on another: its state
// travels sealed with the page, under the key-encryption secret every
// replica shares.
func TestPasskeyAcrossReplicas(t *testing.T) {
	dsn := testdb.Postgres(t)
	a := startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true})
	b := startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}, func(c *provider.Config) { c.Issuer = a.URL })
	e := ssoEnvOn(t, a)
	key := newSoftKey(t, e.BobID)
	key.store(t, e.Store, "Soft key")

	br := e.newBrowser(t)
	login := br.get(t, e.Confidential.request("openid").URL)
	fields := login.formWith(t, provider.PathLoginPasskey).hidden()
	fields.Set("credential", key.assertion(t, challengeOf(t, login), a.URL, "localhost", flagsUPUV))
	// Cookies ignore ports: the browser's binding cookie goes to B too.
	p := br.post(t, b.URL+provider.PathLoginPasskey, fields)
	if p.Redirect == nil || p.Redirect.Path != provider.PathConsent {
		t.Fatalf("the passkey answer at replica B: want the redirect to the consent page, got %s", p)
	}
}

// A passkey signs in alone, so an admin's reset of a user's factors (a
// passkey lost or stolen) ends what it may have signed in, as a password
// reset does: the browser sessions and the grants.
func TestPasskeyResetEndsSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		u, _ := url.Parse(e.URL)
		key := newSoftKey(t, e.AliceID)
		key.store(t, e.Store, "Stolen key")
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid")
		login := b.get(t, ar.URL)
		p := b.submitTo(t, login, provider.PathLoginPasskey, url.Values{"credential": {key.assertion(t, challengeOf(t, login), e.URL, u.Hostname(), flagsUPUV)}})
		p = b.decide(t, p, "allow")
		tok := e.exchange(t, ar, e.callback(t, p, ar))
		if !e.Active(t, e.adminCred(), tok.AccessToken) {
			t.Fatal("the passkey's access token is not active")
		}
		if res := e.admin(t, http.MethodDelete, "/admin/users/alice/factors", nil); res.Status != http.StatusNoContent {
			t.Fatalf("reset alice's factors: %d %s", res.Status, res.Body)
		}
		if e.Active(t, e.adminCred(), tok.AccessToken) {
			t.Error("the access token the reset passkey signed in for is still active")
		}
		again := e.Confidential.request("openid")
		if p := b.get(t, again.URL); p.Redirect != nil || p.URL.Path != provider.PathLogin {
			t.Errorf("the browser the reset passkey signed in: want the login page, got %s", p)
		}
	})
}
