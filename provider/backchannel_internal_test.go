package provider

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// outbox is a store whose finished notices the test hears of.
type outbox struct {
	storage.Store
	finished chan string
}

func (o outbox) FinishLogoutNotice(ctx context.Context, id string) error {
	err := o.Store.FinishLogoutNotice(ctx, id)
	o.finished <- id
	return err
}

// newOutbox opens a fresh SQLite database with a client, c, whose
// back-channel logout URI is uri, and queues n notices for it.
func newOutbox(t *testing.T, uri string, n int) outbox {
	t.Helper()
	st := testdb.Open(t, testdb.SQLite(t))
	ctx := t.Context()
	if err := st.CreateClient(ctx, &storage.Client{ID: "c", BackchannelLogoutURI: uri, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := st.PutSessionClient(ctx, &storage.SessionClient{SID: "s" + string(rune('a'+i)), ClientID: "c", UserID: "u", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.TakeSessionClients(ctx, "", "u", ""); err != nil {
		t.Fatal(err)
	}
	return outbox{Store: st, finished: make(chan string, 16)}
}

// startWorker starts a worker on o with a log in logs, backoff and poll.
func startWorker(t *testing.T, o outbox, logs *lockedWriter, backoff, poll time.Duration) *backchannel {
	b := newBackchannel(o, time.Now, slog.New(slog.NewTextHandler(logs, nil)), func(storage.LogoutNotice) (string, error) { return "secret-token", nil }, poll)
	b.backoff.Store(int64(backoff))
	b.nudge()
	t.Cleanup(b.close)
	return b
}

func waitFinished(t *testing.T, o outbox, why string) {
	t.Helper()
	select {
	case <-o.finished:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: the notice was never finished", why)
	}
}

// TestBackchannelRetriesWithBackoff: a client failing with 500 is sent
// the notice backchannelAttempts times, each retry at least
// backoff·2^(attempt-1) after the try before, and then the notice is
// given up (finished, with a warning naming the client and the attempts,
// never the token).
func TestBackchannelRetriesWithBackoff(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	defer srv.Close()
	o := newOutbox(t, srv.URL, 1)
	logs := &lockedWriter{w: &bytes.Buffer{}, mu: &sync.Mutex{}}
	const backoff = 2 * time.Millisecond
	b := startWorker(t, o, logs, backoff, time.Hour) // no poll: retries wake the worker
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	waitFinished(t, o, "a client failing every time")
	b.close() // waits for the delivery that gave up, which logs once it finished the notice

	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != backchannelAttempts {
		t.Fatalf("the client was sent the notice %d times, want %d", len(arrivals), backchannelAttempts)
	}
	for i := 1; i < len(arrivals); i++ {
		if gap, want := arrivals[i].Sub(arrivals[i-1]), backoff<<(i-1); gap < want {
			t.Errorf("try %d came %v after the one before, want at least %v", i+1, gap, want)
		}
	}
	log := logs.String()
	if !strings.Contains(log, "back-channel logout failed") || !strings.Contains(log, "client_id=c") || !strings.Contains(log, "attempts=10") {
		t.Errorf("log %q: want the notice given up, with its client and attempts", log)
	}
	if strings.Contains(log, "secret-token") {
		t.Errorf("log %q carries the logout token", log)
	}
	if ns, err := o.ClaimLogoutNotices(t.Context(), time.Now().Add(time.Hour), time.Minute, 10); err != nil || len(ns) != 0 {
		t.Errorf("outbox after giving up: %v, %v; want empty", ns, err)
	}
}

// TestBackchannelNoLongerWanted: a notice for a client whose logout URI
// was removed meanwhile is finished without a request.
func TestBackchannelNoLongerWanted(t *testing.T) {
	requests := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests <- struct{}{} }))
	defer srv.Close()
	o := newOutbox(t, srv.URL, 1)
	c, err := o.GetClient(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	c.BackchannelLogoutURI = ""
	if err := o.UpdateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	startWorker(t, o, &lockedWriter{w: &bytes.Buffer{}, mu: &sync.Mutex{}}, time.Millisecond, time.Hour)
	waitFinished(t, o, "a client without a logout URI")
	if len(requests) != 0 {
		t.Error("a notice was sent to a client that removed its logout URI")
	}
}

// TestBackchannelCloseHandsBack: close stops the worker even while a send
// hangs, and hands the notice back at once: due now, for the next start.
func TestBackchannelCloseHandsBack(t *testing.T) {
	arrived, release := make(chan struct{}, 16), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	o := newOutbox(t, srv.URL, 1)
	b := startWorker(t, o, &lockedWriter{w: &bytes.Buffer{}, mu: &sync.Mutex{}}, time.Millisecond, time.Hour)
	select {
	case <-arrived: // the worker is now stuck in this send
	case <-time.After(10 * time.Second):
		t.Fatal("the notice was never sent")
	}
	done := make(chan struct{})
	go func() { b.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("close did not stop the worker while a send hung")
	}
	ns, err := o.ClaimLogoutNotices(t.Context(), time.Now(), time.Minute, 10)
	if err != nil || len(ns) != 1 || ns[0].Claim != 2 || ns[0].Attempts != 0 {
		t.Errorf("claim right after close: %+v, %v; want the notice handed back, its second claim, the send close cut short spending no attempt", ns, err)
	}
	b.nudge() // after close: neither blocks nor panics
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

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// failingTransport fails the first fail requests with err, then sends
// the rest on.
type failingTransport struct {
	err   error
	fail  int
	mu    sync.Mutex
	tries int
}

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.tries++
	failing := f.tries <= f.fail
	f.mu.Unlock()
	if failing {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, f.err
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (f *failingTransport) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries
}

// TestBackchannelLocalSendFailures: a send that failed on this side
// (out of file descriptors, our DNS resolver timing out) spends none of
// the notice's attempts: the notice outlasts more than
// backchannelAttempts such failures and is delivered once sending works
// again. A connection the client refused is the client's, given up after
// backchannelAttempts.
func TestBackchannelLocalSendFailures(t *testing.T) {
	dial := func(syscallName string, errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError(syscallName, errno)}
	}
	for _, tc := range []struct {
		name string
		err  error
		ours bool
	}{
		{"out of file descriptors", dial("socket", syscall.EMFILE), true},
		{"our resolver timing out", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "i/o timeout", Name: "rp.example", IsTimeout: true, IsTemporary: true}}, true},
		{"the client refusing the connection", dial("connect", syscall.ECONNREFUSED), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			defer srv.Close()
			o := newOutbox(t, srv.URL, 0)
			logs := &lockedWriter{w: &bytes.Buffer{}, mu: &sync.Mutex{}}
			defer func() {
				if t.Failed() {
					t.Log(logs.String())
				}
			}()
			b := startWorker(t, o, logs, 100*time.Microsecond, time.Hour)
			// Set before the nudge that wakes the worker for the notice,
			// which the worker only reads after it.
			tr := &failingTransport{err: tc.err, fail: backchannelAttempts + 2}
			b.client.Transport = tr
			ctx := t.Context()
			if err := o.PutSessionClient(ctx, &storage.SessionClient{SID: "s", ClientID: "c", UserID: "u", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if _, err := o.TakeSessionClients(ctx, "", "u", ""); err != nil {
				t.Fatal(err)
			}
			b.nudge()
			waitFinished(t, o, tc.name)
			b.close()
			gaveUp := strings.Contains(logs.String(), "back-channel logout failed")
			if tc.ours {
				if gaveUp || tr.count() != backchannelAttempts+3 {
					t.Errorf("given up %v after %d tries; want delivered at try %d", gaveUp, tr.count(), backchannelAttempts+3)
				}
			} else if !gaveUp || tr.count() != backchannelAttempts {
				t.Errorf("given up %v after %d tries; want given up after %d", gaveUp, tr.count(), backchannelAttempts)
			}
		})
	}
}

// TestBackchannelMaybeOursIsBounded: a send failure that an outage of
// ours causes but so can the client's backchannel_logout_uri (a host
// resolving to an address this server has no route to, one no
// connection can be made to, a zone whose nameservers never answer)
// spends no attempt for backchannelPostponements claims only; after that
// the notice is given up after backchannelAttempts more, instead of
// being retried, every try up to backchannelTimeout of the worker, until
// housekeeping drops it a day later. A failure only this host can be
// behind (out of file descriptors) stays unbounded.
func TestBackchannelMaybeOursIsBounded(t *testing.T) {
	dial := func(syscallName string, errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError(syscallName, errno)}
	}
	const bounded = backchannelPostponements + backchannelAttempts
	for _, tc := range []struct {
		name string
		err  error
		ours bool
	}{
		{"no route to the client's network", dial("connect", syscall.ENETUNREACH), false},
		{"the client's address not available", dial("connect", syscall.EADDRNOTAVAIL), false},
		{"the client's nameservers timing out", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "i/o timeout", Name: "rp.example", IsTimeout: true, IsTemporary: true}}, false},
		{"the client's zone failing", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "server misbehaving", Name: "rp.example", IsTemporary: true}}, false},
		{"out of file descriptors", dial("socket", syscall.EMFILE), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			defer srv.Close()
			o := newOutbox(t, srv.URL, 0)
			logs := &lockedWriter{w: &bytes.Buffer{}, mu: &sync.Mutex{}}
			defer func() {
				if t.Failed() {
					t.Log(logs.String())
				}
			}()
			// A nanosecond's backoff keeps the longest wait, 2^20 of it,
			// about a millisecond.
			b := startWorker(t, o, logs, time.Nanosecond, time.Hour)
			tr := &failingTransport{err: tc.err, fail: bounded + 2}
			b.client.Transport = tr
			ctx := t.Context()
			if err := o.PutSessionClient(ctx, &storage.SessionClient{SID: "s", ClientID: "c", UserID: "u", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if _, err := o.TakeSessionClients(ctx, "", "u", ""); err != nil {
				t.Fatal(err)
			}
			b.nudge()
			waitFinished(t, o, tc.name)
			b.close()
			gaveUp := strings.Contains(logs.String(), "back-channel logout failed")
			if tc.ours {
				if gaveUp || tr.count() != bounded+3 {
					t.Errorf("given up %v after %d tries; want delivered at try %d", gaveUp, tr.count(), bounded+3)
				}
			} else if !gaveUp || tr.count() != bounded {
				t.Errorf("given up %v after %d tries; want given up after %d", gaveUp, tr.count(), bounded)
			}
		})
	}
}

