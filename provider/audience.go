package provider

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/storage"
)

// errInvalidTarget is RFC 8707 §2's answer to a resource (audience) the
// client may not have a token for. fosite has no such error.
var errInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested resource is invalid, unknown, or not reachable with the scopes of this grant.",
	CodeField:        http.StatusBadRequest,
}

// audienceStrategy is fosite's first look at a requested audience: the
// client's whole audience list (clientAudience: its registered audiences,
// the issuer, and the resource servers of every scope it may be granted).
// fosite answers a miss with invalid_request; RFC 8707 has invalid_target
// for it. Whether the scopes actually granted reach the audience is
// decided later, by selectAudience.
func audienceStrategy(haystack, needle []string) error {
	for _, n := range needle {
		if !slices.Contains(haystack, n) {
			return errInvalidTarget.WithHintf("This client cannot get tokens for %q.", n)
		}
	}
	return nil
}

// scopeAudiences maps each registered scope that names a resource server
// to that audience.
type scopeAudiences map[string]string

// of returns the audiences of the scopes among granted that are also
// among allowed, in order, without repeats.
func (sa scopeAudiences) of(allowed, granted []string) []string {
	var out []string
	for _, s := range granted {
		if a := sa[s]; a != "" && slices.Contains(allowed, s) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// requestScopes is the scope registry as one request sees it: read from
// the store when first needed, then shared by everything the request
// decides, fosite's view of the client (clientAudience) and hallpass's
// audience rules alike. However many token rows fosite loads, a request
// reads the scopes once at most.
type requestScopes struct {
	mu  sync.Mutex
	aud scopeAudiences // nil until read
}

// withRequestScopes gives every request its own, unread requestScopes.
func withRequestScopes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestScopesKey, &requestScopes{})))
	})
}

// scopeAudiences returns the registered scopes' audiences, read once per
// request (each call reads them outside one).
func (p *Provider) scopeAudiences(ctx context.Context) (scopeAudiences, error) {
	rs, _ := ctx.Value(requestScopesKey).(*requestScopes)
	if rs != nil {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if rs.aud != nil {
			return rs.aud, nil
		}
	}
	scopes, err := p.cfg.Store.ListScopes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list scopes: %w", err)
	}
	sa := scopeAudiences{}
	for _, s := range scopes {
		if s.Audience != "" {
			sa[s.Name] = s.Audience
		}
	}
	if rs != nil {
		rs.aud = sa
	}
	return sa, nil
}

// clientAudience is what fosite checks a client's requested and refreshed
// audiences against (the fositestore.AudienceFunc): its registered
// audiences, the issuer (the audience of tokens no resource server's
// scope claims, RFC 9068 §3), and the audience of every registered scope
// the client may be granted, the most any of its tokens could name. It is
// only the outer bound: which of them a token names depends on the scopes
// granted (reachableAudience).
func (p *Provider) clientAudience(ctx context.Context, c *storage.Client) ([]string, error) {
	aud := slices.Clone(c.Audience)
	add := func(as ...string) {
		for _, a := range as {
			if a != "" && !slices.Contains(aud, a) {
				aud = append(aud, a)
			}
		}
	}
	add(p.cfg.Issuer)
	if len(c.Scopes) > 0 {
		sa, err := p.scopeAudiences(ctx)
		if err != nil {
			return nil, err
		}
		add(sa.of(c.Scopes, c.Scopes)...)
	}
	return aud, nil
}

// requestedAudience is what a request asks the token to be for: every
// audience parameter (which fosite reads) and every RFC 8707 resource
// parameter (which it does not), without repeats.
func requestedAudience(r fosite.Requester) []string {
	out := slices.Clone([]string(r.GetRequestedAudience()))
	for _, v := range r.GetRequestForm()["resource"] {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// reachableAudience is what a token carrying granted may be for: the
// resource servers of the granted scopes, then the client's own registered
// audiences. The resource server of a scope the client is merely allowed,
// but was not granted, is not among them: a token names only the APIs
// whose scopes it holds (README "Users, roles and scopes").
func (p *Provider) reachableAudience(ctx context.Context, client fosite.Client, granted []string) ([]string, error) {
	var out []string
	if len(granted) > 0 {
		sa, err := p.scopeAudiences(ctx)
		if err != nil {
			return nil, err
		}
		out = sa.of(client.GetScopes(), granted)
	}
	if c := registration(client); c != nil {
		for _, a := range c.Audience {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// grantAudience decides the aud of a token for granted scopes
// (selectAudience of what they reach).
func (p *Provider) grantAudience(ctx context.Context, client fosite.Client, granted, requested []string) ([]string, error) {
	reachable, err := p.reachableAudience(ctx, client, granted)
	if err != nil {
		return nil, err
	}
	return selectAudience(reachable, requested, p.cfg.Issuer)
}

// selectAudience decides the aud of a token that can reach reachable.
// Without a requested audience it is everything reachable; a requested
// audience selects among what is reachable (and hallpass itself, the
// issuer), and naming anything else is invalid_target. With nothing
// reachable the token is for the issuer (RFC 9068 §3).
func selectAudience(reachable, requested []string, issuer string) ([]string, error) {
	if len(requested) == 0 {
		if len(reachable) == 0 {
			return []string{issuer}, nil
		}
		return reachable, nil
	}
	for _, a := range requested {
		if a != issuer && !slices.Contains(reachable, a) {
			return nil, errInvalidTarget.WithHintf("No scope granted here is for %q; a token can only name the resource servers of its scopes.", a)
		}
	}
	return requested, nil
}

// narrowedAudience is the aud of a refreshed token whose scopes may have
// narrowed (narrowAudience of what the kept scopes reach).
func (p *Provider) narrowedAudience(ctx context.Context, client fosite.Client, kept, requested []string) ([]string, error) {
	reachable, err := p.reachableAudience(ctx, client, kept)
	if err != nil {
		return nil, err
	}
	return narrowAudience(reachable, requested, p.cfg.Issuer), nil
}

// narrowAudience is what selectAudience gives a refreshed token that can
// reach reachable, keeping only the audiences originally requested, if
// any were. A requested audience none of whose scopes survived is dropped
// rather than refused, since the narrowing was the user's role change or
// the client's own choice.
func narrowAudience(reachable, requested []string, issuer string) []string {
	var out []string
	for _, a := range requested {
		if a == issuer || slices.Contains(reachable, a) {
			out = append(out, a)
		}
	}
	switch {
	case len(requested) == 0 && len(reachable) > 0:
		return reachable
	case len(out) == 0:
		return []string{issuer}
	}
	return out
}

// grantAudienceTo sets the granted audience of r.
func grantAudienceTo(r fosite.Requester, aud []string) {
	for _, a := range aud {
		if !r.GetGrantedAudience().Has(a) {
			r.GrantAudience(a)
		}
	}
}

// resourceServers are the entries of aud that name a resource server,
// not hallpass itself: what the consent page tells the user a grant
// reaches.
func resourceServers(aud []string, issuer string) []string {
	var out []string
	for _, a := range aud {
		if a != issuer {
			out = append(out, a)
		}
	}
	return out
}

// requiresPKCE reports whether the client must send a code_challenge:
// every client, unless an admin let a confidential one go without.
func requiresPKCE(client fosite.Client) bool {
	if client.IsPublic() {
		return true
	}
	c := registration(client)
	return c == nil || !c.PKCEOptional
}
