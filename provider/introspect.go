package provider

import (
	"errors"
	"net/http"

	"github.com/ory/fosite"
)

// handleIntrospect is RFC 7662 token introspection for registered
// confidential clients (HTTP Basic). fosite would also accept any access
// token as a Bearer credential, which would let every token holder probe
// every other token, so Bearer callers are refused here.
func (p *Provider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := checkOAuthRequest(r); err != nil {
		p.oauth2.WriteIntrospectionError(ctx, w, err)
		return
	}
	if _, ok := bearerToken(r); ok {
		p.writeInvalidClient(w, "Authenticate as a registered client with HTTP Basic; bearer tokens are not accepted here.")
		return
	}
	resp, err := p.oauth2.NewIntrospectionRequest(ctx, r, NewSession())
	if err != nil {
		if errors.Is(err, fosite.ErrRequestUnauthorized) && !errors.Is(err, fosite.ErrInactiveToken) {
			// fosite calls this request_unauthorized; RFC 7662 §2.1 answers
			// failed client authentication as RFC 6749 §5.2 does.
			p.writeInvalidClient(w, "Client authentication failed.")
			return
		}
		p.oauth2.WriteIntrospectionError(ctx, w, err)
		return
	}
	p.oauth2.WriteIntrospectionResponse(ctx, w, resp)
}

// handleRevoke is RFC 7009 token revocation: a client revokes its own
// tokens; unknown tokens are answered 200 as the RFC says.
func (p *Provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	err := checkOAuthRequest(r)
	if err == nil {
		err = p.oauth2.NewRevocationRequest(ctx, r)
	}
	if err != nil && (errors.Is(err, fosite.ErrTemporarilyUnavailable) || fosite.ErrorToRFC6749Error(err).CodeField >= http.StatusInternalServerError) {
		// fosite answers these 200, which would tell the client a token
		// is revoked while it stays valid; RFC 7009 §2.2.1 says 503.
		p.log.ErrorContext(ctx, "revocation failed", "request_id", RequestID(ctx), "err", err)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"error": "temporarily_unavailable", "error_description": "The token could not be revoked; retry.",
		})
		return
	}
	challengeUnauthorized(w, err)
	p.oauth2.WriteRevocationResponse(ctx, w, err)
}

// writeInvalidClient answers a failed client authentication (RFC 6749 §5.2).
func (p *Provider) writeInvalidClient(w http.ResponseWriter, description string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="hallpass"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": description})
}
