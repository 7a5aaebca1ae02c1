package provider

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hallpass/hallpass/web"
)

// FuzzReadSelfCookie feeds the console's sign-in cookie reader what a
// browser may send: it never panics, accepts only values it signed itself
// (and not yet expired), and gives back the sid it signed.
func FuzzReadSelfCookie(f *testing.F) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	p := &Provider{cfg: Config{TokenSecret: bytes.Repeat([]byte("s"), 32), Now: func() time.Time { return now }}}
	good := p.selfCookie("sid-1", now.Add(time.Hour), 7)
	f.Add(good)
	f.Add(p.selfCookie("sid|with|bars", now.Add(time.Hour), 7))
	f.Add(p.selfCookie("sid-expired", now.Add(-time.Second), 7))
	f.Add(good[:len(good)-1] + "A")
	f.Add("")
	f.Add(strings.Repeat("A", 44))
	f.Fuzz(func(t *testing.T, value string) {
		sid, _, ok := p.readSelfCookie(value)
		if !ok {
			if sid != "" {
				t.Fatalf("refused %q but returned sid %q", value, sid)
			}
			return
		}
		// Accepted: it must be exactly what selfCookie makes for that sid
		// with some unexpired time.
		payload := value[:len(value)-macLen]
		if !web.SameToken(value[len(value)-macLen:], web.CSRFToken(p.cfg.TokenSecret, "self-session", payload)) || sid == "" {
			t.Fatalf("accepted %q (sid %q) without a valid MAC", value, sid)
		}
	})
}

// FuzzDeviceName: any User-Agent a browser sends turns into printable
// words without panicking.
func FuzzDeviceName(f *testing.F) {
	f.Add("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1")
	f.Add("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 Safari/537.36")
	f.Add("\x00\xff\u202e")
	f.Fuzz(func(t *testing.T, ua string) {
		r, _ := newRequestWithUA(ua)
		kept := sessionUserAgent(r)
		if len(kept) > maxUserAgentLen || !utf8.ValidString(kept) {
			t.Fatalf("kept User-Agent %q: %d bytes, valid UTF-8 %v", kept, len(kept), utf8.ValidString(kept))
		}
		if name := deviceName(kept); name == "" {
			t.Fatalf("no device name for %q", kept)
		}
	})
}

func TestSelfCookieRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	p := &Provider{cfg: Config{TokenSecret: bytes.Repeat([]byte("s"), 32), Now: func() time.Time { return now }}}
	v := p.selfCookie("sid-1", now.Add(time.Hour), 7)
	if !web.ValidCookieValue(v) {
		t.Fatalf("cookie value %q is not a valid cookie value", v)
	}
	if sid, epoch, ok := p.readSelfCookie(v); !ok || sid != "sid-1" || epoch != 7 {
		t.Errorf("read back %q %d %v", sid, epoch, ok)
	}
	if _, _, ok := p.readSelfCookie(p.selfCookie("sid-1", now, 7)); ok {
		t.Error("a cookie expiring now is accepted")
	}
	other := &Provider{cfg: Config{TokenSecret: bytes.Repeat([]byte("t"), 32), Now: p.cfg.Now}}
	if _, _, ok := other.readSelfCookie(v); ok {
		t.Error("a cookie signed under another secret is accepted")
	}
}

func newRequestWithUA(ua string) (*http.Request, error) {
	r, err := http.NewRequest(http.MethodGet, "/", nil)
	if err != nil {
		return nil, err
	}
	r.Header.Set("User-Agent", ua)
	return r, nil
}
