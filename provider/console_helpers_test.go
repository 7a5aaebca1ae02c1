package provider_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hallpass/hallpass/internal/testkit/browsertest"
)

// The console's admin, as every console test sets them up.
const (
	adminUsername = "ada"
	adminPassword = "lantern-copper-fjord-72"
)

// withConsoleAdmin adds the admin role and an admin user, ada, to e.
func (e *ssoEnv) withConsoleAdmin(t *testing.T) {
	t.Helper()
	for path, body := range map[string]any{
		"/admin/roles": map[string]any{"name": "admin", "description": "Manages hallpass"},
	} {
		if res := e.admin(t, http.MethodPost, path, body); res.Status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, res.Status, res.Body)
		}
	}
	res := e.admin(t, http.MethodPost, "/admin/users", map[string]any{
		"username": adminUsername, "password": adminPassword, "name": "Ada Admin", "roles": []string{"admin"},
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create admin user: %d %s", res.Status, res.Body)
	}
}

// chromeSignIn opens path in the browser, which leads to hallpass's login
// page through the own client, signs in, and waits for the page's heading.
func chromeSignIn(t *testing.T, b *browsertest.Browser, url, username, password string) {
	t.Helper()
	b.Do("open "+url,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
	)
	b.Do("sign in as "+username,
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), username),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		// Only the console's and the account page's frame names who
		// is signed in.
		chromedp.WaitVisible(chromedp.CSS(`header .who`)),
	)
}

// screenshot saves the page at 1280 and 390 px wide, and at 1280 px in
// the dark scheme, as name-1280.png, name-390.png and name-1280-dark.png,
// in $HALLPASS_SCREENSHOTS when set, else in hallpass-screenshots under
// the temporary directory; the test logs where (kept for a reviewer).
func screenshot(t *testing.T, b *browsertest.Browser, name string) {
	t.Helper()
	if !pageChecks(t) {
		return
	}
	dir := os.Getenv("HALLPASS_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "hallpass-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("directory for screenshots: %v", err)
	}
	name = strings.NewReplacer("/", "-", " ", "-").Replace(t.Name() + "-" + name)
	shoot := func(suffix string, width int64) {
		t.Helper()
		b.Do("set the width to "+strconv.FormatInt(width, 10), chromedp.EmulateViewport(width, 900))
		png := browsertest.Run(b, "screenshot "+name, chromedp.FullScreenshot(100))
		file := filepath.Join(dir, name+"-"+suffix+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatalf("write screenshot: %v", err)
		}
	}
	shoot("1280", 1280)
	shoot("390", 390)
	setColorScheme(t, b, "dark")
	shoot("1280-dark", 1280)
	setColorScheme(t, b, "")
	t.Logf("screenshots of %s in %s", name, dir)
	b.Do("back to 1280 px", chromedp.EmulateViewport(1280, 900))
}

// setColorScheme makes the tab prefer a dark or light colour scheme ("" is
// the browser's own).
func setColorScheme(t *testing.T, b *browsertest.Browser, scheme string) {
	t.Helper()
	params := emulation.SetEmulatedMediaParams{}
	if scheme != "" {
		params.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	if _, err := chromedp.Call(b.Context(), emulation.SetEmulatedMedia, params); err != nil {
		t.Fatalf("emulate prefers-color-scheme %q: %v", scheme, err)
	}
}

// checkPage checks what every console and account page must have: it
// loaded without CSP violations or console errors, every control has a
// label, nothing is wider than a 390 px screen, and the dark scheme
// applies; then it takes the page's screenshots.
//
// The pages are the same on either backend, so this runs on SQLite only.
func checkPage(t *testing.T, b *browsertest.Browser, name string) {
	t.Helper()
	if !pageChecks(t) {
		return
	}
	browsertest.Run(b, "wait for "+name+" to load", chromedp.Poll[bool](`document.readyState === "complete"`))
	unlabelled := browsertest.Run(b, "check labels", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("input:not([type=hidden]), textarea, select")).filter(el => !el.labels || el.labels.length === 0).map(el => el.name || el.id)`))
	if len(unlabelled) > 0 {
		t.Errorf("%s: controls without a label: %v", name, unlabelled)
	}
	b.Do("narrow to 390 px", chromedp.EmulateViewport(390, 900))
	overflow := browsertest.Run(b, "measure the width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if overflow > 390 {
		t.Errorf("%s is %d px wide on a 390 px screen", name, overflow)
	}
	b.Do("back to 1280 px", chromedp.EmulateViewport(1280, 900))
	light := browsertest.Run(b, "read the light background", chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	setColorScheme(t, b, "dark")
	dark := browsertest.Run(b, "read the dark background", chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	setColorScheme(t, b, "")
	if light == dark {
		t.Errorf("%s: the background is %s in light and dark", name, light)
	}
	for _, p := range b.Problems() {
		t.Errorf("%s reported a problem: %q", name, p)
	}
	screenshot(t, b, name)
}

// pageChecks reports whether t checks and photographs pages: on SQLite
// only, since the pages do not depend on the backend.
func pageChecks(t *testing.T) bool { return !strings.HasSuffix(t.Name(), "/postgres") }
