package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/browsertest"
	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/provider"
)

// Passkeys in a real browser: headless Chromium with a virtual
// authenticator (the DevTools protocol's WebAuthn domain) against a
// hallpass whose issuer is http://localhost:PORT, since WebAuthn accepts
// no IP address as a relying-party id.

// passkeyEnv is a school on a localhost issuer, with a client whose
// callback is a relying party the browser can reach.
func passkeyEnv(t *testing.T, dsn string) (*ssoEnv, *ssoClient, string) {
	t.Helper()
	e := ssoEnvOn(t, startTestServer(t, dsn, hallpasstest.Options{LocalhostIssuer: true}))
	if !strings.HasPrefix(e.URL, "http://localhost:") {
		t.Fatalf("issuer %s, want a localhost URL", e.URL)
	}
	rp := relyingParty(t)
	res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
		ClientID: "passkey-rp", ClientName: "Results Viewer", RedirectURIs: []string{rp.URL + "/cb"},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: "client_secret_basic", Scope: "openid profile results:read",
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create client: %d %s", res.Status, res.Body)
	}
	meta := decodeClient(t, res)
	client := &ssoClient{Meta: meta, Config: oauth2.Config{
		ClientID: meta.ClientID, ClientSecret: meta.ClientSecret, RedirectURL: rp.URL + "/cb",
		Endpoint: oauth2.Endpoint{
			AuthURL:   endpoint(t, e.Discovery, "authorization_endpoint"),
			TokenURL:  endpoint(t, e.Discovery, "token_endpoint"),
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}}
	return e, client, rp.URL
}

// addAuthenticator gives the browser's tab a virtual platform
// authenticator with resident keys and user verification (a phone's or a
// laptop's); synced makes its credentials backup eligible, as a password
// manager's passkeys are.
func addAuthenticator(t *testing.T, b *browsertest.Browser, synced bool) {
	t.Helper()
	if _, err := chromedp.Call(b.Context(), webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(b.Context(), webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
			DefaultBackupEligibility: synced, DefaultBackupState: synced,
		},
	}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
}

// finishAtClient allows the request if hallpass asks, and returns the
// code the relying party at rpURL received.
func finishAtClient(t *testing.T, b *browsertest.Browser, rpURL string) string {
	t.Helper()
	b.Do("reach the consent page or the client",
		chromedp.WaitVisible(chromedp.CSS(`#result, button[name=decision][value=allow]`)))
	if b.Location().Path == provider.PathConsent {
		b.Do("allow", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)), chromedp.WaitVisible(chromedp.ID(`result`)))
	}
	if loc := b.Location(); !strings.HasPrefix(loc.String(), rpURL+"/cb?") {
		t.Fatalf("the browser is at %s, want the relying party's callback", loc)
	}
	result := b.Text("read the callback", chromedp.Text(chromedp.ID(`result`)))
	for _, line := range strings.Split(strings.TrimSpace(result), "\n") {
		if k, v, _ := strings.Cut(line, "="); k == "code" && v != "" {
			code, _ := url.QueryUnescape(v)
			return code
		}
	}
	t.Fatalf("the relying party received no code: %q", result)
	return ""
}

