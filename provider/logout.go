package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/internal/jws"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// logoutRequest is a parsed RP-Initiated Logout 1.0 request.
type logoutRequest struct {
	hint        string
	clientID    string
	redirectURI string
	state       string
}

// handleEndSession is the end_session endpoint (OpenID RP-Initiated
// Logout 1.0 §2), GET and POST. With a valid id_token_hint it signs out
// the session the token's sid names, and this browser's session when it is
// the same user's, then redirects to a registered post_logout_redirect_uri.
// The sid makes a server-side call without cookies (a relying party's
// backend logout) really end the session. Otherwise it asks the user to
// confirm, and after that redirects only to a URI registered for the
// named client.
func (p *Provider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if _, err := parseOAuthParams(r); err != nil {
		p.logRefusal(r, "logout refused", r.Form.Get("client_id"), r.Form.Get("post_logout_redirect_uri"), err)
		p.pageError(w, r, http.StatusBadRequest, "The sign-out request could not be read", causeFirst(fosite.ErrorToRFC6749Error(err))+" Go back to the application.")
		return
	}
	q := r.Form
	lr := logoutRequest{hint: q.Get("id_token_hint"), clientID: q.Get("client_id"), redirectURI: q.Get("post_logout_redirect_uri"), state: q.Get("state")}
	ctx := r.Context()

	sess, err := p.browserSession(ctx, r)
	if err != nil {
		p.logoutFailed(w, r, err)
		return
	}
	var hint *idTokenHint
	if lr.hint != "" {
		hint, err = p.verifyIDTokenHint(lr.hint)
		if err != nil {
			p.logRefusal(r, "logout refused", lr.clientID, lr.redirectURI, err)
			p.pageError(w, r, http.StatusBadRequest, "The sign-out request is invalid", "The application sent an ID token that hallpass did not issue.")
			return
		}
		if lr.clientID != "" && !slices.Contains(hint.aud, lr.clientID) {
			p.pageError(w, r, http.StatusBadRequest, "The sign-out request is invalid", "client_id does not match the ID token.")
			return
		}
		if lr.clientID == "" {
			lr.clientID = hint.aud[0]
		}
		// An ID token of a client that no longer exists (or never did)
		// speaks for nobody.
		if _, err := p.cfg.Store.GetClient(ctx, lr.clientID); err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				p.logoutFailed(w, r, fmt.Errorf("load client of id_token_hint: %w", err))
				return
			}
			p.logRefusal(r, "logout refused", lr.clientID, lr.redirectURI, fosite.ErrInvalidRequest.WithHint("id_token_hint was issued to a client that is not registered."))
			p.pageError(w, r, http.StatusBadRequest, "The sign-out request is invalid", "The ID token was issued to an application that is not registered with hallpass.")
			return
		}
	}
	// A hint for someone other than the signed-in user proves nothing
	// about this browser: ask instead.
	hinted := hint != nil && (sess == nil || sess.UserID == hint.sub)

	target, err := p.postLogoutTarget(r, lr)
	if storeFailed(err) {
		p.logoutFailed(w, r, err)
		return
	}
	if err != nil {
		p.pageError(w, r, http.StatusBadRequest, "The sign-out request is invalid", err.Error())
		return
	}

	confirmed := r.Method == http.MethodPost && q.Get("confirm") == "yes" && p.validLogoutCSRF(r, q.Get("csrf"))
	if !hinted && !confirmed && sess != nil {
		hidden := map[string]string{"csrf": p.logoutCSRF(r)}
		for k, v := range map[string]string{"client_id": lr.clientID, "post_logout_redirect_uri": lr.redirectURI, "state": lr.state} {
			if v != "" {
				hidden[k] = v
			}
		}
		var origins []string
		if target != "" {
			origins = []string{target}
		}
		p.pages.LogoutConfirm(w, http.StatusOK, web.LogoutData{Action: PathEndSession, Hidden: hidden, ClientName: p.clientDisplayName(r, lr.clientID), FormActionOrigins: origins})
		return
	}
	// Here the hint vouches for the logout, the user confirmed it, or
	// nobody is signed in on this browser.
	// The sessions end in one transaction with the taking of their
	// clients' records, which queues those clients' back-channel logout
	// notices: a session never ends without its notices, and a failure
	// leaves both for the user's next try. The cookies go once it
	// committed (endSession).
	namedEnded, cleared := false, false
	err = p.cfg.Store.InTransaction(ctx, func(ctx context.Context) (err error) {
		namedEnded, cleared = false, false
		if hinted {
			if namedEnded, err = p.endNamedSession(ctx, hint); err != nil {
				return err
			}
		}
		if cleared, err = p.deleteSession(ctx, r); err != nil {
			return err
		}
		return p.queueEndSessionLogouts(ctx, sess, hint, namedEnded)
	})
	if err != nil {
		p.logoutFailed(w, r, err)
		return
	}
	if cleared {
		p.clearSession(w)
	}
	// Without a hint, client_id is whatever the request says.
	p.log.InfoContext(ctx, "logout", "request_id", RequestID(ctx), "client_id", capLog(lr.clientID), "browser_session", sess != nil, "sid_session", namedEnded)
	if target == "" {
		p.pages.LoggedOut(w, http.StatusOK, web.LoggedOutData{Message: "You are signed out of hallpass."})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// endNamedSession ends the session the hint's sid names, whichever
// browser holds it, if it is the hint's user's. It reports whether there
// was one to end.
func (p *Provider) endNamedSession(ctx context.Context, hint *idTokenHint) (bool, error) {
	if hint.sid == "" {
		return false, nil // an ID token from before sessions had a sid
	}
	s, err := p.cfg.Store.GetBrowserSessionBySID(ctx, hint.sid)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil // ended already
	}
	if err != nil {
		return false, fmt.Errorf("load browser session named by id_token_hint: %w", err)
	}
	if s.UserID != hint.sub {
		return false, nil
	}
	if err := p.cfg.Store.DeleteBrowserSession(ctx, s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("end browser session named by id_token_hint: %w", err)
	}
	return true, nil
}

