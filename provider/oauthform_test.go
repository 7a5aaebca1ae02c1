package provider

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ory/fosite"
)

// FuzzParseOAuthParams feeds hostile queries, bodies and content types to
// the parser every OAuth endpoint runs first: it never panics, refuses
// only with invalid_request, and what it accepts holds no single-valued
// parameter twice, in the query and the body together.
func FuzzParseOAuthParams(f *testing.F) {
	f.Add("client_id=a&scope=openid", "grant_type=client_credentials", "application/x-www-form-urlencoded")
	f.Add("client_id=a&client_id=b", "", "")
	f.Add("", "code=x&code=y", "application/x-www-form-urlencoded")
	f.Add("audience=a&audience=b", "resource=r&resource=s", "application/x-www-form-urlencoded")
	f.Add("x=%zz", "a=%", "application/x-www-form-urlencoded; charset=utf-8")
	f.Add("", "--b\r\n", "multipart/form-data; boundary=b")
	f.Fuzz(func(t *testing.T, query, body, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", contentType)
		_, err := parseOAuthParams(r)
		if err != nil {
			var rfc *fosite.RFC6749Error
			if !errors.As(err, &rfc) || rfc.ErrorField != "invalid_request" {
				t.Fatalf("refused with %v, want invalid_request", err)
			}
			return
		}
		if name := repeatedParam(r.Form); name != "" {
			t.Fatalf("accepted %q twice (query %q, body %q)", name, query, body)
		}
	})
}

