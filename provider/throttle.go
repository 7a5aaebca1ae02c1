package provider

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Login throttling: after loginMaxFailures wrong passwords for one
// username from one address within loginWindow, that pair may not try
// again until the window has passed. Keyed by the pair, so an attacker
// cannot lock a user out from elsewhere; per process, so with several
// replicas the bound is per replica. The peer address is used as is:
// behind a proxy every client shares the proxy's address, which makes the
// limit stricter, never looser.
const (
	loginMaxFailures = 10
	loginWindow      = 15 * time.Minute
	// loginThrottleCap bounds the memory an address-rotating attacker can
	// make the table take; when full, the oldest windows go first.
	loginThrottleCap = 100_000
)

type loginFailures struct {
	count int
	first time.Time
}

// loginThrottle counts recent failed logins per (username, address).
type loginThrottle struct {
	mu       sync.Mutex
	failures map[string]loginFailures
}

func newLoginThrottle() *loginThrottle {
	return &loginThrottle{failures: map[string]loginFailures{}}
}

func throttleKey(r *http.Request, username string) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return host + "\x00" + username
}

// allowed reports whether key may try a password now.
func (l *loginThrottle) allowed(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.failures[key]
	if !ok {
		return true
	}
	if now.Sub(f.first) >= loginWindow {
		delete(l.failures, key)
		return true
	}
	return f.count < loginMaxFailures
}

// failed records a wrong password for key.
func (l *loginThrottle) failed(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.failures[key]
	if !ok || now.Sub(f.first) >= loginWindow {
		if !ok && len(l.failures) >= loginThrottleCap {
			l.evict(now)
		}
		f = loginFailures{first: now}
	}
	f.count++
	l.failures[key] = f
}

// succeeded forgets key's failures.
func (l *loginThrottle) succeeded(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

// evict drops expired windows, and if none had expired, an arbitrary
// tenth of the table (called with mu held).
func (l *loginThrottle) evict(now time.Time) {
	before := len(l.failures)
	for k, f := range l.failures {
		if now.Sub(f.first) >= loginWindow {
			delete(l.failures, k)
		}
	}
	if len(l.failures) < before {
		return
	}
	n := 0
	for k := range l.failures {
		delete(l.failures, k)
		if n++; n >= loginThrottleCap/10 {
			return
		}
	}
}
