package provider

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/internal/bearer"
)

// handleUserinfo is the OIDC UserInfo endpoint (Core §5.3), GET and POST,
// with the access token as a bearer token (RFC 6750 §2.1, or §2.2 in a
// POST form; never §2.3, in the URL). It answers the claims the token's scopes release, read from
// the user's current record.
func (p *Provider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.URL.Query().Has("access_token") {
		// RFC 6750 §2.3's query method is not taken (§5.3: URLs end up in
		// logs and histories); ignored, it would leave the client told
		// that no token came, or let one of two tokens through (§3.1).
		p.bearerError(w, http.StatusBadRequest, "invalid_request", "Send the access token in the Authorization header (or as the access_token form parameter of a POST), never in the URL.")
		return
	}
	// The access token in the header is a single b64token (RFC 6750
	// §2.1), read by the parser the resource package's middlewares use;
	// anything else there is a malformed request (§3.1), not a token to
	// look up.
	tok, problem := bearer.Token(r)
	if problem != "" {
		p.bearerError(w, http.StatusBadRequest, "invalid_request", problem+".")
		return
	}
	ok := tok != ""
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			p.bearerError(w, http.StatusBadRequest, "invalid_request", "The request body is not a readable form.")
			return
		}
		if vs, inForm := r.PostForm["access_token"]; inForm {
			// RFC 6750 §2: one way of sending the token per request, and
			// one token. Any Authorization header counts, not only one
			// bearer.Token can read: "Bearer" with nothing after it, or
			// another scheme, is credentials sent there too, and taking
			// the form's token over them would answer a request that is
			// malformed (§3.1).
			if len(r.Header.Values("Authorization")) > 0 {
				p.bearerError(w, http.StatusBadRequest, "invalid_request", "The request carries both an Authorization header and an access_token form parameter; send the access token one way only.")
				return
			}
			if len(vs) != 1 {
				p.bearerError(w, http.StatusBadRequest, "invalid_request", "The access_token form parameter is repeated; send exactly one access token.")
				return
			}
			tok, ok = vs[0], true
		}
	}
	if !ok {
		p.writeError(w, r, missingBearer(r))
		return
	}
	sess := NewSession()
	// The hint is only a hint: fosite falls back to other token types, and
	// a refresh token must not open userinfo. An access token's signature
	// is verified once (readToken).
	use, ar, err := p.readToken(ctx, tok, fosite.AccessToken, sess)
	if ourFault(err) {
		p.writeError(w, r, fmt.Errorf("userinfo: check access token: %w", err))
		return
	}
	if err != nil || use != fosite.AccessToken {
		p.bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.")
		return
	}
	// The answer from here on is for the client the token was issued
	// to, readable from its origins (cors.go).
	allowClientOrigin(ctx, ar.GetClient())
	// A client's token is refused as such whatever its scopes: no scope
	// would make it one userinfo answers, so insufficient_scope would
	// send the client after the wrong fix.
	if !sess.UserGrant {
		// A client's token for itself (client credentials) has the client
		// as sub (RFC 9068 §2.2): there is no user to describe, and a user
		// whose id is that client id must not be read in its place.
		p.bearerError(w, http.StatusUnauthorized, "invalid_token", "This access token was issued to a client for itself, not for a user.")
		return
	}
	if !ar.GetGrantedScopes().Has("openid") {
		p.bearerError(w, http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.")
		return
	}
	user, err := p.activeUser(ctx, sess.GetSubject())
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	if user == nil {
		p.bearerError(w, http.StatusUnauthorized, "invalid_token", "The user of this token no longer exists or is disabled.")
		return
	}
	claims := userClaims(user, ar.GetGrantedScopes())
	claims["sub"] = user.ID
	writeJSON(w, http.StatusOK, claims)
}

// bearerError answers with an RFC 6750 §3 challenge; it is the one writer
// of bearer challenges, for userinfo and, through writeError, for the
// admin API and registration. code "" is the challenge to a request
// without any authentication (§3.1, see missingBearer): the scheme and
// realm, and no error code nor other error information, in the header or
// the body (left empty); clients go by the 401 alone.
func (p *Provider) bearerError(w http.ResponseWriter, status int, code, description string) {
	if code == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hallpass"`)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="hallpass", error="`+code+`", error_description="`+strings.ReplaceAll(description, `"`, `'`)+`"`)
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}
