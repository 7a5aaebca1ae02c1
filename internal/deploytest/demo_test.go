package deploytest

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// demo is the whole school demo running: hallpass, schoolapi and demoapp.
type demo struct {
	hallpass  *hallpass
	schoolAPI string
	url       string // demoapp's public URL
	app       *proc
}

// startDemo runs hallpass --dev (with extra settings), schoolapi with
// introspection on its write routes, and demoapp on a free port, whose
// redirect URIs it registers on the client --dev seeded.
func startDemo(t *testing.T, extra ...string) *demo {
	t.Helper()
	h := startHallpass(t, extra...)
	var introspector struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	h.admin(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_id": "schoolapi", "grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
		"resource_servers": []string{schoolAudience},
	}, http.StatusCreated, &introspector)
	api, _ := startSchoolAPI(t, h.URL, "SCHOOLAPI_CLIENT_ID="+introspector.ClientID, "SCHOOLAPI_CLIENT_SECRET="+introspector.ClientSecret)

	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	d := &demo{hallpass: h, schoolAPI: api, url: "http://" + addr}
	// The seeded client names demoapp's default address; point it at ours.
	var client map[string]any
	h.admin(t, http.MethodGet, "/admin/clients/hallpass-demoapp", nil, http.StatusOK, &client)
	if client["token_endpoint_auth_method"] != "none" || !strings.Contains(client["scope"].(string), "results:write") {
		t.Fatalf("--dev seeded hallpass-demoapp as %v", client)
	}
	client["redirect_uris"] = []string{d.url + "/callback"}
	client["post_logout_redirect_uris"] = []string{d.url + "/"}
	client["backchannel_logout_uri"] = d.url + "/backchannel-logout"
	h.admin(t, http.MethodPut, "/admin/clients/hallpass-demoapp", client, http.StatusOK, nil)

	d.app = start(t, "demoapp", []string{
		"DEMOAPP_ADDR=" + addr,
		"DEMOAPP_ISSUER=" + h.URL,
		"DEMOAPP_REDIRECT_URL=" + d.url + "/callback",
		"DEMOAPP_PUBLIC_URL=" + d.url,
		"DEMOAPP_SCHOOLAPI_URL=" + api,
	})
	d.app.waitLog(t, regexp.MustCompile(`"msg":"demoapp serving"`))
	return d
}

