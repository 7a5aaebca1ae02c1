package backchannel

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTransportRewritesOnlyTheIssuerOrigin(t *testing.T) {
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "internal "+r.URL.RequestURI())
	}))
	defer internal.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "other "+r.URL.RequestURI())
	}))
	defer other.Close()

	c, err := Client("http://id.example.test", internal.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ url, want string }{
		{"http://id.example.test/.well-known/openid-configuration", "internal /.well-known/openid-configuration"},
		{"http://ID.example.test:80/oauth2/token?x=1", "internal /oauth2/token?x=1"},
		{other.URL + "/results", "other /results"},
	}
	for _, tt := range tests {
		resp, err := c.Get(tt.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.url, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tt.want {
			t.Errorf("GET %s reached %q, want %q", tt.url, b, tt.want)
		}
	}

	// Another scheme is another origin: not rewritten.
	var seen string
	tr, err := NewTransport("http://id.example.test", internal.URL, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.URL.String()
		return &http.Response{StatusCode: http.StatusTeapot, Body: http.NoBody, Request: r}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://id.example.test/x", nil)
	if _, err := tr.RoundTrip(req); err != nil || seen != "https://id.example.test/x" {
		t.Errorf("https request for the http issuer's host went to %q (%v)", seen, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNewTransportValidates(t *testing.T) {
	tests := []struct {
		public, internal, wantErr string
	}{
		{"http://localhost:8080", "http://hallpass:8080", ""},
		{"http://localhost:8080", "http://hallpass:8080/", ""},
		{"http://localhost:8080", "http://hallpass:8080/prefix", "origin"},
		{"http://localhost:8080", "hallpass:8080", "internal URL"},
		{"localhost", "http://hallpass:8080", "public URL"},
	}
	for _, tt := range tests {
		_, err := NewTransport(tt.public, tt.internal, nil)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("NewTransport(%q, %q) = %v, want %q", tt.public, tt.internal, err, tt.wantErr)
		}
	}
	if c, err := Client("http://x", "", time.Second); err != nil || c.Transport != nil {
		t.Errorf("Client without an internal URL = %v, %v; want a plain client", c, err)
	}
}
