package provider

import (
	"net/netip"
	"net/url"
	"strconv"
	"testing"
)

// FuzzLoopbackOtherPort checks the one exception to exact redirect URI
// matching (RFC 8252 §7.3): whatever the two strings, a redirect URI
// loopbackOtherPort accepts is an http URI without user information on
// a loopback IP address, with a real port written plainly, and equal to
// the registered one in host, path (as written), query and fragment.
//
//	go test -run '^$' -fuzz FuzzLoopbackOtherPort -fuzztime 30s ./provider/
func FuzzLoopbackOtherPort(f *testing.F) {
	for _, s := range [][2]string{
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1/cb"},
		{"http://127.0.0.1:4000/cb?x=1", "http://127.0.0.1:3000/cb?x=1"},
		{"http://[::1]:5555/cb", "http://[::1]/cb"},
		{"http://user@127.0.0.1:5555/cb", "http://127.0.0.1/cb"},
		{"http://127.0.0.1:0/cb", "http://127.0.0.1/cb"},
		{"http://127.0.0.1:05555/cb", "http://127.0.0.1/cb"},
		{"http://127.0.0.1:5555/c%62", "http://127.0.0.1/cb"},
		{"http://127.0.0.1:5555/cb#x", "http://127.0.0.1/cb"},
		{"http://127.0.0.2:5555/cb", "http://127.0.0.1/cb"},
		{"https://127.0.0.1:5555/cb", "https://127.0.0.1/cb"},
		{"http://[::ffff:127.0.0.1]:5555/cb", "http://[::ffff:127.0.0.1]/cb"},
		{"http://user@127.0.0.1:5555/cb", "http://user@127.0.0.1/cb"},
		{"http://127.0.0.1:0/cb", "http://127.0.0.1:5/cb"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, registered string) {
		if !loopbackOtherPort(raw, registered) {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, err)
		}
		reg, err := url.Parse(registered)
		if err != nil {
			t.Fatalf("accepted %q for %q, which does not parse: %v", raw, registered, err)
		}
		if u.Scheme != "http" || u.User != nil || u.Opaque != "" {
			t.Fatalf("accepted %q: want http without user information", raw)
		}
		a, err := netip.ParseAddr(u.Hostname())
		if err != nil || !a.IsLoopback() {
			t.Fatalf("accepted %q: host %q is not a loopback IP address", raw, u.Hostname())
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
				t.Fatalf("accepted %q: port %q is not a real one written plainly", raw, port)
			}
		}
		if reg.Scheme != u.Scheme || reg.User != nil || reg.Hostname() != u.Hostname() ||
			reg.EscapedPath() != u.EscapedPath() || reg.RawQuery != u.RawQuery || reg.ForceQuery != u.ForceQuery ||
			reg.EscapedFragment() != u.EscapedFragment() {
			t.Fatalf("accepted %q for %q: they differ in more than the port", raw, registered)
		}
	})
}
