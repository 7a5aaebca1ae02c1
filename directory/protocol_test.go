package directory_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
)

// FuzzParseClientJWKS feeds arbitrary bytes to the parser of key sets that
// clients register or publish at their jwks_uri: it must never panic, and
// whatever it accepts is a non-empty set of public signing keys that
// encodes back to JSON.
func FuzzParseClientJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","use":"sig"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		set, err := directory.ParseClientJWKS(raw)
		if err != nil {
			return
		}
		if len(set.Keys) == 0 {
			t.Fatal("accepted an empty set")
		}
		for _, k := range set.Keys {
			if !k.IsPublic() || k.Use != "sig" {
				t.Fatalf("accepted key %+v", k)
			}
		}
		if _, err := json.Marshal(set); err != nil {
			t.Fatalf("accepted set does not encode: %v", err)
		}
	})
}

// TestCheckServerURL: a URL hallpass itself calls (a client's jwks_uri,
// its backchannel_logout_uri) is held to the rules of every registered
// URI's text: a real port, and no character that shows as nothing or
// reorders the rest.
func TestCheckServerURL(t *testing.T) {
	tests := []struct {
		name, uri string
		rule      string // a part of the error naming the rule; "" means accepted
	}{
		{name: "https", uri: "https://rp.example/backchannel"},
		{name: "https with port", uri: "https://rp.example:8443/backchannel"},
		{name: "highest port", uri: "https://rp.example:65535/jwks"},
		{name: "loopback http", uri: "http://127.0.0.1:8080/jwks"},
		// Refused when registered (TestRedirectURIRules), but a stored
		// jwks_uri registered before those rules is still fetched: they
		// guard what a browser reinterprets or a person misreads.
		{name: "stored with a backslash", uri: `https://rp.example/jw\ks`},
		{name: "stored with an internationalised host", uri: "https://bücher.example/jwks"},
		{name: "stored with a trailing dot", uri: "https://rp.example./jwks"},
		{name: "stored with an empty label", uri: "https://rp..example/jwks"},
		{name: "stored with a dot segment", uri: "https://rp.example/a/../jwks"},

		{name: "not absolute", uri: "/backchannel", rule: "not an absolute URL"},
		{name: "http to a public host", uri: "http://rp.example/backchannel", rule: "must use https"},
		{name: "fragment", uri: "https://rp.example/backchannel#x", rule: "fragment"},
		{name: "user information", uri: "https://u:pw@rp.example/backchannel", rule: "user information"},
		{name: "port above 65535", uri: "https://rp.example:99999/backchannel", rule: "port from 1 to 65535"},
		{name: "port 0", uri: "https://rp.example:0/backchannel", rule: "port from 1 to 65535"},
		{name: "port with a leading zero", uri: "https://rp.example:08443/backchannel", rule: "without leading zeros"},
		{name: "colon without port", uri: "https://rp.example:/backchannel", rule: "no port after its host"},
		{name: "loopback port above 65535", uri: "http://127.0.0.1:65536/jwks", rule: "port from 1 to 65535"},
		{name: "right-to-left override", uri: "https://rp.example/back\u202Echannel", rule: "U+202E"},
		{name: "zero-width space in host", uri: "https://rp\u200B.example/backchannel", rule: "U+200B"},
		{name: "left-to-right isolate", uri: "https://rp.example/\u2066jwks", rule: "U+2066"},
		{name: "no-break space", uri: "https://rp.example/jwks\u00A0", rule: "U+00A0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := directory.CheckServerURL(tc.uri)
			switch {
			case tc.rule == "" && err != nil:
				t.Errorf("CheckServerURL(%q) = %v, want accepted", tc.uri, err)
			case tc.rule != "" && err == nil:
				t.Errorf("CheckServerURL(%q) accepted it, want refused for %q", tc.uri, tc.rule)
			case tc.rule != "" && !strings.Contains(err.Error(), tc.rule):
				t.Errorf("CheckServerURL(%q) = %q, want it to name the rule %q", tc.uri, err, tc.rule)
			}
		})
	}
	t.Run("a password is never echoed", func(t *testing.T) {
		for _, uri := range []string{"https://u:hunter2@rp.example/bc", "http://u:hunter2@rp.example/bc", "https://u:hunter2@rp.example/bc#x", "https://u:hunter2@rp.example:99999/bc"} {
			if err := directory.CheckServerURL(uri); err == nil || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("CheckServerURL(%q) = %v, want refused without the password", uri, err)
			}
		}
	})
}
