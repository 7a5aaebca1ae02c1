package provider

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
)

func TestUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		target func() any
		strict bool
		want   string // the error; "" means accepted
	}{
		{name: "user", body: `{"username":"alice","roles":["teacher"],"disabled":true}`, target: newUser, strict: true},
		{name: "nulls leave the zero value", body: `{"username":null,"roles":null}`, target: newUser, strict: true},
		{name: "whitespace around", body: " \n{\"username\":\"alice\"}\r\n\t", target: newUser, strict: true},
		{name: "escaped control character other than NUL", body: `{"name":"a\u0001b"}`, target: newUser, strict: true},
		{name: "unknown field, lenient", body: `{"client_name":"x","rolez":[{"a":1}]}`, target: newClient},
		{name: "unknown field, strict", body: `{"username":"x","rolez":[]}`, target: newUser, strict: true, want: `unknown field "rolez"`},
		{name: "unknown nested field names the path", body: `{"x":{"a":1}}`, target: newUser, strict: true, want: `unknown field "x"`},
		{name: "names are case-sensitive", body: `{"Username":"x"}`, target: newUser, strict: true, want: `unknown field "Username"`},
		{name: "duplicate", body: `{"roles":["a"],"roles":["b"]}`, target: newUser, strict: true, want: `duplicate field "roles"`},
		{name: "duplicate, lenient", body: `{"redirect_uris":["https://a.example/cb"],"redirect_uris":["https://b.example/cb"]}`, target: newClient, want: `duplicate field "redirect_uris"`},
		{name: "duplicate by escape", body: `{"username":"a","user\u006eame":"b"}`, target: newUser, strict: true, want: `duplicate field "username"`},
		{name: "duplicate in an ignored member", body: `{"x":[{"a":1,"a":2}]}`, target: newClient, want: `duplicate field "x.0.a"`},
		{name: "string for array", body: `{"roles":"teacher"}`, target: newUser, strict: true, want: `field "roles" must be an array of strings`},
		{name: "number in array", body: `{"roles":["a",1]}`, target: newUser, strict: true, want: `field "roles" must be an array of strings`},
		{name: "number for string", body: `{"client_name":1}`, target: newClient, want: `field "client_name" must be a string`},
		{name: "string for boolean", body: `{"disabled":"true"}`, target: newUser, strict: true, want: `field "disabled" must be true or false`},
		{name: "fraction for integer", body: `{"client_id_issued_at":1.5}`, target: newClient, want: `field "client_id_issued_at" must be an integer`},
		{name: "string for optional integer", body: `{"client_secret_expires_at":"0"}`, target: newClient, want: `field "client_secret_expires_at" must be an integer`},
		{name: "bad time", body: `{"created_at":"yesterday"}`, target: newRole, strict: true, want: `field "created_at" must be an RFC 3339 date-time string`},
		{name: "NUL", body: `{"username":"a\u0000"}`, target: newUser, strict: true, want: `field "username" must not contain a NUL character (\u0000)`},
		{name: "NUL in element", body: `{"scopes":["ok","\u0000"]}`, target: newRole, strict: true, want: `field "scopes" must not contain a NUL character (\u0000)`},
		{name: "raw control character", body: "{\"username\":\"a\x00\"}", target: newUser, strict: true, want: `request body is not valid JSON (at byte 14)`},
		{name: "invalid UTF-8", body: "{\"username\":\"\xc3\x28\"}", target: newUser, strict: true, want: `request body is not valid UTF-8 (at byte 13)`},
		{name: "lone surrogate", body: `{"username":"\udc00"}`, target: newUser, strict: true, want: `request body is not valid JSON (at byte 13)`},
		{name: "syntax error", body: `{"username" "a"}`, target: newUser, strict: true, want: `request body is not valid JSON (at byte 12)`},
		{name: "truncated", body: `{"username":"a"`, target: newUser, strict: true, want: `request body is not valid JSON: it ends too soon`},
		{name: "trailing data", body: `{} []`, target: newUser, strict: true, want: `request body must hold exactly one JSON object, with nothing after it`},
		{name: "array", body: `[]`, target: newUser, strict: true, want: `request body must be a JSON object`},
		{name: "null", body: `null`, target: newUser, strict: true, want: `request body must be a JSON object`},
		{name: "misspelt literal", body: `nul`, target: newUser, strict: true, want: `request body is not valid JSON: it ends too soon`},
		{name: "not JSON", body: `<xml/>`, target: newUser, strict: true, want: `request body is not valid JSON (at byte 0)`},
		{name: "empty", body: ``, target: newUser, strict: true, want: `request body is empty; send a JSON object`},
		{name: "blank", body: " \n", target: newUser, strict: true, want: `request body is empty; send a JSON object`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := unmarshalJSON([]byte(tc.body), tc.target(), tc.strict)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("unmarshalJSON(%q) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

func newUser() any   { return &directory.UserInput{} }
func newClient() any { return &directory.ClientMetadata{} }
func newRole() any   { return &directory.RoleView{} }

func TestUnmarshalJSONValues(t *testing.T) {
	var m directory.ClientMetadata
	body := `{"client_name":"caf\u00e9","redirect_uris":[],"grant_types":["client_credentials"],"client_secret_expires_at":0,"skip_consent":true}`
	if err := unmarshalJSON([]byte(body), &m, true); err != nil {
		t.Fatal(err)
	}
	// An explicitly empty list must stay distinguishable from an absent
	// one: validate applies RFC 7591 defaults only to absent lists.
	if m.ClientName != "café" || m.RedirectURIs == nil || len(m.RedirectURIs) != 0 || m.ResponseTypes != nil ||
		!slices.Equal(m.GrantTypes, []string{"client_credentials"}) || m.ClientSecretExpiresAt == nil || !m.SkipConsent {
		t.Errorf("decoded %+v", m)
	}
}

// FuzzDecodeJSON: whatever the body, decodeJSON never panics, refuses
// only with an *apiError below 500 whose description speaks no Go, and
// what it accepts holds no NUL or invalid UTF-8 in any string.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"username":"alice","password":"correct horse battery staple","roles":["teacher"]}`,
		`{"redirect_uris":["https://app.example/cb"],"client_name":"x","client_secret_expires_at":0}`,
		`{"name":"teacher","scopes":["a","b"],"created_at":"2024-01-01T00:00:00Z"}`,
		`{"immediate":true}`,
		`{"a":{"b":[1,2,{"c":null}]},"a":1}`,
		`{"username":"\u0000"}`,
		"{\"username\":\"\xff\"}",
		`[]`, ``, `{`, `{}{}`,
	} {
		f.Add([]byte(seed), true, false)
	}
	targets := []func() any{newUser, newClient, newRole, func() any { return &directory.ScopeView{} }, func() any { return &RotateRequest{} }}
	f.Fuzz(func(t *testing.T, body []byte, strict, optional bool) {
		mode := jsonLenient
		if strict {
			mode |= jsonStrict
		}
		if optional {
			mode |= jsonOptional
		}
		for _, target := range targets {
			v := target()
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			err := decodeJSON(r, v, "invalid_request", mode)
			if err == nil {
				if s, ok := uncleanString(reflect.ValueOf(v)); ok {
					t.Fatalf("accepted %q into %T with the string %q", body, v, s)
				}
				continue
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae != err {
				t.Fatalf("decodeJSON(%q) = %T %v, want an *apiError", body, err, err)
			}
			if ae.status >= 500 || ae.status < 400 {
				t.Fatalf("decodeJSON(%q) answers %d", body, ae.status)
			}
			for _, w := range []string{"Go value", "json:", "jsontext", "unmarshal", "struct", "[]string", "string into"} {
				if strings.Contains(ae.description, w) {
					t.Fatalf("decodeJSON(%q) description %q contains %q", body, ae.description, w)
				}
			}
		}
	})
}

// uncleanString returns a string in v holding NUL or invalid UTF-8.
func uncleanString(v reflect.Value) (string, bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			return uncleanString(v.Elem())
		}
	case reflect.String:
		if s := v.String(); !directory.CleanText(s) {
			return s, true
		}
	case reflect.Slice:
		for i := range v.Len() {
			if s, ok := uncleanString(v.Index(i)); ok {
				return s, true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				if s, ok := uncleanString(v.Field(i)); ok {
					return s, true
				}
			}
		}
	}
	return "", false
}
