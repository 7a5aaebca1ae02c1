package provider_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
)

// The default login limits (provider.LoginLimits).
const (
	accountFreeFailures = 5
	addressFailures     = 20
)

// patient lets a password check wait a minute for its turn, so that on a
// slow (race-detector) run only the tests that want a 503 see one.
func patient(c *provider.Config) { c.PasswordCheckWait = time.Minute }

// nanosecondClock is the time with one nanosecond past the microsecond,
// which the database (it keeps microseconds) drops, at every reading:
// time.Now reads whole microseconds once in about a thousand calls, and a
// test of how the throttle compares an entry it counted with that entry
// read back must not pass or fail by that chance.
func nanosecondClock(c *provider.Config) {
	c.Now = func() time.Time { return time.Now().Truncate(time.Microsecond).Add(time.Nanosecond) }
}

// trustLoopback names the test client's own address a trusted proxy, so a
// test can say which client a request stands for with X-Forwarded-For.
func trustLoopback(c *provider.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// loginPage opens a login page for the confidential client in a new
// browser.
func loginPage(t *testing.T, e *ssoEnv) (*browser, page) {
	t.Helper()
	b := e.newBrowser(t)
	return b, b.get(t, e.Confidential.request("openid results:read").URL).want(t, "login")
}

// tryPostLogin submits username and password with the hidden fields of a
// login page to the login endpoint of the server at base (the page's own,
// or another replica's on the same database), with X-Forwarded-For xff
// unless it is "". Safe to call from several goroutines.
func (b *browser) tryPostLogin(base string, hidden url.Values, username, password, xff string) (page, error) {
	v := url.Values{}
	for k, vs := range hidden {
		v[k] = vs
	}
	v.Set("username", username)
	v.Set("password", password)
	hr, err := http.NewRequest(http.MethodPost, base+provider.PathLogin, strings.NewReader(v.Encode()))
	if err != nil {
		return page{}, err
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if xff != "" {
		hr.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := b.http.Do(hr)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return page{}, err
	}
	out := page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(data)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if out.Redirect, err = resp.Location(); err != nil {
			return page{}, err
		}
	}
	return out, nil
}

// postLogin submits the login form of page p with username and password
// to the server at base; see tryPostLogin.
func (b *browser) postLogin(t *testing.T, base string, p page, username, password, xff string) page {
	t.Helper()
	out, err := b.tryPostLogin(base, p.form(t).hidden(), username, password, xff)
	if err != nil {
		t.Fatalf("post login: %v", err)
	}
	return out
}

// wantChecked fails unless p is the login form re-shown after a wrong
// password: the attempt was allowed and its password checked.
func wantChecked(t *testing.T, what string, p page) {
	t.Helper()
	if p.Status != http.StatusOK || p.kind() != "login" || !strings.Contains(p.Body, "incorrect") {
		t.Fatalf("%s: want the login form with the wrong-password message (200), got %s", what, p)
	}
	if p.Header.Get("Retry-After") != "" {
		t.Errorf("%s: a checked attempt carries Retry-After %q", what, p.Header.Get("Retry-After"))
	}
}

// wantThrottled fails unless p is the login form refused with 429 and a
// Retry-After of retry seconds (any when retry < 0); it returns the
// Retry-After value.
func wantThrottled(t *testing.T, what string, p page, retry int) int {
	t.Helper()
	if p.Status != http.StatusTooManyRequests || p.kind() != "login" || !strings.Contains(p.Body, "Too many failed sign-ins") {
		t.Fatalf("%s: want the login form refused with 429, got %s", what, p)
	}
	got, err := strconv.Atoi(p.Header.Get("Retry-After"))
	if err != nil || got < 1 {
		t.Fatalf("%s: Retry-After %q, want a number of seconds", what, p.Header.Get("Retry-After"))
	}
	if retry >= 0 && got != retry {
		t.Errorf("%s: Retry-After %d, want %d", what, got, retry)
	}
	return got
}

// logins is the hallpass_logins_total sample for result.
func logins(t *testing.T, ts *testServer, result string) int {
	t.Helper()
	v, _ := ts.metric(t, "hallpass_logins_total", `result="`+result+`"`)
	return int(v)
}

// TestLoginParallelGuessesBounded: 20 wrong passwords for alice sent at
// once reach the password check only as often as the account allows (5);
// the rest are refused with 429 without a check, and then so is her right
// password. Bob, from the same address, is not affected.
func TestLoginParallelGuessesBounded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, patient)
		b, p := loginPage(t, e)
		const guesses = 20
		pages := make([]page, guesses)
		errs := make([]error, guesses)
		hidden := p.form(t).hidden()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range guesses {
			wg.Go(func() {
				<-start
				pages[i], errs[i] = b.tryPostLogin(e.URL, hidden, "alice", fmt.Sprintf("wrong-guess-%02d", i), "")
			})
		}
		close(start)
		wg.Wait()
		checked, throttled := 0, 0
		for i, pg := range pages {
			if errs[i] != nil {
				t.Fatalf("guess %d: %v", i, errs[i])
			}
			switch pg.Status {
			case http.StatusOK:
				wantChecked(t, fmt.Sprintf("guess %d", i), pg)
				checked++
			case http.StatusTooManyRequests:
				wantThrottled(t, fmt.Sprintf("guess %d", i), pg, -1)
				throttled++
			default:
				t.Fatalf("guess %d: %s", i, pg)
			}
		}
		if checked != accountFreeFailures || throttled != guesses-accountFreeFailures {
			t.Fatalf("%d parallel wrong passwords: %d checked, %d refused; want %d checked", guesses, checked, throttled, accountFreeFailures)
		}
		if n := logins(t, e.testServer, "failure"); n != accountFreeFailures {
			t.Errorf("password checks that failed: %d, want %d", n, accountFreeFailures)
		}
		if n := logins(t, e.testServer, "throttled"); n != guesses-accountFreeFailures {
			t.Errorf("throttled logins: %d, want %d", n, guesses-accountFreeFailures)
		}
		wantThrottled(t, "alice's right password during the lock", b.postLogin(t, e.URL, p, "alice", alicePassword, ""), -1)
		if _, ok := b.cookie("hallpass_session"); ok {
			t.Error("a session cookie was set during the lock")
		}
		if p := b.postLogin(t, e.URL, p, "bob", bobPassword, ""); p.kind() != "consent" {
			t.Fatalf("bob, from the same address, after alice's lock: want the consent page, got %s", p)
		}
	})
}

