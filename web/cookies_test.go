package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// cookieKind lets one table cover the session and the binding cookie.
type cookieKind struct {
	name  string // base name
	set   func(*Cookies, http.ResponseWriter, string, time.Duration)
	get   func(*Cookies, *http.Request) (string, bool)
	clear func(*Cookies, http.ResponseWriter)
}

var cookieKinds = []cookieKind{
	{"hallpass_session", (*Cookies).SetSession, (*Cookies).Session, (*Cookies).ClearSession},
	{"hallpass_auth", (*Cookies).SetBinding, (*Cookies).Binding, (*Cookies).ClearBinding},
}

// onlySetCookie returns the one Set-Cookie header rec carries, raw and parsed.
func onlySetCookie(t *testing.T, rec *httptest.ResponseRecorder) (string, *http.Cookie) {
	t.Helper()
	raw := rec.Result().Header.Values("Set-Cookie")
	parsed := rec.Result().Cookies()
	if len(raw) != 1 || len(parsed) != 1 {
		t.Fatalf("want one Set-Cookie, got %q", raw)
	}
	return raw[0], parsed[0]
}

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		issuer     string
		wantPrefix string
		wantSecure bool
	}{
		{"https://id.example.com", "__Host-", true},
		{"https://id.example.com/tenant/a", "__Host-", true},
		{"HTTPS://id.example.com", "__Host-", true},
		{"http://localhost:8080", "", false},
		{"http://127.0.0.1:8080/hallpass", "", false},
	}
	for _, tt := range tests {
		for _, k := range cookieKinds {
			t.Run(tt.issuer+"/"+k.name, func(t *testing.T) {
				c := NewCookies(mustURL(t, tt.issuer))
				if c.Secure() != tt.wantSecure {
					t.Errorf("Secure() = %v, want %v", c.Secure(), tt.wantSecure)
				}
				rec := httptest.NewRecorder()
				val := RandomToken()
				k.set(c, rec, val, 90*time.Second)
				raw, ck := onlySetCookie(t, rec)

				if want := tt.wantPrefix + k.name; ck.Name != want {
					t.Errorf("name = %q, want %q", ck.Name, want)
				}
				if ck.Value != val {
					t.Errorf("value = %q, want %q", ck.Value, val)
				}
				if ck.Secure != tt.wantSecure {
					t.Errorf("Secure = %v, want %v (%s)", ck.Secure, tt.wantSecure, raw)
				}
				if !ck.HttpOnly {
					t.Errorf("not HttpOnly: %s", raw)
				}
				if ck.SameSite != http.SameSiteLaxMode {
					t.Errorf("SameSite = %v, want Lax: %s", ck.SameSite, raw)
				}
				if ck.Path != "/" {
					t.Errorf("Path = %q, want /", ck.Path)
				}
				if ck.Domain != "" || strings.Contains(strings.ToLower(raw), "domain=") {
					t.Errorf("has a Domain: %s", raw)
				}
				if ck.MaxAge != 90 {
					t.Errorf("MaxAge = %d, want 90", ck.MaxAge)
				}
			})
		}
	}
}

func TestNilIssuerIsPlainHTTP(t *testing.T) {
	c := NewCookies(nil)
	rec := httptest.NewRecorder()
	c.SetSession(rec, "abc", time.Minute)
	_, ck := onlySetCookie(t, rec)
	if ck.Secure || ck.Name != "hallpass_session" {
		t.Errorf("nil issuer: got %+v", ck)
	}
}

func TestCookieMaxAge(t *testing.T) {
	tests := []struct {
		in      time.Duration
		want    int
		wantRaw string // substring of the raw header; "" means no Max-Age at all
	}{
		{time.Hour, 3600, "Max-Age=3600"},
		{1500 * time.Millisecond, 2, "Max-Age=2"},
		{time.Nanosecond, 1, "Max-Age=1"},
		{0, 0, ""},
		{-time.Minute, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			rec := httptest.NewRecorder()
			NewCookies(mustURL(t, "https://id.example.com")).SetSession(rec, "abc", tt.in)
			raw, ck := onlySetCookie(t, rec)
			if ck.MaxAge != tt.want {
				t.Errorf("MaxAge = %d, want %d", ck.MaxAge, tt.want)
			}
			if tt.wantRaw == "" && strings.Contains(raw, "Max-Age") || tt.wantRaw != "" && !strings.Contains(raw, tt.wantRaw) {
				t.Errorf("Set-Cookie %q, want %q", raw, tt.wantRaw)
			}
		})
	}
}

