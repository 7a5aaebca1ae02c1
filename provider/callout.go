package provider

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// errCalloutAddress is the error of a call to a client's URL (its
// jwks_uri, its backchannel_logout_uri) that resolved to an address no
// client endpoint has.
var errCalloutAddress = errors.New("the address is link-local, unspecified or multicast; hallpass does not call it")

// calloutAllowed reports whether hallpass may connect to ip for a URL a
// client registered. A client's endpoints may be anywhere a server can
// be: on the Internet, on a private network beside hallpass, or (http
// included) on loopback, as the registration rules say. They are never
// at a link-local address, where cloud providers serve instance metadata
// and credentials (169.254.169.254, fe80::/10), an unspecified one
// (0.0.0.0 and :: reach this host's own listeners on Linux), or a
// multicast or broadcast one: a URL that resolves there is a probe of
// hallpass's own surroundings. The check is on the address dialled,
// after resolution, so a name that resolves (or rebinds) there is caught
// too.
func calloutAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() && !ip.IsMulticast() &&
		!ip.IsLinkLocalMulticast() && !ip.IsInterfaceLocalMulticast() && ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// calloutControl refuses, just before connecting, an address that
// calloutAllowed refuses.
func calloutControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("call out to %q: %w", address, errCalloutAddress)
	}
	if !calloutAllowed(ap.Addr()) {
		return fmt.Errorf("call out to %s: %w", ap.Addr(), errCalloutAddress)
	}
	return nil
}

// newCalloutClient returns the HTTP client of every request hallpass
// makes to a URL a client registered: no redirect followed (redirect is
// CheckRedirect's answer), the whole exchange bounded by timeout, and no
// connection to an address calloutAllowed refuses. The environment's
// proxy (HTTPS_PROXY, as http.DefaultTransport) is still used: then the
// address checked is the proxy's, and the proxy must refuse the rest.
func newCalloutClient(timeout time.Duration, redirect error) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: calloutControl}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = d.DialContext
	return &http.Client{
		Timeout:   timeout,
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return redirect
		},
	}
}
