package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider/fositestore"
	"github.com/hallpass/hallpass/web"
)

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1, OIDC Core
// §3.1.2); GET and POST. It refuses an invalid request before the user is
// asked anything and starts the flow of a valid one, which the dispatcher
// takes on from there (authflow.go).
func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// The request objects are out of the form before fosite reads it on
	// either path below, the refused one included: there too an unsigned
	// request object would override the redirect URI and state the error
	// goes back with.
	culprit, unsupported, err := parseAuthorizeParams(r, false)
	if err != nil {
		if culprit == "" || culprit == "client_id" || culprit == "redirect_uri" {
			// Which client, or which of its redirect URIs, is in doubt:
			// the error goes to the user, never to an address.
			p.authorizeError(w, r, nil, err)
			return
		}
		// The client and redirect URI come from the rest of the request:
		// once fosite has established them, the error goes back there.
		// A repeated parameter is still in the form, and fosite's own
		// refusal comes first, as it always did. An unreadable one, or
		// the query of a POST, is out of it (parseAuthorizeForm), and
		// fosite's refusal of what is then missing (a state, say) is
		// not what was wrong: the request is refused for what it sent,
		// unless fosite could not establish the client and redirect
		// URI, or failed.
		ar, aerr := p.oauth2.NewAuthorizeRequest(ctx, r)
		if aerr != nil && (r.Form.Has(culprit) || ourFault(aerr) || !ar.IsRedirectURIValid()) {
			err = aerr
		}
		p.authorizeError(w, r, ar, err)
		return
	}
	ar, err := p.oauth2.NewAuthorizeRequest(ctx, r)
	if err == nil {
		err = unsupported
	}
	if err == nil {
		err = p.resolvedPAR(r, ar)
	}
	if err == nil {
		err = p.checkAuthorizeRequest(ctx, ar)
	}
	if err != nil {
		p.authorizeError(w, r, ar, err)
		return
	}
	p.advance(w, r, &flow{ar: ar, requestedAt: p.cfg.Now().UTC()})
}

// checkAuthorizeRequest is hallpass's own checks of an authorization
// request on top of fosite's, the same whether it comes to the
// authorization endpoint or is pushed (PAR): its response type, its
// parameters, its resource indicators, its id_token_hint, and an audience
// that no scope of the request could reach, refused before the user is
// asked anything (whether the user's roles reach it is known only once
// they signed in: next).
func (p *Provider) checkAuthorizeRequest(ctx context.Context, ar fosite.AuthorizeRequester) error {
	if err := p.checkRedirectExact(ar); err != nil {
		return err
	}
	if !ar.GetResponseTypes().ExactOne("code") {
		// fosite matches the response type to the client's registered
		// ones ignoring case, but its code handler takes only "code" as
		// spelt: "CODE" got through to sign-in and consent, and then no
		// handler issued anything (a server_error). Response types are
		// case-sensitive (RFC 6749 §3.1.1), and code is the only one.
		return fosite.ErrUnsupportedResponseType.WithHintf("response_type must be code, in lower case; %q is not supported.", strings.Join(ar.GetResponseTypes(), " "))
	}
	if err := checkAuthorizeParams(ar); err != nil {
		return err
	}
	if err := checkResourceParams(ar.GetRequestForm()); err != nil {
		return err
	}
	if _, err := p.idTokenHintSubject(ar); err != nil {
		return err
	}
	_, err := p.grantAudience(ctx, ar.GetClient(), ar.GetRequestedScopes(), requestedAudience(ar))
	return err
}

