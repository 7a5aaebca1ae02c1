package provider

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses the operator's list of trusted proxies:
// CIDR prefixes such as 10.0.0.0/8 or fd00::/8, or single addresses.
// Blank entries are skipped.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, unmapPrefix(p).Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted proxy %q is neither a CIDR prefix (10.0.0.0/8, fd00::/8) nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) into
// the IPv4 prefix it stands for: client addresses are compared unmapped,
// so a mapped prefix would never match and its proxy never be trusted.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if !a.Is4In6() || p.Bits() < 96 {
		return p
	}
	return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
}

// clientAddress is the address a request came from, for throttling and
// logs: the TCP peer, unless the peer is one of the trusted proxies. Then
// X-Forwarded-For is read from the right, where the proxies nearest to
// hallpass appended, skipping trusted addresses, and the first untrusted
// one is the client: whatever lies left of it the client could have
// written itself. When every address is trusted, or an entry cannot be
// parsed (so no trusted proxy wrote it), the leftmost trusted address
// seen so far stands for the client. Without trusted proxies the header
// is never read, so clients cannot choose their address.
func clientAddress(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return clientAddressFrom(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted)
}

func clientAddressFrom(remoteAddr string, forwardedFor []string, trusted []netip.Prefix) netip.Addr {
	peer, ok := parseHop(remoteAddr)
	if !ok {
		// Not an IP peer (a unix socket, say): every such request counts
		// as one client.
		return netip.Addr{}
	}
	client := peer
	if !isTrusted(client, trusted) {
		return client
	}
	// Several header lines are one list, in the order the hops added them.
	list := strings.Join(forwardedFor, ",")
	for list != "" {
		var hop string
		if i := strings.LastIndexByte(list, ','); i >= 0 {
			list, hop = list[:i], list[i+1:]
		} else {
			list, hop = "", list
		}
		hop = strings.TrimSpace(hop)
		if hop == "" {
			continue
		}
		a, ok := parseHop(hop)
		if !ok {
			return client
		}
		if !isTrusted(a, trusted) {
			return a
		}
		client = a
	}
	return client
}

// parseHop parses an address as proxies write it: 192.0.2.1, 2001:db8::1,
// or either with a port (192.0.2.1:80, [2001:db8::1]:80). IPv4-mapped IPv6
// addresses count as IPv4, and a zone is dropped.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
