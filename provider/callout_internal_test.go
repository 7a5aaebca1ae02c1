package provider

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// TestCalloutAllowed lists the addresses a client's URL may and may not
// lead hallpass to.
func TestCalloutAllowed(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"169.254.169.254", false}, // cloud instance metadata
		{"::ffff:169.254.169.254", false},
		{"169.254.170.2", false}, // container credentials
		{"fe80::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"ff01::1", false},
		{"255.255.255.255", false},
		{"0.1.2.3", false}, // "this network" (0.0.0.0/8): never a destination
		{"0.255.255.255", false},
		{"64:ff9b::a9fe:a9fe", false},     // NAT64 to 169.254.169.254
		{"64:ff9b::169.254.170.2", false}, // NAT64 to container credentials
		{"64:ff9b::0.0.0.0", false},       // NAT64 to 0.0.0.0
		{"64:ff9b::5db8:d70e", true},      // NAT64 to a public address
		{"100.100.100.200", false},        // Alibaba Cloud instance metadata
		{"fd00:ec2::254", false},          // AWS instance metadata over IPv6
		{"fd00:ec2::23", false},           // AWS EKS Pod Identity credentials
		{"fd20:ce::254", false},           // Google Cloud metadata over IPv6
		{"fd00:ec2::254%eth0", false},     // a zone changes nothing
		{"::ffff:100.100.100.200", false}, // mapped
		{"64:ff9b::6464:64c8", false},     // NAT64 to 100.100.100.200
		{"100.64.0.1", true},              // shared address space (CGNAT, Tailscale): a private network
		{"100.100.100.100", true},
		{"127.0.0.1", true}, // loopback stays: http is allowed there
		{"::1", true},
		{"10.1.2.3", true}, // a private network beside hallpass
		{"192.168.1.10", true},
		{"fd00::1", true},
		{"93.184.215.14", true},
		{"2001:db8::1", true},
	} {
		if got := calloutAllowed(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("calloutAllowed(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// TestCalloutsNeverDialRefusedAddresses points a jwks_uri and a
// backchannel_logout_uri at https://0.0.0.0:port, which on Linux reaches
// a listener of this host as a link-local metadata address reaches the
// cloud's: neither fetch nor send may open a connection to it.
func TestCalloutsNeverDialRefusedAddresses(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	target := "https://" + net.JoinHostPort("0.0.0.0", port)

	t.Run("jwks_uri", func(t *testing.T) {
		conns.Store(0)
		_, err := newJWKSFetcher(time.Now).fetch(t.Context(), target+"/jwks")
		if err == nil {
			t.Fatal("fetch from 0.0.0.0 succeeded")
		}
		if n := conns.Load(); n != 0 {
			t.Errorf("the jwks_uri fetch opened %d connections to 0.0.0.0, want none", n)
		}
	})
	t.Run("backchannel_logout_uri", func(t *testing.T) {
		conns.Store(0)
		o := newOutbox(t, target+"/logout", 1)
		logs := &lockedWriter{w: &bytes.Buffer{}, mu: &sync.Mutex{}}
		b := newBackchannel(o, time.Now, slog.New(slog.NewTextHandler(logs, nil)), func(storage.LogoutNotice) (string, error) { return "secret-token", nil }, time.Hour)
		b.backoff.Store(1)
		b.nudge()
		t.Cleanup(b.close)
		waitFinished(t, o, "a notice to 0.0.0.0")
		b.close()
		if n := conns.Load(); n != 0 {
			t.Errorf("the back-channel sends opened %d connections to 0.0.0.0, want none", n)
		}
	})
	t.Run("error", func(t *testing.T) {
		_, err := newCalloutClient(time.Second, nil).Get(target)
		if !errors.Is(err, errCalloutAddress) {
			t.Errorf("error = %v, want errCalloutAddress", err)
		}
	})
}

// TestCalloutsThroughAProxy: with a proxy (HTTPS_PROXY), the address
// hallpass dials is the proxy's, so a client's URL naming a refused
// address outright must be refused before the proxy is asked to connect
// there; a URL naming a host still goes through the proxy, which
// resolves it.
func TestCalloutsThroughAProxy(t *testing.T) {
	var asked atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(proxy.Close)
	proxyURL, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := newCalloutClientVia(5*time.Second, nil, http.ProxyURL(proxyURL))
	for _, target := range []string{
		"https://169.254.169.254/latest/meta-data/",
		"https://[fd00:ec2::254]/latest/meta-data/",
		"https://[::ffff:169.254.169.254]/",
		"https://100.100.100.200/",
		"https://0.0.0.0:8443/",
	} {
		t.Run(target, func(t *testing.T) {
			asked.Store(0)
			_, err := c.Get(target)
			if !errors.Is(err, errCalloutAddress) {
				t.Errorf("error = %v, want errCalloutAddress", err)
			}
			if n := asked.Load(); n != 0 {
				t.Errorf("the proxy was asked %d times to connect there, want never", n)
			}
		})
	}
	t.Run("a host name goes through the proxy", func(t *testing.T) {
		asked.Store(0)
		if _, err := c.Get("https://jwks.example.test/keys"); err == nil {
			t.Fatal("the proxy refused, yet the request succeeded")
		}
		if n := asked.Load(); n != 1 {
			t.Errorf("the proxy was asked %d times, want once", n)
		}
	})
}
