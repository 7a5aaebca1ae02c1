package provider

import (
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// PathPAR is the pushed authorization request endpoint (RFC 9126).
const PathPAR = "/oauth2/par"

// parRequestURIPrefix starts every request_uri the PAR endpoint issues
// (RFC 9126 §2.2).
const parRequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// handlePAR is the pushed authorization request endpoint (RFC 9126 §2).
// The client authenticates as at the token endpoint and posts the
// parameters of an authorization request; fosite checks them as the
// authorization endpoint would, hallpass adds its own checks (PKCE,
// prompt, audience: the same as handleAuthorize), and the stored request
// comes back as a request_uri that the authorization endpoint accepts
// once, from this client, within PARLifespan. 201 on success.
func (p *Provider) handlePAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, unsupported, err := parseAuthorizeParams(r, true)
	if err != nil {
		p.writePARError(w, r, nil, err)
		return
	}
	ar, err := p.oauth2.NewPushedAuthorizeRequest(ctx, r)
	if err == nil {
		// What was taken out of the form (a request object, a response
		// mode) is refused once fosite has authenticated the client, as
		// at the token endpoint: before, a wrong secret pushed with
		// response_mode=fragment heard unsupported_response_mode, not
		// invalid_client.
		err = unsupported
	}
	if err == nil {
		err = p.checkAuthorizeRequest(ctx, ar)
	}
	if err != nil {
		p.writePARError(w, r, ar, err)
		return
	}
	resp, err := p.oauth2.NewPushedAuthorizeResponse(ctx, ar, NewSession())
	if err != nil {
		p.writePARError(w, r, ar, err)
		return
	}
	p.oauth2.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}

// writePARError answers a failed pushed request with the JSON error of
// RFC 9126 §2.3; a failure of ours is a logged server error.
func (p *Provider) writePARError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	if ourFault(err) {
		setRetryAfter(w, err)
		p.logFailure(r.Context(), "pushed authorization request failed", err)
		err = serverError(err, false)
	} else {
		var clientID string
		if ar != nil && ar.GetClient() != nil {
			clientID = ar.GetClient().GetID()
		}
		p.logRefusal(r, "pushed authorization request refused", clientID, r.Form.Get("redirect_uri"), err)
	}
	challengeUnauthorized(w, err)
	p.oauth2.WritePushedAuthorizeError(r.Context(), w, ar, err)
}

// resolvedPAR applies the PAR rules to an authorization request fosite
// accepted: a request_uri with hallpass's prefix is always resolved by
// fosite (or refused), and the request it stood for is then the pushed
// one, whose parameters fosite merged into the form. request_uri is taken
// out of the form, so the flow saved for login and consent resumes from
// the full parameters rather than from a request_uri already spent.
func (p *Provider) resolvedPAR(r *http.Request, ar fosite.AuthorizeRequester) error {
	fromPAR := strings.HasPrefix(r.Form.Get("request_uri"), parRequestURIPrefix)
	if fromPAR {
		ar.GetRequestForm().Del("request_uri")
	}
	return p.requirePAR(ar.GetClient(), fromPAR)
}

// requirePAR refuses an authorization request that did not come through
// the PAR endpoint from a client that must use it, or from any client
// when the server requires it (RFC 9126 §5, §6). fromPAR tells whether
// the request carried a request_uri fosite resolved. hallpass's own
// client (the console's and the account page's sign-in) is exempt: it
// builds its requests itself and pushes none, so requiring PAR of it
// would lock everyone out of both.
func (p *Provider) requirePAR(client fosite.Client, fromPAR bool) error {
	if fromPAR || (client != nil && client.GetID() == SelfClientID) {
		return nil
	}
	c := registration(client)
	if p.cfg.RequirePAR || (c != nil && c.RequirePAR) {
		return fosite.ErrInvalidRequest.WithHint("This client must push its authorization requests to the pushed authorization request endpoint first and send only client_id and the request_uri it got (RFC 9126).")
	}
	return nil
}
