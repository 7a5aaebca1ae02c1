package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"

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
// Logout 1.0 §2), GET and POST. With a valid id_token_hint for the signed-in
// user, it signs out and redirects to a registered post_logout_redirect_uri.
// Otherwise it asks the user to confirm, and after that redirects only to a
// URI registered for the named client.
func (p *Provider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if _, err := parseOAuthParams(r); err != nil {
		p.logRefusal(r, "logout refused", r.Form.Get("client_id"), r.Form.Get("post_logout_redirect_uri"), err)
		p.pageError(w, r, http.StatusBadRequest, "The sign-out request could not be read", causeFirst(fosite.ErrorToRFC6749Error(err))+" Go back to the application.")
		return
	}
	q := r.Form
	lr := logoutRequest{hint: q.Get("id_token_hint"), clientID: q.Get("client_id"), redirectURI: q.Get("post_logout_redirect_uri"), state: q.Get("state")}
	ctx := r.Context()

	hinted := false
	if lr.hint != "" {
		sub, aud, err := p.verifyIDTokenHint(lr.hint)
		if err != nil {
			p.pageError(w, r, http.StatusBadRequest, "The sign-out request is invalid", "The application sent an ID token that hallpass did not issue.")
			return
		}
		if lr.clientID != "" && !slices.Contains(aud, lr.clientID) {
			p.pageError(w, r, http.StatusBadRequest, "The sign-out request is invalid", "client_id does not match the ID token.")
			return
		}
		if lr.clientID == "" && len(aud) > 0 {
			lr.clientID = aud[0]
		}
		sess, err := p.browserSession(ctx, r)
		if err != nil {
			p.logoutFailed(w, r, err)
			return
		}
		// A hint for someone other than the signed-in user proves nothing
		// about this browser: ask instead.
		hinted = sess == nil || sess.UserID == sub
	}

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
	if !hinted && !confirmed {
		sess, err := p.browserSession(ctx, r)
		if err != nil {
			p.logoutFailed(w, r, err)
			return
		}
		if sess != nil {
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
		// Nobody is signed in here: nothing to confirm.
	}
	if err := p.endSession(w, r); err != nil {
		p.logoutFailed(w, r, err)
		return
	}
	p.log.InfoContext(ctx, "logout", "request_id", RequestID(ctx), "client_id", lr.clientID)
	if target == "" {
		p.pages.LoggedOut(w, http.StatusOK, web.LoggedOutData{Message: "You are signed out of hallpass."})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// errNotRegistered refuses a post_logout_redirect_uri the client did not
// register (or a client that does not exist).
var errNotRegistered = errors.New("post_logout_redirect_uri is not registered for this application")

// logoutFailed answers a logout that failed on our side with a plain
// error page: the user must know they may still be signed in.
func (p *Provider) logoutFailed(w http.ResponseWriter, r *http.Request, err error) {
	p.logFailure(r.Context(), "logout failed", err)
	status := http.StatusInternalServerError
	if storeFailed(err) {
		status = http.StatusServiceUnavailable
		setRetryAfter(w, err)
	}
	p.pageError(w, r, status, "You may still be signed in", "hallpass could not sign you out because of a problem on our side. Wait a moment, then try again.")
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

// verifyIDTokenHint checks that hint is an ID token hallpass signed (any
// published key; expiry is ignored, as RP-Initiated Logout allows) and
// returns its subject and audience.
func (p *Provider) verifyIDTokenHint(hint string) (string, []string, error) {
	tok, err := josejwt.ParseSigned(hint, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return "", nil, errors.New("malformed id_token_hint")
	}
	key, ok := p.cfg.Keys.VerificationKey(tok.Headers[0].KeyID)
	if !ok {
		return "", nil, errors.New("id_token_hint signed by an unknown key")
	}
	var claims josejwt.Claims
	if err := tok.Claims(key, &claims); err != nil {
		return "", nil, errors.New("id_token_hint signature invalid")
	}
	if claims.Issuer != p.cfg.Issuer || claims.Subject == "" {
		return "", nil, errors.New("id_token_hint not issued here")
	}
	return claims.Subject, claims.Audience, nil
}

// logoutCSRF ties the confirmation form to this browser's session cookie,
// so another site cannot sign the user out by posting the form.
func (p *Provider) logoutCSRF(r *http.Request) string {
	value, _ := p.cookies.Session(r)
	m := hmac.New(sha256.New, p.cfg.TokenSecret)
	m.Write([]byte("logout-confirm\x00" + value))
	return hex.EncodeToString(m.Sum(nil))
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
		return c.Name
	}
	return c.ID
}
