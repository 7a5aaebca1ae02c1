package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
)

// apiError is an error with the HTTP status and the OAuth-style error code
// it is answered with. Handlers return these; writeError maps anything
// else to a logged 500 whose details stay on the server.
type apiError struct {
	status      int
	code        string
	description string
	// bearer marks a refusal of the request's bearer credentials, which
	// writeError answers with an RFC 6750 §3 challenge (bearerError);
	// with code "" it is the answer to a request carrying no
	// authentication information at all (§3.1).
	bearer bool
}

func (e *apiError) Error() string { return e.code + ": " + e.description }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, description: fmt.Sprintf(format, args...)}
}

// directoryAnswer is the one table from the directory service's refusals
// to the HTTP status and error code the admin API and registration answer
// them with. Client metadata keeps the codes of RFC 7591 §3.2.2, which
// tell a bad redirect URI from the rest.
func directoryAnswer(e *directory.Error) (status int, code string) {
	switch {
	case errors.Is(e.Kind, directory.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(e.Kind, directory.ErrConflict):
		return http.StatusConflict, "conflict"
	case e.Object == directory.ObjectClient && (e.Field == "redirect_uris" || e.Field == "post_logout_redirect_uris"):
		return http.StatusBadRequest, "invalid_redirect_uri"
	case e.Object == directory.ObjectClient:
		return http.StatusBadRequest, "invalid_client_metadata"
	}
	return http.StatusBadRequest, "invalid_request"
}

// ErrorCode returns the error code the admin API answers err with when err
// is a refusal of the directory service, so the CLI says the same; false
// for any other error.
func ErrorCode(err error) (string, bool) {
	var de *directory.Error
	if !errors.As(err, &de) {
		return "", false
	}
	_, code := directoryAnswer(de)
	return code, true
}

// writeJSON writes v with status; responses may carry secrets, so nothing
// is cacheable (RFC 6749 §5.1, RFC 7591 §3.2.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers err as a JSON error: an *apiError as it says, a
// refusal of the directory service through directoryAnswer, a full
// password gate with 503 and Retry-After; anything else, and any failure
// of the store, is a failure of ours: logged, and a 500 that keeps the
// details on the server.
func (p *Provider) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var de *directory.Error
	switch {
	case storeFailed(err):
		// Ours, whatever refusal it may also carry.
	case errors.Is(err, storage.ErrInvalidInput):
		ae = errorf(http.StatusBadRequest, "invalid_request", unstorableText)
	case errors.As(err, &de):
		status, code := directoryAnswer(de)
		ae = &apiError{status: status, code: code, description: de.Message}
	case errors.Is(err, errPasswordsBusy):
		p.log.WarnContext(r.Context(), "admin request refused: too many password checks at once", "request_id", RequestID(r.Context()))
		w.Header().Set("Retry-After", p.passwords.retryAfter())
		ae = errorf(http.StatusServiceUnavailable, "temporarily_unavailable", "too many passwords are being checked or hashed at once; try again in a few seconds")
	case errors.As(err, &ae):
	}
	if ae == nil {
		p.logFailure(r.Context(), "request failed", err)
		setRetryAfter(w, err)
		ae = errorf(http.StatusInternalServerError, "server_error", "hallpass failed to complete the request; try again shortly")
	}
	if ae.bearer || ae.status == http.StatusUnauthorized {
		// A 401 needs a challenge (RFC 9110 §15.5.2), and the endpoints
		// writeError answers take bearer tokens: bearerError is the one
		// writer of bearer challenges, so every such endpoint answers a
		// request without credentials alike.
		p.bearerError(w, ae.status, ae.code, ae.description)
		return
	}
	writeJSON(w, ae.status, map[string]string{"error": ae.code, "error_description": ae.description})
}
