package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// apiError is an error with the HTTP status and the OAuth-style error code
// it is answered with. Handlers return these; writeError maps anything
// else to a logged 500 whose details stay on the server.
type apiError struct {
	status      int
	code        string
	description string
}

func (e *apiError) Error() string { return e.code + ": " + e.description }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, description: fmt.Sprintf(format, args...)}
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

func (p *Provider) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) || storeFailed(err) {
		p.logFailure(r.Context(), "request failed", err)
		setRetryAfter(w, err)
		ae = errorf(http.StatusInternalServerError, "server_error", "hallpass failed to complete the request; try again shortly")
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hallpass", error="invalid_token"`)
	}
	writeJSON(w, ae.status, map[string]string{"error": ae.code, "error_description": ae.description})
}
