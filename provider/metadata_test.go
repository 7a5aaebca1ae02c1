package provider_test

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// fieldKind is the JSON type a metadata registry gives a field.
type fieldKind int

const (
	kindURL     fieldKind = iota // an absolute URL under the issuer
	kindStrings                  // a non-empty JSON array of strings
	kindBool                     // a JSON boolean
	kindString                   // a JSON string
)

// metadataField is one entry of the registries discovery documents draw
// on: RFC 8414 §2 (OAuth 2.0 Authorization Server Metadata) and OpenID
// Connect Discovery 1.0 §3, with the fields later RFCs and specs register
// (RFC 9126 PAR, RFC 9207 iss, OIDC RP-Initiated and Back-Channel Logout).
type metadataField struct {
	name string
	kind fieldKind
	// required by RFC 8414 or by OIDC Discovery (for an OpenID Provider);
	// recommended fields hallpass publishes are listed as required here
	// too, since clients rely on them.
	required bool
}

var metadataRegistry = []metadataField{
	// RFC 8414 §2 / OIDC Discovery §3, required.
	{"issuer", kindString, true},
	{"authorization_endpoint", kindURL, true},
	{"token_endpoint", kindURL, true},
	{"jwks_uri", kindURL, true},
	{"response_types_supported", kindStrings, true},
	{"subject_types_supported", kindStrings, true},
	{"id_token_signing_alg_values_supported", kindStrings, true},
	// Recommended, and published by hallpass.
	{"userinfo_endpoint", kindURL, true},
	{"registration_endpoint", kindURL, true},
	{"scopes_supported", kindStrings, true},
	{"claims_supported", kindStrings, true},
	// OIDC Discovery §3: the acr values hallpass knows (mfa.go).
	{"acr_values_supported", kindStrings, true},
	// Optional.
	{"response_modes_supported", kindStrings, false},
	{"grant_types_supported", kindStrings, true},
	{"token_endpoint_auth_methods_supported", kindStrings, true},
	{"token_endpoint_auth_signing_alg_values_supported", kindStrings, false},
	{"revocation_endpoint", kindURL, true},
	{"revocation_endpoint_auth_methods_supported", kindStrings, true},
	{"revocation_endpoint_auth_signing_alg_values_supported", kindStrings, false},
	{"introspection_endpoint", kindURL, true},
	{"introspection_endpoint_auth_methods_supported", kindStrings, true},
	{"introspection_endpoint_auth_signing_alg_values_supported", kindStrings, false},
	{"code_challenge_methods_supported", kindStrings, true},
	{"end_session_endpoint", kindURL, true},
	{"authorization_response_iss_parameter_supported", kindBool, true},
	{"request_parameter_supported", kindBool, false},
	{"request_uri_parameter_supported", kindBool, false},
	{"require_request_uri_registration", kindBool, false},
	{"claims_parameter_supported", kindBool, false},
	{"pushed_authorization_request_endpoint", kindURL, false},
	{"require_pushed_authorization_requests", kindBool, false},
	{"backchannel_logout_supported", kindBool, false},
	{"backchannel_logout_session_supported", kindBool, false},
	{"service_documentation", kindURL, false},
}

// knownAuthMethods are the client authentication methods of the IANA
// "OAuth Token Endpoint Authentication Methods" registry hallpass could
// name.
var knownAuthMethods = []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"}

// TestAuthorizationServerMetadata checks the OpenID Provider metadata and
// the RFC 8414 document field by field against the registries: every
// required field present with its type, no field outside the registries,
// URLs absolute and under the issuer, and the cross-field rules (an auth
// method that signs names its algorithms, never "none").
func TestAuthorizationServerMetadata(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ts := newTestServer(t, dsn)
		oidc := ts.do(t, req{Path: provider.PathDiscovery})
		oauth := ts.do(t, req{Path: provider.PathOAuthMetadata})
		for _, res := range []result{oidc, oauth} {
			if res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if res.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q, want * (public metadata)", res.Header.Get("Access-Control-Allow-Origin"))
			}
		}
		// RFC 8414 §3.2: the same metadata; hallpass serves one document.
		if !bytes.Equal(oidc.Body, oauth.Body) {
			t.Errorf("%s and %s differ:\n%s\n%s", provider.PathDiscovery, provider.PathOAuthMetadata, oidc.Body, oauth.Body)
		}
		doc := oauth.JSON(t)
		checkMetadata(t, ts.URL, doc)
	})
}