// TestLoginWaitingNotCounted: twelve browsers post alice's right password
// at once, with one password check at a time. More than her five free
// failures wait for the check at once, yet every one signs in: an attempt
// is counted only once the gate admits it (checking or next in line), so
// a queue of honest sign-ins never looks like a run of failures. Counting
// the attempts as they queue would refuse those past the fifth.
func TestLoginWaitingNotCounted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.MaxPasswordChecks = 1
			c.PasswordCheckWait = time.Minute
		})
		const signins = 12
		browsers, hidden := make([]*browser, signins), make([]url.Values, signins)
		for i := range signins {
			var p page
			browsers[i], p = loginPage(t, e)
			hidden[i] = p.form(t).hidden()
		}
		pages, errs := make([]page, signins), make([]error, signins)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range signins {
			wg.Go(func() {
				<-start
				pages[i], errs[i] = browsers[i].tryPostLogin(e.URL, hidden[i], "alice", alicePassword, "")
			})
		}
		close(start)
		wg.Wait()
		for i, p := range pages {
			if errs[i] != nil {
				t.Fatalf("sign-in %d: %v", i, errs[i])
			}
			if p.kind() != "consent" {
				t.Errorf("sign-in %d of %d at once with one check at a time: want the consent page, got %s", i, signins, p)
			}
		}
		if n := logins(t, e.testServer, "throttled"); n != 0 {
			t.Errorf("throttled logins: %d, want 0", n)
		}
	})
}

