package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Cookie base names. Under an https issuer they carry the __Host- prefix.
const (
	// SessionCookieName is the base name of the SSO session cookie.
	SessionCookieName = "hallpass_session"
	// BindingCookieName is the base name of the cookie that binds a pending
	// authorization request to the browser that started it.
	BindingCookieName = "hallpass_auth"
)

// MaxCookieValueLen is the longest cookie value Cookies writes or accepts.
const MaxCookieValueLen = 256

// hostPrefix makes a browser accept the cookie only if it is Secure, has
// Path=/ and no Domain, so that neither a sibling subdomain nor a plain-http
// page can set or shadow it.
const hostPrefix = "__Host-"

// Cookies reads and writes hallpass's browser-state cookies. Every cookie
// is HttpOnly and SameSite=Lax with Path=/ and no Domain; when the issuer
// is https it is also Secure and its name carries the __Host- prefix.
//
// Values are opaque strings of at most MaxCookieValueLen base64url
// characters, such as RandomToken returns. A Cookies is immutable and safe
// for concurrent use.
type Cookies struct {
	secure bool
}

// NewCookies returns the cookie policy for issuer: Secure and __Host- when
// its scheme is https, neither otherwise (plain-http development). A nil
// issuer is treated as plain http.
func NewCookies(issuer *url.URL) *Cookies {
	return &Cookies{secure: issuer != nil && strings.EqualFold(issuer.Scheme, "https")}
}

// Secure reports whether the cookies are Secure and __Host- prefixed.
func (c *Cookies) Secure() bool { return c.secure }

// SessionCookie returns the full name of the session cookie, with its
// prefix when there is one.
func (c *Cookies) SessionCookie() string { return c.name(SessionCookieName) }

// BindingCookie returns the full name of the binding cookie, with its
// prefix when there is one.
func (c *Cookies) BindingCookie() string { return c.name(BindingCookieName) }

// SetSession sets the session cookie to value for maxAge (rounded up to a
// whole second); a maxAge of zero or less makes it a browser-session cookie,
// gone when the browser closes. It panics if value is not a valid cookie
// value (see ValidCookieValue): that is a programming error, and a cookie
// the browser could never send back usefully must not be written.
func (c *Cookies) SetSession(w http.ResponseWriter, value string, maxAge time.Duration) {
	c.set(w, SessionCookieName, value, maxAge)
}

// Session returns the session cookie's value, and false when the request
// has no such cookie or its value is not valid. Only the first cookie of
// that name counts.
func (c *Cookies) Session(r *http.Request) (string, bool) {
	return c.get(r, SessionCookieName)
}

// ClearSession tells the browser to delete the session cookie.
func (c *Cookies) ClearSession(w http.ResponseWriter) {
	c.clear(w, SessionCookieName)
}

// SetBinding sets the cookie that binds a pending authorization request to
// this browser, on the same terms as SetSession.
func (c *Cookies) SetBinding(w http.ResponseWriter, value string, maxAge time.Duration) {
	c.set(w, BindingCookieName, value, maxAge)
}

// Binding returns the binding cookie's value, and false when the request
// has no such cookie or its value is not valid.
func (c *Cookies) Binding(r *http.Request) (string, bool) {
	return c.get(r, BindingCookieName)
}

// ClearBinding tells the browser to delete the binding cookie.
func (c *Cookies) ClearBinding(w http.ResponseWriter) {
	c.clear(w, BindingCookieName)
}

// ValidCookieValue reports whether v can be a cookie value here: 1 to
// MaxCookieValueLen characters, all from the base64url alphabet
// (A–Z a–z 0–9 - _), without padding.
func ValidCookieValue(v string) bool {
	if v == "" || len(v) > MaxCookieValueLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z', '0' <= b && b <= '9', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
}

func (c *Cookies) name(base string) string {
	if c.secure {
		return hostPrefix + base
	}
	return base
}

func (c *Cookies) cookie(base, value string) *http.Cookie {
	return &http.Cookie{
		Name:     c.name(base),
		Value:    value,
		Path:     "/",
		Secure:   c.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

func (c *Cookies) set(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	if !ValidCookieValue(value) {
		panic("web: invalid value for cookie " + base + ": want 1 to 256 base64url characters")
	}
	ck := c.cookie(base, value)
	if maxAge > 0 {
		ck.MaxAge = int((maxAge + time.Second - 1) / time.Second)
	}
	http.SetCookie(w, ck)
}

func (c *Cookies) get(r *http.Request, base string) (string, bool) {
	ck, err := r.Cookie(c.name(base))
	// hallpass never writes a quoted value, so a quoted one is not its own.
	if err != nil || ck.Quoted || !ValidCookieValue(ck.Value) {
		return "", false
	}
	return ck.Value, true
}

func (c *Cookies) clear(w http.ResponseWriter, base string) {
	ck := c.cookie(base, "")
	ck.MaxAge = -1               // sent as Max-Age=0
	ck.Expires = time.Unix(0, 0) // for clients that ignore Max-Age
	http.SetCookie(w, ck)
}