// checkRedirectExact refuses a redirect URI unless it is one the client
// registered, character for character, or, for a public client, one of
// its loopback redirect URIs on another port (loopbackOtherPort). fosite
// accepts a loopback redirect URI on any port for every client (RFC 8252
// §7.3), which is meant for native apps, public clients that cannot
// register the port the system gives them (§8.4); a confidential client
// is matched exactly (RFC 9700 §2.1, §4.1.3), so that another program on
// its machine cannot receive its codes on a port of its own. No error is
// sent to a redirect URI it refuses (authorizeError asks it again).
//
// Nor, with an http issuer on a network host, plain http to a network
// host (which redirectSecure lets through on the issuer's origin) for a
// client that is not built in: redirectSecure is asked the URL alone,
// and a client whose such URI was stored behind the service would
// otherwise get its codes over http.
func (p *Provider) checkRedirectExact(ar fosite.AuthorizeRequester) error {
	c := ar.GetClient()
	if u := ar.GetRedirectURI(); u != nil && strings.EqualFold(u.Scheme, "http") && !directory.IsLoopback(u.Hostname()) && !p.dir.Clients().IsBuiltin(c.GetID()) {
		return fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter uses http on a host that is not loopback; only hallpass's own client may, on an http issuer's origin.")
	}
	raw := ar.GetRequestForm().Get("redirect_uri")
	if raw == "" || slices.Contains(c.GetRedirectURIs(), raw) {
		return nil
	}
	if c.IsPublic() && slices.ContainsFunc(c.GetRedirectURIs(), func(reg string) bool { return loopbackOtherPort(raw, reg) }) {
		return nil
	}
	return fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls exactly; only a public (native) client may use another port of a loopback redirect URI (RFC 8252 §7.3).")
}

// redirectSecure is fosite's RedirectSecureChecker, which it asks when it
// issues a code, at PAR, and for prompt=none: plain http only to this
// machine, by directory.IsLoopback, the rule a redirect URI is registered
// under, and any other scheme, as fosite.IsRedirectURISecure. fosite's
// own compares the host name as written, so a URI registered as
// http://LOCALHOST:8080/cb was refused its code after the user signed in.
// With an http issuer on a network host (--insecure-http-issuer), http
// on the issuer's own origin too: hallpass's own client's redirect URIs
// are there (directory.Options.BuiltinHTTPOrigin). This is asked the URL
// alone: checkRedirectExact refuses such a URI to any other client.
func (p *Provider) redirectSecure(_ context.Context, u *url.URL) bool {
	if u.Scheme != "http" || directory.IsLoopback(u.Hostname()) {
		return true
	}
	origin := p.insecureOrigin()
	return origin != "" && strings.EqualFold(u.Scheme+"://"+u.Host, origin)
}

// insecureOrigin is the issuer's origin when the issuer uses http on a
// host that is not loopback (Config.AllowInsecureIssuer), or "".
func (p *Provider) insecureOrigin() string {
	if !strings.EqualFold(p.issuer.Scheme, "http") || directory.IsLoopback(p.issuer.Hostname()) {
		return ""
	}
	return "http://" + p.issuer.Host
}

// loopbackOtherPort reports whether raw is the loopback redirect URI
// registered with only its port changed to another real one
// (directory.ValidPort, the rule of registered URIs), as RFC 8252 §7.3 allows: fosite's match
// also ignores user information and compares the decoded path, so that
// http://user@127.0.0.1:5555/c%62 would pass for http://127.0.0.1/cb.
func loopbackOtherPort(raw, registered string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil {
		return false
	}
	if a, err := netip.ParseAddr(u.Hostname()); err != nil || !a.IsLoopback() {
		return false
	}
	withoutPort := func(s string, u *url.URL) string {
		port := u.Port()
		if port == "" {
			return s
		}
		return strings.Replace(s, u.Host, strings.TrimSuffix(u.Host, ":"+port), 1)
	}
	if port := u.Port(); port != "" && !directory.ValidPort(port) {
		return false
	}
	reg, err := url.Parse(registered)
	if err != nil {
		return false
	}
	return withoutPort(raw, u) == withoutPort(registered, reg)
}

// maxAuthorizeParams bounds the parameters of an authorization request,
// form-encoded: what most proxies allow in a URL, and ample for a state,
// a nonce, an id_token_hint and a claims request.
const maxAuthorizeParams = 8 << 10

