package provider

import (
	"fmt"
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
