package provider

import (
	"net/http"
	"net/netip"
	"strings"
	"unicode"
)

// maxUserAgentLen caps the User-Agent kept with a session: enough to
// recognise a browser, too little to bloat a row.
const maxUserAgentLen = 200

// sessionUserAgent is the request's User-Agent as kept with a session:
// printable characters only, capped.
func sessionUserAgent(r *http.Request) string {
	ua := strings.Map(func(c rune) rune {
		if unicode.IsPrint(c) {
			return c
		}
		return -1
	}, r.UserAgent())
	if len(ua) > maxUserAgentLen {
		ua = strings.ToValidUTF8(ua[:maxUserAgentLen], "")
	}
	return ua
}

// sessionAddress is the client address a session started from ("" when
// unknown), as the login throttle sees it.
func sessionAddress(r *http.Request, trusted []netip.Prefix) string {
	if a := clientAddress(r, trusted); a.IsValid() {
		return a.String()
	}
	return ""
}

// deviceName turns a User-Agent into words a person recognises, e.g.
// "Firefox on Linux"; the raw string when nothing is recognised.
func deviceName(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"HeadlessChrome/", "Headless Chrome"},
		{"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return system
	}
	return ua
}
