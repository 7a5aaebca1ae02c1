package provider

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// TestLoginLimitsAccount walks one account through the default policy:
// five free wrong passwords, then locks of 1, 2, 4, 8, 15, 15 minutes,
// each ending by itself, and a success that forgets everything.
func TestLoginLimitsAccount(t *testing.T) {
	l := LoginLimits{}.withDefaults()
	now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	acct, addr := storage.ThrottleEntry{ID: "acct"}, storage.ThrottleEntry{ID: "addr"}
	attempt := func(what string) {
		t.Helper()
		if v := l.judge(acct, addr, now); !v.allowed {
			t.Fatalf("%s: refused (%s, %v) at %v", what, v.limit(), v.retryAfter, now)
		}
		acct, addr = l.count(acct, addr, now)
		addr = storage.ThrottleEntry{ID: "addr"} // only the account limit here
	}
	for i := range 4 {
		attempt("free attempt")
		if !acct.LockedUntil.IsZero() {
			t.Fatalf("locked after %d failures", i+1)
		}
	}
	attempt("fifth attempt")
	for _, lock := range []time.Duration{1, 2, 4, 8, 15, 15} {
		lock *= time.Minute
		if got := acct.LockedUntil.Sub(now); got != lock {
			t.Fatalf("after %d failures: locked for %v, want %v", acct.Attempts, got, lock)
		}
		v := l.judge(acct, addr, now.Add(lock-time.Millisecond))
		if v.allowed || !v.account || v.address || v.retryAfter != time.Millisecond {
			t.Fatalf("a millisecond before a %v lock ends: %+v", lock, v)
		}
		now = now.Add(lock)
		attempt("attempt after the lock ended")
	}
	if acct.ExpiresAt != acct.LockedUntil.Add(l.AccountMemory) {
		t.Errorf("account expires at %v, want an hour after its lock ends (%v)", acct.ExpiresAt, acct.LockedUntil)
	}
	// Once the memory has passed, the account starts afresh.
	now = acct.ExpiresAt
	attempt("after the account was forgotten")
	if acct.Attempts != 1 || !acct.LockedUntil.IsZero() {
		t.Errorf("a forgotten account counts %d attempts, locked until %v", acct.Attempts, acct.LockedUntil)
	}
	// A success deletes the account entry.
	out := l.succeeded(acct, acct, addr, addr, now)
	if len(out) == 0 || out[0].ID != "acct" || !out[0].ExpiresAt.IsZero() {
		t.Errorf("success returned %+v, want the account entry deleted (zero ExpiresAt)", out)
	}
}

// TestLoginLimitsAddress: twenty attempts in the window, then the
// address is refused for the rest of it; a success gives its attempt
// back, but only in the window it was counted in.
func TestLoginLimitsAddress(t *testing.T) {
	l := LoginLimits{}.withDefaults()
	start := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	addr := storage.ThrottleEntry{ID: "addr"}
	var reserved storage.ThrottleEntry
	for i := range 20 {
		now := start.Add(time.Duration(i) * time.Second)
		acct := storage.ThrottleEntry{ID: "user" + string(rune('a'+i))}
		if v := l.judge(acct, addr, now); !v.allowed {
			t.Fatalf("attempt %d refused: %+v", i+1, v)
		}
		_, addr = l.count(acct, addr, now)
		reserved = addr
	}
	now := start.Add(10 * time.Minute)
	v := l.judge(storage.ThrottleEntry{ID: "someone-new"}, addr, now)
	if v.allowed || !v.address || v.account || v.retryAfter != 5*time.Minute {
		t.Fatalf("21st attempt 10 minutes in: %+v, want refused by the address for the 5 minutes left", v)
	}
	// The 20th attempt was right: the address gets it back.
	out := l.succeeded(storage.ThrottleEntry{ID: "usert"}, storage.ThrottleEntry{}, addr, reserved, now)
	if len(out) != 2 || out[1].Attempts != 19 || !out[1].LockedUntil.IsZero() {
		t.Fatalf("success returned %+v, want the address at 19 attempts, unlocked", out)
	}
	if v := l.judge(storage.ThrottleEntry{ID: "x"}, out[1], now); !v.allowed {
		t.Errorf("refused after a success gave an attempt back: %+v", v)
	}
	// A success counted in an earlier window gives nothing back.
	_, next := l.count(storage.ThrottleEntry{ID: "a"}, addr, start.Add(l.AddressWindow))
	if out := l.succeeded(storage.ThrottleEntry{ID: "a"}, storage.ThrottleEntry{}, next, reserved, start.Add(l.AddressWindow)); len(out) != 1 {
		t.Errorf("a success from the previous window changed the new one: %+v", out)
	}
	if v := l.judge(storage.ThrottleEntry{ID: "x"}, addr, start.Add(l.AddressWindow)); !v.allowed {
		t.Errorf("refused once the window ended: %+v", v)
	}
}