// Bob adds a passkey on his account page, signs out, and signs in with
// the passkey alone: two factors (the key, and the user verification it
// did), a synced passkey's "swk". Then a sign-in with his password asks
// for the passkey as the second factor.
func TestPasskeyBrowserPasswordless(t *testing.T) {
	browsertest.Chromium(t)
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, client, rpURL := passkeyEnv(t, dsn)
		b := browsertest.New(t, 60*time.Second)
		addAuthenticator(t, b, true)

		chromeSignIn(t, b, e.URL+provider.PathAccount, "bob", bobPassword)
		b.Do("add a passkey on the account page",
			chromedp.WaitVisible(chromedp.CSS(`form[data-passkey] button`)),
			chromedp.SendKeys(chromedp.CSS(`#passkey-name`), "Test laptop"),
			chromedp.Click(chromedp.CSS(`form[data-passkey] button`)),
			chromedp.WaitVisible(chromedp.ID(`recovery-codes`)),
		)
		b.Do("back to the account page", chromedp.Navigate(e.URL+provider.PathAccount), chromedp.WaitVisible(chromedp.ID(`passkeys`)))
		if list := b.Text("read the passkeys", chromedp.Text(chromedp.ID(`passkeys`))); !strings.Contains(list, "Test laptop") || !strings.Contains(list, "synced passkey") {
			t.Errorf("the account page lists %q, want the synced passkey Test laptop", list)
		}
		pks, err := e.Store.ListPasskeys(t.Context(), e.BobID)
		if err != nil || len(pks) != 1 || !pks[0].BackupEligible || pks[0].Name != "Test laptop" {
			t.Fatalf("bob's passkeys = %+v, %v", pks, err)
		}
		checkPage(t, b, "account-passkeys")
		b.Do("sign out", chromedp.Click(chromedp.CSS(`header form.signout button`)), chromedp.WaitVisible(chromedp.CSS(`main > p[role=status]`)))

		// Passwordless: no username typed.
		ar := client.request("openid")
		b.Do("open the authorization URL", chromedp.Navigate(ar.URL), chromedp.WaitVisible(chromedp.CSS(`form[data-passkey] button`)))
		b.Do("sign in with the passkey", chromedp.Click(chromedp.CSS(`form[data-passkey] button`)))
		tok := e.exchange(t, ar, callback{Code: finishAtClient(t, b, rpURL)})
		e.wantMFAClaims(t, ar, tok, provider.ACRMFA, "swk", "user", "mfa")
		if id := e.idToken(t, client, tok, ar.Nonce); id.Sub != e.BobID {
			t.Errorf("sub = %q, want bob", id.Sub)
		}
		if p := b.Problems(); len(p) > 0 {
			t.Errorf("the login page reported problems: %q", p)
		}

		// A fresh sign-in with the password: the passkey is the second
		// factor now.
		ar = client.request("openid", oauth2.SetAuthURLParam("prompt", "login"))
		b.Do("sign in with the password",
			chromedp.Navigate(ar.URL),
			chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "bob"),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), bobPassword),
			chromedp.Click(chromedp.CSS(`form:not([data-passkey]) button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
			chromedp.WaitVisible(chromedp.CSS(`form[data-passkey] button`)),
		)
		if loc := b.Location(); loc.Path != provider.PathSecondFactor {
			t.Fatalf("after the password the browser is at %s, want the second-factor step", loc)
		}
		b.Do("use the passkey", chromedp.Click(chromedp.CSS(`form[data-passkey] button`)))
		tok = e.exchange(t, ar, callback{Code: finishAtClient(t, b, rpURL)})
		e.wantMFAClaims(t, ar, tok, provider.ACRMFA, "pwd", "swk", "mfa")
		if pks, err := e.Store.ListPasskeys(t.Context(), e.BobID); err != nil || len(pks) != 1 || pks[0].LastUsedAt.IsZero() {
			t.Errorf("bob's passkey after use = %+v, %v", pks, err)
		}
	})
}

// Alice, a teacher, must use a second factor and has none: right after
// her password she sets up a passkey bound to this device ("hwk") instead
// of an authenticator app, sees her recovery codes, and goes on.
func TestPasskeyBrowserEnrolment(t *testing.T) {
	browsertest.Chromium(t)
	forEachBackend(t, func(t *testing.T, dsn string) {
		e, client, rpURL := passkeyEnv(t, dsn)
		if res := e.admin(t, http.MethodPut, "/admin/roles/teacher", map[string]any{"name": "teacher",
			"scopes": []string{"results:read", "results:write", "schedule:write"}, "require_mfa": true}); res.Status != http.StatusOK {
			t.Fatalf("require MFA of teachers: %d %s", res.Status, res.Body)
		}
		b := browsertest.New(t, 60*time.Second)
		addAuthenticator(t, b, false)

		ar := client.request("openid")
		b.Do("sign in with the password",
			chromedp.Navigate(ar.URL),
			chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), alicePassword),
			chromedp.Click(chromedp.CSS(`form:not([data-passkey]) button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
			chromedp.WaitVisible(chromedp.CSS(`form[data-passkey] button`)),
		)
		if loc := b.Location(); loc.Path != provider.PathEnrol {
			t.Fatalf("after the password the browser is at %s, want the enrolment step", loc)
		}
		checkPage(t, b, "enrolment-passkey")
		b.Do("set up a passkey",
			chromedp.SendKeys(chromedp.CSS(`#passkey-name`), "Phone"),
			chromedp.Click(chromedp.CSS(`form[data-passkey] button`)),
			chromedp.WaitVisible(chromedp.ID(`recovery-codes`)),
		)
		codes := b.Text("read the recovery codes", chromedp.Text(chromedp.ID(`recovery-codes`)))
		if n := len(strings.Fields(codes)); n != 10 {
			t.Errorf("%d recovery codes shown, want 10: %q", n, codes)
		}
		checkPage(t, b, "enrolment-recovery-codes")
		b.Do("continue", chromedp.Click(chromedp.CSS(`button[name=continue]`)))
		tok := e.exchange(t, ar, callback{Code: finishAtClient(t, b, rpURL)})
		e.wantMFAClaims(t, ar, tok, provider.ACRMFA, "pwd", "hwk", "mfa")
		pks, err := e.Store.ListPasskeys(t.Context(), e.AliceID)
		if err != nil || len(pks) != 1 || pks[0].BackupEligible || pks[0].Name != "Phone" {
			t.Errorf("alice's passkeys = %+v, %v", pks, err)
		}
	})
}
