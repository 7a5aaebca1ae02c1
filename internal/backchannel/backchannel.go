package backchannel

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Transport rewrites requests for one origin to another.
type Transport struct {
	from, to *url.URL
	base     http.RoundTripper
}

// NewTransport returns a Transport that sends every request for the origin
// of public (scheme, host and port) to the origin internal, through base
// (http.DefaultTransport when nil). internal must be an origin only: no
// path, query or fragment.
func NewTransport(public, internal string, base http.RoundTripper) (*Transport, error) {
	from, err := origin(public)
	if err != nil {
		return nil, fmt.Errorf("backchannel: public URL: %w", err)
	}
	to, err := origin(internal)
	if err != nil {
		return nil, fmt.Errorf("backchannel: internal URL: %w", err)
	}
	if u, _ := url.Parse(internal); strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("backchannel: internal URL %q must be an origin (scheme://host[:port]) only", internal)
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{from: from, to: to, base: base}, nil
}

func origin(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL with a host", raw)
	}
	return &url.URL{Scheme: u.Scheme, Host: withPort(u)}, nil
}

// withPort returns u's host:port, with the scheme's default port made
// explicit so that http://h and http://h:80 are one origin.
func withPort(u *url.URL) string {
	if u.Port() != "" {
		return strings.ToLower(u.Host)
	}
	if u.Scheme == "https" {
		return strings.ToLower(u.Hostname()) + ":443"
	}
	return strings.ToLower(u.Hostname()) + ":80"
}

// RoundTrip sends req to the internal origin if it is for the public one,
// and unchanged otherwise. It implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != t.from.Scheme || withPort(req.URL) != t.from.Host {
		return t.base.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme = t.to.Scheme
	out.URL.Host = t.to.Host
	out.Host = ""
	return t.base.RoundTrip(out)
}

// Client returns the HTTP client a service uses for hallpass: with the
// given timeout, and through a Transport when internal is not empty.
func Client(public, internal string, timeout time.Duration) (*http.Client, error) {
	c := &http.Client{Timeout: timeout}
	if internal == "" {
		return c, nil
	}
	t, err := NewTransport(public, internal, nil)
	if err != nil {
		return nil, err
	}
	c.Transport = t
	return c, nil
}