// TestLoginAccountLock: after 5 wrong passwords the account is locked for
// a minute, from every address, even for the right password; Retry-After
// is the time left; the lock ends by itself, the next failure locks for 2
// minutes, and a correct password then signs in and forgets the failures.
func TestLoginAccountLock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		clock := &testClock{}
		e := newSSOEnv(t, dsn, patient, trustLoopback, func(c *provider.Config) { c.Now = clock.Now })
		b, p := loginPage(t, e)
		for i := range accountFreeFailures {
			wantChecked(t, fmt.Sprintf("wrong password %d", i+1), b.postLogin(t, e.URL, p, "alice", fmt.Sprintf("wrong-%d", i), ""))
		}
		wantThrottled(t, "the right password during the lock", b.postLogin(t, e.URL, p, "alice", alicePassword, ""), 60)
		wantThrottled(t, "from another address", b.postLogin(t, e.URL, p, "ALICE", alicePassword, "198.51.100.77"), 60)
		clock.Advance(59*time.Second + 500*time.Millisecond)
		wantThrottled(t, "half a second before the lock ends", b.postLogin(t, e.URL, p, "alice", alicePassword, ""), 1)
		clock.Advance(time.Second)
		wantChecked(t, "a wrong password once the lock ended", b.postLogin(t, e.URL, p, "alice", "wrong-again", ""))
		wantThrottled(t, "after the sixth failure", b.postLogin(t, e.URL, p, "alice", alicePassword, ""), 120)
		clock.Advance(2 * time.Minute)
		if p := b.postLogin(t, e.URL, p, "alice", alicePassword, ""); p.kind() != "consent" {
			t.Fatalf("the right password after the second lock: want the consent page, got %s", p)
		}
		// The success forgot the failures: 4 wrong passwords and the
		// right one sign in again.
		b2, p2 := loginPage(t, e)
		for i := range accountFreeFailures - 1 {
			wantChecked(t, fmt.Sprintf("after the success, wrong password %d", i+1), b2.postLogin(t, e.URL, p2, "alice", fmt.Sprintf("wrong-%d", i), ""))
		}
		if p := b2.postLogin(t, e.URL, p2, "alice", alicePassword, ""); p.kind() != "consent" {
			t.Fatalf("the right password at the last free attempt: want the consent page, got %s", p)
		}
	})
}

// TestLoginPasswordSpray: one address trying one password over 200
// usernames is stopped after 20; the rest are refused until the window
// ends, told the real time left, and so is a right password from there.
// A right password before gets its attempt back, though it opened the
// window: the entry read back from the database is still the one it
// counted, at the database's microseconds.
func TestLoginPasswordSpray(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, patient, nanosecondClock)
		start := time.Now()
		if b, p := loginPage(t, e); b.postLogin(t, e.URL, p, "bob", bobPassword, "").kind() != "consent" {
			t.Fatal("bob's right password did not sign him in")
		}
		b, p := loginPage(t, e)
		checked, first := 0, -1
		for i := range 200 {
			r := b.postLogin(t, e.URL, p, fmt.Sprintf("student%03d", i), "Spring2026!", "")
			if r.Status == http.StatusOK {
				wantChecked(t, fmt.Sprintf("username %d", i), r)
				checked++
				continue
			}
			// The window began at the first attempt, after start.
			elapsed := time.Since(start)
			retry := wantThrottled(t, fmt.Sprintf("username %d", i), r, -1)
			if limit := 15 * 60; retry > limit || float64(retry) < float64(limit)-elapsed.Seconds()-1 {
				t.Fatalf("username %d: Retry-After %d, want the window's time left (%d s less %.1f s elapsed)", i, retry, limit, elapsed.Seconds())
			}
			if first < 0 {
				first = i
			}
		}
		if checked != addressFailures || first != addressFailures {
			t.Fatalf("spray over 200 usernames: %d passwords checked, first refusal at %d; want %d and %d", checked, first, addressFailures, addressFailures)
		}
		if n := logins(t, e.testServer, "failure"); n != addressFailures {
			t.Errorf("password checks that failed: %d, want %d", n, addressFailures)
		}
		wantThrottled(t, "a right password from the spraying address", b.postLogin(t, e.URL, p, "bob", bobPassword, ""), -1)
	})
}

