package provider

import (
	"net/http"
	"slices"

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
// client's whole audience list (storage.FositeClient.GetAudience: its
// registered audiences, the issuer, and the resource servers of every
// scope it may be granted). fosite answers a miss with invalid_request;
// RFC 8707 has invalid_target for it. Whether the scopes actually granted
// reach the audience is decided later, by grantAudience.
func audienceStrategy(haystack, needle []string) error {
	for _, n := range needle {
		if !slices.Contains(haystack, n) {
			return errInvalidTarget.WithHintf("This client cannot get tokens for %q.", n)
		}
	}
	return nil
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
func reachableAudience(client fosite.Client, granted []string) []string {
	out := scopeAudiences(client, granted)
	if c, ok := client.(storage.FositeClient); ok {
		for _, a := range c.Audience {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// grantAudience decides the aud of a token for granted scopes. Without a
// requested audience it is everything reachable; a requested audience
// selects among what is reachable (and hallpass itself, the issuer), and
// naming anything else is invalid_target. With nothing reachable the token
// is for the issuer (RFC 9068 §3).
func grantAudience(client fosite.Client, granted, requested []string, issuer string) ([]string, error) {
	reachable := reachableAudience(client, granted)
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
// narrowed: what grantAudience gives the surviving scopes, keeping only
// the audiences originally requested, if any were. A requested audience
// none of whose scopes survived is dropped rather than refused, since the
// narrowing was the user's role change or the client's own choice.
func narrowedAudience(client fosite.Client, kept, requested []string, issuer string) []string {
	reachable := reachableAudience(client, kept)
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
	c, ok := client.(storage.FositeClient)
	return !ok || !c.PKCEOptional
}
