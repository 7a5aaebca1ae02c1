package httpserve_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/httpserve"
)

// startServe serves h with Serve on a loopback port until cancel is
// called; served receives what Serve returned.
func startServe(t *testing.T, h http.Handler, shutdownTimeout time.Duration) (addr string, cancel func(), served <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	done := make(chan error, 1)
	go func() {
		done <- httpserve.Serve(ctx, shutdownTimeout, log, httpserve.Binding{Server: httpserve.NewServer(h, log), Listener: ln})
	}()
	return ln.Addr().String(), cancel, done
}

func TestNewServerLimits(t *testing.T) {
	srv := httpserve.NewServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	for name, got := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if got <= 0 {
			t.Errorf("%s = %s, want a bound", name, got)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 64<<10 {
		t.Errorf("MaxHeaderBytes = %d, want a bound of at most 64 KiB", srv.MaxHeaderBytes)
	}
	if srv.ErrorLog == nil {
		t.Error("ErrorLog is nil: the server's errors would go to the standard logger")
	}
}

// TestOptionsAsteriskReachesHandler: a request net/http can parse is
// answered by the handler, "OPTIONS *" included (a raw request: net/http
// clients do not send it), so that its answer carries the headers the
// handler gives every answer.
func TestOptionsAsteriskReachesHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
	})
	addr, _, _ := startServe(t, h, time.Second)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("OPTIONS * answered %d with %v, not by the handler", resp.StatusCode, resp.Header)
	}
}

// TestServeShutsDownGracefully: a request under way when the context ends
// is answered, and Serve returns nil after it.
func TestServeShutsDownGracefully(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	addr, cancel, served := startServe(t, h, 5*time.Second)

	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			body <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond) // let Shutdown begin while the request runs
	close(release)
	if got := <-body; got != "done" {
		t.Errorf("request under way at shutdown got %q, want %q", got, "done")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a clean shutdown", err)
	}
}

// TestServeShutdownTimeout: requests still running when the shutdown's
// time is up make Serve fail, saying so, and are cut off: their
// connections are closed rather than left to a handler that would go on
// using what the caller closes next.
func TestServeShutdownTimeout(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	addr, cancel, served := startServe(t, h, 100*time.Millisecond)
	got := make(chan error, 1)
	go func() {
		// The client's timeout only ends the test if the connection is
		// never closed; release comes after.
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	<-started
	cancel()
	if err := <-served; err == nil || !strings.Contains(err.Error(), "shutdown") || !strings.Contains(err.Error(), "cut off") {
		t.Errorf("Serve = %v, want a shutdown error saying requests were cut off", err)
	}
	var ne net.Error
	if err := <-got; err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("request still running at the shutdown's end: %v, want its connection closed", err)
	}
}

// TestServeListenerFails: serving that fails before the context ends is
// returned at once.
func TestServeListenerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	log := slog.New(slog.DiscardHandler)
	err = httpserve.Serve(context.Background(), time.Second, log, httpserve.Binding{Server: httpserve.NewServer(http.NotFoundHandler(), log), Listener: ln})
	if err == nil || !strings.Contains(err.Error(), "serve") {
		t.Errorf("Serve on a closed listener = %v, want a serve error", err)
	}
}

// TestServeOneFailsAllStop: when one of several listeners fails, Serve
// says so, and the other server is shut down gracefully: its request
// under way is answered, and it stops listening.
func TestServeOneFailsAllStop(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	good, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	// The failing listener fails only once the good server has a request
	// under way, so the shutdown has something to wait for.
	bad := &failingListener{Listener: mustListen(t), fail: started}
	served := make(chan error, 1)
	go func() {
		served <- httpserve.Serve(context.Background(), 5*time.Second, log,
			httpserve.Binding{Server: httpserve.NewServer(h, log), Listener: good},
			httpserve.Binding{Server: httpserve.NewServer(http.NotFoundHandler(), log), Listener: bad})
	}()
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + good.Addr().String() + "/")
		if err != nil {
			body <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	<-started
	time.Sleep(50 * time.Millisecond) // let the failure start the shutdown
	close(release)
	if got := <-body; got != "done" {
		t.Errorf("request under way when the other listener failed got %q, want %q", got, "done")
	}
	err = <-served
	if err == nil || !strings.Contains(err.Error(), "accept failed") {
		t.Errorf("Serve = %v, want the failed listener's error", err)
	}
	if c, err := net.DialTimeout("tcp", good.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the good server still accepts connections after Serve returned")
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// failingListener's Accept fails for good once fail is closed.
type failingListener struct {
	net.Listener
	fail <-chan struct{}
}

func (l *failingListener) Accept() (net.Conn, error) {
	<-l.fail
	return nil, errors.New("accept failed")
}
