package provider

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// errCalloutAddress is the error of a call to a client's URL (its
// jwks_uri, its backchannel_logout_uri) that resolved to an address no
// client endpoint has.
var errCalloutAddress = errors.New("the address is link-local, unspecified, multicast or a cloud's instance metadata service; hallpass does not call it")

// calloutAllowed reports whether hallpass may connect to ip for a URL a
// client registered. A client's endpoints may be anywhere a server can
// be: on the Internet, on a private network beside hallpass (the shared
// address space 100.64.0.0/10 of carrier-grade NAT and Tailscale
// included), or (http included) on loopback, as the registration rules
// say. They are never at a link-local address, where cloud providers
// serve instance metadata and credentials (169.254.169.254, fe80::/10),
// nor at the metadata addresses some clouds put elsewhere
// (metadataAddress), an unspecified one or one of "this network"
// 0.0.0.0/8 (0.0.0.0 and :: reach this host's own listeners on Linux;
// the rest of 0.0.0.0/8 is never a destination), or a multicast or
// broadcast one: a URL that resolves there is a probe of hallpass's own
// surroundings. The check is on the address dialled, after resolution,
// so a name that resolves (or rebinds) there is caught too; an IPv4
// address is checked alike when it comes mapped into IPv6 (::ffff:0:0/96)
// or translated by NAT64 (64:ff9b::/96, where DNS64 puts every IPv4
// address on an IPv6-only network).
func calloutAllowed(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if nat64 := netip.MustParsePrefix("64:ff9b::/96"); nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() && !ip.IsMulticast() &&
		!ip.IsLinkLocalMulticast() && !ip.IsInterfaceLocalMulticast() && ip != netip.AddrFrom4([4]byte{255, 255, 255, 255}) &&
		!(ip.Is4() && ip.As4()[0] == 0) && !metadataAddress(ip)
}

// metadataAddress reports whether ip is where a cloud serves instance
// metadata and credentials outside the link-local ranges: Alibaba
// Cloud's 100.100.100.200, AWS's instance metadata and EKS Pod Identity
// over IPv6 (fd00:ec2::254, fd00:ec2::23) and Google Cloud's metadata
// over IPv6 (fd20:ce::254). The ranges around them stay allowed: they
// are private networks a client's server may be on.
func metadataAddress(ip netip.Addr) bool {
	switch ip {
	case netip.AddrFrom4([4]byte{100, 100, 100, 200}),
		netip.MustParseAddr("fd00:ec2::254"),
		netip.MustParseAddr("fd00:ec2::23"),
		netip.MustParseAddr("fd20:ce::254"):
		return true
	}
	return false
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
// proxy (HTTPS_PROXY, as http.DefaultTransport) is still used; the
// address hallpass then dials is the proxy's, so a URL naming a refused
// address outright (https://169.254.169.254/) is refused before the
// proxy is asked to connect there (calloutProxy). A host name the proxy
// resolves itself is the proxy's to refuse.
func newCalloutClient(timeout time.Duration, redirect error) *http.Client {
	return newCalloutClientVia(timeout, redirect, http.ProxyFromEnvironment)
}

// newCalloutClientVia is newCalloutClient with proxy choosing each
// request's proxy.
func newCalloutClientVia(timeout time.Duration, redirect error, proxy func(*http.Request) (*url.URL, error)) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: calloutControl}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = d.DialContext
	t.Proxy = calloutProxy(proxy)
	return &http.Client{
		Timeout:   timeout,
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return redirect
		},
	}
}

// calloutProxy is proxy refusing first a request whose URL names an
// address calloutAllowed refuses: the dialler sees only the proxy's
// address, and the proxy would connect to the one named, near it.
func calloutProxy(proxy func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) {
		if ip, err := netip.ParseAddr(r.URL.Hostname()); err == nil && !calloutAllowed(ip) {
			return nil, fmt.Errorf("call out to %s: %w", ip, errCalloutAddress)
		}
		if proxy == nil {
			return nil, nil
		}
		return proxy(r)
	}
}