func TestLoginLimitsDefaults(t *testing.T) {
	l := LoginLimits{AccountLock: time.Hour}.withDefaults()
	if l.AccountFreeFailures != 5 || l.AddressFailures != 20 || l.AddressWindow != 15*time.Minute || l.AccountMemory != time.Hour {
		t.Errorf("defaults: %+v", l)
	}
	if l.AccountMaxLock != time.Hour {
		t.Errorf("a first lock longer than the default cap: cap %v, want it raised to the first lock", l.AccountMaxLock)
	}
	if got := l.lockFor(1000); got != time.Hour {
		t.Errorf("lockFor(1000) = %v", got)
	}
}

func TestRetryAfterAndHumanWait(t *testing.T) {
	for _, c := range []struct {
		d           time.Duration
		header, say string
	}{
		{0, "1", "1 second"},
		{time.Nanosecond, "1", "1 second"},
		{time.Second, "1", "1 second"},
		{time.Second + time.Nanosecond, "2", "2 seconds"},
		{59*time.Second + 500*time.Millisecond, "60", "60 seconds"},
		{90 * time.Second, "90", "90 seconds"},
		{91 * time.Second, "91", "2 minutes"},
		{15 * time.Minute, "900", "15 minutes"},
	} {
		if got := retryAfter(c.d); got != c.header {
			t.Errorf("retryAfter(%v) = %q, want %q", c.d, got, c.header)
		}
		if got := humanWait(c.d); got != c.say {
			t.Errorf("humanWait(%v) = %q, want %q", c.d, got, c.say)
		}
	}
}

