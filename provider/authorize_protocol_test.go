package provider_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// wantErrorRedirect fails the test unless p sends the browser to ar's
// redirect URI with error invalid_request, iss, no code, and state only
// when withState (then ar's).
func (e *ssoEnv) wantErrorRedirect(t *testing.T, p page, ar authRequest, withState bool) {
	t.Helper()
	if p.Redirect == nil {
		t.Fatalf("want a redirect to %s with invalid_request, got %s", ar.RedirectURI, p)
	}
	target := *p.Redirect
	target.RawQuery = ""
	if target.String() != ar.RedirectURI {
		t.Fatalf("redirected to %s, want the redirect URI %s", p.Redirect, ar.RedirectURI)
	}
	q := p.Redirect.Query()
	if q.Get("error") != "invalid_request" || q.Has("code") || q.Get("iss") != e.URL {
		t.Errorf("redirect %s: want error=invalid_request, iss and no code", p.Redirect)
	}
	switch {
	case withState && q.Get("state") != ar.State:
		t.Errorf("redirect state = %q, want %q", q.Get("state"), ar.State)
	case !withState && q.Has("state"):
		t.Errorf("the unreadable or oversized state was sent back: %.200s", p.Redirect)
	}
}

// TestAuthorizeUnreadableParamGoesBack: a NUL character or invalid UTF-8
// in a parameter of an authorization request whose client and redirect
// URI are registered is an error sent back to the client (RFC 6749
// §4.1.2.1), invalid_request, by GET and POST; a state that is
// unreadable, or larger than any request hallpass takes, is not sent back
// with it. Only when client_id or redirect_uri is the unreadable one is
// the error shown on a page. The middleware answered every such request
// with a page.
func TestAuthorizeUnreadableParamGoesBack(t *testing.T) {
	withSSOEnv(t, "authorize", func(t *testing.T, e *ssoEnv) {
		for _, tc := range []struct {
			name, param, value string
			withState          bool
		}{
			{"NUL in login_hint", "login_hint", "a\x00b", true},
			{"invalid UTF-8 in nonce", "nonce", "n\xffonce-long-enough", true},
			{"invalid UTF-8 in response_type", "response_type", "co\xffde", true},
			{"NUL in state", "state", "state-long-enough\x00", false},
			{"invalid UTF-8 in state", "state", "state-long-enough\xc3\x28", false},
			{"huge state", "state", strings.Repeat("s", 9000), false},
		} {
			t.Run("GET, "+tc.name, func(t *testing.T) {
				ar := e.Confidential.request("openid")
				bad := ar.withParam(t, tc.param, tc.value)
				e.wantErrorRedirect(t, e.newBrowser(t).get(t, bad.URL), ar, tc.withState)
			})
			t.Run("POST, "+tc.name, func(t *testing.T) {
				ar := e.Confidential.request("openid")
				form := urlValues(t, ar.URL)
				form.Set(tc.param, tc.value)
				e.wantErrorRedirect(t, e.newBrowser(t).post(t, e.URL+provider.PathAuthorize, form), ar, tc.withState)
			})
		}
		t.Run("GET, invalid UTF-8 in a parameter name", func(t *testing.T) {
			ar := e.Confidential.request("openid")
			e.wantErrorRedirect(t, e.newBrowser(t).get(t, ar.URL+"&x%ff=1"), ar, true)
		})
		for _, tc := range []struct{ param, value string }{
			{"client_id", e.Confidential.Meta.ClientID + "\x00"},
			{"redirect_uri", e.Confidential.Config.RedirectURL + "\xff"},
		} {
			t.Run("unreadable "+tc.param, func(t *testing.T) {
				ar := e.Confidential.request("openid").withParam(t, tc.param, tc.value)
				e.newBrowser(t).get(t, ar.URL).wantErrorPage(t, http.StatusBadRequest)
			})
		}
	})
}

