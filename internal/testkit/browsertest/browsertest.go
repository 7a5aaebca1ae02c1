package browsertest

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

// EnvCI names the variable that, when set, makes a missing Chromium fail
// the test instead of skipping it: under CI a skip would hide a broken
// setup.
const EnvCI = "HALLPASS_CI"

// Chromium returns the path of Chromium, skipping the test when it is
// missing (failing it when EnvCI is set). New calls it; call it directly to
// skip a test before it sets up anything else.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	const msg = "install Debian's chromium (apt-get install -y chromium) to run browser tests"
	if os.Getenv(EnvCI) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Option changes what New sets up.
type Option func(*Browser)

// WithWarnings makes console warnings and warning log entries count as
// problems too, not only errors, uncaught exceptions and security log
// entries.
func WithWarnings() Option {
	return func(b *Browser) { b.warnings = true }
}

// Browser is a headless Chromium with one tab, bound to a test: its
// methods fail the test when a step does not work.
type Browser struct {
	t        testing.TB
	ctx      context.Context
	warnings bool

	mu       sync.Mutex
	problems []string
}

// New starts a headless Chromium with a fresh profile and opens a tab in
// it, for at most timeout; both end when t ends. It skips or fails t as
// Chromium does when the browser is missing.
func New(t testing.TB, timeout time.Duration, opts ...Option) *Browser {
	t.Helper()
	b := &Browser{t: t}
	for _, o := range opts {
		o(b)
	}
	execOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium(t)),
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
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, execOpts...)
	t.Cleanup(cancelAlloc)
	b.ctx, cancel = chromedp.NewContext(alloc, chromedp.WithListener(b.listen))
	t.Cleanup(cancel)
	if _, err := chromedp.Call(b.ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

// Context returns the chromedp context of the tab, for running actions
// whose errors the test handles itself.
func (b *Browser) Context() context.Context { return b.ctx }

// listen records problems. It runs in the tab's event loop, on every event
// of the tab: it only records.
func (b *Browser) listen(ev any) {
	var s string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || b.warnings && ev.Type == runtime.ConsoleAPICalledTypeWarning {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			s = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		s = "exception: " + ev.ExceptionDetails.Text
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || b.warnings && ev.Entry.Level == log.EntryLevelWarning || ev.Entry.Source == log.EntrySourceSecurity {
			s = fmt.Sprintf("log %s/%s: %s (%s)", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
		}
	}
	if s != "" {
		b.mu.Lock()
		b.problems = append(b.problems, s)
		b.mu.Unlock()
	}
}

// Problems returns the problems the browser reported since the last call,
// and forgets them: console errors, uncaught exceptions, error log entries
// and security log entries such as CSP violations (and, WithWarnings, the
// warnings).
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.problems
	b.problems = nil
	return l
}

// Location returns the URL of the page the tab shows.
func (b *Browser) Location() *url.URL {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("location: %v", err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// failed fails the test because step did not work, saying where the
// browser is and what the page shows.
func (b *Browser) failed(step string, err error) {
	b.t.Helper()
	body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	b.t.Fatalf("%s: %v (at %s; page text %q)", step, err, b.Location(), body)
}

// Do runs the actions of step in order, failing the test if one does not
// work.
func (b *Browser) Do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.failed(step, err)
	}
}

// Text runs the action of step and returns the text it reads, failing the
// test if it does not work.
func (b *Browser) Text(step string, a chromedp.Action[string]) string {
	b.t.Helper()
	return Run(b, step, a)
}

// Run runs the action of step in b's tab and returns its value, failing
// the test if it does not work.
func Run[T any](b *Browser, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.failed(step, err)
	}
	return v
}