// TestThrottleDigests: entry ids are keyed digests that name neither the
// username nor the address, one per account whatever its case, one per
// IPv6 /64, and differ between deployments.
func TestThrottleDigests(t *testing.T) {
	lt := newLoginThrottle(nil, LoginLimits{}, []byte(strings.Repeat("s", 32)))
	other := newLoginThrottle(nil, LoginLimits{}, []byte(strings.Repeat("o", 32)))
	v4 := netip.MustParseAddr("203.0.113.7")
	a := lt.attempt("Alice", v4)
	if b := lt.attempt("alice", v4); a.account != b.account || a.address != b.address {
		t.Error("Alice and alice count separately")
	}
	// Every spelling that names one user under case folding (the
	// directory's rule) counts as one, KELVIN SIGN and LONG S too.
	for _, name := range []string{"oskar", "OSKAR", "o\u017fkar", "os\u212aar", "O\u017f\u212aAR"} {
		if lt.attempt(name, v4).account != lt.attempt("Oskar", v4).account {
			t.Errorf("%q and Oskar count separately", name)
		}
	}
	// An ASCII username keeps the id it had when the key was the
	// username in lower case: failures counted before an upgrade count on.
	for _, name := range []string{"Alice", "OSKAR", "b.o-b_9@x"} {
		if lt.attempt(name, v4).account != lt.digest("account", strings.ToLower(name)) {
			t.Errorf("%q counts under another id than before", name)
		}
	}
	if b := other.attempt("alice", v4); a.account == b.account || a.address == b.address {
		t.Error("two secrets give the same ids")
	}
	if strings.Contains(a.account, "alice") || strings.Contains(a.address, "203") || len(a.account) != 64 || len(a.address) != 64 {
		t.Errorf("ids %q, %q are not opaque digests", a.account, a.address)
	}
	if a.account == lt.attempt("bob", v4).account || a.address == lt.attempt("alice", netip.MustParseAddr("203.0.113.8")).address {
		t.Error("different usernames or addresses share an id")
	}
	if a.account == a.address || lt.attempt("203.0.113.7", v4).account == a.address {
		t.Error("an account and an address id collide")
	}
	v6a := lt.attempt("x", netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	v6b := lt.attempt("x", netip.MustParseAddr("2001:db8:1:2:bbbb::2"))
	v6c := lt.attempt("x", netip.MustParseAddr("2001:db8:1:3::1"))
	if v6a.address != v6b.address || v6a.address == v6c.address {
		t.Error("IPv6 addresses are not counted per /64")
	}
	if len(a.usernameDigest()) != 16 || !strings.HasPrefix(a.account, a.usernameDigest()) {
		t.Errorf("username digest %q", a.usernameDigest())
	}
}

func TestParseTrustedProxies(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string
		err  bool
	}{
		{in: nil, want: nil},
		{in: []string{"10.0.0.0/8", " 192.168.1.7/16 ", "", "fd00::/8"}, want: []string{"10.0.0.0/8", "192.168.0.0/16", "fd00::/8"}},
		{in: []string{"127.0.0.1", "::1", "::ffff:10.1.2.3"}, want: []string{"127.0.0.1/32", "::1/128", "10.1.2.3/32"}},
		// Mapped prefixes stand for the IPv4 prefix; clients are compared unmapped.
		{in: []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.7/128"}, want: []string{"10.0.0.0/8", "192.0.2.7/32"}},
		{in: []string{"10.0.0.0/33"}, err: true},
		{in: []string{"proxy.example"}, err: true},
		{in: []string{"fe80::1%eth0"}, err: true},
		{in: []string{"10.0.0.0/8", "nonsense"}, err: true},
	} {
		got, err := ParseTrustedProxies(c.in)
		if c.err {
			if err == nil {
				t.Errorf("ParseTrustedProxies(%q) = %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTrustedProxies(%q): %v", c.in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if strings.Join(s, " ") != strings.Join(c.want, " ") {
			t.Errorf("ParseTrustedProxies(%q) = %q, want %q", c.in, s, c.want)
		}
	}
}

func TestClientAddress(t *testing.T) {
	proxies, err := ParseTrustedProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		peer    string
		xff     []string
		trusted []netip.Prefix
		want    string // "" for the invalid address
	}{
		{"no proxies: peer", "203.0.113.7:5555", nil, nil, "203.0.113.7"},
		{"no proxies: header ignored", "203.0.113.7:5555", []string{"198.51.100.1"}, nil, "203.0.113.7"},
		{"untrusted peer: header ignored", "203.0.113.7:5555", []string{"198.51.100.1"}, proxies, "203.0.113.7"},
		{"trusted peer, no header", "10.0.0.2:80", nil, proxies, "10.0.0.2"},
		{"trusted peer: client from header", "10.0.0.2:80", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"right to left: forged left part ignored", "10.0.0.2:80", []string{"1.2.3.4, 198.51.100.1"}, proxies, "198.51.100.1"},
		{"trusted hops skipped", "10.0.0.2:80", []string{"198.51.100.1, 10.9.9.9, 10.8.8.8"}, proxies, "198.51.100.1"},
		{"several header lines are one list", "10.0.0.2:80", []string{"1.2.3.4", "198.51.100.1, 10.9.9.9"}, proxies, "198.51.100.1"},
		{"all trusted: leftmost", "10.0.0.2:80", []string{"10.1.1.1, 10.2.2.2"}, proxies, "10.1.1.1"},
		{"garbage stops the walk", "10.0.0.2:80", []string{"198.51.100.1, not-an-ip, 10.2.2.2"}, proxies, "10.2.2.2"},
		{"garbage at the right: the peer", "10.0.0.2:80", []string{"198.51.100.1, unknown"}, proxies, "10.0.0.2"},
		{"empty entries skipped", "10.0.0.2:80", []string{" , 198.51.100.1 ,, "}, proxies, "198.51.100.1"},
		{"entries with ports", "10.0.0.2:80", []string{"198.51.100.1:4711"}, proxies, "198.51.100.1"},
		{"bracketed IPv6 with port", "10.0.0.2:80", []string{"[2001:db8::7]:4711"}, proxies, "2001:db8::7"},
		{"IPv6 proxy", "[2001:db8:ffff::1]:443", []string{"2001:db8:1::9"}, proxies, "2001:db8:1::9"},
		{"IPv4-mapped peer counts as IPv4", "[::ffff:10.0.0.2]:80", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"IPv4-mapped client unmapped", "10.0.0.2:80", []string{"::ffff:198.51.100.1"}, proxies, "198.51.100.1"},
		{"zone dropped", "[fe80::1%eth0]:80", nil, nil, "fe80::1"},
		{"peer without port", "203.0.113.7", nil, nil, "203.0.113.7"},
		{"unparsable peer", "@", []string{"198.51.100.1"}, proxies, ""},
		{"empty peer", "", nil, nil, ""},
	} {
		got := clientAddressFrom(c.peer, c.xff, c.trusted)
		want := netip.Addr{}
		if c.want != "" {
			want = netip.MustParseAddr(c.want)
		}
		if got != want {
			t.Errorf("%s: clientAddress(%q, %q) = %v, want %v", c.name, c.peer, c.xff, got, want)
		}
	}
}

// FuzzClientAddress: whatever a client writes into X-Forwarded-For, the
// address a trusted proxy appended after it wins; without trusted proxies
// the header never matters; the answer is never zoned or IPv4-mapped.
func FuzzClientAddress(f *testing.F) {
	f.Add("10.0.0.2:80", "1.2.3.4, 5.6.7.8", "198.51.100.1")
	f.Add("203.0.113.7:1", "", "2001:db8::1")
	f.Add("[::ffff:10.0.0.1]:1", "[fe80::1%lo]:9,,x", "198.51.100.200")
	f.Add("garbage", "10.0.0.1", "::ffff:1.2.3.4")
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "fd00::/8"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, peer, forged, client string) {
		got := clientAddressFrom(peer, []string{forged}, trusted)
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("clientAddress(%q, %q) = %v: zoned or mapped", peer, forged, got)
		}
		if p, ok := parseHop(peer); ok && !isTrusted(p, trusted) && got != p {
			t.Fatalf("untrusted peer %q: got %v, want the peer", peer, got)
		}
		if none := clientAddressFrom(peer, []string{forged}, nil); none != clientAddressFrom(peer, nil, nil) {
			t.Fatalf("without trusted proxies the header changed the answer: %v", none)
		}
		c, ok := parseHop(client)
		if !ok || isTrusted(c, trusted) || strings.ContainsAny(client, ",") {
			return
		}
		// A trusted proxy appended the real client after what it forged.
		for _, proxy := range []string{"10.1.2.3:443", "[fd00::1]:443"} {
			if got := clientAddressFrom(proxy, []string{forged + "," + client}, trusted); got != c {
				t.Fatalf("forged %q, then %q appended by proxy %s: got %v, want %v", forged, client, proxy, got, c)
			}
			if got := clientAddressFrom(proxy, []string{forged, client + ", 10.4.4.4"}, trusted); got != c {
				t.Fatalf("forged %q, then %q and a trusted hop: got %v, want %v", forged, client, got, c)
			}
		}
	})
}

