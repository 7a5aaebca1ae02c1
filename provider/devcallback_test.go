package provider_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider"
)

// TestDevCallback checks the page a --dev server sends its demo client
// back to: it redeems the code itself, with the token endpoint's checks
// and answers but without a request through hallpass's own router, and
// shows the grant or the error.
func TestDevCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn, func(c *provider.Config) { c.Dev = true })
		redirect := e.URL + provider.PathDevCallback
		if res := e.admin(t, http.MethodPost, "/admin/clients", directory.ClientMetadata{
			ClientID: provider.DevClientID, RedirectURIs: []string{redirect},
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
			TokenEndpointAuthMethod: "none", Scope: ssoClientScopes,
		}); res.Status != http.StatusCreated {
			t.Fatalf("register the dev client: %d %s", res.Status, res.Body)
		}
		dev := &ssoClient{Config: oauth2.Config{ClientID: provider.DevClientID, RedirectURL: redirect,
			Endpoint: oauth2.Endpoint{AuthURL: endpoint(t, e.Discovery, "authorization_endpoint")}}}
		// The page redeems with the fixed verifier, as the link --dev
		// prints does.
		devRequest := func(extra ...oauth2.AuthCodeOption) authRequest {
			return dev.request("openid profile offline_access results:read", append(extra, oauth2.S256ChallengeOption(provider.DevCallbackVerifier))...)
		}
		shows := func(t *testing.T, p page, wants ...string) {
			t.Helper()
			if p.Status != http.StatusOK || p.URL.Path != provider.PathDevCallback {
				t.Fatalf("want the dev callback page, got %s", p)
			}
			text := html.UnescapeString(p.Body)
			for _, want := range wants {
				if !strings.Contains(text, want) {
					t.Errorf("dev callback page lacks %q: %s", want, p)
				}
			}
		}

		b := e.newBrowser(t)
		done := b.decide(t, b.login(t, b.get(t, devRequest().URL), "alice", alicePassword), "allow")
		shows(t, done, "openid profile offline_access results:read", `"preferred_username": "alice"`, `"aud": [`, schoolAudience,
			`"client_id": "`+provider.DevClientID+`"`, "bearer", `<textarea id="access_token"`, `<textarea id="id_token"`, `<textarea id="refresh_token"`, `data-copy="access_token"`)
		if strings.Contains(done.Body, "Error:") {
			t.Errorf("a redeemed code shows an error: %s", done)
		}
		if n, _ := e.metric(t, "hallpass_tokens_issued_total", `grant_type="authorization_code"`); n != 1 {
			t.Errorf("tokens issued for codes = %v, want 1", n)
		}

		// The code is spent: the same callback again shows the refusal.
		shows(t, b.get(t, done.URL.String()), "invalid_grant")
		// What the user or the client said no to is shown as sent.
		shows(t, b.decide(t, b.get(t, devRequest(oauth2.SetAuthURLParam("prompt", "consent")).URL), "deny"), "access_denied", "The user denied the request.")
		shows(t, b.get(t, redirect), "no code in the callback")

		// The page redeems without a request of its own through the router:
		// the router counts the page's request and nothing else (and the
		// first look at the counts, which is counted once answered).
		before := e.requestsServed(t)
		shows(t, b.decide(t, b.get(t, devRequest(oauth2.SetAuthURLParam("prompt", "consent")).URL), "allow"), "results:read")
		if n := e.requestsServed(t) - before; n != 5 {
			t.Errorf("the router served %v requests for GET /authorize, GET and POST /consent, and GET %s; want 4 and the count's own", n, provider.PathDevCallback)
		}

		// A bad code gets the answer the token endpoint gives the same
		// request, word for word.
		bogus := b.get(t, redirect+"?"+url.Values{"code": {"not-a-code"}}.Encode())
		res := e.do(t, req{Method: http.MethodPost, Path: provider.PathToken, ContentType: "application/x-www-form-urlencoded", Body: url.Values{
			"grant_type": {"authorization_code"}, "code": {"not-a-code"}, "redirect_uri": {redirect},
			"client_id": {provider.DevClientID}, "code_verifier": {provider.DevCallbackVerifier},
		}.Encode()})
		var want struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if err := json.Unmarshal(res.Body, &want); err != nil || want.Error == "" || want.Description == "" {
			t.Fatalf("token endpoint answer %d %s: %v", res.Status, res.Body, err)
		}
		shows(t, bogus, want.Error, want.Description)
	})
}

// requestsServed is the number of requests the router has counted.
func (ts *testServer) requestsServed(t *testing.T) float64 {
	t.Helper()
	res := ts.do(t, req{Path: "/metrics"})
	var n float64
	for _, line := range strings.Split(string(res.Body), "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(series, "hallpass_http_requests_total{") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric %s: %v", line, err)
		}
		n += v
	}
	return n
}