func TestCookieRoundTrip(t *testing.T) {
	for _, issuer := range []string{"https://id.example.com", "http://localhost:8080"} {
		for _, k := range cookieKinds {
			t.Run(issuer+"/"+k.name, func(t *testing.T) {
				c := NewCookies(mustURL(t, issuer))
				rec := httptest.NewRecorder()
				val := RandomToken()
				k.set(c, rec, val, time.Hour)

				req := httptest.NewRequest(http.MethodGet, issuer+"/authorize", nil)
				for _, ck := range rec.Result().Cookies() {
					req.AddCookie(ck)
				}
				got, ok := k.get(c, req)
				if !ok || got != val {
					t.Fatalf("read back (%q, %v), want (%q, true)", got, ok, val)
				}
				// The other cookie is not set by this one.
				for _, other := range cookieKinds {
					if other.name != k.name {
						if v, ok := other.get(c, req); ok {
							t.Errorf("%s read %q from a request carrying only %s", other.name, v, k.name)
						}
					}
				}
				// No cookie at all.
				if v, ok := k.get(c, httptest.NewRequest(http.MethodGet, "/", nil)); ok || v != "" {
					t.Errorf("empty request: got (%q, %v)", v, ok)
				}
			})
		}
	}
}

// Under https only the __Host- cookie counts: an unprefixed one could have
// been set by a sibling subdomain or over plain http.
func TestSecureCookiesIgnoreUnprefixedName(t *testing.T) {
	c := NewCookies(mustURL(t, "https://id.example.com"))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: "hallpass_session", Value: RandomToken()})
	req.AddCookie(&http.Cookie{Name: "hallpass_auth", Value: RandomToken()})
	if v, ok := c.Session(req); ok {
		t.Errorf("Session read unprefixed cookie %q", v)
	}
	if v, ok := c.Binding(req); ok {
		t.Errorf("Binding read unprefixed cookie %q", v)
	}
}

func TestCookieValueValidation(t *testing.T) {
	tests := []struct {
		name  string
		value string
		ok    bool
	}{
		{"token", RandomToken(), true},
		{"256 bytes", strings.Repeat("a", 256), true},
		{"all alphabet", "ABCXYZabcxyz0189-_", true},
		{"257 bytes", strings.Repeat("a", 257), false},
		{"empty", "", false},
		{"padding", "YWJj=", false},
		{"std base64", "a+b/c", false},
		{"dot", "a.b", false},
		{"space", "a b", false},
		{"quote", `"abc"`, false},
		{"percent", "a%20b", false},
		{"unicode", "abcé", false},
		{"nul", "a\x00b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidCookieValue(tt.value); got != tt.ok {
				t.Errorf("ValidCookieValue(%q) = %v, want %v", tt.value, got, tt.ok)
			}
			// Read path: a request carrying the value raw in its Cookie header.
			for _, issuer := range []string{"https://id.example.com", "http://localhost"} {
				c := NewCookies(mustURL(t, issuer))
				for _, k := range cookieKinds {
					req := httptest.NewRequest(http.MethodGet, "/", nil)
					req.Header.Set("Cookie", c.name(k.name)+"="+tt.value)
					got, ok := k.get(c, req)
					if tt.ok && (!ok || got != tt.value) {
						t.Errorf("%s %s: read (%q, %v), want (%q, true)", issuer, k.name, got, ok, tt.value)
					}
					if !tt.ok && (ok || got != "") {
						t.Errorf("%s %s: read (%q, %v), want rejected", issuer, k.name, got, ok)
					}
				}
			}
			// Write path: an invalid value is a programming error.
			if !tt.ok {
				for _, k := range cookieKinds {
					func() {
						defer func() {
							if recover() == nil {
								t.Errorf("%s: setting %q did not panic", k.name, tt.value)
							}
						}()
						k.set(NewCookies(nil), httptest.NewRecorder(), tt.value, time.Minute)
					}()
				}
			}
		})
	}
}

func TestCookieClear(t *testing.T) {
	for _, tt := range []struct {
		issuer string
		secure bool
	}{{"https://id.example.com", true}, {"http://localhost:8080", false}} {
		for _, k := range cookieKinds {
			t.Run(tt.issuer+"/"+k.name, func(t *testing.T) {
				c := NewCookies(mustURL(t, tt.issuer))
				rec := httptest.NewRecorder()
				k.clear(c, rec)
				raw, ck := onlySetCookie(t, rec)
				if ck.Name != c.name(k.name) {
					t.Errorf("cleared %q, want %q", ck.Name, c.name(k.name))
				}
				if ck.MaxAge >= 0 || !strings.Contains(raw, "Max-Age=0") {
					t.Errorf("MaxAge = %d (%s), want < 0 (Max-Age=0 on the wire)", ck.MaxAge, raw)
				}
				if ck.Value != "" {
					t.Errorf("value %q, want empty", ck.Value)
				}
				// A __Host- cookie is only replaced by one with the same
				// attributes, so deletion must carry them too.
				if ck.Secure != tt.secure || !ck.HttpOnly || ck.Path != "/" || ck.SameSite != http.SameSiteLaxMode {
					t.Errorf("clearing cookie lacks attributes: %s", raw)
				}
			})
		}
	}
}
