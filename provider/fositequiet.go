package provider

import (
	"context"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
)

// quietHandler is a token endpoint handler of fosite's that, asked to
// answer a request of a grant it does not handle, says so without the
// stack trace fosite captures for it (errorsx.WithStack). fosite asks
// every handler to populate every token response and ignores that answer;
// four stack captures per client-credentials token showed in its profile.
type quietHandler struct{ fosite.TokenEndpointHandler }

// PopulateTokenEndpointResponse is the wrapped handler's for a request it
// handles, and fosite.ErrUnknownRequest, as the wrapped handler would
// answer, for any other.
func (h quietHandler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, resp)
}

// quietOIDCExplicit is fosite's OpenID Connect handler of the code
// exchange, whose HandleTokenEndpointRequest does nothing but answer
// ErrUnknownRequest (fosite v0.49, handler/openid/flow_explicit_token.go),
// with a stack trace, once per code exchange: here without it.
type quietOIDCExplicit struct{ quietHandler }

// HandleTokenEndpointRequest answers fosite.ErrUnknownRequest, as the
// wrapped handler does to every request.
func (quietOIDCExplicit) HandleTokenEndpointRequest(context.Context, fosite.AccessRequester) error {
	return fosite.ErrUnknownRequest
}

// quietTokenHandlers wraps the token endpoint handlers of fc whose
// PopulateTokenEndpointResponse begins by answering ErrUnknownRequest to
// what CanHandleTokenEndpointRequest refuses (fosite v0.49's grants), the
// OpenID Connect code exchange's HandleTokenEndpointRequest too, and
// leaves any other alone.
func quietTokenHandlers(fc *fosite.Config) {
	for i, h := range fc.TokenEndpointHandlers {
		switch h.(type) {
		case *openid.OpenIDConnectExplicitHandler:
			fc.TokenEndpointHandlers[i] = quietOIDCExplicit{quietHandler{h}}
		case *oauth2.AuthorizeExplicitGrantHandler, *oauth2.ClientCredentialsGrantHandler, *oauth2.RefreshTokenGrantHandler,
			*openid.OpenIDConnectRefreshHandler:
			fc.TokenEndpointHandlers[i] = quietHandler{h}
		}
	}
}
