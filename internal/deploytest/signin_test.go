package deploytest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"
)

var (
	requestField   = regexp.MustCompile(`name="request" value="([^"]+)"`)
	totpSecret     = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	enrolmentField = regexp.MustCompile(`name="enrolment" value="([^"]+)"`)
)

// formToken returns the CSRF token of the form on body (hallpass's login
// and consent forms name it as the demo app's forms do), "" if none.
func formToken(body string) string {
	if m := csrfField.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// browser is an HTTP client with cookies that stops at redirects to stop
// (a client's redirect URI), as a browser would land there.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T, stop func(*url.URL) bool) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, client: &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if stop != nil && stop(r.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
}

// page is an answer with its body read.
type page struct {
	status   int
	location string // of a redirect the browser stopped at
	body     string
	url      *url.URL // where the answer came from
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), url: resp.Request.URL}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// loginAndConsent answers hallpass's login page (and its consent page,
// when shown) as username, starting from p, until a redirect the browser
// stopped at; it returns that redirect's target.
func (b *browser) loginAndConsent(h *hallpass, p page, username string) *url.URL {
	b.t.Helper()
	for range 5 {
		if p.location != "" {
			u, err := p.url.Parse(p.location)
			if err != nil {
				b.t.Fatal(err)
			}
			return u
		}
		m := requestField.FindStringSubmatch(p.body)
		switch {
		case m != nil && strings.Contains(p.body, `name="password"`):
			p = b.post(h.URL+"/login", url.Values{"request": {m[1]}, "csrf": {formToken(p.body)}, "username": {username}, "password": {h.Passwords[username]}})
		case m != nil && strings.Contains(p.body, `name="enrolment"`):
			// A teacher's first sign-in sets up an authenticator.
			secret := totpSecret.FindStringSubmatch(p.body)
			if secret == nil {
				b.t.Fatalf("enrolment page without a secret:\n%s", p.body)
			}
			code, err := totp.GenerateCode(secret[1], time.Now())
			if err != nil {
				b.t.Fatal(err)
			}
			p = b.post(h.URL+"/login/enrol", url.Values{"request": {m[1]}, "csrf": {formToken(p.body)},
				"enrolment": {enrolmentField.FindStringSubmatch(p.body)[1]}, "code": {code}})
		case m != nil && strings.Contains(p.body, `id="recovery-codes"`):
			p = b.post(h.URL+"/login/continue", url.Values{"request": {m[1]}, "csrf": {formToken(p.body)}})
		case m != nil && strings.Contains(p.body, `value="allow"`):
			p = b.post(h.URL+"/consent", url.Values{"request": {m[1]}, "csrf": {formToken(p.body)}, "decision": {"allow"}})
		default:
			b.t.Fatalf("neither a login nor a consent page (%d at %s):\n%s", p.status, p.url, p.body)
		}
	}
	b.t.Fatalf("no redirect after login and consent:\n%s", p.body)
	return nil
}

// userToken signs username in through the real authorization code flow
// with PKCE, as hallpass's --dev client, and redeems the code.
func userToken(t *testing.T, h *hallpass, username, scope string) *oauth2.Token {
	t.Helper()
	cfg := oauth2.Config{
		ClientID:    "hallpass-dev",
		RedirectURL: h.URL + "/dev/callback",
		Scopes:      strings.Fields(scope),
		Endpoint: oauth2.Endpoint{
			AuthURL: h.URL + "/oauth2/authorize", TokenURL: h.URL + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	b := newBrowser(t, func(u *url.URL) bool { return u.Path == "/dev/callback" })
	verifier, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	cb := b.loginAndConsent(h, b.get(cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))), username)
	q := cb.Query()
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("callback %s: no code, or the wrong state", cb)
	}
	tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			t.Fatalf("exchange: %s", re.Body)
		}
		t.Fatalf("exchange: %v", err)
	}
	return tok
}