// TestPasswordGate: at most n holders at once; the next waits and gets
// its turn when one leaves, or is refused after the wait or when its
// request ends.
func TestPasswordGate(t *testing.T) {
	g := newPasswordGate(2, 50*time.Millisecond)
	ctx := context.Background()
	l1, err := g.enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := g.enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := g.enter(ctx); !errors.Is(err, errPasswordsBusy) {
		t.Fatalf("third holder: %v, want errPasswordsBusy", err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("refused after %v, want after the 50ms wait", waited)
	}
	if g.retryAfter() != "1" {
		t.Errorf("retryAfter = %q", g.retryAfter())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.enter(cctx); !errors.Is(err, errPasswordsBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("ended request: %v", err)
	}
	l1()
	l2()

	// A slot freed while a caller waits goes to that caller. The wait is
	// long so that a slow machine cannot turn this into a refusal.
	g = newPasswordGate(1, time.Minute)
	held, err := g.enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		held()
	}()
	l3, err := g.enter(ctx)
	if err != nil {
		t.Fatalf("a slot freed while waiting, still refused: %v", err)
	}
	l3()

	// Under load the bound holds.
	g = newPasswordGate(3, time.Minute)
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			leave, err := g.enter(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			leave()
		})
	}
	wg.Wait()
	if most.Load() > 3 {
		t.Errorf("%d holders at once, bound 3", most.Load())
	}
}

