package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/storage"
)

// retryAfterSeconds is what a 503 tells clients to wait: long enough for a
// database fail-over to make progress, short enough not to strand a user.
const retryAfterSeconds = "5"

// storeFailed reports whether err comes from the store failing (the
// database unreachable, a timeout, a driver error) rather than from what
// the request asked for. fosite folds storage errors into client errors in
// places (a failed client lookup is invalid_client) but keeps them as the
// cause, where this finds the mark storage.ErrUnavailable. Signing keys
// gone stale (keys.ErrStale: no reload from the database succeeded for
// two refresh intervals) are the same outage seen from the key manager,
// and end with it: a 503 with Retry-After, not a bare 500.
func storeFailed(err error) bool {
	return err != nil && (errors.Is(err, storage.ErrUnavailable) || errors.Is(err, keys.ErrStale))
}

// ourFault reports whether err is a failure of hallpass's own (storage,
// an internal error, anything fosite answers with a 5xx) rather than the
// caller's.
func ourFault(err error) bool {
	if err == nil {
		return false
	}
	if storeFailed(err) {
		return true
	}
	if errors.Is(err, storage.ErrInvalidInput) {
		// Text or a time no store can hold came with the request: the
		// request's fault (unstorable), however it got this far.
		return false
	}
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) {
		// Not an OAuth error and not one of ours: nothing the caller did.
		var ae *apiError
		return !errors.As(err, &ae) && !errors.Is(err, errPendingGone)
	}
	return rfc.CodeField >= http.StatusInternalServerError
}

// unstorableText describes a request refused for holding text (NUL,
// invalid UTF-8) or a time that no store can keep (storage.ErrInvalidInput).
const unstorableText = "The request holds text or a time that hallpass cannot store."

// serverError is the RFC 6749 error that stands for a failure of ours.
// A storage failure is temporarily_unavailable where the endpoint's RFC
// has that code (the authorization endpoint, RFC 6749 §4.1.2.1; the
// revocation endpoint, RFC 7009 §2.2.1), server_error elsewhere.
func serverError(err error, temporaryAllowed bool) *fosite.RFC6749Error {
	if storeFailed(err) && temporaryAllowed {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err).WithHint("hallpass cannot reach its database; try again shortly.")
	}
	return fosite.ErrServerError.WithWrap(err).WithHint("hallpass failed to complete the request; try again shortly.")
}

// logFailure logs a failure of ours at error level, with the request id
// and the cause, so operators' 5xx alerts and logs agree. A request whose
// client hung up is not a failure of ours and is logged at debug level; one
// that ran out of RequestTimeout is.
func (p *Provider) logFailure(ctx context.Context, what string, err error) {
	if errors.Is(ctx.Err(), context.Canceled) {
		p.log.DebugContext(ctx, what+": client went away", "request_id", RequestID(ctx), "err", errText(err))
		return
	}
	p.log.ErrorContext(ctx, what, "request_id", RequestID(ctx), "store_failed", storeFailed(err), "err", errText(err))
}

// errText is the loggable text of err, with fosite's debug detail (the
// wrapped cause) which its Error() leaves out. A cause comes first: a
// database failure met while authenticating a client read "Client
// authentication failed (e.g., unknown client...)" before it, at error
// level, sending the operator after the client instead of the database.
func errText(err error) string {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		if c := rfc.Cause(); c != nil {
			text := c.Error()
			if d := rfc.DebugField; d != "" && !strings.Contains(text, d) {
				text += "; " + d
			}
			return text + " (answered " + rfc.ErrorField + ": " + rfc.DescriptionField + ")"
		}
		return rfc.WithExposeDebug(true).GetDescription()
	}
	return err.Error()
}

// setRetryAfter tells the client when to come back after a storage
// failure.
func setRetryAfter(w http.ResponseWriter, err error) {
	if storeFailed(err) {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
}

// failurePage answers a failure of ours on a page a person reads: logged
// under what, then a page with title and body, 503 with Retry-After when
// the store failed (so the person knows waiting helps), 500 otherwise.
func (p *Provider) failurePage(w http.ResponseWriter, r *http.Request, what string, err error, title, body string) {
	if errors.Is(err, storage.ErrInvalidInput) && !storeFailed(err) {
		p.pageError(w, r, http.StatusBadRequest, "Unreadable request", unstorableText)
		return
	}
	p.logFailure(r.Context(), what, err)
	status := http.StatusInternalServerError
	if storeFailed(err) {
		status = http.StatusServiceUnavailable
		setRetryAfter(w, err)
	}
	p.pageError(w, r, status, title, body)
}

// logRefusal logs, at info level, an authorization or token request that
// was refused for the client's fault, so a developer whose client fails
// can find out why from the request id it was given: the client, the
// redirect URI where one was sent, the error code and the hint. Values
// come from the request, so they are length-capped; no secret, code or
// token is ever among them.
func (p *Provider) logRefusal(r *http.Request, what, clientID, redirectURI string, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	attrs := []any{"request_id", RequestID(r.Context()), "client_id", capLog(clientID), "error", rfc.ErrorField, "hint", capLog(rfc.GetDescription())}
	if redirectURI != "" {
		attrs = append(attrs, "redirect_uri", capLog(redirectURI))
	}
	p.log.InfoContext(r.Context(), what, attrs...)
}

// capLog shortens a request-supplied value for a log line.
func capLog(s string) string {
	const max = 256
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// requestClientID is the client a token-endpoint request names, for logs:
// the authenticated one when fosite got that far, else the Basic user or
// the body's client_id.
func requestClientID(r *http.Request, ar fosite.Requester) string {
	// fosite's requests start with an empty client, filled in only once
	// the client authenticated.
	if ar != nil && ar.GetClient() != nil && ar.GetClient().GetID() != "" {
		return ar.GetClient().GetID()
	}
	if user, _, ok := r.BasicAuth(); ok {
		if id, err := url.QueryUnescape(user); err == nil {
			return id
		}
		return user
	}
	return r.Form.Get("client_id")
}
