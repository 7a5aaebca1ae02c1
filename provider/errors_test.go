package provider

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/hallpass/hallpass/directory"
)

// TestDirectoryAnswer: the one table from the directory's refusals to
// statuses and error codes, as the admin API, registration and the CLI
// use it.
func TestDirectoryAnswer(t *testing.T) {
	for _, tc := range []struct {
		err    directory.Error
		status int
		code   string
	}{
		{directory.Error{Kind: directory.ErrInvalid, Object: directory.ObjectUser, Field: "password"}, http.StatusBadRequest, "invalid_request"},
		{directory.Error{Kind: directory.ErrInvalid, Object: directory.ObjectRole, Field: "name"}, http.StatusBadRequest, "invalid_request"},
		{directory.Error{Kind: directory.ErrInvalid, Object: directory.ObjectScope, Field: "audience"}, http.StatusBadRequest, "invalid_request"},
		{directory.Error{Kind: directory.ErrInvalid, Object: directory.ObjectClient, Field: "redirect_uris"}, http.StatusBadRequest, "invalid_redirect_uri"},
		{directory.Error{Kind: directory.ErrInvalid, Object: directory.ObjectClient, Field: "post_logout_redirect_uris"}, http.StatusBadRequest, "invalid_redirect_uri"},
		{directory.Error{Kind: directory.ErrInvalid, Object: directory.ObjectClient, Field: "grant_types"}, http.StatusBadRequest, "invalid_client_metadata"},
		{directory.Error{Kind: directory.ErrInvalid, Object: directory.ObjectClient, Field: "audience"}, http.StatusBadRequest, "invalid_client_metadata"},
		{directory.Error{Kind: directory.ErrNotFound, Object: directory.ObjectClient}, http.StatusNotFound, "not_found"},
		{directory.Error{Kind: directory.ErrNotFound, Object: "signing key"}, http.StatusNotFound, "not_found"},
		{directory.Error{Kind: directory.ErrConflict, Object: directory.ObjectUser}, http.StatusConflict, "conflict"},
		{directory.Error{Kind: directory.ErrConflict, Object: directory.ObjectClient}, http.StatusConflict, "conflict"},
	} {
		name := fmt.Sprintf("%v %s %s", tc.err.Kind, tc.err.Object, tc.err.Field)
		if status, code := directoryAnswer(&tc.err); status != tc.status || code != tc.code {
			t.Errorf("%s: answered %d %s, want %d %s", name, status, code, tc.status, tc.code)
		}
		wrapped := fmt.Errorf("while testing: %w", &tc.err)
		if code, ok := ErrorCode(wrapped); !ok || code != tc.code {
			t.Errorf("%s: ErrorCode = %q %v, want %q", name, code, ok, tc.code)
		}
	}
	if code, ok := ErrorCode(errors.New("the database went away")); ok {
		t.Errorf("ErrorCode of a failure = %q, want none", code)
	}
}
