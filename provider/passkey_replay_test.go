package provider_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// A passkey answer is taken once: the same posted form (answer and
// sealed ceremony state) posted again, while the state is still valid,
// is refused as a stale page is, even for a synced passkey, whose
// signature counter stays 0 and so cannot tell a replay from a new use.

// replayed is the message of a refused replay (passkeyUnreadable).
const replayed = "or the page was open too long"

// postForm posts the fields of p's form whose action ends in suffix, with
// fields set, and returns the target and the fields for a replay.
func postForm(t *testing.T, b *browser, p page, suffix string, fields url.Values) (string, url.Values, page) {
	t.Helper()
	f := p.formWith(t, suffix)
	action, err := p.URL.Parse(f.Action)
	if err != nil {
		t.Fatal(err)
	}
	v := f.hidden()
	for k, vs := range fields {
		v[k] = vs
	}
	return action.String(), v, b.post(t, action.String(), v)
}

func TestPasskeyReplayRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		alices, bobs := newSoftKey(t, e.AliceID), newSoftKey(t, e.BobID)
		alices.synced, bobs.synced = true, true
		alices.store(t, e.Store, "Alice's synced key")
		bobs.store(t, e.Store, "Bob's synced key")

		t.Run("login", func(t *testing.T) {
			b := e.newBrowser(t)
			login := b.get(t, e.Confidential.request("openid").URL)
			target, fields, p := postForm(t, b, login, provider.PathLoginPasskey,
				url.Values{"credential": {alices.assertion(t, challengeOf(t, login), e.URL, "localhost", flagsUPUV)}})
			if p.URL.Path != provider.PathConsent {
				t.Fatalf("first use: want the consent page, got %s", p)
			}
			if p := b.post(t, target, fields); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, replayed) {
				t.Errorf("the same answer again: want 400 with the stale-page message, got %s", p)
			}
			if n := auditCount(t, e, "mfa.passkey_failed"); n < 1 {
				t.Errorf("the replay was not recorded as a failed passkey answer")
			}
		})

		t.Run("factor", func(t *testing.T) {
			b := e.newBrowser(t)
			step := b.login(t, b.get(t, e.Confidential.request("openid").URL), "bob", bobPassword)
			wantPath(t, step, provider.PathSecondFactor)
			target, fields, p := postForm(t, b, step, provider.PathSecondFactorPasskey,
				url.Values{"credential": {bobs.assertion(t, challengeOf(t, step), e.URL, "localhost", flagsUP)}})
			if p.URL.Path != provider.PathConsent {
				t.Fatalf("first use: want the consent page, got %s", p)
			}
			if p := b.post(t, target, fields); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, replayed) {
				t.Errorf("the same answer again: want 400 with the stale-page message, got %s", p)
			}
		})

		// A registration replayed after the passkey was removed would
		// bring the removed passkey back; while it is there, the replay
		// is refused as a duplicate credential id anyway.
		t.Run("account registration", func(t *testing.T) {
			b := e.newBrowser(t)
			home := e.consoleSignIn(t, b, provider.PathAccount, "bob", bobPassword)
			home = b.submitTo(t, home, provider.PathSecondFactorPasskey,
				url.Values{"credential": {bobs.assertion(t, challengeOf(t, home), e.URL, "localhost", flagsUP)}})
			if home.URL.Path != provider.PathAccount {
				t.Fatalf("after bob's passkey: want the account page, got %s", home)
			}
			added := newSoftKey(t, e.BobID)
			target, fields, p := postForm(t, b, home, provider.PathAccountPasskeys,
				url.Values{"name": {"Laptop"}, "credential": {added.attestation(t, challengeOf(t, home), e.URL, "localhost")}})
			if p.Status != http.StatusOK || !strings.Contains(p.Body, "Your passkey is set up") {
				t.Fatalf("first use: want the passkey set up, got %s", p)
			}
			remove := e.URL + provider.PathAccountPasskeys + "/" + b64u.EncodeToString(added.id) + "/remove"
			if p := b.post(t, remove, url.Values{"csrf": {b.formCSRF(t, e)}}); p.Status != http.StatusOK {
				t.Fatalf("removing the added passkey: %s", p)
			}
			if p := b.post(t, target, fields); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, replayed) {
				t.Errorf("the registration again: want 400 with the stale-page message, got %s", p)
			}
			if _, err := e.Store.GetPasskey(t.Context(), b64u.EncodeToString(added.id)); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("the removed passkey after the replayed registration: %v, want it gone", err)
			}
		})
	})
}

