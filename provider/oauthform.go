package provider

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/provider/fositestore"
)

// repeatableParams returns the parameters that may appear more than once
// in one request: fosite reads every audience, and RFC 8707 lets a client
// name several resources. Every other parameter is single-valued (RFC
// 6749 §3.1, §3.2). A function, as browserListFields, so that no caller
// can change the list another reads.
func repeatableParams() []string { return []string{"audience", "resource"} }

// parseOAuthParams parses the query and, for a POST, the
// application/x-www-form-urlencoded body (which fosite then reuses), and
// refuses what fosite would read ambiguously: a parameter sent twice, in
// the query, the body or both (fosite silently takes the first one, so a
// proxy and hallpass could disagree on what was asked), and multipart
// bodies (OAuth requests are form-encoded; fosite would parse multipart
// parts into the same form behind this check's back). Several
// Authorization headers are refused before, at every endpoint
// (oneOfEach). It returns the name of the repeated parameter, if
// that was the problem, so the authorization endpoint can tell whether
// the client and redirect URI are still trustworthy.
func parseOAuthParams(r *http.Request) (repeated string, err error) {
	if r.Method == http.MethodPost {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
			return "", fosite.ErrInvalidRequest.WithHint("The request body must be application/x-www-form-urlencoded.")
		}
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", fosite.ErrInvalidRequest.WithHint("The request body is too large.")
		}
		return "", fosite.ErrInvalidRequest.WithHint("The request is not a valid form: its query or body cannot be decoded.")
	}
	if name := repeatedParam(r.Form); name != "" {
		return name, fosite.ErrInvalidRequest.WithHintf("Parameter %q is sent more than once; each parameter may appear only once (RFC 6749 §3.1).", name)
	}
	return "", nil
}

// repeatedParam returns the first (in name order, so the answer is
// stable) single-valued parameter that form holds more than once.
func repeatedParam(form url.Values) string { return repeatedField(form, repeatableParams()) }

