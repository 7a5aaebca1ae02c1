package deploytest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/hallpass/hallpass/internal/testkit/browsertest"
)

// TestDemoappInBrowser is the demo as a person sees it, in headless
// Chromium: alice signs in to the demo app through hallpass, sees her
// roles, reads results and publishes one through the school API, and signs
// out of both; bob then must sign in again, and his publish is refused by
// the school API.
func TestDemoappInBrowser(t *testing.T) {
	browsertest.Chromium(t) // skip before starting the demo
	d := startDemo(t)
	b := browsertest.New(t, 45*time.Second)

	text := func(sel string) string {
		t.Helper()
		return strings.TrimSpace(b.Text("read "+sel, chromedp.Text(chromedp.CSS(sel))))
	}
	exists := func(sel string) bool {
		t.Helper()
		return browsertest.Run(b, "look for "+sel, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, sel)))
	}
	signIn := func(who string) {
		t.Helper()
		b.Do("sign in as "+who,
			chromedp.Click(chromedp.CSS(`#signin`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		)
		if loc := b.Location(); loc.Path != "/login" || loc.Host != strings.TrimPrefix(d.hallpass.URL, "http://") {
			t.Fatalf("Sign in led to %s, want hallpass's login page", loc)
		}
		b.Do("log in as "+who,
			chromedp.SendKeys(chromedp.CSS(`input[name=username]`), who),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), d.hallpass.Passwords[who]),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		)
		if who == "alice" {
			// A teacher (require_mfa in examples/school.yaml) sets up an
			// authenticator at her first sign-in: the code is computed
			// from the key the page shows, the recovery codes shown once.
			b.Do("wait for enrolment", chromedp.WaitVisible(chromedp.CSS(`#totp-secret`)))
			code, err := totp.GenerateCode(text(`#totp-secret`), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			b.Do("enrol an authenticator",
				chromedp.SendKeys(chromedp.CSS(`input[name=code]`), code),
				chromedp.Click(chromedp.CSS(`button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`#recovery-codes`)),
				chromedp.Click(chromedp.CSS(`button[name=continue]`)),
			)
		}
		b.Do("wait for consent", chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)))
		b.Do("allow",
			chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)),
			chromedp.WaitVisible(chromedp.CSS(`#user-name`)),
		)
		if loc := b.Location(); loc.String() != d.url+"/" {
			t.Errorf("after sign-in the browser is at %s, want %s/", loc, d.url)
		}
	}
	publish := func() (ok, message string) {
		t.Helper()
		b.Do("publish a result",
			chromedp.Click(chromedp.CSS(`#publish`)),
			chromedp.WaitVisible(chromedp.CSS(`#outcome`)),
		)
		attr := browsertest.Run(b, "read the outcome", chromedp.AttributeValue(chromedp.CSS(`#outcome`), "data-ok"))
		return attr.Value, text(`#outcome`)
	}
	readResults := func() string {
		t.Helper()
		b.Do("read results",
			chromedp.Click(chromedp.CSS(`#read-results`)),
			chromedp.WaitVisible(chromedp.CSS(`#results`)),
		)
		return text(`#results`)
	}

	// Alice, a teacher.
	b.Do("open the demo app",
		chromedp.Navigate(d.url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#signin`)),
	)
	signIn("alice")
	if name, user, roles := text(`#user-name`), text(`#user-username`), text(`#user-roles`); name != "Alice Teacher" || user != "alice" || roles != "teacher" {
		t.Errorf("signed in as %q (%q), roles %q; want Alice Teacher (alice), teacher", name, user, roles)
	}
	if all := readResults(); !strings.Contains(all, "carol") || !strings.Contains(all, "bob") {
		t.Errorf("a teacher's results page shows %q, want everyone's results", all)
	}
	if ok, msg := publish(); ok != "true" || !strings.Contains(msg, "201 Created") || !strings.Contains(msg, "Chemistry") {
		t.Errorf("alice's publish: ok=%s %q, want success", ok, msg)
	}
	if all := readResults(); !strings.Contains(all, "Chemistry") {
		t.Errorf("the published result is not listed: %q", all)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("the browser reported problems: %q", p)
	}

	// Sign out: hallpass ends its session and sends the browser back.
	b.Do("sign out",
		chromedp.Click(chromedp.CSS(`#signout`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-out`)),
	)
	if loc := b.Location(); loc.Scheme+"://"+loc.Host+loc.Path != d.url+"/" || loc.Query().Get("state") == "" {
		t.Errorf("after sign-out the browser is at %s, want %s/?state=…", loc, d.url)
	}
	if exists(`#user-name`) || !exists(`#signin`) {
		t.Error("after sign-out the demo app still shows a signed-in user")
	}

	// Bob, a student, on the same browser: hallpass asks for a login again.
	signIn("bob")
	if name, roles := text(`#user-name`), text(`#user-roles`); name != "Bob Student" || roles != "student" {
		t.Errorf("signed in as %q with roles %q, want Bob Student, student", name, roles)
	}
	if ok, msg := publish(); ok != "false" || !strings.Contains(msg, "403 Forbidden") || !strings.Contains(msg, "insufficient_scope") {
		t.Errorf("bob's publish: ok=%s %q, want the school API's 403 insufficient_scope", ok, msg)
	}
	if mine := readResults(); strings.Contains(mine, "carol") || !strings.Contains(mine, "Chemistry") {
		t.Errorf("bob's results page shows %q, want only his own (Chemistry among them)", mine)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("the browser reported problems: %q", p)
	}
}