// TestPasskeyEnrolmentReplayRefused: a passkey registration answered at
// the enrolment step of a sign-in, posted again while the sign-in is
// still pending, is refused as a stale page and sets nothing up: no
// second passkey, no recovery codes, no way on.
func TestPasskeyEnrolmentReplayRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
		if res := e.admin(t, http.MethodPut, "/admin/roles/teacher", map[string]any{"name": "teacher",
			"scopes": []string{"results:read", "results:write", "schedule:write"}, "require_mfa": true}); res.Status != http.StatusOK {
			t.Fatalf("require MFA of teachers: %d %s", res.Status, res.Body)
		}
		b := e.newBrowser(t)
		enrol := b.login(t, b.get(t, e.Confidential.request("openid").URL), "alice", alicePassword)
		wantPath(t, enrol, provider.PathEnrol)
		key := newSoftKey(t, e.AliceID)
		target, fields, p := postForm(t, b, enrol, provider.PathEnrolPasskey,
			url.Values{"name": {"Phone"}, "credential": {key.attestation(t, challengeOf(t, enrol), e.URL, "localhost")}})
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "Two-step sign-in is set up") {
			t.Fatalf("first use: want the recovery codes, got %s", p)
		}
		p = b.post(t, target, fields)
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, replayed) {
			t.Errorf("the same registration again: want 400 with the stale-page message, got %s", p)
		}
		if p.Redirect != nil || strings.Contains(p.Body, "Two-step sign-in is set up") {
			t.Errorf("the replayed registration went on: %s", p)
		}
		if pks, err := e.Store.ListPasskeys(t.Context(), e.AliceID); err != nil || len(pks) != 1 {
			t.Errorf("alice's passkeys after the replay = %d, %v; want the one registered first", len(pks), err)
		}
	})
}

// failingReplayStore is a store whose record of an answered passkey
// ceremony fails, as when the database goes away.
type failingReplayStore struct{ storage.Store }

func (s failingReplayStore) SetClientAssertionJTI(ctx context.Context, jti string, exp time.Time) error {
	if strings.HasPrefix(jti, "passkey:") {
		return errors.New("injected: database unavailable")
	}
	return s.Store.SetClientAssertionJTI(ctx, jti, exp)
}

// withAlicesSyncedKey starts a server on dsn (localhost issuer, opts
// applied) where Alice has a synced passkey (its counter always 0, so
// only the spent ceremony refuses a replay), and returns the key.
func withAlicesSyncedKey(t *testing.T, dsn string, opts ...func(*provider.Config)) (*ssoEnv, *softKey) {
	t.Helper()
	e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}, opts...))
	key := newSoftKey(t, e.AliceID)
	key.synced = true
	key.store(t, e.Store, "Alice's synced key")
	return e, key
}

// TestPasskeyReplayStoreFailure: when the answered ceremony cannot be
// recorded, the sign-in is our failure (5xx), not the user's wrong
// passkey, and it is not granted.
func TestPasskeyReplayStoreFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, key := withAlicesSyncedKey(t, dsn, func(c *provider.Config) { c.Store = failingReplayStore{c.Store} })
		b := e.newBrowser(t)
		login := b.get(t, e.Confidential.request("openid").URL)
		_, _, p := postForm(t, b, login, provider.PathLoginPasskey,
			url.Values{"credential": {key.assertion(t, challengeOf(t, login), e.URL, "localhost", flagsUPUV)}})
		if p.Status < http.StatusInternalServerError || p.Redirect != nil {
			t.Errorf("passkey sign-in whose ceremony could not be recorded: want a 5xx, got %s", p)
		}
		if p := b.get(t, e.Confidential.request("openid").URL); p.kind() != "login" {
			t.Errorf("the browser after the failed sign-in: %s, want the login page", p)
		}
	})
}

// attestation is the browser's answer to a registration ceremony with
// this key: attestation format "none", the credential's public key in
// the authenticator data, user present and verified.
func (k *softKey) attestation(t *testing.T, challenge, origin, rpID string) string {
	t.Helper()
	cdj, _ := json.Marshal(map[string]any{"type": "webauthn.create", "challenge": challenge, "origin": origin, "crossOrigin": false})
	rpHash := sha256.Sum256([]byte(rpID))
	ad := append(rpHash[:], 0x01|0x04|0x40) // UP, UV, AT
	ad = binary.BigEndian.AppendUint32(ad, k.counter)
	ad = append(ad, make([]byte, 16)...) // AAGUID: none
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(k.id)))
	ad = append(ad, k.id...)
	ad = append(ad, k.cose()...)
	// CBOR {"fmt": "none", "attStmt": {}, "authData": ad}, by hand.
	obj := []byte{0xa3, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e', 0x67, 'a', 't', 't', 'S', 't', 'm', 't', 0xa0,
		0x68, 'a', 'u', 't', 'h', 'D', 'a', 't', 'a', 0x59}
	obj = binary.BigEndian.AppendUint16(obj, uint16(len(ad)))
	obj = append(obj, ad...)
	b, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64u.EncodeToString(cdj), "attestationObject": b64u.EncodeToString(obj),
			"transports": []string{"internal"}},
	})
	return string(b)
}

