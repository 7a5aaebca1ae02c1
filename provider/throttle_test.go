package provider

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestLoginThrottle(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLoginThrottle()
	r := httptest.NewRequest("POST", "/login", nil)
	r.RemoteAddr = "203.0.113.7:5555"
	alice := throttleKey(r, "alice")
	r.RemoteAddr = "198.51.100.9:4444"
	aliceElsewhere := throttleKey(r, "alice")
	for i := range loginMaxFailures {
		if !l.allowed(alice, now) {
			t.Fatalf("blocked after %d failures, limit is %d", i, loginMaxFailures)
		}
		l.failed(alice, now.Add(time.Duration(i)*time.Second))
	}
	if l.allowed(alice, now.Add(time.Minute)) {
		t.Error("allowed after the limit was reached")
	}
	if !l.allowed(aliceElsewhere, now.Add(time.Minute)) {
		t.Error("failures from one address locked the user out from another")
	}
	if !l.allowed(alice, now.Add(loginWindow)) {
		t.Error("still blocked once the window has passed")
	}
	l.failed(alice, now)
	l.succeeded(alice)
	if f, ok := l.failures[alice]; ok {
		t.Errorf("a successful login kept %d failures", f.count)
	}
}

func TestLoginThrottleCap(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLoginThrottle()
	for i := range loginThrottleCap + 10 {
		l.failed(string(rune(i))+"\x00u", now)
	}
	if len(l.failures) > loginThrottleCap {
		t.Errorf("table holds %d entries, cap is %d", len(l.failures), loginThrottleCap)
	}
}
