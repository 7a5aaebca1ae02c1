package provider

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBackchannelQueue checks the delivery worker's bounds: a full queue
// drops a notice (and says so) instead of blocking the request that ended
// a session, and close stops the worker even while a delivery hangs.
func TestBackchannelQueue(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	arrived := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer once.Do(func() { close(release) })

	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	b := newBackchannel(log, func(logoutNotice) (string, error) { return "token", nil }, 2)
	n := logoutNotice{clientID: "c", uri: srv.URL, sub: "u", sid: "s"}
	b.enqueue(n)
	select {
	case <-arrived: // the worker is now stuck in this delivery
	case <-time.After(10 * time.Second):
		t.Fatal("the first notice was never delivered")
	}
	for range 3 { // two fill the queue, the third is dropped
		b.enqueue(n)
	}
	mu.Lock()
	dropped := strings.Count(logs.String(), "queue is full")
	mu.Unlock()
	if dropped != 1 {
		t.Errorf("%d notices dropped with a queue of 2 and one in delivery, want 1; log:\n%s", dropped, logs.String())
	}
	done := make(chan struct{})
	go func() { b.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("close did not stop the worker while a delivery hung")
	}
	b.enqueue(n) // after close: dropped, not blocked
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