// TestAuthorizePostWithQuery: a POST to the authorization endpoint
// carries its parameters in the form body (OIDC Core §3.1.2.1); one whose
// URL has a query too is refused, invalid_request, rather than read as
// one request made of both (fosite reads them as one form): back to the
// client when the body's client and redirect URI are registered and the
// query names neither, on a page when it names one. A parameter in both
// was refused as sent twice.
func TestAuthorizePostWithQuery(t *testing.T) {
	withSSOEnv(t, "authorize", func(t *testing.T, e *ssoEnv) {
		post := func(t *testing.T, query string, form url.Values) page {
			return e.newBrowser(t).post(t, e.URL+provider.PathAuthorize+"?"+query, form)
		}
		t.Run("login_hint in the query", func(t *testing.T) {
			ar := e.Confidential.request("openid")
			e.wantErrorRedirect(t, post(t, "login_hint=alice", urlValues(t, ar.URL)), ar, true)
		})
		t.Run("prompt in the query", func(t *testing.T) {
			ar := e.Confidential.request("openid")
			e.wantErrorRedirect(t, post(t, "prompt=none", urlValues(t, ar.URL)), ar, true)
		})
		t.Run("scope in both, different values", func(t *testing.T) {
			ar := e.Confidential.request("openid")
			p := post(t, "scope=openid+profile", urlValues(t, ar.URL))
			if p.Redirect != nil && p.Redirect.Query().Has("code") || p.kind() == "login" {
				t.Fatalf("the request went on: %s", p)
			}
		})
		for _, name := range []string{"client_id", "redirect_uri"} {
			t.Run(name+" in the query only", func(t *testing.T) {
				ar := e.Confidential.request("openid")
				form := urlValues(t, ar.URL)
				query := url.Values{name: {form.Get(name)}}
				form.Del(name)
				post(t, query.Encode(), form).wantErrorPage(t, http.StatusBadRequest)
			})
		}
		t.Run("no query", func(t *testing.T) {
			ar := e.Confidential.request("openid")
			e.newBrowser(t).post(t, e.URL+provider.PathAuthorize, urlValues(t, ar.URL)).want(t, "login")
		})
	})
}

// TestAuthorizeUnreadableClientOrRedirectWins: an authorization request
// whose client_id or redirect_uri is at fault (unreadable, sent twice, or
// in the query of a POST) is refused on a page, whatever else is wrong
// with it and in whichever order the faults are found, and no unreadable
// text reaches the refusal's log line. Before, the first unreadable
// parameter found (in map order) was the culprit: with an unreadable
// state found first, the unreadable redirect_uri was taken out and the
// error went to the client's one registered redirect URI, one time in
// two; a POST whose query named client_id and whose body held an
// unreadable state sent the error to the client of the query; and with a
// parameter sent twice, or a form that does not parse, the unreadable
// text stayed in the form and was logged as the request's redirect_uri
// or client_id.
func TestAuthorizeUnreadableClientOrRedirectWins(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		logs := &syncBuffer{}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		})
		const marker = "unreadable-marker"
		t.Run("unreadable redirect_uri and state", func(t *testing.T) {
			// Map order decided which was found first: ask often
			// enough that both orders come up. Without openid, fosite
			// takes a missing redirect_uri for the client's one
			// registered redirect URI.
			for range 16 {
				ar := e.Confidential.request("").
					withParam(t, "redirect_uri", e.Confidential.Config.RedirectURL+"\xff").
					withParam(t, "state", "state-long-enough\x00")
				e.newBrowser(t).get(t, ar.URL).wantErrorPage(t, http.StatusBadRequest)
			}
		})
		t.Run("POST, client_id in the query, unreadable state in the body", func(t *testing.T) {
			ar := e.Confidential.request("openid")
			form := urlValues(t, ar.URL)
			query := url.Values{"client_id": {form.Get("client_id")}}
			form.Del("client_id")
			form.Set("state", "state-long-enough\xff")
			e.newBrowser(t).post(t, e.URL+provider.PathAuthorize+"?"+query.Encode(), form).wantErrorPage(t, http.StatusBadRequest)
		})
		t.Run("unreadable redirect_uri sent twice", func(t *testing.T) {
			// The unreadable one first: the one fosite and the log read.
			ar := e.Confidential.request("openid")
			first := url.Values{"redirect_uri": {"https://evil.example/\x00" + marker}}.Encode()
			u := strings.Replace(ar.URL, "?", "?"+first+"&", 1)
			e.newBrowser(t).get(t, u).wantErrorPage(t, http.StatusBadRequest)
		})
		t.Run("unreadable client_id in a query that does not parse", func(t *testing.T) {
			ar := e.Confidential.request("openid").withParam(t, "client_id", e.Confidential.Meta.ClientID+"\x00"+marker)
			e.newBrowser(t).get(t, ar.URL+"&x=%zz").wantErrorPage(t, http.StatusBadRequest)
		})
		for _, r := range logs.records(t) {
			for k, v := range r {
				if s, ok := v.(string); ok && strings.Contains(s, marker) {
					t.Errorf("log record %q holds the unreadable value in %s: %q", r["msg"], k, s)
				}
			}
		}
	})
}