// checkAuthorizeParams refuses, before the user is asked anything, a
// request too large to keep (maxAuthorizeParams) and what
// fosite would only refuse when the code is issued (its PKCE and prompt
// checks run in NewAuthorizeResponse): a user should never log in and
// consent to a request that then fails. A max_age too large to check is
// taken out of the request (maxMaxAge).
func checkAuthorizeParams(ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	if n := authorizeParamsSize(ar); n > maxAuthorizeParams {
		// Every parameter, unknown ones too, is stored with the pending
		// request (savePending) until it expires, for anyone who asks:
		// without a bound, a request body's 64 KiB each time.
		return fosite.ErrInvalidRequest.WithHintf("The request's parameters take %d bytes; at most %d are accepted.", n, maxAuthorizeParams)
	}
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method was sent without code_challenge.")
	case challenge == "" && ar.GetClient().IsPublic():
		return fosite.ErrInvalidRequest.WithHint("Public clients must use PKCE: send code_challenge with code_challenge_method=S256.")
	case challenge == "" && requiresPKCE(ar.GetClient()):
		return fosite.ErrInvalidRequest.WithHint("This client must use PKCE (RFC 9700 §2.1.1): send code_challenge with code_challenge_method=S256.")
	case challenge != "" && method != "S256":
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method must be S256; plain is not allowed.")
	case challenge != "" && !s256Challenge(challenge):
		// No verifier would match it: the user would sign in and consent
		// for a code that no exchange can redeem.
		return fosite.ErrInvalidRequest.WithHint("code_challenge must be an S256 challenge: the unpadded base64url of a SHA-256, 43 characters (RFC 7636 §4.2).")
	}
	prompts := promptValues(ar)
	for _, pr := range prompts {
		if !slices.Contains([]string{"none", "login", "consent", "select_account"}, pr) {
			return fosite.ErrInvalidRequest.WithHintf("Unknown prompt value %q.", pr)
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	if v := form.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-"), err == nil && n > maxMaxAge:
			// Longer than a time.Duration holds: hallpass's check and
			// fosite's (at the code) would overflow into a negative age
			// and ask a user who just signed in to sign in again. No
			// session is that old, so such a max_age asks nothing.
			form.Del("max_age")
		case err != nil || n < 0:
			return fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative number of seconds.")
		}
	}
	return nil
}

