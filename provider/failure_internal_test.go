package provider

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/storage"
)

// TestErrTextLeadsWithTheCause: the err of a failure's log line starts
// with what failed (the database), then says how fosite answered; it used
// to start with "Client authentication failed (e.g., unknown client…)",
// which sent operators after the client during a database outage. A
// refusal without a cause keeps its description and hint.
func TestErrTextLeadsWithTheCause(t *testing.T) {
	cause := fmt.Errorf("read the directory change stamp: %w", storage.ErrUnavailable)
	got := errText(fosite.ErrInvalidClient.WithWrap(cause).WithDebug(cause.Error()))
	if !strings.HasPrefix(got, cause.Error()) || !strings.Contains(got, "invalid_client") {
		t.Errorf("errText = %q, want it to start with %q and name invalid_client", got, cause.Error())
	}
	if n := strings.Count(got, cause.Error()); n != 1 {
		t.Errorf("errText = %q names the cause %d times, want once", got, n)
	}
	if got := errText(fosite.ErrInvalidRequest.WithHint("The 'code' parameter is missing.")); !strings.Contains(got, "The 'code' parameter is missing.") {
		t.Errorf("errText without a cause = %q, want the hint", got)
	}
}

// TestUnstorableInputIsTheRequests: text or a time no store can hold
// (storage.ErrInvalidInput), should it reach an answer, is the request's
// fault everywhere an answer is chosen: a 400 invalid_request from the
// JSON endpoints and the pages, fosite's invalid_request from the store it
// reads, never a 5xx logged as our failure. A store failure stays ours,
// whatever else it wraps.
func TestUnstorableInputIsTheRequests(t *testing.T) {
	unstorable := fmt.Errorf("create user: %w", storage.ErrInvalidInput)
	if ourFault(unstorable) {
		t.Error("ourFault(ErrInvalidInput) = true, want the request's fault")
	}
	if !ourFault(fmt.Errorf("%w: %w", storage.ErrUnavailable, storage.ErrInvalidInput)) {
		t.Error("ourFault of a store failure that also wraps ErrInvalidInput = false, want ours")
	}

	p := &Provider{log: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	p.writeError(rec, httptest.NewRequest(http.MethodPost, "/admin/users", nil), unstorable)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_request"`) {
		t.Errorf("writeError(ErrInvalidInput) = %d %s, want 400 invalid_request", rec.Code, rec.Body)
	}
}