// TestPasskeyReplayRace: the same answer posted twice at once signs in
// once; the ceremony is spent atomically, not read and then written.
func TestPasskeyReplayRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, key := withAlicesSyncedKey(t, dsn)
		b := e.newBrowser(t)
		login := b.get(t, e.Confidential.request("openid").URL)
		fields := login.formWith(t, provider.PathLoginPasskey).hidden()
		fields.Set("credential", key.assertion(t, challengeOf(t, login), e.URL, "localhost", flagsUPUV))
		// Redirects not followed: the answer to the post itself.
		client := &http.Client{Transport: e.HTTP.Transport, Jar: b.jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		const n = 4
		statuses := make(chan int, n)
		start := make(chan struct{})
		for range n {
			go func() {
				<-start
				res, err := client.PostForm(e.URL+provider.PathLoginPasskey, fields)
				if err != nil {
					statuses <- 0
					return
				}
				res.Body.Close()
				statuses <- res.StatusCode
			}()
		}
		close(start)
		got := map[int]int{}
		for range n {
			got[<-statuses]++
		}
		if got[http.StatusSeeOther] != 1 || got[http.StatusBadRequest] != n-1 {
			t.Errorf("%d concurrent posts of one answer: statuses %v, want one 303 and %d 400", n, got, n-1)
		}
	})
}

// TestPasskeyReplayRefusedAcrossClockSkew: the record of an answered
// ceremony outlives the ceremony by a margin, so that a replica whose
// clock lags still refuses the answer posted again while its own clock
// says the ceremony is valid, although the store (its expired records
// pruned by another replica's clock, here the real one) counts the
// ceremony as over. The provider's clock here lags the store's by more
// than a ceremony's lifetime.
func TestPasskeyReplayRefusedAcrossClockSkew(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		const lag = 16 * time.Minute // a ceremony lives 15 minutes
		e, key := withAlicesSyncedKey(t, dsn, func(c *provider.Config) { c.Now = func() time.Time { return time.Now().Add(-lag) } })
		b := e.newBrowser(t)
		login := b.get(t, e.Confidential.request("openid").URL)
		target, fields, p := postForm(t, b, login, provider.PathLoginPasskey,
			url.Values{"credential": {key.assertion(t, challengeOf(t, login), e.URL, "localhost", flagsUPUV)}})
		if p.URL.Path != provider.PathConsent {
			t.Fatalf("first use: want the consent page, got %s", p)
		}
		// Any record of the replay store written since prunes what the
		// store's clock says expired (SetClientAssertionJTI).
		if err := e.Store.SetClientAssertionJTI(t.Context(), "another-replica", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if p := b.post(t, target, fields); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, replayed) {
			t.Errorf("the same answer again, on a replica whose clock lags: want 400 with the stale-page message, got %s", p)
		}
	})
}

// withUserHandle is assertion a with its user handle replaced by h.
func withUserHandle(t *testing.T, a string, h []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a), &m); err != nil {
		t.Fatal(err)
	}
	m["response"].(map[string]any)["userHandle"] = b64u.EncodeToString(h)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPasskeyUserHandleNotText: a passwordless answer whose user handle
// is not text a user id could be (invalid UTF-8, a NUL byte: PostgreSQL
// refuses either as a text parameter) names no passkey of anyone's: the
// sign-in is refused (400) as for an unknown credential, not answered as
// a failure of the database (5xx, logged, counted), which anyone could
// then cause at will.
func TestPasskeyUserHandleNotText(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, key := withAlicesSyncedKey(t, dsn)
		for name, h := range map[string][]byte{"invalid UTF-8": {0xff, 0xfe}, "NUL byte": []byte(e.AliceID + "\x00")} {
			b := e.newBrowser(t)
			login := b.get(t, e.Confidential.request("openid").URL)
			a := withUserHandle(t, key.assertion(t, challengeOf(t, login), e.URL, "localhost", flagsUPUV), h)
			_, _, p := postForm(t, b, login, provider.PathLoginPasskey, url.Values{"credential": {a}})
			if p.Status != http.StatusBadRequest {
				t.Errorf("user handle with %s: want 400, got %s", name, p)
			}
		}
	})
}
