package provider_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
)

// TestLoopbackPortOnlyForPublicClients checks RFC 8252 §7.3 against RFC
// 9700 §2.1: a public (native) client may use any port of its registered
// loopback redirect URI, a confidential client only the URI it registered,
// exactly; otherwise a program on its machine listening on another port
// would receive its codes. The refusal is an error page, never a redirect
// to the unregistered port, at the authorization endpoint as at PAR.
func TestLoopbackPortOnlyForPublicClients(t *testing.T) {
	withSSOEnv(t, "loopback", func(t *testing.T, e *ssoEnv) {
		conf := *loopbackClient(t, e, "desktop-conf", "http://127.0.0.1/cb", "client_secret_basic")
		onPort := func(c ssoClient, redirect string) *ssoClient {
			c.Config.RedirectURL = redirect
			return &c
		}

		t.Run("public client, other port", func(t *testing.T) {
			p := e.newBrowser(t).get(t, onPort(*e.Public, "http://127.0.0.1:5555/cb").request("openid").URL)
			if p.kind() != "login" {
				t.Errorf("want the login page, got %s", p)
			}
		})
		t.Run("confidential client, registered URI", func(t *testing.T) {
			p := e.newBrowser(t).get(t, onPort(conf, "http://127.0.0.1/cb").request("openid").URL)
			if p.kind() != "login" {
				t.Errorf("want the login page, got %s", p)
			}
		})
		for _, redirect := range []string{"http://127.0.0.1:5555/cb", "http://127.0.0.1:80/cb"} {
			t.Run("confidential client, "+redirect, func(t *testing.T) {
				b := e.newBrowser(t)
				p := b.get(t, onPort(conf, redirect).request("openid").URL)
				p.wantErrorPage(t, http.StatusBadRequest)
				if !strings.Contains(p.Body, "redirect_uri") {
					t.Errorf("the page does not name redirect_uri: %s", p)
				}
				pushed := urlValues(t, onPort(conf, redirect).request("openid").URL)
				pushed.Del("client_id")
				res := e.do(t, req{Method: http.MethodPost, Path: provider.PathPAR, ContentType: formType,
					Auth: basic(conf.Meta.ClientID, conf.Meta.ClientSecret), Body: pushed.Encode()})
				assertError(t, res, http.StatusBadRequest, "invalid_request")
			})
		}
	})
}

// TestLoopbackOnlyThePortVaries checks that RFC 8252 §7.3's exception
// for a public client's loopback redirect URI is the port, a real one,
// and nothing else (RFC 9700 §4.1.3: exact string matching otherwise).
// fosite matched the host name, path and query only: user information,
// port 0 or 99999, or another spelling of the path went through, and the
// code with them.
func TestLoopbackOnlyThePortVaries(t *testing.T) {
	withSSOEnv(t, "loopback", func(t *testing.T, e *ssoEnv) {
		for _, tc := range []struct {
			redirect string
			ok       bool
		}{
			{"http://127.0.0.1:5555/cb", true},
			{"http://127.0.0.1:65535/cb", true},
			{"http://127.0.0.1:1/cb", true},
			{"http://user@127.0.0.1:5555/cb", false},
			{"http://127.0.0.1:0/cb", false},
			{"http://127.0.0.1:99999/cb", false},
			{"http://127.0.0.1:05555/cb", false},
			{"http://127.0.0.1:5555/c%62", false},
		} {
			t.Run(tc.redirect, func(t *testing.T) {
				c := *e.Public
				c.Config.RedirectURL = tc.redirect
				p := e.newBrowser(t).get(t, c.request("openid").URL)
				if tc.ok {
					if p.kind() != "login" {
						t.Errorf("want the login page, got %s", p)
					}
					return
				}
				p.wantErrorPage(t, http.StatusBadRequest)
				pushed := urlValues(t, c.request("openid").URL)
				res := e.do(t, req{Method: http.MethodPost, Path: provider.PathPAR, ContentType: formType, Body: pushed.Encode()})
				assertError(t, res, http.StatusBadRequest, "invalid_request")
			})
		}
	})
}

// TestLoopbackHostNameInCapitals: a loopback host name is one whatever its
// case (RFC 4343), as the browser that goes to it lowercases it: a client
// registers http://LOCALHOST:8080/cb and gets a code there, which it
// redeems. Registration refused it (http only for localhost), and
// fosite's own check of an http redirect URI (RedirectSecureChecker),
// which compares the name as written, refused the code after the user
// had signed in.
func TestLoopbackHostNameInCapitals(t *testing.T) {
	withSSOEnv(t, "loopback", func(t *testing.T, e *ssoEnv) {
		for i, redirect := range []string{"http://LOCALHOST:8080/cb", "http://App.LocalHost:3000/cb"} {
			t.Run(redirect, func(t *testing.T) {
				c := loopbackClient(t, e, "desktop-caps-"+string(rune('a'+i)), redirect, "client_secret_basic")
				e.signInTokens(t, e.newBrowser(t), c.request("openid"), "alice", alicePassword)
			})
		}
	})
}

