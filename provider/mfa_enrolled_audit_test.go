package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/provider"
)

// TestEnrolledAudit: the entry of an authenticator app's enrolment says
// which kind of factor was enrolled and, as the sign-in entries do, from
// which address and user agent, and never the app's secret: at the
// sign-in's enrolment step and on the account page.
func TestEnrolledAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		res := e.admin(t, http.MethodPut, "/admin/roles/teacher", map[string]any{"name": "teacher",
			"scopes": []string{"results:read", "results:write", "schedule:write"}, "require_mfa": true})
		if res.Status != http.StatusOK {
			t.Fatalf("PUT role: %d %s", res.Status, res.Body)
		}

		// Alice enrols at the sign-in's step.
		b := e.newBrowser(t)
		ar := e.Confidential.request("openid")
		enrol := b.login(t, b.get(t, ar.URL), "alice", alicePassword)
		wantPath(t, enrol, provider.PathEnrol)
		m := secretRE.FindStringSubmatch(enrol.Body)
		if m == nil {
			t.Fatalf("no secret on the enrolment page: %s", enrol)
		}
		done := b.submitTo(t, enrol, provider.PathEnrol, url.Values{"code": {totpAt(t, m[1], time.Now())}})
		if n := len(recoveryRE.FindAllString(done.Body, -1)); n != 10 {
			t.Fatalf("enrolment in the sign-in: want 10 recovery codes, got %d: %s", n, done)
		}
		// Bob on his account page.
		bobSecret, done := e.enrolOnAccountPage(t, e.newBrowser(t), "bob", bobPassword)
		if n := len(recoveryRE.FindAllString(done.Body, -1)); n != 10 {
			t.Fatalf("enrolment on the account page: want 10 recovery codes, got %d: %s", n, done)
		}

		for _, tc := range []struct {
			name, userID, secret string
		}{
			{"sign-in", e.AliceID, m[1]},
			{"account page", e.BobID, bobSecret},
		} {
			got := e.wantAudit(t, "mfa.enrolled", func(en audit.EntryView) bool { return en.Object == "user:"+tc.userID })
			d := details(t, got)
			if d["method"] != "totp" {
				t.Errorf("%s: mfa.enrolled method = %v, want totp: %s", tc.name, d["method"], got.Details)
			}
			if d["recovery_codes_issued"] != float64(10) {
				t.Errorf("%s: mfa.enrolled recovery_codes_issued = %v, want 10: %s", tc.name, d["recovery_codes_issued"], got.Details)
			}
			if got.ClientAddr != "127.0.0.1" || got.UserAgent == "" {
				t.Errorf("%s: mfa.enrolled client address %q, user agent %q, want the request's", tc.name, got.ClientAddr, got.UserAgent)
			}
			if strings.Contains(strings.ToUpper(string(got.Details)), tc.secret) {
				t.Errorf("%s: mfa.enrolled holds the secret: %s", tc.name, got.Details)
			}
		}
	})
}
