package provider

import (
	"context"
	"errors"
	"net/url"
	"slices"

	"github.com/ory/fosite"
)

// RFC 8707 resource indicators. At the authorization endpoint a resource
// (or audience) parameter selects, among the resource servers the granted
// scopes reach, those the grant is for (selectAudience); at the token
// endpoint it selects, among the resource servers of the grant, those one
// access token is for, so one grant yields a token per API.

// checkResourceParams refuses a resource parameter that is not an
// absolute URI without a fragment (RFC 8707 §2).
func checkResourceParams(form url.Values) error {
	for _, v := range form["resource"] {
		u, err := url.Parse(v)
		if err != nil || !u.IsAbs() || u.Fragment != "" || u.RawFragment != "" || len(v) > 2048 {
			return errInvalidTarget.WithHintf("resource %q must be an absolute URI without a fragment (RFC 8707 §2).", v)
		}
	}
	return nil
}

// tokenAudienceParams are the audiences a token request selects: its
// resource and audience parameters, without repeats.
func tokenAudienceParams(form url.Values) []string {
	var out []string
	for _, v := range append(slices.Clone(form["resource"]), form["audience"]...) {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// selectFromGrant narrows a refreshed token's audience (the grant's,
// as it stands now) to the resources the refresh request names; naming
// one outside it is invalid_target (RFC 8707 §2.2).
func selectFromGrant(grant []string, form url.Values) ([]string, error) {
	sel := tokenAudienceParams(form)
	if len(sel) == 0 {
		return grant, nil
	}
	for _, a := range sel {
		if !slices.Contains(grant, a) {
			return nil, errInvalidTarget.WithHintf("This grant is not for %q; a refresh can select among the resource servers of the grant's scopes only.", a)
		}
	}
	return sel, nil
}

// checkCodeResource checks the resource parameters of a code exchange.
// fosite issues the code's token for the audience granted at the
// authorization endpoint and has no hook to narrow it, so a resource
// here must name exactly that audience; a client wanting a token for one
// of several APIs selects it with resource at authorization, or on
// refresh.
func (p *Provider) checkCodeResource(ctx context.Context, ar fosite.AccessRequester) error {
	sel := tokenAudienceParams(ar.GetRequestForm())
	if len(sel) == 0 {
		return nil
	}
	granted, err := p.codeAudience(ctx)
	if err != nil {
		return err
	}
	for _, a := range sel {
		// As spelt, as a refresh compares them (selectFromGrant):
		// fosite.Arguments.Has ignores case.
		if !slices.Contains(granted, a) {
			return errInvalidTarget.WithHintf("This code's grant is not for %q.", a)
		}
	}
	if len(sel) != len(granted) {
		return errInvalidTarget.WithHint("A code is exchanged for a token for every resource server of its grant; select one of them with resource at the authorization endpoint, or when refreshing.")
	}
	return nil
}

// codeAudience is the audience granted with the code the request in ctx
// exchanges, from the exchange's one read of the code's row (ReadCodeOnce, which the
// token endpoint starts for every code exchange; fosite has read the row
// by the time it hands the request over).
func (p *Provider) codeAudience(ctx context.Context) (fosite.Arguments, error) {
	aud, ok := p.fstore.ReadCodeAudience(ctx)
	if !ok {
		return nil, errors.New("check resource: the code exchange has no read of its code")
	}
	return fosite.Arguments(aud), nil
}