// TestLoginThrottleSharedByReplicas: two replicas on one database count
// one account's failures together, and a replica started later (a
// restart) knows the lock too.
func TestLoginThrottleSharedByReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, patient)
		other := newTestServer(t, dsn, patient)
		b, p := loginPage(t, e)
		for i, base := range []string{e.URL, other.URL, e.URL, other.URL, e.URL} {
			wantChecked(t, fmt.Sprintf("wrong password %d", i+1), b.postLogin(t, base, p, "alice", fmt.Sprintf("wrong-%d", i), ""))
		}
		wantThrottled(t, "replica 1 after 5 failures on both", b.postLogin(t, e.URL, p, "alice", alicePassword, ""), 60)
		wantThrottled(t, "replica 2 after 5 failures on both", b.postLogin(t, other.URL, p, "alice", alicePassword, ""), 60)
		later := newTestServer(t, dsn, patient)
		wantThrottled(t, "a replica started after the lock", b.postLogin(t, later.URL, p, "alice", alicePassword, ""), 60)
		for _, ts := range []*testServer{e.testServer, other} {
			if n := logins(t, ts, "failure"); n < 2 {
				t.Errorf("replica %s checked %d passwords, want its share (at least 2)", ts.URL, n)
			}
		}
	})
}

// TestLoginTrustedProxies: X-Forwarded-For names the client only when the
// peer is a configured trusted proxy, and is read right to left, so a
// client cannot escape its limit by writing addresses of its own.
func TestLoginTrustedProxies(t *testing.T) {
	limits := func(c *provider.Config) { c.LoginLimits = provider.LoginLimits{AddressFailures: 3} }
	user := func(i int) string { return fmt.Sprintf("user%02d", i) }
	for name, proxies := range map[string]func(*provider.Config){
		"not configured": func(*provider.Config) {},
		"other proxies":  func(c *provider.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} },
	} {
		t.Run(name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, dsn string) {
				e := newSSOEnv(t, dsn, patient, limits, proxies)
				b, p := loginPage(t, e)
				for i := range 3 {
					wantChecked(t, "failure "+user(i), b.postLogin(t, e.URL, p, user(i), "wrong", fmt.Sprintf("198.51.100.%d", i)))
				}
				wantThrottled(t, "a fourth failure claiming another address", b.postLogin(t, e.URL, p, user(9), "wrong", "198.51.100.200"), -1)
			})
		})
	}
	t.Run("configured", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, dsn string) {
			e := newSSOEnv(t, dsn, patient, limits, trustLoopback)
			b, p := loginPage(t, e)
			for i := range 5 {
				wantChecked(t, "failure from client "+strconv.Itoa(i), b.postLogin(t, e.URL, p, user(i), "wrong", fmt.Sprintf("198.51.100.%d", i)))
			}
			for i := range 3 {
				wantChecked(t, "failure from 203.0.113.9", b.postLogin(t, e.URL, p, user(10+i), "wrong", "203.0.113.9"))
			}
			wantThrottled(t, "a fourth failure from 203.0.113.9", b.postLogin(t, e.URL, p, user(20), "wrong", "203.0.113.9"), -1)
			wantThrottled(t, "203.0.113.9 writing another address before its own", b.postLogin(t, e.URL, p, user(21), "wrong", "203.0.113.10, 203.0.113.9"), -1)
			wantChecked(t, "203.0.113.10 behind a forged 203.0.113.9", b.postLogin(t, e.URL, p, user(22), "wrong", "203.0.113.9, 203.0.113.10"))
			wantChecked(t, "another client", b.postLogin(t, e.URL, p, user(23), "wrong", "192.0.2.1"))
		})
	})
}