// checkMetadata validates doc against metadataRegistry for issuer.
func checkMetadata(t *testing.T, issuer string, doc map[string]any) {
	t.Helper()
	byName := map[string]metadataField{}
	for _, f := range metadataRegistry {
		byName[f.name] = f
		v, ok := doc[f.name]
		if !ok {
			if f.required {
				t.Errorf("%s is missing", f.name)
			}
			continue
		}
		switch f.kind {
		case kindString:
			if s, ok := v.(string); !ok || s == "" {
				t.Errorf("%s = %v, want a non-empty string", f.name, v)
			}
		case kindBool:
			if _, ok := v.(bool); !ok {
				t.Errorf("%s = %v, want a boolean", f.name, v)
			}
		case kindURL:
			s, _ := v.(string)
			u, err := url.Parse(s)
			if err != nil || !u.IsAbs() || u.Fragment != "" || !strings.HasPrefix(s, issuer+"/") {
				t.Errorf("%s = %v, want an absolute URL under the issuer %s", f.name, v, issuer)
			}
		case kindStrings:
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				t.Errorf("%s = %v, want a non-empty array", f.name, v)
				continue
			}
			for _, e := range list {
				if s, ok := e.(string); !ok || s == "" {
					t.Errorf("%s holds %v, want non-empty strings", f.name, e)
				}
			}
		}
	}
	for name := range doc {
		if _, ok := byName[name]; !ok {
			t.Errorf("%s is in no registry this test knows; add it to metadataRegistry with its type", name)
		}
	}
	// OIDC Discovery §3: the issuer is exactly the URL clients were given.
	if doc["issuer"] != issuer {
		t.Errorf("issuer = %v, want %q", doc["issuer"], issuer)
	}
	strs := func(name string) []string {
		var out []string
		list, _ := doc[name].([]any)
		for _, e := range list {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	if !slices.Contains(strs("response_types_supported"), "code") {
		t.Errorf("response_types_supported = %v, want code", strs("response_types_supported"))
	}
	if !slices.Contains(strs("id_token_signing_alg_values_supported"), "RS256") {
		t.Errorf("id_token_signing_alg_values_supported lacks RS256 (OIDC Discovery §3)")
	}
	if !slices.Contains(strs("scopes_supported"), "openid") {
		t.Errorf("scopes_supported lacks openid (OIDC Discovery §3)")
	}
	// RFC 8414 §2: an endpoint whose methods include a signing one names
	// its algorithms, and "none" is never one of them.
	for _, ep := range []string{"token_endpoint", "revocation_endpoint", "introspection_endpoint"} {
		methods := strs(ep + "_auth_methods_supported")
		for _, m := range methods {
			if !slices.Contains(knownAuthMethods, m) {
				t.Errorf("%s_auth_methods_supported holds %q, not in the IANA registry", ep, m)
			}
		}
		algs := strs(ep + "_auth_signing_alg_values_supported")
		if (slices.Contains(methods, "private_key_jwt") || slices.Contains(methods, "client_secret_jwt")) && len(algs) == 0 {
			t.Errorf("%s supports a signed-assertion method but names no %s_auth_signing_alg_values_supported", ep, ep)
		}
		if slices.Contains(algs, "none") {
			t.Errorf("%s_auth_signing_alg_values_supported holds none (RFC 8414 §2)", ep)
		}
	}
	if _, par := doc["pushed_authorization_request_endpoint"]; !par && doc["require_pushed_authorization_requests"] == true {
		t.Error("require_pushed_authorization_requests is true without a pushed_authorization_request_endpoint (RFC 9126 §5)")
	}
	if doc["backchannel_logout_session_supported"] == true && doc["backchannel_logout_supported"] != true {
		t.Error("backchannel_logout_session_supported without backchannel_logout_supported")
	}
}
