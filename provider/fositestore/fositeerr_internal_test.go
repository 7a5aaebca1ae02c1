package fositestore

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/storage"
)

// TestFositeErrUnstorableInput: a store's refusal of text or a time it
// cannot hold reaches fosite as invalid_request (400), not as the storage
// failure every other unknown error is taken for (server_error).
func TestFositeErrUnstorableInput(t *testing.T) {
	err := fositeErr(fmt.Errorf("get client: %w", storage.ErrInvalidInput))
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) || rfc.ErrorField != fosite.ErrInvalidRequest.ErrorField || rfc.CodeField != http.StatusBadRequest {
		t.Fatalf("fositeErr(ErrInvalidInput) = %v, want fosite's invalid_request", err)
	}
	if errors.Is(err, storage.ErrUnavailable) {
		t.Error("fositeErr(ErrInvalidInput) is a storage failure")
	}
}
