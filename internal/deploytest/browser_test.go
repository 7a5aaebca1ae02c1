package deploytest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds Chromium, skipping the test when it is missing (and
// failing it under CI, where a skip would hide a broken setup).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const msg = "Chromium is needed for the browser test: apt-get install -y chromium"
	if os.Getenv("HALLPASS_CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// problems collects what the browser reports as errors: console errors,
// uncaught exceptions, and log entries such as CSP violations.
type problems struct {
	mu   sync.Mutex
	list []string
}

func (p *problems) listen(ev any) {
	var s string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			s = "console.error"
		}
	case *runtime.EventExceptionThrown:
		s = "exception: " + ev.ExceptionDetails.Text
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || ev.Entry.Source == log.EntrySourceSecurity {
			s = fmt.Sprintf("log %s/%s: %s (%s)", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
		}
	}
	if s != "" {
		p.mu.Lock()
		p.list = append(p.list, s)
		p.mu.Unlock()
	}
}

func (p *problems) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.list
	p.list = nil
	return l
}

// TestDemoappInBrowser is the demo as a person sees it, in headless
// Chromium: alice signs in to the demo app through hallpass, sees her
// roles, reads results and publishes one through the school API, and signs
// out of both; bob then must sign in again, and his publish is refused by
// the school API.
func TestDemoappInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	d := startDemo(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	seen := &problems{}
	ctx, cancelTab := chromedp.NewContext(alloc, chromedp.WithListener(seen.listen))
	defer cancelTab()
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	location := func() *url.URL {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatalf("location: %v", err)
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	failed := func(step string, err error) {
		t.Helper()
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("%s: %v (at %s; page text %q)", step, err, location(), body)
	}
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			failed(step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			failed("read "+sel, err)
		}
		return strings.TrimSpace(s)
	}
	exists := func(sel string) bool {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, sel)))
		if err != nil {
			failed("look for "+sel, err)
		}
		return n
	}
	signIn := func(who string) {
		t.Helper()
		do("sign in as "+who,
			chromedp.Click(chromedp.CSS(`#signin`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		)
		if loc := location(); loc.Path != "/login" || loc.Host != strings.TrimPrefix(d.hallpass.URL, "http://") {
			t.Fatalf("Sign in led to %s, want hallpass's login page", loc)
		}
		do("log in as "+who,
			chromedp.SendKeys(chromedp.CSS(`input[name=username]`), who),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), d.hallpass.Passwords[who]),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`button[name=decision][value=allow]`)),
		)
		do("allow",
			chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)),
			chromedp.WaitVisible(chromedp.CSS(`#user-name`)),
		)
		if loc := location(); loc.String() != d.url+"/" {
			t.Errorf("after sign-in the browser is at %s, want %s/", loc, d.url)
		}
	}
	publish := func() (ok, message string) {
		t.Helper()
		do("publish a result",
			chromedp.Click(chromedp.CSS(`#publish`)),
			chromedp.WaitVisible(chromedp.CSS(`#outcome`)),
		)
		attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#outcome`), "data-ok"))
		if err != nil {
			failed("read the outcome", err)
		}
		return attr.Value, text(`#outcome`)
	}
	readResults := func() string {
		t.Helper()
		do("read results",
			chromedp.Click(chromedp.CSS(`#read-results`)),
			chromedp.WaitVisible(chromedp.CSS(`#results`)),
		)
		return text(`#results`)
	}

	// Alice, a teacher.
	do("open the demo app",
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
	if p := seen.take(); len(p) > 0 {
		t.Errorf("the browser reported problems: %q", p)
	}

	// Sign out: hallpass ends its session and sends the browser back.
	do("sign out",
		chromedp.Click(chromedp.CSS(`#signout`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-out`)),
	)
	if loc := location(); loc.Scheme+"://"+loc.Host+loc.Path != d.url+"/" || loc.Query().Get("state") == "" {
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
	if p := seen.take(); len(p) > 0 {
		t.Errorf("the browser reported problems: %q", p)
	}
}