// TestLoopbackRefusalsStayOnThePage checks that a request refused for
// another reason than its redirect URI, with a loopback redirect URI
// fosite matched on any port but hallpass does not accept (a
// confidential client's other port, or more than the port changed), is
// refused on an error page too: fosite's refusals after it has matched
// the redirect URI (a short state, a repeated parameter) and hallpass's
// own ones of what fosite never sees (a request object, a response mode)
// came before the exact match was checked, and were redirected to the
// unregistered address, with the state.
func TestLoopbackRefusalsStayOnThePage(t *testing.T) {
	withSSOEnv(t, "loopback", func(t *testing.T, e *ssoEnv) {
		conf := *loopbackClient(t, e, "desktop-conf", "http://127.0.0.1/cb", "client_secret_basic")
		for _, c := range []struct {
			name     string
			client   ssoClient
			redirect string
		}{
			{"confidential client, other port", conf, "http://127.0.0.1:5555/cb"},
			{"public client, user information", *e.Public, "http://user@127.0.0.1:5555/cb"},
		} {
			for _, tc := range []struct {
				name string
				edit func(ar authRequest) string
			}{
				{"short state", func(ar authRequest) string { return ar.withParam(t, "state", "short").URL }},
				{"repeated scope", func(ar authRequest) string { return ar.URL + "&scope=openid" }},
				{"request object", func(ar authRequest) string { return ar.withParam(t, "request", "e30.e30.").URL }},
				{"response_mode", func(ar authRequest) string { return ar.withParam(t, "response_mode", "query.jwt").URL }},
			} {
				t.Run(c.name+", "+tc.name, func(t *testing.T) {
					cl := c.client
					cl.Config.RedirectURL = c.redirect
					p := e.newBrowser(t).get(t, tc.edit(cl.request("openid")))
					if p.Redirect != nil {
						t.Fatalf("redirected to %s, which is not registered", p.Redirect)
					}
					p.wantErrorPage(t, http.StatusBadRequest)
					if !strings.Contains(p.Body, "redirect_uri") {
						t.Errorf("the page does not name redirect_uri: %s", p)
					}
				})
			}
		}
	})
}

// TestLoopbackOtherPortErrorsGoBack is TestLoopbackRefusalsStayOnThePage's
// other side: a public (native) client on a port it did not register, of
// its IPv4 or IPv6 loopback redirect URI, is at its redirect URI (RFC 8252
// §7.3), so its refusals go back there, with the state, the ones fosite
// makes before hallpass's exact match as the ones hallpass makes after,
// and its codes too.
func TestLoopbackOtherPortErrorsGoBack(t *testing.T) {
	withSSOEnv(t, "loopback", func(t *testing.T, e *ssoEnv) {
		v6 := *loopbackClient(t, e, "desktop-v6", "http://[::1]/cb", "none")
		for _, c := range []struct {
			name     string
			client   ssoClient
			redirect string
		}{
			{"IPv4", *e.Public, "http://127.0.0.1:5555/cb"},
			{"IPv6", v6, "http://[::1]:5555/cb"},
		} {
			for _, tc := range []struct {
				name, code string
				edit       func(ar authRequest) authRequest
			}{
				{"short state", "invalid_state", func(ar authRequest) authRequest { return ar.withParam(t, "state", "short") }},
				{"request object", "request_not_supported", func(ar authRequest) authRequest { return ar.withParam(t, "request", "e30.e30.") }},
				{"response_mode", "unsupported_response_mode", func(ar authRequest) authRequest { return ar.withParam(t, "response_mode", "query.jwt") }},
				{"response_type in capitals", "unsupported_response_type", func(ar authRequest) authRequest { return ar.withParam(t, "response_type", "CODE") }},
				{"prompt=none, signed out", "login_required", func(ar authRequest) authRequest { return ar.withParam(t, "prompt", "none") }},
			} {
				t.Run(c.name+", "+tc.name, func(t *testing.T) {
					cl := c.client
					cl.Config.RedirectURL = c.redirect
					ar := tc.edit(cl.request("openid"))
					e.callback(t, e.newBrowser(t).get(t, ar.URL), ar).wantError(t, tc.code)
				})
			}
			t.Run(c.name+", code", func(t *testing.T) {
				cl := c.client
				cl.Config.RedirectURL = c.redirect
				e.signInTokens(t, e.newBrowser(t), cl.request("openid"), "alice", alicePassword)
			})
		}
	})
}

// loopbackClient registers, through the admin API, a client id of the
// code flow with the one redirect URI redirect and the scope openid,
// authenticating with auth (client_secret_basic or none), and returns it
// as a relying party of e sending that redirect URI.
func loopbackClient(t *testing.T, e *ssoEnv, id, redirect, auth string) *ssoClient {
	t.Helper()
	res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
		ClientID: id, RedirectURIs: []string{redirect},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: auth, Scope: "openid",
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create client %s: %d %s", id, res.Status, res.Body)
	}
	var m directory.ClientMetadata
	if err := json.Unmarshal(res.Body, &m); err != nil {
		t.Fatal(err)
	}
	c := *e.Confidential
	if auth == "none" {
		c = *e.Public
	}
	c.Meta = m
	c.Config.ClientID, c.Config.ClientSecret, c.Config.RedirectURL = m.ClientID, m.ClientSecret, redirect
	return &c
}