// s256Challenge reports whether c can be the S256 code challenge of some
// verifier: BASE64URL-ENCODE(SHA256(verifier)), without padding (RFC 7636
// §4.2, Appendix A), is 43 characters of the base64url alphabet. What
// they decode to must be a SHA-256's size: the decoder skips \r and \n,
// so 42 characters and a line break passed for 43.
func s256Challenge(c string) bool {
	if len(c) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// authorizeParamsSize is the size of ar's parameters, form-encoded, as
// the request is kept (savePending): the same whether it came to the
// authorization endpoint or was pushed (PAR). The client credentials in
// a pushed body (fositestore.ClientCredential), which the pushed request
// is stored without, are not counted, so that a pushed request is held to
// the bound an authorization request is, no more. (The request_uri of a
// pushed request is out of the form before it is checked: resolvedPAR.)
func authorizeParamsSize(ar fosite.AuthorizeRequester) int {
	n := 0
	for k, vs := range ar.GetRequestForm() {
		if fositestore.ClientCredential(k) {
			continue
		}
		for _, v := range vs {
			n += len(url.QueryEscape(k)) + len("=") + len(url.QueryEscape(v)) + len("&")
		}
	}
	return max(n-len("&"), 0) // none after the last parameter
}

// promptValues are the values of ar's prompt parameter, a list delimited
// by spaces (OIDC Core §3.1.2.1) read as fosite reads it when the code is
// issued: a tab or a newline is part of a value, which is then unknown and
// refused up front (checkAuthorizeParams), rather than a separator here
// and, after the user signed in and consented, an unknown value there.
func promptValues(ar fosite.AuthorizeRequester) []string {
	var values []string
	for _, v := range strings.Split(ar.GetRequestForm().Get("prompt"), " ") {
		if v != "" {
			values = append(values, v)
		}
	}
	return values
}

// maxMaxAge is the largest max_age, in seconds, that a time.Duration
// holds (about 292 years).
const maxMaxAge = int64(math.MaxInt64 / time.Second)

// authorizeError answers a failed authorization request. The error goes
// back to the client only when its redirect URI was validated; otherwise
// the user sees an error page, so hallpass never redirects to an
// unvalidated address (RFC 6749 §4.1.2.1). A failure of ours is logged at
// error level and answered server_error, or temporarily_unavailable (503
// with Retry-After) when the store failed, never as the client's fault:
// fosite reports a client it could not load as one that does not exist.
func (p *Provider) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	var clientID, redirectURI string
	if ar != nil && ar.GetClient() != nil && ar.GetClient().GetID() != "" {
		clientID = ar.GetClient().GetID()
	} else {
		clientID = r.Form.Get("client_id")
	}
	if ar != nil && ar.GetRedirectURI() != nil {
		redirectURI = ar.GetRedirectURI().String()
	} else {
		redirectURI = r.Form.Get("redirect_uri")
	}
	// fosite validates a loopback redirect URI on any port (and with what
	// its match ignores) before the rest of the request, and refuses the
	// rest first: its refusals, and hallpass's of what it took out of the
	// form before fosite read it, come here before checkRedirectExact ran.
	// Whatever else is wrong, no error goes to an address the client did
	// not register; the user is told of the redirect URI instead.
	var inexact error
	if ar != nil && ar.IsRedirectURIValid() {
		inexact = p.checkRedirectExact(ar)
	}
	fault := ourFault(err)
	if inexact != nil && !fault {
		err = inexact
	}
	if fault {
		p.logFailure(r.Context(), "authorization request failed", err)
		setRetryAfter(w, err)
		err = serverError(err, true)
	} else {
		p.logRefusal(r, "authorization request refused", clientID, redirectURI, err)
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if ar == nil || !ar.IsRedirectURIValid() || ar.GetRedirectURI() == nil || inexact != nil {
		if fault {
			p.pageError(w, r, rfc.CodeField, "hallpass cannot complete this sign-in right now",
				"Something went wrong on our side, not yours. Wait a moment, then try again.")
			return
		}
		p.pageError(w, r, http.StatusBadRequest, "This sign-in request cannot be completed",
			causeFirst(rfc)+" The application sent an invalid request; go back to it and try again.")
		return
	}
	// fosite builds error redirects itself without iss; RFC 9207 wants iss
	// on every authorization response, errors included.
	q := rfc.ToValues()
	if s := ar.GetState(); echoableState(s) {
		q.Set("state", s)
	}
	q.Set("iss", p.cfg.Issuer)
	target := *ar.GetRedirectURI()
	existing := target.Query()
	for k, vs := range q {
		existing[k] = vs
	}
	target.RawQuery = existing.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

// echoableState reports whether an error redirect carries state s back
// (RFC 6749 §4.1.2.1): one that is there, readable text (the endpoint
// takes an unreadable one out before fosite reads it: parseAuthorizeForm),
// and no larger than a whole request hallpass accepts
// (maxAuthorizeParams). A larger one is dropped, not cut: the client
// would take a cut state for another request's, and a redirect carrying
// all of it could be longer than the browser or the client's server
// takes.
func echoableState(s string) bool {
	return s != "" && len(s) <= maxAuthorizeParams && directory.CleanText(s)
}

// causeFirst says what was wrong with a refused request in one sentence,
// the specific cause before fosite's generic boilerplate: "redirect_uri
// does not match …" rather than "The request is missing a required
// parameter, includes an invalid parameter value …".
func causeFirst(rfc *fosite.RFC6749Error) string {
	cause := rfc.HintField
	if cause == "" {
		cause = rfc.DescriptionField
	}
	return cause + " (" + rfc.ErrorField + ")"
}

// pageError renders the HTML error page.
func (p *Provider) pageError(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	p.pages.Error(w, status, web.ErrorData{Title: title, Message: message, RequestID: RequestID(r.Context())})
}
