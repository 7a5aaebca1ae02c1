package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPARRequestURIPresentedByAnother checks that a request_uri presented
// with another client_id than the one that pushed it, or with none, is
// refused to the user (an error page, RFC 9126 §4), sends nothing to the
// pushing client's redirect URI, and is not spent: anyone who saw it in a
// browser's address bar could otherwise end the owner's flow, or put an
// error carrying the owner's state into it.
func TestPARRequestURIPresentedByAnother(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		authURL := e.Confidential.Config.Endpoint.AuthURL
		for _, tc := range []struct {
			name  string
			query func(requestURI string) url.Values
		}{
			{"another client's client_id", func(ru string) url.Values {
				return url.Values{"client_id": {publicID}, "request_uri": {ru}}
			}},
			{"no client_id", func(ru string) url.Values { return url.Values{"request_uri": {ru}} }},
			{"empty client_id", func(ru string) url.Values { return url.Values{"client_id": {""}, "request_uri": {ru}} }},
			{"client_id in other case", func(ru string) url.Values {
				return url.Values{"client_id": {strings.ToUpper(confidentialID)}, "request_uri": {ru}}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, res := e.push(t, e.Confidential, "openid", nil)
				wantPushed(t, p, res)
				pg := e.newBrowser(t).get(t, authURL+"?"+tc.query(p.RequestURI).Encode())
				if pg.Redirect != nil && strings.HasPrefix(pg.Redirect.String(), confidentialRedirect) {
					t.Errorf("the refusal went to the pushing client's redirect URI: %s", pg.Redirect)
				}
				if pg.Redirect == nil {
					pg.wantErrorPage(t, http.StatusBadRequest)
				} else if pg.Redirect.Query().Get("error") == "" {
					t.Errorf("presented by another, the request_uri was accepted: %s", pg)
				}
				// The owner's request_uri still works, once.
				cb, _ := e.newBrowser(t).signIn(t, p.authRequest, "alice", alicePassword)
				e.exchange(t, p.authRequest, cb)
				e.newBrowser(t).get(t, p.URL).wantErrorPage(t, http.StatusBadRequest)
			})
		}
	})
}