// TestLoginBusy: when every password-check slot is taken, a login waits
// briefly, then gets the form again with 503 and Retry-After, and is not
// counted as an attempt; admin requests that set a password get a 503
// JSON error and change nothing; one without a password goes through.
func TestLoginBusy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.MaxPasswordChecks = 1
			c.PasswordCheckWait = 50 * time.Millisecond
		})
		b, p := loginPage(t, e)
		release := e.Provider.FillPasswordChecks()
		for i := range accountFreeFailures {
			r := b.postLogin(t, e.URL, p, "alice", alicePassword, "")
			if r.Status != http.StatusServiceUnavailable || r.kind() != "login" || r.Header.Get("Retry-After") != "1" || !strings.Contains(r.Body, "Try again in a few seconds") {
				t.Fatalf("login %d with every slot taken: want the form with 503 and Retry-After 1, got Retry-After %q, %s", i, r.Header.Get("Retry-After"), r)
			}
		}
		if n := logins(t, e.testServer, "busy"); n != accountFreeFailures {
			t.Errorf("busy logins: %d, want %d", n, accountFreeFailures)
		}
		res := e.admin(t, http.MethodPost, "/admin/users", map[string]any{"username": "carol", "password": "carol-password-1234"})
		wantBusyJSON(t, "POST /admin/users", res)
		res = e.admin(t, http.MethodPut, "/admin/users/bob", map[string]any{"username": "bob", "password": "a-new-password-5678", "roles": []string{"student"}})
		wantBusyJSON(t, "PUT /admin/users/bob with a password", res)
		res = e.admin(t, http.MethodPut, "/admin/users/bob", map[string]any{"username": "bob", "name": "Bob T.", "email": "bob@example.com", "roles": []string{"student"}})
		if res.Status != http.StatusOK {
			t.Errorf("PUT /admin/users/bob without a password while busy: %d %s", res.Status, res.Body)
		}
		release()

		if res := e.admin(t, http.MethodGet, "/admin/users/carol", nil); res.Status != http.StatusNotFound {
			t.Errorf("carol exists after a refused create: %d", res.Status)
		}
		if p := b.postLogin(t, e.URL, p, "bob", bobPassword, ""); p.kind() != "consent" {
			t.Fatalf("bob's old password after a refused change: want the consent page, got %s", p)
		}
		// None of the refused logins counted: alice still has her free
		// attempts, and her right password signs in at the last of them.
		b2, p2 := loginPage(t, e)
		for i := range accountFreeFailures - 1 {
			wantChecked(t, fmt.Sprintf("wrong password %d after the busy spell", i+1), b2.postLogin(t, e.URL, p2, "alice", "wrong", ""))
		}
		if p := b2.postLogin(t, e.URL, p2, "alice", alicePassword, ""); p.kind() != "consent" {
			t.Fatalf("alice after 4 failures: want the consent page, got %s", p)
		}
	})
}

func wantBusyJSON(t *testing.T, what string, res result) {
	t.Helper()
	if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("%s while busy: status %d, Retry-After %q; want 503 with Retry-After 1: %s", what, res.Status, res.Header.Get("Retry-After"), res.Body)
	}
	if m := res.JSON(t); m["error"] != "temporarily_unavailable" || m["error_description"] == "" {
		t.Errorf("%s while busy: %s", what, res.Body)
	}
}

