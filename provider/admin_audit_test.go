package provider

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzAuditQuery: whatever the query string of GET /admin/audit, reading
// it never panics, and either refuses with a 400 invalid_request or
// yields a bounded query.
func FuzzAuditQuery(f *testing.F) {
	for _, s := range []string{"", "since=2026-12-01T00:00:00Z&actor=admin-token&type=signin&after=5&limit=10",
		"limit=0", "limit=99999999999999999999", "after=-1", "before=0", "before=3&after=1", "type=a%00b", "since=yesterday", "actor=%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest(http.MethodGet, "/admin/audit", nil)
		r.URL.RawQuery = raw
		q, err := auditQuery(r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest || ae.code != "invalid_request" {
				t.Fatalf("auditQuery(%q) = %v, want a 400 invalid_request", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > maxAuditPage || q.AfterSeq < 0 || q.BeforeSeq < 0 || len(q.Actor) > 200 || len(q.Action) > 64 {
			t.Fatalf("auditQuery(%q) = %+v: out of bounds", raw, q)
		}
	})
}
