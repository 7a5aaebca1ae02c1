package provider

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
)

// The admin API's read of the audit log: GET /admin/audit.

// Page sizes of GET /admin/audit.
const (
	defaultAuditPage = 100
	maxAuditPage     = 1000
)

// AuditPage answers GET /admin/audit: entries oldest first and, when more
// may follow, the after value that fetches the next page.
type AuditPage struct {
	Entries []audit.EntryView `json:"entries"`
	Next    string            `json:"next,omitempty"`
}

// adminListAudit lists audit entries: since (RFC 3339), actor, type (an
// action such as signin.failure, or a family such as signin), after (the
// seq the previous page ended at), before (entries below this seq) and
// limit (1 to 1000, default 100).
func (p *Provider) adminListAudit(w http.ResponseWriter, r *http.Request) {
	q, err := auditQuery(r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	es, err := p.cfg.Store.ListAudit(r.Context(), q)
	if err != nil {
		p.writeError(w, r, fmt.Errorf("list audit entries: %w", err))
		return
	}
	page := AuditPage{Entries: make([]audit.EntryView, 0, len(es))}
	for i := range es {
		page.Entries = append(page.Entries, audit.View(&es[i]))
	}
	if len(es) == q.Limit {
		page.Next = strconv.FormatInt(es[len(es)-1].Seq, 10)
	}
	writeJSON(w, http.StatusOK, page)
}

// auditQuery reads the query parameters of GET /admin/audit.
func auditQuery(r *http.Request) (storage.AuditQuery, error) {
	v, err := adminQuery(r, "since", "actor", "type", "after", "before", "limit")
	if err != nil {
		return storage.AuditQuery{}, err
	}
	q := storage.AuditQuery{Actor: v.Get("actor"), Action: v.Get("type"), Limit: defaultAuditPage}
	bad := func(format string, args ...any) (storage.AuditQuery, error) {
		return q, errorf(http.StatusBadRequest, "invalid_request", format, args...)
	}
	if err := audit.CheckQuery(q); err != nil {
		return bad("%v", err)
	}
	if s := v.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return bad("since must be an RFC 3339 time such as 2026-12-01T00:00:00Z")
		}
		q.Since = t
	}
	if s := v.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return bad("after must be the seq of an entry (a whole number), as in the previous page's next")
		}
		q.AfterSeq = n
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return bad("before must be the seq of an entry (a whole number above 0)")
		}
		q.BeforeSeq = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditPage {
			return bad("limit must be a whole number from 1 to %d", maxAuditPage)
		}
		q.Limit = n
	}
	return q, nil
}