// TestDemoappBackchannelLogout: bob signs in to demoapp; an admin then
// disables him at hallpass, which ends his hallpass session and sends
// demoapp a back-channel logout token, and demoapp's own session ends
// with it.
func TestDemoappBackchannelLogout(t *testing.T) {
	d := startDemo(t)
	b := newBrowser(t, func(u *url.URL) bool { return u.Path == "/callback" })
	cb := b.loginAndConsent(d.hallpass, b.get(d.url+"/login"), "bob")
	if home := b.get(cb.String()); !strings.Contains(home.body, `id="user-name"`) {
		t.Fatalf("after sign-in the home page does not show bob:\n%s", home.body)
	}
	var bob map[string]any
	d.hallpass.admin(t, http.MethodGet, "/admin/users/bob", nil, http.StatusOK, &bob)
	bob["disabled"] = true
	delete(bob, "id")
	delete(bob, "created_at")
	delete(bob, "updated_at")
	d.hallpass.admin(t, http.MethodPut, "/admin/users/bob", bob, http.StatusOK, nil)
	// Delivery is asynchronous: wait (bounded) for demoapp to log it.
	ended := func() bool {
		return strings.Contains(d.app.stderr.String(), `"msg":"signed out by hallpass (back-channel)"`)
	}
	for deadline := time.Now().Add(15 * time.Second); !ended() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !ended() {
		t.Fatalf("demoapp never received the logout token; its log:\n%s", d.app.stderr.String())
	}
	if home := b.get(d.url + "/"); strings.Contains(home.body, `id="user-name"`) || !strings.Contains(home.body, `id="signin"`) {
		t.Errorf("demoapp still shows bob signed in after his hallpass session ended:\n%s", home.body)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestDemoappWithoutBrowser drives demoapp with a plain HTTP client: the
// sign-in, a student's refused publish, CSRF, and access tokens so short
// that every call to the school API refreshes (and rotates) them — which
// works only if the app keeps each refreshed token.
func TestDemoappWithoutBrowser(t *testing.T) {
	d := startDemo(t, "HALLPASS_ACCESS_TOKEN_LIFESPAN=5s")
	b := newBrowser(t, func(u *url.URL) bool { return u.Path == "/callback" })

	home := b.get(d.url + "/")
	if !strings.Contains(home.body, `id="signin"`) || !strings.Contains(home.body, "Hallpass High School") {
		t.Fatalf("home page signed out:\n%s", home.body)
	}
	cb := b.loginAndConsent(d.hallpass, b.get(d.url+"/login"), "bob")
	if q := cb.Query(); q.Get("iss") != d.hallpass.URL || q.Get("state") == "" {
		t.Errorf("callback %s lacks iss or state", cb)
	}
	// A callback replayed in another browser (no login cookie) is refused.
	if p := newBrowser(t, nil).get(cb.String()); p.status != http.StatusBadRequest || strings.Contains(p.body, `id="user-name"`) {
		t.Errorf("a callback without the login cookie: %d", p.status)
	}
	home = b.get(cb.String())
	if !strings.Contains(home.body, `<dd id="user-name">Bob Student</dd>`) || !strings.Contains(home.body, `<dd id="user-roles">student</dd>`) {
		t.Fatalf("after sign-in the home page does not show bob:\n%s", home.body)
	}
	// The same callback again: the pending sign-in was used up.
	if p := b.get(cb.String()); p.status != http.StatusBadRequest {
		t.Errorf("the callback replayed: %d, want 400", p.status)
	}

	for i := range 3 {
		p := b.get(d.url + "/results")
		if !strings.Contains(p.body, `id="results"`) || strings.Contains(p.body, "carol") || !strings.Contains(p.body, "Mathematics") {
			t.Fatalf("read %d: bob's results page:\n%s", i, p.body)
		}
	}
	// The app logs each refresh before it answers, but its stderr reaches
	// this process through a pipe: wait (bounded) for the lines to arrive.
	refreshed := func() int { return strings.Count(d.app.stderr.String(), `"msg":"access token refreshed"`) }
	for deadline := time.Now().Add(10 * time.Second); refreshed() < 3 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := refreshed(); n < 3 {
		t.Errorf("the 5s access token was refreshed %d times over 3 calls, want 3 (the oauth2 expiry delta is 10s)", n)
	}

	m := csrfField.FindStringSubmatch(home.body)
	if m == nil {
		t.Fatal("no CSRF token in the forms")
	}
	form := url.Values{"csrf": {m[1]}, "student": {"bob"}, "course": {"Chemistry"}, "grade": {"A"}}
	p := b.post(d.url+"/publish", form)
	if !strings.Contains(p.body, `id="outcome" class="error"`) || !strings.Contains(p.body, "403 Forbidden") || !strings.Contains(p.body, "insufficient_scope") {
		t.Errorf("bob's publish should show schoolapi's 403:\n%s", p.body)
	}
	form.Set("csrf", "forged")
	if p := b.post(d.url+"/publish", form); p.status != http.StatusForbidden || strings.Contains(p.body, `id="outcome"`) {
		t.Errorf("publish with a wrong CSRF token: %d", p.status)
	}
	form.Set("csrf", m[1])
	b2 := newBrowser(t, nil)
	if p := b2.post(d.url+"/publish", form); strings.Contains(p.body, `id="outcome"`) {
		t.Errorf("publish without a session reached the API:\n%s", p.body)
	}
}