// TestLoginLimitsUncount: taking an attempt's count back restores the
// account entry it found (none, if that was no longer live) when nothing
// counted since, and otherwise leaves one attempt fewer and the lock a
// later attempt may have set.
func TestLoginLimitsUncount(t *testing.T) {
	l := LoginLimits{}.withDefaults()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	none := storage.ThrottleEntry{ID: "acct"}
	four := none
	for range 4 {
		four, _ = l.count(four, storage.ThrottleEntry{ID: "addr"}, now)
	}
	five, _ := l.count(four, storage.ThrottleEntry{ID: "addr"}, now)
	if five.LockedUntil.IsZero() {
		t.Fatal("the fifth attempt set no lock")
	}
	if got := l.uncount(five, four, five, now); got != four {
		t.Errorf("uncount of the fifth attempt, nothing since = %+v, want the entry of four %+v", got, four)
	}
	one, _ := l.count(none, storage.ThrottleEntry{ID: "addr"}, now)
	if got := l.uncount(one, none, one, now); got != none {
		t.Errorf("uncount of a first attempt = %+v, want the entry deleted", got)
	}
	expired := four
	expired.ExpiresAt = now.Add(-time.Second)
	if got := l.uncount(one, expired, one, now); got != none {
		t.Errorf("uncount of an attempt that found an expired entry = %+v, want the entry deleted", got)
	}
	six, _ := l.count(five, storage.ThrottleEntry{ID: "addr"}, now)
	got := l.uncount(six, four, five, now)
	if got.Attempts != 5 || !got.LockedUntil.Equal(six.LockedUntil) {
		t.Errorf("uncount after another attempt counted = %+v, want 5 attempts and that attempt's lock", got)
	}
}

// TestLoginLimitsForget: a correct password forgets the account's
// failures up to its own attempt and keeps those counted while it was
// checked, as a new run (locked only if they alone reach a lock); an
// entry restarted since is kept as it is.
func TestLoginLimitsForget(t *testing.T) {
	l := LoginLimits{}.withDefaults()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addr := storage.ThrottleEntry{ID: "addr"}
	none := storage.ThrottleEntry{ID: "acct"}
	after := func(e storage.ThrottleEntry, n int) storage.ThrottleEntry {
		for range n {
			e, _ = l.count(e, addr, now)
		}
		return e
	}
	expired := after(none, 3)
	expired.ExpiresAt = now.Add(-time.Second)
	for _, tc := range []struct {
		name         string
		cur, counted storage.ThrottleEntry
		want         storage.ThrottleEntry
	}{
		{"nothing counted since", after(none, 3), after(none, 3), none},
		{"its own attempt set the lock", after(none, 5), after(none, 5), none},
		{"two failures counted since", after(none, 3), after(none, 1),
			storage.ThrottleEntry{ID: "acct", Attempts: 2, ExpiresAt: after(none, 3).ExpiresAt}},
		{"failures since locked the account, but not alone", after(none, 5), after(none, 2),
			storage.ThrottleEntry{ID: "acct", Attempts: 3, ExpiresAt: after(none, 5).ExpiresAt}},
		{"restarted since", after(none, 1), after(none, 4), after(none, 1)},
		{"expired", expired, after(none, 1), none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := l.forget(tc.cur, tc.counted, now); got != tc.want {
				t.Errorf("forget(%+v, counted %+v) = %+v, want %+v", tc.cur, tc.counted, got, tc.want)
			}
		})
	}
	// The lock of a run that reaches it alone stays.
	lock := after(none, 5)
	if got := l.forget(after(lock, 0), storage.ThrottleEntry{ID: "acct"}, now); got != lock {
		t.Errorf("forget of five failures counted after an attempt of none = %+v, want them kept with their lock %+v", got, lock)
	}
}
