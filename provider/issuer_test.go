package provider_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// TestNewIssuer: New takes an https issuer, or an http one on localhost or
// a loopback address, exactly as written; it refuses a trailing slash
// instead of dropping it, and http on any other host unless told to
// accept the risk. Each refusal says what to do.
func TestNewIssuer(t *testing.T) {
	ts := newTestServer(t, "sqlite:"+t.TempDir()+"/x.db")
	for _, tc := range []struct {
		name, issuer string
		insecure     bool
		want         string // in the error; "" means accepted
	}{
		{"https", "https://id.example.com", false, ""},
		{"https with a path", "https://id.example.com/auth", false, ""},
		{"https with a port", "https://id.example.com:8443", false, ""},
		{"http localhost", "http://localhost:8080", false, ""},
		{"http localhost, upper case", "http://LOCALHOST:8080", false, ""},
		{"http 127.0.0.1", "http://127.0.0.1:8080", false, ""},
		{"http elsewhere in 127/8", "http://127.1.2.3", false, ""},
		{"http ::1", "http://[::1]:8080", false, ""},
		{"http network host", "http://id.example.com", false, "--insecure-http-issuer"},
		{"http private address", "http://10.0.0.5:8080", false, "use https"},
		{"http 0.0.0.0", "http://0.0.0.0:8080", false, "not localhost or a loopback address"},
		{"http localhost as a subdomain", "http://localhost.evil.example", false, "--insecure-http-issuer"},
		{"http network host, allowed", "http://id.example.com", true, ""},
		{"trailing slash", "https://id.example.com/", false, `set it without, as "https://id.example.com"`},
		{"trailing slash after a path", "https://id.example.com/auth/", false, `as "https://id.example.com/auth"`},
		{"trailing slash on localhost", "http://localhost:8080/", false, "ends with a slash"},
		{"trailing slash, insecure allowed", "http://id.example.com/", true, "ends with a slash"},
		{"query", "https://id.example.com?tenant=a", false, "without user, query or fragment"},
		{"empty query", "https://id.example.com?", false, "without user, query or fragment"},
		{"fragment", "https://id.example.com#x", false, "without user, query or fragment"},
		{"userinfo", "https://u:p@id.example.com", false, "without user, query or fragment"},
		{"no scheme", "id.example.com", false, "absolute https URL"},
		{"other scheme", "ftp://id.example.com", false, "absolute https URL"},
		{"empty", "", false, "absolute https URL"},
		// hallpass's own client redirects to the issuer: what its
		// redirect URIs could not be registered with is refused here, a
		// host not in ASCII with the issuer to set instead.
		{"Unicode host", "https://例え.jp", false, `set the issuer as "https://xn--r8jz45g.jp"`},
		{"Unicode host with a port and path", "https://例え.jp:8443/id", false, `set the issuer as "https://xn--r8jz45g.jp:8443/id"`},
		{"host no valid internationalised name", "https://\u0660\u0661.example", false, "set an issuer whose host is in ASCII"},
		{"Unicode host's A-label", "https://xn--r8jz45g.jp", false, ""},
		// An ideographic full stop at the end is a trailing dot to a
		// browser: the issuer offered is without it, which starts.
		{"Unicode host ending with an ideographic full stop", "https://例え.jp\u3002", false, `set the issuer as "https://xn--r8jz45g.jp",`},
		{"percent-encoded host", "https://id%25.example.com", false, "must not percent-encode its host"},
		{"empty label", "https://id..example.com", false, "empty label"},
		{"trailing dot", "https://id.example.com.", false, "ending with a dot"},
		{"localhost with a trailing dot", "http://localhost.:8080", false, "ending with a dot"},
		{"dot segment", "https://id.example.com/a/../id", false, "dot segment"},
		{"backslash", `https://id.example.com/a\b`, false, "backslash"},
		// A browser reads 010.0.0.1 as 8.0.0.1: its console callback is
		// not on the issuer as written.
		{"octal IPv4", "https://010.0.0.1", false, "ends with a number"},
		{"loopback in hexadecimal", "http://0x7f.1:8080", true, "ends with a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			p, err := provider.New(provider.Config{
				Issuer: tc.issuer, AllowInsecureIssuer: tc.insecure,
				Store: ts.Store, Keys: ts.Keys,
				AdminTokenDigest: make([]byte, 32), TokenSecret: make([]byte, 32),
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if p != nil {
				t.Cleanup(p.Close) // its back-channel logout worker
			}
			checkErr := provider.CheckIssuer(tc.issuer, tc.insecure)
			if (err == nil) != (checkErr == nil) {
				t.Errorf("New: %v, but CheckIssuer: %v", err, checkErr)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New refused %q: %v", tc.issuer, err)
				}
				if p == nil {
					t.Fatal("New returned no provider")
				}
				if warned := strings.Contains(logs.String(), "unencrypted"); warned != tc.insecure {
					t.Errorf("warning about http logged: %v, want %v:\n%s", warned, tc.insecure, logs.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted %q", tc.issuer)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%q): %v; want it to say %q", tc.issuer, err, tc.want)
			}
		})
	}
}