// endSessionCrossOrigin is the deny handler of the end_session POST:
// another site's post. Without an id_token_hint it could only act on the
// browser's ambient cookies, so it is refused (403) and changes nothing.
// With one, it is what a relying party posting its logout form sends (RP-
// Initiated Logout allows POST), and the hint is all the authority it
// needs, as in the GET that any site can link to: it is served as a
// request without cookies, ending only the session the hint names and
// setting no cookie.
func (p *Provider) endSessionCrossOrigin(w http.ResponseWriter, r *http.Request) {
	if _, err := parseOAuthParams(r); err != nil || r.Form.Get("id_token_hint") == "" {
		p.refuseForeignForm(w, r, "cross-origin logout without id_token_hint")
		return
	}
	cookieless := r.Clone(r.Context())
	cookieless.Header.Del("Cookie")
	p.handleEndSession(w, cookieless)
}

// errNotRegistered refuses a post_logout_redirect_uri the client did not
// register (or a client that does not exist).
var errNotRegistered = errors.New("post_logout_redirect_uri is not registered for this application")

// logoutFailed answers a logout that failed on our side with a plain
// error page: the user must know they may still be signed in.
func (p *Provider) logoutFailed(w http.ResponseWriter, r *http.Request, err error) {
	p.failurePage(w, r, "logout failed", err, "You may still be signed in", "hallpass could not sign you out because of a problem on our side. Wait a moment, then try again.")
}

