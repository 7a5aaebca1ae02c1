package provider

// The hints of an authorization request about who is to sign in (OIDC
// Core §3.1.2.1): id_token_hint, which binds the request to the user of
// an ID token hallpass issued to the client, and login_hint, which only
// prefills the login page.

import (
	"slices"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/directory"
)

// idTokenHintSubject returns the subject of ar's id_token_hint, or "" when
// it has none. The hint must be an ID token hallpass signed with a key it
// still publishes (expired ones are fine: it is a hint about a past
// sign-in) and issued to ar's client, whose session with the user it
// names (§3.1.2.1); anything else, an access token or another client's ID
// token above all, is invalid_request, refused before the user is asked
// anything (checkAuthorizeRequest). fosite checks the hint only when the
// code is issued, after login and consent, and accepts any JWT hallpass
// signed.
func (p *Provider) idTokenHintSubject(ar fosite.AuthorizeRequester) (string, error) {
	raw := ar.GetRequestForm().Get("id_token_hint")
	if raw == "" {
		return "", nil
	}
	hint, err := p.verifyIDTokenHint(raw)
	if err != nil {
		return "", err
	}
	if !slices.Contains(hint.aud, ar.GetClient().GetID()) {
		return "", fosite.ErrInvalidRequest.WithHint("id_token_hint was issued to another client.")
	}
	return hint.sub, nil
}

// hintMismatch decides a flow whose signed-in user is not the one its
// id_token_hint names (hintSub, not ""). Signed in by this very request
// as someone else, or asked not to show a page (silent), the request
// fails with login_required (OIDC Core §3.1.2.1: the user the hint names
// is neither signed in nor signed in by the request); signed in before,
// the user is asked to sign in, as the hint's user or not.
func hintMismatch(f *flow, silent bool) (step, error) {
	if silent || (f.pending != nil && f.pending.UserID != "") {
		return stepFail, fosite.ErrLoginRequired.WithHint("The user signed in is not the one id_token_hint names.")
	}
	return stepLogin, nil
}

// loginHint is the username the login page is prefilled with from ar's
// login_hint: a hint only, which never signs anyone in, skips a step or
// fails a request; one that could be no username (directory.ValidUsername:
// too long, control or format characters such as a right-to-left
// override, words) is ignored, so the page never shows the requester's
// text as its own. The page's template escapes it besides.
func loginHint(ar fosite.AuthorizeRequester) string {
	h := ar.GetRequestForm().Get("login_hint")
	if !directory.ValidUsername(h) {
		return ""
	}
	return h
}
