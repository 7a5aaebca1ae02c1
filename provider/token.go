package provider

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"
)

// handleToken is the token endpoint (RFC 6749 §3.2). fosite parses and
// authenticates the request; hallpass decides what is granted.
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := checkOAuthRequest(r); err != nil {
		p.writeAccessError(w, r, nil, err)
		return
	}
	sess := NewSession()
	ar, err := p.oauth2.NewAccessRequest(ctx, r, sess)
	if err != nil {
		// fosite answers a grant type no handler knows with a bare
		// invalid_request; RFC 6749 §5.2 has a code for it.
		if gt := r.PostForm.Get("grant_type"); gt != "" && !slices.Contains(supportedGrantTypes, gt) && errors.Is(err, fosite.ErrInvalidRequest) {
			err = fosite.ErrUnsupportedGrantType.WithHintf("Grant type %q is not supported; use one of %s.", gt, strings.Join(supportedGrantTypes, ", "))
		}
		p.writeAccessError(w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		grantClientCredentials(ar, sess)
	}
	resp, err := p.oauth2.NewAccessResponse(ctx, ar)
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	p.metrics.tokensIssued.WithLabelValues(ar.GetGrantTypes()[0]).Inc()
	p.oauth2.WriteAccessResponse(ctx, w, ar, resp)
}

// grantClientCredentials applies DESIGN.md's rule for services: granted =
// requested ∩ the client's allowed scopes. fosite has already refused any
// requested scope or audience outside the client's registration
// (invalid_scope), so everything requested is granted. A request without
// scope gets every scope registered for the client (RFC 6749 §3.3 lets the
// server pick a documented default), and without audience every audience.
func grantClientCredentials(ar fosite.AccessRequester, sess *Session) {
	client := ar.GetClient()
	scopes := ar.GetRequestedScopes()
	if len(scopes) == 0 {
		scopes = client.GetScopes()
	}
	for _, s := range scopes {
		ar.GrantScope(s)
	}
	audience := ar.GetRequestedAudience()
	if len(audience) == 0 {
		audience = client.GetAudience()
	}
	for _, a := range audience {
		ar.GrantAudience(a)
	}
	// RFC 9068 §2.2: with no user involved, sub is the client.
	sess.Subject = client.GetID()
	sess.ClientID = client.GetID()
}

// writeAccessError logs server-side failures (never the request body) and
// lets fosite write the RFC 6749 §5.2 error.
func (p *Provider) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= http.StatusInternalServerError && r.Context().Err() == nil {
		// (A client that hung up mid-request is not a server failure.)
		p.log.ErrorContext(r.Context(), "token request failed", "request_id", RequestID(r.Context()), "err", rfc.WithExposeDebug(true).GetDescription(), "cause", err)
	}
	challengeUnauthorized(w, err)
	p.oauth2.WriteAccessError(r.Context(), w, ar, err)
}