func TestRepeatedParam(t *testing.T) {
	for _, c := range []struct {
		query, want string
	}{
		{"a=1&b=2", ""},
		{"scope=a&scope=b", "scope"},
		{"z=1&z=2&b=1&b=2", "b"},
		{"audience=a&audience=b&resource=x&resource=y", ""},
		{"client_id=a&client_id=a", "client_id"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize?"+c.query, nil)
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		if got := repeatedParam(r.Form); got != c.want {
			t.Errorf("repeatedParam(%q) = %q, want %q", c.query, got, c.want)
		}
	}
}

// FuzzCheckOAuthRequest feeds hostile queries, bodies, content types and
// Authorization headers to the guard of the endpoints where clients
// authenticate: it never panics, refuses only with invalid_request (or
// invalid_client for no client authentication or unusable Basic
// credentials), and what it accepts has no query string, no repeated
// parameter, no client assertion with a secret, and, with HTTP Basic,
// neither credentials in the body nor a body client_id naming another
// client.
func FuzzCheckOAuthRequest(f *testing.F) {
	form := "application/x-www-form-urlencoded"
	f.Add("", "grant_type=client_credentials", form, "Basic "+basicAuth("svc", "s3cret"))
	f.Add("client_secret=x", "grant_type=client_credentials&client_id=svc", form, "")
	f.Add("", "client_id=svc&client_secret=x", form, "Basic "+basicAuth("svc", "x"))
	f.Add("", "client_id=other", form, "Basic "+basicAuth("svc", "x"))
	f.Add("", "client_id=a%20b", form, "Basic "+basicAuth("a+b", "x"))
	f.Add("", "client_id=%zz", form, "Basic "+basicAuth("%zz", "x"))
	f.Add("?", "token=t", form, "Basic !!!")
	f.Add("", "token=t", form, "")
	f.Add("", "client_assertion_type=x&client_assertion=a.b.c&client_secret=s", form, "")
	f.Add("", "grant_type=client_credentials&client_secret=", form, "Basic "+basicAuth("svc", "s3cret"))
	f.Fuzz(func(t *testing.T, query, body, contentType, authorization string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("Authorization", authorization)
		// A parameter sent without a value counts as omitted (RFC 6749
		// §3.2).
		sent := func(name string) bool { return r.PostForm.Get(name) != "" }
		if err := checkOAuthRequest(r, false); err != nil {
			var rfc *fosite.RFC6749Error
			if !errors.As(err, &rfc) {
				t.Fatalf("refused with %v, want an OAuth error", err)
			}
			// invalid_client only for a request carrying no client
			// authentication at all, or an Authorization header without
			// usable Basic credentials (RFC 6749 §5.2).
			noAuth := authorization == "" && !sent("client_id") && !sent("client_assertion")
			if rfc.ErrorField != "invalid_request" && (!(noAuth || !usableBasic(r)) || rfc.ErrorField != "invalid_client") {
				t.Fatalf("refused with %v, want invalid_request (or invalid_client without usable client authentication)", err)
			}
			return
		}
		if authorization != "" && !usableBasic(r) {
			t.Fatalf("accepted Authorization %q", authorization)
		}
		if sent("client_secret") && (sent("client_assertion") || sent("client_assertion_type")) {
			t.Fatalf("accepted a client assertion with a client_secret (body %q)", body)
		}
		if r.URL.RawQuery != "" {
			t.Fatalf("accepted query %q", query)
		}
		if name := repeatedParam(r.Form); name != "" {
			t.Fatalf("accepted %q twice (body %q)", name, body)
		}
		user, _, basic := r.BasicAuth()
		if !basic {
			return
		}
		for _, name := range []string{"client_secret", "client_assertion", "client_assertion_type"} {
			if sent(name) {
				t.Fatalf("accepted HTTP Basic with %s in the body %q", name, body)
			}
		}
		if id := r.PostForm.Get("client_id"); id != "" {
			if dec, err := url.QueryUnescape(user); err != nil || dec != id {
				t.Fatalf("accepted body client_id %q with Basic user %q", id, user)
			}
		}
	})
}

// usableBasic reports whether r's Authorization header holds HTTP Basic
// credentials whose id and secret are both form-decodable (RFC 6749
// §2.3.1).
func usableBasic(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	_, uerr := url.QueryUnescape(user)
	_, perr := url.QueryUnescape(pass)
	return uerr == nil && perr == nil
}

// FuzzTakeRequestObject checks that whatever form reaches fosite holds no
// request object and no request_uri but one of PAR's, and that the
// request is refused exactly when one was taken out.
func FuzzTakeRequestObject(f *testing.F) {
	f.Add("client_id=a&request=x.y.z")
	f.Add("request_uri=" + url.QueryEscape(parRequestURIPrefix+"abc"))
	f.Add("request_uri=https%3A%2F%2Fevil.example%2Fr&request=")
	f.Add("request_uri=&request_uri=" + url.QueryEscape(parRequestURIPrefix))
	f.Add("scope=openid")
	f.Fuzz(func(t *testing.T, query string) {
		form, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		// One without a value counts as omitted (RFC 6749 §3.1).
		had := form.Get("request") != "" || (form.Get("request_uri") != "" && !strings.HasPrefix(form.Get("request_uri"), parRequestURIPrefix))
		err = takeRequestObject(form)
		if form.Has("request") {
			t.Fatalf("request left in %q", query)
		}
		if form.Has("request_uri") && !strings.HasPrefix(form.Get("request_uri"), parRequestURIPrefix) {
			t.Fatalf("foreign request_uri %q left in %q", form.Get("request_uri"), query)
		}
		if (err != nil) != had {
			t.Fatalf("takeRequestObject(%q) = %v, want an error: %v", query, err, had)
		}
	})
}

// TestParseAuthorizeParams checks that both endpoints taking an
// authorization request leave no request object in the form, also when
// the parsing itself refuses the request, and rank the refusals as they
// are used: the parsing's error, and apart the request object's.
func TestParseAuthorizeParams(t *testing.T) {
	foreign := "request_uri=" + url.QueryEscape("https://evil.example/r")
	pushedURI := "request_uri=" + url.QueryEscape(parRequestURIPrefix+"abc")
	for _, c := range []struct {
		name, body, auth string
		pushed           bool
		repeated         string
		wantErr, wantObj string // error codes, "" for none
	}{
		{"authorize, plain", "client_id=a&scope=openid", "", false, "", "", ""},
		{"authorize, request object", "client_id=a&request=x.y.z", "", false, "", "", "request_not_supported"},
		{"authorize, foreign request_uri", "client_id=a&" + foreign, "", false, "", "", "request_uri_not_supported"},
		{"authorize, PAR's request_uri", "client_id=a&" + pushedURI, "", false, "", "", ""},
		{"authorize, repeated and request object", "state=1&state=2&request=x", "", false, "state", "invalid_request", "request_not_supported"},
		{"PAR, request object", "request=x.y.z", basicAuth("a", "s"), true, "", "", "request_not_supported"},
		{"PAR, no client authentication and request object", "request=x&" + foreign, "", true, "", "invalid_client", "request_not_supported"},
		{"PAR, repeated and foreign request_uri", "scope=a&scope=b&" + foreign, basicAuth("a", "s"), true, "", "invalid_request", "request_uri_not_supported"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if c.auth != "" {
				r.Header.Set("Authorization", "Basic "+c.auth)
			}
			repeated, obj, err := parseAuthorizeParams(r, c.pushed)
			if repeated != c.repeated {
				t.Errorf("repeated = %q, want %q", repeated, c.repeated)
			}
			if got := errorCode(err); got != c.wantErr {
				t.Errorf("err = %v, want %q", err, c.wantErr)
			}
			if got := errorCode(obj); got != c.wantObj {
				t.Errorf("request object refusal = %v, want %q", obj, c.wantObj)
			}
			if r.Form.Has("request") || (r.Form.Has("request_uri") && !strings.HasPrefix(r.Form.Get("request_uri"), parRequestURIPrefix)) {
				t.Errorf("request object left in the form: %v", r.Form)
			}
		})
	}
}

// errorCode is the OAuth error code of err, "" for nil.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	return fosite.ErrorToRFC6749Error(err).ErrorField
}

// basicAuth is the value of an HTTP Basic Authorization header.
func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}