// repeatedField returns the first (in name order, so the answer is
// stable) field of form not in lists that it holds more than once.
func repeatedField(form url.Values, lists []string) string {
	names := make([]string, 0, len(form))
	for name, vs := range form {
		if len(vs) > 1 && !slices.Contains(lists, name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return names[0]
}

// parseAuthorizeParams parses the parameters of an authorization request,
// sent to the authorization endpoint or pushed to the PAR endpoint (which
// also checks the client's authentication: checkOAuthRequest), and takes
// the request objects (takeRequestObject) and response modes
// (takeResponseMode) hallpass does not support out of the form whatever
// the parsing found, so that fosite never reads one at either endpoint.
// At the authorization endpoint, a request naming a pushed request keeps
// only client_id and request_uri (keepOnlyPushed). It returns, apart from
// the parsing's result, the refusal for what was taken out: each endpoint
// ranks it against its other errors. culprit names, at the authorization
// endpoint, the parameter that made the request invalid_request, if one
// did (parseAuthorizeForm).
func parseAuthorizeParams(r *http.Request, pushed bool) (culprit string, unsupported, err error) {
	if pushed {
		err = checkOAuthRequest(r, false)
	} else {
		culprit, err = parseAuthorizeForm(r)
	}
	unsupported = takeRequestObject(r.Form)
	if !pushed {
		keepOnlyPushed(r.Form)
		dropCredentials(r.Form)
	}
	// After keepOnlyPushed: a response_mode added to the URL of a pushed
	// request is ignored with the rest.
	if mode := takeResponseMode(r.Form); unsupported == nil {
		unsupported = mode
	}
	return culprit, unsupported, err
}

// parseAuthorizeForm is parseOAuthParams at the authorization endpoint,
// which also does there what refuseBadText does everywhere else (it lets
// the endpoint's query and form through): a parameter holding a NUL
// character or invalid UTF-8 is refused, and so is a POST whose URL has a
// query. Both are invalid_request, and culprit names the parameter at
// fault, so that the endpoint can tell whether the client and its
// redirect URI are still established (RFC 6749 §4.1.2.1): if they are,
// the error goes back to the client, not on a page. What is unreadable is
// out of r.Form when it returns, whatever else was wrong with the request
// (a parameter sent twice, a form that does not parse), for fosite to
// establish the client and redirect URI from the rest and never to read
// it, nor store it (a NUL in a text column is an error of PostgreSQL's),
// nor echo it back (a hostile state), and for the refusal's log line
// never to write it.
//
// client_id and redirect_uri, when either is at fault in any of these
// ways (unreadable, sent twice, or in the query of a POST), are the
// culprit, whatever else is: the request's client or redirect URI is then
// in doubt and the error goes on a page, however many other parameters
// were at fault too and in whichever order they are found. Without that
// precedence an unreadable redirect_uri, taken out, left fosite the
// client's one registered redirect URI to send the error to.
//
// A POST carries its parameters in the form body (OIDC Core §3.1.2.1,
// Form Serialization). fosite reads the query and the body as one form,
// the body's value first, so a parameter that only the URL holds, or a
// proxy that reads only the one or the other, would see another request
// than hallpass; a parameter in both is already refused as sent twice.
// So a POST with a query is refused rather than its query ignored: a
// client that put some parameters in the URL is told so, instead of being
// answered about a request it did not send.
func parseAuthorizeForm(r *http.Request) (culprit string, err error) {
	culprit, err = parseOAuthParams(r)
	var query url.Values
	if r.Method == http.MethodPost && r.URL.RawQuery != "" {
		query, _ = url.ParseQuery(r.URL.RawQuery)
		r.Form = url.Values{}
		maps.Copy(r.Form, r.PostForm)
	}
	unreadable, badName := takeUnreadable(r.Form)
	switch {
	case err != nil:
	case len(unreadable) > 0:
		culprit, err = unreadable[0], fosite.ErrInvalidRequest.WithHintf("Parameter %q must not contain a NUL character or invalid UTF-8.", unreadable[0])
	case badName:
		culprit, err = "a parameter name", fosite.ErrInvalidRequest.WithHint("A parameter name must not contain a NUL character or invalid UTF-8.")
	case query != nil:
		culprit, err = "the URL query", fosite.ErrInvalidRequest.WithHint("A POST to the authorization endpoint carries its parameters in the application/x-www-form-urlencoded body only (OIDC Core §3.1.2.1), not in the URL's query.")
	}
	for _, name := range []string{"redirect_uri", "client_id"} {
		if err != nil && (culprit == name || slices.Contains(unreadable, name) || query.Has(name)) {
			return name, err
		}
	}
	return culprit, err
}

// takeUnreadable deletes from form every parameter whose name or one of
// whose values holds a NUL character or invalid UTF-8. It returns the
// names of those whose name is readable, sorted, and whether one's name
// was not.
func takeUnreadable(form url.Values) (names []string, badName bool) {
	for k, vs := range form {
		switch {
		case !directory.CleanText(k):
			badName = true
		case slices.ContainsFunc(vs, func(v string) bool { return !directory.CleanText(v) }):
			names = append(names, k)
		default:
			continue
		}
		delete(form, k)
	}
	sort.Strings(names)
	return names, badName
}

// takeResponseMode takes a response_mode other than query, the only one
// hallpass answers in (discovery's response_modes_supported), out of form
// and returns the error to refuse the request with. fosite refuses a
// response mode it does not know before it has validated the redirect
// URI, so the error went to the user instead of the client (RFC 6749
// §4.1.2.1); taken out, the rest is validated and the error goes back to
// the redirect URI, in the query. One sent without a value is omitted
// (RFC 6749 §3.1).
func takeResponseMode(form url.Values) error {
	mode := form.Get("response_mode")
	if mode == "" || mode == string(fosite.ResponseModeQuery) {
		return nil
	}
	form.Del("response_mode")
	return fosite.ErrUnsupportedResponseMode.WithHintf("response_mode %q is not supported; hallpass answers in the query of the redirect URI (response_mode=query).", mode)
}

// keepOnlyPushed drops from the form of an authorization request whose
// request_uri the PAR endpoint issued every parameter but client_id and
// request_uri. Such a request is the pushed one (RFC 9126 §4), and only
// the pushed parameters count, even where the URL repeats or adds some
// (RFC 9101 §6.3): the URL passes through the browser, where anyone could
// add a prompt, a max_age or a nonce the client never pushed, and fosite
// would keep every parameter the push did not set.
func keepOnlyPushed(form url.Values) {
	if !strings.HasPrefix(form.Get("request_uri"), parRequestURIPrefix) {
		return
	}
	for name := range form {
		if name != "client_id" && name != "request_uri" {
			delete(form, name)
		}
	}
}

// dropCredentials drops from the form of an authorization request the
// client credentials some client put in it (fositestore.ClientCredential):
// nobody authenticates at the authorization endpoint, and a secret there
// would be kept with the pending request (savePending), outside the
// bound of its parameters (authorizeParamsSize), which does not count
// them since a pushed request is stored without them.
func dropCredentials(form url.Values) {
	for name := range form {
		if fositestore.ClientCredential(name) {
			delete(form, name)
		}
	}
}

// takeRequestObject takes out of form the request objects hallpass does
// not support, and returns the error to refuse the request with (OIDC
// Core §3.1.2.6, RFC 9101 §10.2): a request parameter, and a request_uri
// the PAR endpoint did not issue. Discovery says request_parameter_supported
// and request_uri_parameter_supported are false, but fosite reads a
// request object for any client with registered keys (private_key_jwt),
// unsigned ones (alg none) included, and lets its claims override the
// parameters. Taken out, they cannot reach fosite, which then validates
// the rest, so that the error goes back to a validated redirect URI. One
// sent without a value is taken out as omitted (RFC 6749 §3.1), not
// refused.
func takeRequestObject(form url.Values) error {
	var err error
	if form.Has("request") {
		if form.Get("request") != "" {
			err = fosite.ErrRequestNotSupported.WithHint("hallpass does not accept request objects; send the parameters themselves, or push them to the pushed authorization request endpoint.")
		}
		form.Del("request")
	}
	if uri := form.Get("request_uri"); form.Has("request_uri") && !strings.HasPrefix(uri, parRequestURIPrefix) {
		form.Del("request_uri")
		if err == nil && uri != "" {
			err = fosite.ErrRequestURINotSupported.WithHint("hallpass accepts only a request_uri its pushed authorization request endpoint issued.")
		}
	}
	return err
}

// checkOAuthRequest guards the endpoints where clients authenticate
// (token, introspection, revocation, PAR), all of it before fosite looks
// anything up. Besides parseOAuthParams' checks:
//   - their parameters come in the form body and never in the URL (RFC
//     6749 §2.3.1, §3.2; RFC 7662 §2.1; RFC 7009 §2.1; RFC 9126 §2.1),
//     where proxies and access logs would keep secrets and codes, and
//     where fosite reads them at PAR but ignores them elsewhere;
//   - a client uses one authentication method per request (RFC 6749
//     §2.3): HTTP Basic, or a bearer token where the endpoint takes one,
//     together with credentials in the body is refused,
//     and so is a client assertion together with a client_secret, and a
//     body client_id naming another client than the Basic credentials;
//   - a request with no client authentication at all is invalid_client,
//     and so is an Authorization header that holds no usable HTTP Basic
//     credentials (basicClient): the client tried to authenticate there and
//     failed (RFC 6749 §5.2), where fosite answered 400 invalid_request.
//
// bearer says whether the endpoint takes a bearer token instead
// (introspection, the admin token).
func checkOAuthRequest(r *http.Request, bearer bool) error {
	if _, err := parseOAuthParams(r); err != nil {
		return err
	}
	if r.URL.RawQuery != "" {
		return fosite.ErrInvalidRequest.WithHint("Send the parameters in the application/x-www-form-urlencoded request body, not in the URL's query.")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != formMediaType && hasBody(r) {
		// fosite reads no other body, and would answer that the body is
		// empty, or that a parameter in it is missing.
		return fosite.ErrInvalidRequest.WithHint("The request body must be application/x-www-form-urlencoded (RFC 6749 §3.2).")
	}
	basicID, basic, err := basicClient(r, bearer)
	if err != nil {
		return err
	}
	// A parameter sent without a value counts as omitted (RFC 6749 §3.2).
	sent := func(name string) bool { return r.PostForm.Get(name) != "" }
	if (sent("client_assertion") || sent("client_assertion_type")) && sent("client_secret") {
		// fosite would authenticate the assertion and ignore the secret,
		// whoever's it is.
		return fosite.ErrInvalidRequest.WithHint("The client authenticated in more than one way (a client_assertion and a client_secret); use exactly one (RFC 6749 §2.3).")
	}
	if !basic {
		if r.Header.Get("Authorization") == "" && !sent("client_id") && !sent("client_assertion") {
			// No client authentication at all is invalid_client, a 401
			// with a challenge (RFC 6749 §5.2), not fosite's
			// invalid_request.
			return fosite.ErrInvalidClient.WithHint("The request carries no client authentication: send HTTP Basic credentials, a client_assertion, or (for a public client) its client_id.")
		}
		if r.Header.Get("Authorization") != "" && (sent("client_id") || sent("client_secret") || sent("client_assertion") || sent("client_assertion_type")) {
			// The header is a bearer token (basicClient refused anything
			// else), which the endpoint would take over the body's
			// client, whoever's it is.
			return fosite.ErrInvalidRequest.WithHint("The request authenticated in more than one way (a bearer token and client credentials in the body); use exactly one (RFC 6749 §2.3).")
		}
		return nil
	}
	if sent("client_secret") || sent("client_assertion") || sent("client_assertion_type") {
		return fosite.ErrInvalidRequest.WithHint("The client authenticated in more than one way (HTTP Basic and credentials in the body); use exactly one (RFC 6749 §2.3).")
	}
	if id := r.PostForm.Get("client_id"); id != "" && id != basicID {
		return fosite.ErrInvalidRequest.WithHint("The client_id in the body is not the client that authenticated with HTTP Basic.")
	}
	return nil
}

// formMediaType is the only body the OAuth endpoints take.
const formMediaType = "application/x-www-form-urlencoded"

// hasBody reports whether r has a body of at least one byte, reading
// that byte, when the length is not announced (chunked), and putting it
// back.
func hasBody(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return false
	}
	if r.ContentLength > 0 {
		return true
	}
	var b [1]byte
	n, _ := io.ReadFull(r.Body, b[:])
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b[:n]), r.Body), r.Body}
	return n > 0
}