// TestBackchannelPanicIsAnAttempt: a notice whose sending panics (here
// the signer) neither ends the process nor is retried for ever: each
// panic is logged and spends one of its attempts, and the notice is given
// up after backchannelAttempts; the worker goes on with the next.
func TestBackchannelPanicIsAnAttempt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	o := newOutbox(t, srv.URL, 1)
	logs := &lockedWriter{w: &bytes.Buffer{}, mu: &sync.Mutex{}}
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	var mu sync.Mutex
	signed := 0
	b := newBackchannel(o, time.Now, slog.New(slog.NewTextHandler(logs, nil)), func(storage.LogoutNotice) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		signed++
		panic("signer bug")
	}, time.Hour)
	b.backoff.Store(int64(100 * time.Microsecond))
	b.nudge()
	t.Cleanup(b.close)
	waitFinished(t, o, "a notice whose sending always panics")
	b.close()
	mu.Lock()
	defer mu.Unlock()
	if signed != backchannelAttempts {
		t.Errorf("the notice was tried %d times, want %d", signed, backchannelAttempts)
	}
	if n := strings.Count(logs.String(), "sending a notice panicked"); n != backchannelAttempts {
		t.Errorf("%d panics logged, want %d", n, backchannelAttempts)
	}
	if ns, err := o.ClaimLogoutNotices(t.Context(), time.Now().Add(time.Hour), time.Minute, 10); err != nil || len(ns) != 0 {
		t.Errorf("outbox after giving up: %v, %v; want empty", ns, err)
	}
}

// panickingTransport panics in the middle of a send, the logout token
// in the request it holds.
type panickingTransport struct{}

func (panickingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	panic("transport bug")
}

// TestBackchannelPanicLogHasNoToken: a panic while the logout token is
// being sent is logged with its stack, which names the functions and
// their arguments' words, never the token's text.
func TestBackchannelPanicLogHasNoToken(t *testing.T) {
	o := newOutbox(t, "https://rp.example/logout", 1)
	logs := &lockedWriter{w: &bytes.Buffer{}, mu: &sync.Mutex{}}
	b := newBackchannel(o, time.Now, slog.New(slog.NewTextHandler(logs, nil)), func(storage.LogoutNotice) (string, error) { return "secret-token", nil }, time.Hour)
	b.backoff.Store(1)
	b.client.Transport = panickingTransport{}
	b.nudge()
	t.Cleanup(b.close)
	waitFinished(t, o, "a notice whose send always panics")
	b.close()
	out := logs.String()
	if !strings.Contains(out, "sending a notice panicked") || !strings.Contains(out, "RoundTrip") {
		t.Fatalf("no panic with its stack logged:\n%s", out)
	}
	if strings.Contains(out, "secret-token") {
		t.Errorf("the log holds the logout token:\n%s", out)
	}
}
