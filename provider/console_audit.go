package provider

// The console's audit page: the audit log newest first, filtered by the
// same query parameters as GET /admin/audit (read by auditQuery, so one
// parser and one rule), paged by before/after, and the dashboard's
// latest failed sign-ins.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

const pathConsoleAudit = PathConsole + "/audit"

// failedSigninTypes are the audit types the dashboard shows as failed
// sign-ins.
func failedSigninTypes() []string { return []string{"signin.failure", "signin.throttled"} }

// dashboardFailures is how many failed sign-ins the dashboard lists.
const dashboardFailures = 5

// auditPath is the audit page with the query v.
func auditPath(v url.Values) string {
	if len(v) == 0 {
		return pathConsoleAudit
	}
	return pathConsoleAudit + "?" + v.Encode()
}

// consoleAudit lists audit entries newest first, a page of the API's
// default size unless limit says otherwise. With after (the newer
// link) the page holds the entries just above after, still shown newest
// first; with before (the older link) those just below before.
func (p *Provider) consoleAudit(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	filter := url.Values{}
	for _, k := range []string{"type", "actor", "since"} {
		if s := v.Get(k); s != "" {
			filter.Set(k, s)
		}
	}
	q, err := auditQuery(r)
	if err != nil {
		var pe *apiError
		msg := "The filter could not be read."
		if errors.As(err, &pe) {
			msg = pe.description
		}
		p.showAudit(w, r, http.StatusBadRequest, filter, nil, "Check the filter: "+msg, "", "")
		return
	}
	// Without after the newest entries (below before, if set) come
	// first; with after, the entries just above it, which come in seq
	// order and are turned round.
	q.Newest = q.AfterSeq == 0
	es, err := p.cfg.Store.ListAudit(r.Context(), q)
	if err != nil {
		p.consoleFailure(w, r, fmt.Errorf("list audit entries: %w", err))
		return
	}
	if !q.Newest {
		slices.Reverse(es)
	}
	var older, newer string
	if len(es) > 0 {
		page := func(k string, seq int64) string {
			u := url.Values{}
			for key, vals := range filter {
				u[key] = vals
			}
			if l := v.Get("limit"); l != "" {
				u.Set("limit", l)
			}
			u.Set(k, strconv.FormatInt(seq, 10))
			return auditPath(u)
		}
		full := len(es) == q.Limit
		// Older entries may exist below the last shown when the page is
		// full, or always when it was reached by the newer link.
		if full || q.AfterSeq > 0 {
			older = page("before", es[len(es)-1].Seq)
		}
		// Newer entries exist above the first shown when the page was
		// reached by the older link, or when a newer page was full.
		if q.BeforeSeq > 0 || (q.AfterSeq > 0 && full) {
			newer = page("after", es[0].Seq)
		}
	}
	p.showAudit(w, r, http.StatusOK, filter, es, "", older, newer)
}

// showAudit renders the audit page: the filter form (with formError,
// announced, when the filter was refused), the entries and the paging
// links.
func (p *Provider) showAudit(w http.ResponseWriter, r *http.Request, status int, filter url.Values, es []storage.AuditEntry, formError, older, newer string) {
	t := &web.Table{Caption: "Audit log entries, newest first",
		Columns: []string{"Time", "Type", "Actor", "Object", "Client address", "Client ID", "Details"}}
	for i := range es {
		ev := audit.View(&es[i])
		t.Rows = append(t.Rows, web.TableRow{Cells: []string{ev.Time.UTC().Format(time.RFC3339), ev.Type, shownAsIs(ev.Actor), shownAsIs(ev.Object),
			shownAsIs(ev.ClientAddr), shownAsIs(ev.ClientID), shownAsIs(string(ev.Details))}})
	}
	field := func(name, label, hint string) web.Field {
		f := web.Field{Name: name, Label: label, Type: "text", Value: filter.Get(name), Hint: hint, Autocomplete: "off"}
		// The parser's messages begin with the parameter they refuse.
		f.Invalid = strings.Contains(formError, ": "+name+" ")
		return f
	}
	form := web.Form{Action: pathConsoleAudit, Submit: "Filter", Get: true, Error: formError, Fields: []web.Field{
		field("type", "Type", "An event type such as signin.failure, or a family such as signin or client."),
		field("actor", "Actor", "Exactly as shown, such as user:<id>, admin-token or cli:root."),
		field("since", "Since", "An RFC 3339 time such as 2026-12-01T00:00:00Z."),
	}}
	var links []web.Link
	if newer != "" {
		links = append(links, web.Link{Label: "Newer entries", Href: newer})
	}
	if older != "" {
		links = append(links, web.Link{Label: "Older entries", Href: older})
	}
	g := web.Generic{
		Intro: "Every change and sign-in, newest first. The entries are hash-chained; to check that none was altered or removed, run “hallpass audit verify” on the server (this page does not verify the chain).",
		Forms: []web.FormSection{{Heading: "Filter", Form: form}}, FormsFirst: true,
		Table: t, Links: links,
	}
	p.consolePage(w, r, status, web.ConsoleGeneric, pathConsoleAudit, "Audit log", web.ConsoleData{Page: g})
}

// recentFailedSignIns reads the latest failed and throttled sign-ins
// from the audit log, newest first.
func (p *Provider) recentFailedSignIns(ctx context.Context) ([]web.FailedSignIn, error) {
	var es []storage.AuditEntry
	for _, t := range failedSigninTypes() {
		got, err := p.cfg.Store.ListAudit(ctx, storage.AuditQuery{Action: t, Newest: true, Limit: dashboardFailures})
		if err != nil {
			return nil, fmt.Errorf("list %s audit entries: %w", t, err)
		}
		es = append(es, got...)
	}
	slices.SortFunc(es, func(a, b storage.AuditEntry) int { return int(b.Seq - a.Seq) })
	if len(es) > dashboardFailures {
		es = es[:dashboardFailures]
	}
	out := make([]web.FailedSignIn, 0, len(es))
	for i := range es {
		ev := audit.View(&es[i])
		var d struct {
			Username string `json:"username"`
			Reason   string `json:"reason"`
			Limit    any    `json:"limit"`
		}
		_ = json.Unmarshal(ev.Details, &d) // details of another shape just leave the columns empty
		who := d.Username
		if who == "" {
			who = "an unknown username"
		}
		reason := d.Reason
		if reason == "" && d.Limit != nil {
			reason = fmt.Sprint("limit ", d.Limit)
		}
		out = append(out, web.FailedSignIn{Time: ev.Time.UTC().Format(time.RFC3339), Type: ev.Type, Who: shownAsIs(who), Address: shownAsIs(ev.ClientAddr), Reason: shownAsIs(reason)})
	}
	return out, nil
}