// basicClient reads the Authorization header as HTTP Basic client
// credentials as RFC 6749 §2.3.1 has a client send them (base64 that
// decodes to an id, a colon and a secret, each form-encoded) and returns
// the decoded client id, with basic true. Without the header, or with a
// bearer token where the endpoint takes one (bearer), basic is false;
// any other header is invalid_client.
func basicClient(r *http.Request, bearer bool) (id string, basic bool, err error) {
	if r.Header.Get("Authorization") == "" {
		return "", false, nil
	}
	if _, ok := adminBearerToken(r); ok && bearer {
		return "", false, nil
	}
	user, pass, ok := r.BasicAuth()
	if ok {
		var uerr, perr error
		id, uerr = url.QueryUnescape(user)
		_, perr = url.QueryUnescape(pass)
		ok = uerr == nil && perr == nil
	}
	if !ok {
		return "", false, fosite.ErrInvalidClient.WithHint("The Authorization header does not hold HTTP Basic client credentials: the base64 of the form-encoded client_id, a colon and the form-encoded secret (RFC 6749 §2.3.1).")
	}
	return id, true, nil
}

// challengeUnauthorized adds the WWW-Authenticate header RFC 6749 §5.2 and
// RFC 9110 §15.5.2 require on a 401.
func challengeUnauthorized(w http.ResponseWriter, err error) {
	if err != nil && fosite.ErrorToRFC6749Error(err).CodeField == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="hallpass"`)
	}
}
