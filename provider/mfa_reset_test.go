package provider_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/provider"
)

// TestFactorResetEndsSessions: an admin's reset of a user who had only an
// authenticator app (and its recovery codes) signs them out everywhere
// and ends their grants, as a reset of a passkey does
// (TestPasskeyResetEndsSessions): the reset is the remedy for a lost phone
// or for someone who knew the password and enrolled their own app, so the
// browser that passed the removed app's code must not stay signed in, nor
// the refresh token issued to it keep working. The audit entry says so.
func TestFactorResetEndsSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		c := e.Confidential
		secret, done := e.enrolOnAccountPage(t, e.newBrowser(t), "alice", alicePassword)
		if n := len(recoveryRE.FindAllString(done.Body, -1)); n != 10 {
			t.Fatalf("enrol alice's authenticator: want 10 recovery codes, got %d: %s", n, done)
		}

		// A browser signs in with the password and the app's code (the
		// next step's: the enrolment spent the current one).
		b := e.newBrowser(t)
		ar := c.request("openid offline_access")
		prompt := b.login(t, b.get(t, ar.URL), "alice", alicePassword)
		wantPath(t, prompt, provider.PathSecondFactor)
		p := b.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}})
		p = b.decide(t, p, "allow")
		tok := e.exchange(t, ar, e.callback(t, p, ar))
		e.wantMFAClaims(t, ar, tok, provider.ACRMFA, "pwd", "otp", "mfa")
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}
		// Signed in: the next request of the browser gets a code at once.
		silent := c.request("openid")
		e.callback(t, b.get(t, silent.URL), silent).wantCode(t)

		if res := e.admin(t, http.MethodDelete, "/admin/users/alice/factors", nil); res.Status != http.StatusNoContent {
			t.Fatalf("reset alice's factors: %d %s", res.Status, res.Body)
		}

		again := c.request("openid")
		if p := b.get(t, again.URL); p.Redirect != nil || p.URL.Path != provider.PathLogin {
			t.Errorf("the browser the reset authenticator signed in: want the login page, got %s", p)
		}
		// The access token first: a refresh that worked would revoke it.
		if e.Active(t, e.adminCred(), tok.AccessToken) {
			t.Error("the access token issued before the reset is still active")
		}
		if res := e.refresh(t, c, tok.RefreshToken, ""); res.Status != http.StatusBadRequest {
			t.Errorf("the refresh token issued before the reset: status %d, want 400", res.Status)
		}

		got := e.wantAudit(t, "mfa.factors_reset", func(en audit.EntryView) bool { return en.Object == "user:"+e.AliceID })
		d := details(t, got)
		ended, _ := d["ended"].([]any)
		if !slices.Equal(ended, []any{"sessions", "grants"}) {
			t.Errorf("mfa.factors_reset ended = %v, want [sessions grants]: %s", d["ended"], got.Details)
		}
		removed, _ := d["removed"].([]any)
		if !slices.Equal(removed, []any{"totp", "recovery_codes"}) {
			t.Errorf("mfa.factors_reset removed = %v, want [totp recovery_codes]: %s", d["removed"], got.Details)
		}
	})
}