// postLogoutTarget returns where to send the browser after logout: the
// post_logout_redirect_uri with state, only if registered for the client.
func (p *Provider) postLogoutTarget(r *http.Request, lr logoutRequest) (string, error) {
	if lr.redirectURI == "" {
		return "", nil
	}
	if lr.clientID == "" {
		return "", errors.New("post_logout_redirect_uri needs id_token_hint or client_id to say which application it belongs to")
	}
	c, err := p.cfg.Store.GetClient(r.Context(), lr.clientID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return "", fmt.Errorf("load client of logout request: %w", err)
	}
	if err != nil || !slices.Contains(c.PostLogoutRedirectURIs, lr.redirectURI) {
		return "", errNotRegistered
	}
	u, err := url.Parse(lr.redirectURI)
	if err != nil {
		return "", errors.New("post_logout_redirect_uri is not a URL")
	}
	if lr.state != "" {
		v := u.Query()
		v.Set("state", lr.state)
		u.RawQuery = v.Encode()
	}
	return u.String(), nil
}

// idTokenHint is what a verified id_token_hint says.
type idTokenHint struct {
	sub string
	aud []string // never empty
	sid string   // empty in ID tokens from before sessions had one
}

// verifyIDTokenHint checks that hint is an ID token hallpass signed (any
// published key; expiry is ignored, as RP-Initiated Logout §2 allows):
// typed JWT, so not an access token, a logout token or an audit
// checkpoint, which are signed by the same keys but typed otherwise, and
// with a subject and an audience.
func (p *Provider) verifyIDTokenHint(hint string) (*idTokenHint, error) {
	// As hallpass wrote it: go-jose would also take other spellings of
	// the same token and honour crit (jws.Parse).
	if _, err := jws.Parse(hint); err != nil {
		return nil, fosite.ErrInvalidRequest.WithHint("id_token_hint is not a signed JWT as hallpass issued it (one compact serialization, no whitespace).").WithDebug(err.Error())
	}
	tok, err := josejwt.ParseSigned(hint, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, fosite.ErrInvalidRequest.WithHint("id_token_hint is not a signed JWT.")
	}
	// hallpass's ID tokens are typed JWT, and always were; anything
	// else, at+jwt first of all, is another kind of token. Every token
	// hallpass signs is typed (RFC 8725 §3.11), so one without typ is
	// none of its ID tokens either.
	if typ, _ := tok.Headers[0].ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "JWT") {
		return nil, fosite.ErrInvalidRequest.WithHint("id_token_hint is not an ID token: its typ header is not JWT (an access token is at+jwt).")
	}
	key, ok := p.cfg.Keys.VerificationKey(tok.Headers[0].KeyID)
	if !ok {
		return nil, fosite.ErrInvalidRequest.WithHint("id_token_hint is signed by a key hallpass does not publish.")
	}
	var claims josejwt.Claims
	var extra struct {
		SID string `json:"sid"`
	}
	if err := tok.Claims(key, &claims, &extra); err != nil {
		return nil, fosite.ErrInvalidRequest.WithHint("id_token_hint has an invalid signature.")
	}
	if claims.Issuer != p.cfg.Issuer || claims.Subject == "" {
		return nil, fosite.ErrInvalidRequest.WithHint("id_token_hint was not issued by this issuer, or has no subject.")
	}
	if len(claims.Audience) == 0 {
		return nil, fosite.ErrInvalidRequest.WithHint("id_token_hint has no audience.")
	}
	return &idTokenHint{sub: claims.Subject, aud: claims.Audience, sid: extra.SID}, nil
}

// logoutCSRF ties the confirmation form to this browser's session cookie,
// so another site cannot sign the user out by posting the form.
func (p *Provider) logoutCSRF(r *http.Request) string {
	value, _ := p.cookies.Session(r)
	return web.CSRFToken(p.cfg.TokenSecret, "logout-confirm", value)
}

func (p *Provider) validLogoutCSRF(r *http.Request, got string) bool {
	return got != "" && web.SameToken(got, p.logoutCSRF(r))
}

func (p *Provider) clientDisplayName(r *http.Request, id string) string {
	if id == "" {
		return ""
	}
	c, err := p.cfg.Store.GetClient(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) || err != nil {
		return ""
	}
	if c.Name != "" {
		return shownAsIs(c.Name)
	}
	return c.ID
}