// TestLoginLogs: failed and throttled logins are logged with the request
// id the response carries, a digest of the username (the same for every
// attempt on one account, whatever its case) and the client address;
// never the username or a password.
func TestLoginLogs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		logs := &syncBuffer{}
		e := newSSOEnv(t, dsn, patient, trustLoopback, func(c *provider.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		})
		b, p := loginPage(t, e)
		var ids []string
		for i := range accountFreeFailures {
			r := b.postLogin(t, e.URL, p, []string{"Alice", "alice"}[i%2], fmt.Sprintf("wrong-pw-%d", i), "198.51.100.4")
			wantChecked(t, "wrong password", r)
			ids = append(ids, r.Header.Get("X-Request-Id"))
		}
		r := b.postLogin(t, e.URL, p, "alice", alicePassword, "")
		wantThrottled(t, "locked", r, 60)
		ids = append(ids, r.Header.Get("X-Request-Id"))

		hexDigest := regexp.MustCompile(`^[0-9a-f]{16}$`)
		digest := ""
		for i, id := range ids {
			msg, client, level := "login failed", "198.51.100.4", "INFO"
			if i == len(ids)-1 {
				msg, client, level = "login throttled", "127.0.0.1", "WARN"
			}
			var rec map[string]any
			for _, r := range logs.records(t) {
				if r["msg"] == msg && r["request_id"] == id {
					rec = r
				}
			}
			if id == "" || rec == nil {
				t.Fatalf("no %q log record with request id %q", msg, id)
			}
			d, _ := rec["username_digest"].(string)
			if !hexDigest.MatchString(d) || (digest != "" && d != digest) {
				t.Errorf("%s: username_digest %q, want one 16-hex-digit digest for alice: %v", msg, d, rec)
			}
			digest = d
			if rec["client"] != client || rec["level"] != level {
				t.Errorf("%s: client %v, level %v; want %s, %s", msg, rec["client"], rec["level"], client, level)
			}
			if i == len(ids)-1 && (rec["limit"] != "account" || rec["retry_after_seconds"] != "60") {
				t.Errorf("throttled record: limit %v, retry_after_seconds %v", rec["limit"], rec["retry_after_seconds"])
			}
		}
		for _, r := range logs.records(t) {
			if m, _ := r["msg"].(string); strings.HasPrefix(m, "login") {
				line := fmt.Sprint(r)
				if strings.Contains(strings.ToLower(line), "alice") {
					t.Errorf("a login record names the user: %v", r)
				}
			}
		}
		all := fmt.Sprint(logs.records(t))
		for _, secret := range []string{alicePassword, "wrong-pw-"} {
			if strings.Contains(all, secret) {
				t.Errorf("a password reached the logs: %q", secret)
			}
		}
	})
}

// TestLoginSuccessKeepsFailuresCountedMeanwhile: a right password forgets
// the failures counted before it, not those counted while it was being
// checked. Alice's right password is held once checked, before its reset
// of her count; two wrong passwords for her are checked meanwhile. They
// still count: three more reach the password check, and then her account
// is locked. Before, the reset deleted her entry whatever it held, and
// guesses sent while she signed in came on top of the five that her
// success gave back (and any lock they had set was lifted).
func TestLoginSuccessKeepsFailuresCountedMeanwhile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		st := &heldThrottleStore{reached: make(chan struct{}), release: make(chan struct{})}
		e := newSSOEnv(t, dsn, patient, func(c *provider.Config) {
			st.Store = c.Store
			c.Store = st
		})
		owner, ownerLogin := loginPage(t, e)
		hidden := ownerLogin.form(t).hidden()
		guesser, p := loginPage(t, e)

		// The owner's count (the first UpdateThrottle) goes through; the
		// reset after the right password (the second) is held.
		st.hold.Store(2)
		type outcome struct {
			p   page
			err error
		}
		signedIn := make(chan outcome, 1)
		go func() {
			p, err := owner.tryPostLogin(e.URL, hidden, "alice", alicePassword, "")
			signedIn <- outcome{p, err}
		}()
		<-st.reached
		for i := range 2 {
			wantChecked(t, fmt.Sprintf("wrong password %d while alice's is checked", i+1), guesser.postLogin(t, e.URL, p, "alice", fmt.Sprintf("meanwhile-%d", i), ""))
		}
		close(st.release)
		if out := <-signedIn; out.err != nil || out.p.kind() != "consent" {
			t.Fatalf("alice's right password: %v, want the consent page, got %s", out.err, out.p)
		}

		for i := range accountFreeFailures - 2 {
			wantChecked(t, fmt.Sprintf("wrong password %d after alice signed in", i+1), guesser.postLogin(t, e.URL, p, "alice", fmt.Sprintf("after-%d", i), ""))
		}
		wantThrottled(t, "the sixth wrong password since alice's was counted", guesser.postLogin(t, e.URL, p, "alice", "one-more", ""), -1)
	})
}
