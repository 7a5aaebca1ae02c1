package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hallpass/hallpass/storage"
)

// TestParseOrigin: an origin is scheme://host[:port] over http(s) and
// nothing else, normalised so that two spellings of one origin are equal.
func TestParseOrigin(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" when it is no origin
	}{
		{"https://app.example", "https://app.example"},
		{"HTTPS://App.Example", "https://app.example"},
		{"https://app.example:443", "https://app.example"},
		{"http://app.example:80", "http://app.example"},
		{"http://app.example:443", "http://app.example:443"},
		{"https://app.example:80", "https://app.example:80"},
		{"https://app.example:08443", "https://app.example:8443"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[0:0:0:0:0:0:0:1]", "http://[::1]"},
		// IPv4-mapped: as a browser sends it, hexadecimal, whatever the
		// spelling.
		{"http://[::ffff:7f00:1]:8080", "http://[::ffff:7f00:1]:8080"},
		{"http://[::FFFF:127.0.0.1]", "http://[::ffff:7f00:1]"},
		{"http://[::ffff:0.0.0.1]", "http://[::ffff:0:1]"},
		{"http://[::ffff:0:0]", "http://[::ffff:0:0]"},
		{"http://[::1.2.3.4]", "http://[::102:304]"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
		{"null", ""},
		{"", ""},
		{"app.example", ""},
		{"ftp://app.example", ""},
		{"chrome-extension://abcdef", ""},
		{"https://", ""},
		{"https://app.example/", ""},
		{"https://app.example/path", ""},
		{"https://app.example?q", ""},
		{"https://app.example#f", ""},
		{"https://user@app.example", ""},
		{"https://app.example:", ""},
		{"https://app.example:0", ""},
		{"https://app.example:65536", ""},
		{"https://app.example:+443", ""},
		{"https://app.example:44 3", ""},
		{"https://app.example:1:2", ""},
		{"https://app%2eexample", ""},
		{"https://bücher.example", ""},
		{"https://app.example ", ""},
		{"http://[::1", ""},
		{"http://[1.2.3.4]", ""},
		{"http://[fe80::1%25eth0]", ""},
		{"http://[::1]x", ""},
	} {
		got, ok := parseOrigin(tc.in)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("parseOrigin(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// TestRedirectURIOrigin: a redirect URI's origin is its scheme, host and
// port, and a custom scheme has none.
func TestRedirectURIOrigin(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://app.example/callback?x=1", "https://app.example"},
		{"https://App.Example:443/cb", "https://app.example"},
		{"http://127.0.0.1/cb", "http://127.0.0.1"},
		{"http://localhost:3000/cb", "http://localhost:3000"},
		{"http://[::ffff:127.0.0.1]:3000/cb", "http://[::ffff:7f00:1]:3000"},
		// An internationalised name, as the browser at it sends it.
		{"https://bücher.example/cb", "https://xn--bcher-kva.example"},
		{"https://Bücher.Example:8443/cb", "https://xn--bcher-kva.example:8443"},
		{"https://xn--bcher-kva.example/cb", "https://xn--bcher-kva.example"},
		{"https://user:pw@app.example/cb", "https://app.example"},
		{"com.example.app:/callback", ""},
		{"com.example.app://callback", ""},
		{"urn:ietf:wg:oauth:2.0:oob", ""},
		{"/relative", ""},
	} {
		got, ok := redirectURIOrigin(tc.in)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("redirectURIOrigin(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// FuzzParseOrigin: whatever the Origin header holds, parseOrigin does
// not panic, and what it accepts is a normalised http(s) origin: parsing
// it again gives itself, it is lowercase, has no path, query, fragment
// or user, and no default port.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{
		"https://app.example", "HTTP://A.EXAMPLE:80", "https://app.example:8443", "http://[::1]:3000",
		"http://[fe80::1%25eth0]", "null", "", "https://", "https://a:0", "https://a:65536", "https://a/b",
		"https://u@a", "http://127.0.0.1", "http://[::ffff:1.2.3.4]", "https://a.example:00443", "https://a.example\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, ok := parseOrigin(s)
		if !ok {
			if o != "" {
				t.Fatalf("parseOrigin(%q) refused but returned %q", s, o)
			}
			return
		}
		if again, ok := parseOrigin(o); !ok || again != o {
			t.Fatalf("parseOrigin(%q) = %q, which parses as %q, %v", s, o, again, ok)
		}
		if o != strings.ToLower(o) {
			t.Fatalf("parseOrigin(%q) = %q, not lowercase", s, o)
		}
		scheme, rest, _ := strings.Cut(o, "://")
		if scheme != "http" && scheme != "https" {
			t.Fatalf("parseOrigin(%q) = %q, scheme %q", s, o, scheme)
		}
		if rest == "" || strings.ContainsAny(rest, "/?#@\\% \t\r\n\x00") {
			t.Fatalf("parseOrigin(%q) = %q: not just a host and port", s, o)
		}
		// A redirect URI on the origin, however spelt, has that origin:
		// url.Parse, which reads redirect URIs, agrees with parseOrigin.
		if ro, ok := redirectURIOrigin(s + "/cb"); !ok || ro != o {
			t.Fatalf("parseOrigin(%q) = %q, but the redirect URI %q has origin %q, %v", s, o, s+"/cb", ro, ok)
		}
		if strings.HasSuffix(o, ":0") || scheme == "http" && strings.HasSuffix(o, ":80") || scheme == "https" && strings.HasSuffix(o, ":443") {
			t.Fatalf("parseOrigin(%q) = %q keeps a default or zero port", s, o)
		}
	})
}

// stuckOrigins is a store whose reads of the origins fail, the first one
// only once released, as a database that stopped answering would.
type stuckOrigins struct {
	reads            atomic.Int32
	entered, release chan struct{}
}

func (s *stuckOrigins) Generation(ctx context.Context) (uint64, error) {
	if s.reads.Add(1) == 1 {
		close(s.entered)
		<-s.release
	}
	return 0, errors.New("injected: the database does not answer")
}

func (s *stuckOrigins) ListClients(context.Context) ([]storage.Client, error) {
	return nil, errors.New("injected: the database does not answer")
}

// TestAllowFailureReadsOneAtATime: while one failure's read of the
// origins is under way, other failures (whatever Origin they send) do not
// start another: during an outage, a failing request must not cost the
// database a query more each, nor wait for one.
func TestAllowFailureReadsOneAtATime(t *testing.T) {
	st := &stuckOrigins{entered: make(chan struct{}), release: make(chan struct{})}
	p := &Provider{origins: &originSet{store: st}}
	note := func(origin string) *corsNote { return &corsNote{origin: origin, header: http.Header{}} }
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.allowFailure(context.Background(), note("https://app.example"))
	}()
	<-st.entered
	for i := range 10 {
		n := note(fmt.Sprintf("https://guess-%d.example", i))
		p.allowFailure(context.Background(), n)
		if got := n.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", n.origin, got)
		}
	}
	close(st.release)
	<-done
	if got := st.reads.Load(); got != 1 {
		t.Errorf("11 failures during one read of the origins read them %d times, want 1", got)
	}
	// The read over, the next failure may read again.
	p.allowFailure(context.Background(), note("https://app.example"))
	if got := st.reads.Load(); got != 2 {
		t.Errorf("a failure after the read ended: %d reads in all, want 2", got)
	}
}
