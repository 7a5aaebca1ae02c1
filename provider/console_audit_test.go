package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/provider"
)

// The console's audit page and the dashboard's failed sign-ins, over
// HTTP: entries a real action produced are listed with their actor, the
// filters narrow the list with the admin API's rules, a bad filter is a
// 400 that says why, and only an admin sees any of it.
func TestConsoleAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		e := newSSOEnv(t, dsn)
		e.withConsoleAdmin(t)
		ctx := context.Background()

		// A wrong password on the login form (bob's, through the
		// console's own sign-in) is a failed sign-in in the audit log.
		mallory := e.newBrowser(t)
		lp := mallory.get(t, e.URL+provider.PathConsole)
		if p := mallory.login(t, lp, "bob", "not-bobs-password-at-all"); p.kind() != "login" {
			t.Fatalf("a wrong password: want the login form again, got %s", p)
		}

		ada := e.newBrowser(t)
		if p := e.consoleSignIn(t, ada, provider.PathConsole, adminUsername, adminPassword); p.Status != http.StatusOK {
			t.Fatalf("sign in: %s", p)
		}
		admin, err := e.Store.GetUserByUsername(ctx, adminUsername)
		if err != nil {
			t.Fatal(err)
		}

		// The dashboard lists it, read from the audit log, and links to
		// the audit page filtered to it.
		dash := ada.get(t, e.URL+provider.PathConsole)
		if dash.Status != http.StatusOK || !regexp.MustCompile(`signin\.failure</td><td data-label="User">bob</td>`).MatchString(dash.Body) ||
			!strings.Contains(dash.Body, `href="/console/audit?type=signin.failure"`) {
			t.Errorf("the dashboard does not list bob's failed sign-in: %s", dash)
		}

		// A client created through the console's form is on the audit
		// page as client.create by the admin.
		csrf := ada.formCSRF(t, e)
		if p := ada.post(t, e.URL+"/console/clients/new", url.Values{"csrf": {csrf}, "client_id": {"audited"},
			"redirect_uris": {"https://audited.example/cb"}, "grant_types": {"authorization_code"},
			"token_endpoint_auth_method": {"none"}, "require_pkce": {"yes"}}); p.Status != http.StatusOK {
			t.Fatalf("create a client: %s", p)
		}
		row := regexp.MustCompile(`<td data-label="Type">client\.create</td>\s*<td data-label="Actor">user:` + regexp.QuoteMeta(admin.ID) + `</td>\s*<td data-label="Object">client:audited</td>`)
		p := ada.get(t, e.URL+"/console/audit")
		if p.Status != http.StatusOK || !row.MatchString(p.Body) || !strings.Contains(tableOf(p.Body), "signin.failure") ||
			!strings.Contains(p.Body, "hallpass audit verify") || !strings.Contains(p.Body, `aria-current="page" href="/console/audit"`) && !strings.Contains(p.Body, `href="/console/audit" aria-current="page"`) {
			t.Fatalf("the audit page does not list the client's creation by the admin: %s", p)
		}
		if strings.Index(p.Body, `<form method="get"`) > strings.Index(p.Body, "<table") {
			t.Error("the filter form is below the table")
		}
		// Newest first: the client's creation comes before bob's failure.
		if tb := tableOf(p.Body); strings.Index(tb, "client.create") > strings.Index(tb, "signin.failure") {
			t.Error("the audit page is not newest first")
		}

		// type=signin narrows to the sign-ins (its family).
		p = ada.get(t, e.URL+"/console/audit?type=signin")
		if tb := tableOf(p.Body); p.Status != http.StatusOK || strings.Contains(tb, "client.create") || !strings.Contains(tb, "signin.failure") {
			t.Errorf("type=signin: %s", p)
		}
		// actor narrows to what the admin did.
		p = ada.get(t, e.URL+"/console/audit?actor="+url.QueryEscape("user:"+admin.ID)+"&type=client")
		if p.Status != http.StatusOK || !row.MatchString(p.Body) || strings.Contains(tableOf(p.Body), "signin") {
			t.Errorf("actor and type=client: %s", p)
		}

		// Paging: one entry a page; the older link leads to the next
		// one down, and its newer link back.
		p = ada.get(t, e.URL+"/console/audit?limit=1")
		older := regexp.MustCompile(`href="(/console/audit\?[^"]*before=\d+[^"]*)"`).FindStringSubmatch(p.Body)
		if p.Status != http.StatusOK || older == nil || strings.Contains(p.Body, "Newer entries") {
			t.Fatalf("the first page of one entry: want an older link and no newer one: %s", p)
		}
		first := p.Body
		p = ada.get(t, e.URL+strings.ReplaceAll(older[1], "&amp;", "&"))
		newer := regexp.MustCompile(`href="(/console/audit\?[^"]*after=\d+[^"]*)"`).FindStringSubmatch(p.Body)
		if p.Status != http.StatusOK || newer == nil || p.Body == first {
			t.Fatalf("the older page: %s", p)
		}
		if back := ada.get(t, e.URL+strings.ReplaceAll(newer[1], "&amp;", "&")); back.Status != http.StatusOK ||
			tableOf(back.Body) != tableOf(first) {
			t.Errorf("newer from the second page does not lead back to the first: %s", back)
		}

		// A bad filter: 400, the page again with the reason announced.
		for _, q := range []string{"since=yesterday", "type=" + url.QueryEscape("no spaces"), "after=-1", "limit=0"} {
			p = ada.get(t, e.URL+"/console/audit?"+q)
			if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `role="alert"`) || !strings.Contains(p.Body, "<form method=\"get\"") {
				t.Errorf("%s: want 400 with the filter form and an alert, got %s", q, p)
			}
		}
		if p = ada.get(t, e.URL+"/console/audit?since=yesterday&type=signin"); !strings.Contains(p.Body, "RFC 3339") ||
			!regexp.MustCompile(`name="since" value="yesterday"[^>]*aria-invalid="true"`).MatchString(p.Body) ||
			regexp.MustCompile(`name="type" value="signin"[^>]*aria-invalid`).MatchString(p.Body) {
			t.Errorf("a bad since does not say why beside the field: %s", p)
		}

		// A student gets 403 and none of the log.
		bob := e.newBrowser(t)
		e.consoleSignIn(t, bob, provider.PathConsole, "bob", bobPassword)
		if p := bob.get(t, e.URL+"/console/audit"); p.Status != http.StatusForbidden || strings.Contains(p.Body, "client.create") {
			t.Errorf("a student on the audit page: %s", p)
		}
	})
}

// tableOf is the table of a console page.
func tableOf(body string) string {
	i, j := strings.Index(body, "<table"), strings.Index(body, "</table>")
	if i < 0 || j < i {
		return ""
	}
	return body[i:j]
}
