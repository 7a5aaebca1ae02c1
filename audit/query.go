package audit

import (
	"fmt"

	"github.com/hallpass/hallpass/storage"
)

// Bounds of the filters of a query of the audit log (CheckQuery). No
// actor hallpass records is longer than maxActorFilter (admin-token,
// cli:NAME, user:ID, hallpass), and no type than maxTypeFilter.
const (
	maxActorFilter = 200
	maxTypeFilter  = 64
)

// CheckQuery returns why the filters of q can match no entry hallpass
// records, or nil: an actor longer than 200 bytes, or a type that is
// neither an event type (signin.failure) nor a family (signin): 1 to 64
// ASCII letters, digits, '.', '_' and '-'. It is the one test of both
// for GET /admin/audit, the console's audit page and `hallpass audit
// list`, so that a filter refused by one is not answered by another
// with an empty list, read as "no such entries". Each message begins
// with the filter's name, as the API and the CLI call it (actor, type).
// The seq bounds and the page size are each surface's own: the API
// parses them from text and bounds a page, the CLI does neither.
func CheckQuery(q storage.AuditQuery) error {
	if len(q.Actor) > maxActorFilter {
		return fmt.Errorf("actor is longer than %d bytes, which no actor is (admin-token, cli:NAME, user:ID, hallpass)", maxActorFilter)
	}
	if q.Action != "" && !eventType(q.Action) {
		return fmt.Errorf("type must be an event type such as signin.failure or a family such as signin: 1 to %d letters, digits, '.', '_' and '-'", maxTypeFilter)
	}
	return nil
}

// eventType reports whether s is spelt as an event type or family may
// be (CheckQuery), and is not a dot segment.
func eventType(s string) bool {
	if s == "" || len(s) > maxTypeFilter || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
