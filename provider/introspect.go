package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/audit"
)

// clientAuthenticator is the part of fosite that authenticates a client
// from a request (HTTP Basic or form credentials, per the client's
// registered method).
type clientAuthenticator interface {
	AuthenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error)
}

// handleIntrospect is RFC 7662 token introspection. Callers are a
// registered confidential client (client_secret_basic, client_secret_post
// or private_key_jwt) or an admin (the admin token as Bearer); anyone else
// gets 401. fosite's own endpoint also accepts any access token as a
// Bearer credential, which would let every token holder probe every other
// token, so hallpass authenticates itself and only asks fosite about the
// token. A client learns only about tokens it is entitled to (see
// entitled); about any other token it hears what it would hear about a
// token that does not exist.
func (p *Provider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := checkOAuthRequest(r, true); err != nil {
		writeRefusalWithHint(w, err)
		return
	}
	who, err := p.introspectionCaller(r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	if who == nil {
		p.writeInvalidClient(w, "Authenticate as a registered confidential client (HTTP Basic, client_secret_post or private_key_jwt), or with the admin token.")
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		p.writeError(w, r, errorf(http.StatusBadRequest, "invalid_request", "the token parameter is missing"))
		return
	}
	answer, err := p.introspect(ctx, token, fosite.TokenUse(r.PostForm.Get("token_type_hint")), who)
	if err != nil {
		// Never {"active":false} for an outage: a resource server would
		// turn a valid user away, or cache the answer.
		p.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, answer)
}

// introspector is who asks the introspection endpoint: an admin, or a
// confidential client.
type introspector struct {
	admin  bool
	client fosite.Client
}

// entitled reports whether who may learn about a token of use issued to
// client with audience aud. An admin may learn about any token. A client
// may learn about its own tokens, and about the access tokens whose aud
// names a resource server it speaks for (storage.Client.ResourceServers):
// a resource server checks the tokens presented to it. A refresh token is
// never presented to a resource server, so only its own client may ask.
func (who *introspector) entitled(use fosite.TokenUse, client string, aud []string) bool {
	switch {
	case who.admin:
		return true
	case who.client.GetID() == client:
		return true
	case use != fosite.AccessToken:
		return false
	}
	c := registration(who.client)
	if c == nil {
		return false
	}
	for _, a := range aud {
		if slices.Contains(c.ResourceServers, a) {
			return true
		}
	}
	return false
}

// introspectionCaller returns who r is, nil when it may not introspect at
// all; an error when the client could not be checked for a failure of
// ours.
func (p *Provider) introspectionCaller(r *http.Request) (*introspector, error) {
	if _, ok := adminBearerToken(r); ok {
		if ok, err := p.isAdmin(r); err != nil || !ok {
			return nil, err
		}
		return &introspector{admin: true}, nil
	}
	auth, ok := p.oauth2.(clientAuthenticator)
	if !ok {
		return nil, nil
	}
	c, err := auth.AuthenticateClient(r.Context(), r, r.PostForm)
	if ourFault(err) {
		return nil, fmt.Errorf("authenticate introspection caller: %w", err)
	}
	if err != nil || c.IsPublic() {
		return nil, nil
	}
	return &introspector{client: c}, nil
}

// introspect answers who about one token. Anything not active (expired,
// revoked, malformed, signed by an unknown key, another issuer's) and
// anything who is not entitled to is exactly {"active": false}: RFC 7662
// §2.2 says to reveal nothing more, and §4 lets the server decide who may
// see which token.
func (p *Provider) introspect(ctx context.Context, token string, hint fosite.TokenUse, who *introspector) (*introspection, error) {
	inactive := &introspection{}
	if hint != fosite.AccessToken && hint != fosite.RefreshToken {
		// token_type_hint is honoured but not trusted: an unknown or absent
		// hint means "try access tokens first".
		hint = fosite.AccessToken
	}
	sess := NewSession()
	ctx = p.fstore.NoteFailures(ctx)
	use, ar, err := p.readToken(ctx, token, hint, sess)
	if ourFault(err) {
		return nil, fmt.Errorf("introspect token: %w", err)
	}
	if cause := p.fstore.Failure(ctx); err != nil && cause != nil {
		// fosite tries the token as each use in turn and reports only the
		// last attempt's error (an opaque refresh token is "not found" as
		// an access token), which hides a store that failed on an earlier
		// one. Asking the store again would not do: a failure that has
		// passed by then would leave the answer inactive.
		return nil, fmt.Errorf("introspect token: %w", cause)
	}
	if err != nil {
		if !errors.Is(err, fosite.ErrRequestUnauthorized) && !errors.Is(err, fosite.ErrInactiveToken) && !errors.Is(err, fosite.ErrTokenExpired) {
			p.log.DebugContext(ctx, "introspection: token not active", "err", err)
		}
		return inactive, nil
	}
	if !who.entitled(use, ar.GetClient().GetID(), ar.GetGrantedAudience()) {
		return inactive, nil
	}
	var exp time.Time
	scope := strings.Join(ar.GetGrantedScopes(), " ")
	resp := &introspection{
		Active:   true,
		ClientID: ar.GetClient().GetID(),
		Iss:      p.cfg.Issuer,
		Iat:      ar.GetRequestedAt().Unix(),
		Scope:    &scope,
		Sub:      sess.GetSubject(),
		Aud:      ar.GetGrantedAudience(),
		Username: sess.GetUsername(),
		// How the user signed in (mfa.go), for resource servers that
		// demand a second factor (RFC 9470).
		ACR: sess.ACR,
		AMR: sess.AMR,
	}
	switch use {
	case fosite.AccessToken:
		exp = sess.GetExpiresAt(fosite.AccessToken)
		resp.TokenType = "Bearer"
	case fosite.RefreshToken:
		exp = sess.GetExpiresAt(fosite.RefreshToken)
		resp.TokenType = "refresh_token"
	default:
		return inactive, nil
	}
	if !exp.IsZero() {
		if !p.cfg.Now().Before(exp) {
			return inactive, nil
		}
		resp.Exp = exp.Unix()
	}
	return resp, nil
}

// readToken reads token as fosite's IntrospectToken does (hint says
// which use to try first), filling sess, but verifies a JWS once: a JWS
// is an access token or nothing, which the store verifies (remembered
// by the signer's verified-token cache) and answers from its grant or,
// for a token from before access tokens were self-contained, from its
// row; fosite's introspection would then verify its signature a second
// time (its strategy's ValidateAccessToken, which no cache spares).
func (p *Provider) readToken(ctx context.Context, token string, hint fosite.TokenUse, sess *Session) (fosite.TokenUse, fosite.Requester, error) {
	if strings.Count(token, ".") == 2 {
		ar, err := p.fstore.GetAccessTokenSession(ctx, p.core.AccessTokenSignature(ctx, token), sess)
		return fosite.AccessToken, ar, err
	}
	return p.oauth2.IntrospectToken(ctx, token, hint, sess)
}

// introspection is an answer of the introspection endpoint (RFC 7662
// §2.2): exactly {"active":false}, or an active token's members, each
// left out when it has no value (scope, possibly empty, is always there).
// A struct, not a map: encoding a map sorts its keys by reflection on
// every request.
type introspection struct {
	Active    bool     `json:"active"`
	ClientID  string   `json:"client_id,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Scope     *string  `json:"scope,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Username  string   `json:"username,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	AMR       []string `json:"amr,omitempty"`
}

// handleRevoke is RFC 7009 token revocation: a client revokes its own
// tokens. A token issued to another client is refused (§2.1,
// unauthorized_client) and left alone; a token the client cannot act on
// (unknown, expired, already revoked) is answered 200 (§2.2). Revoking a
// refresh token ends its grant's access tokens too.
func (p *Provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx, caller := withCallerNote(p.fstore.NoteFailures(r.Context()))
	err := checkOAuthRequest(r, false)
	if err == nil && r.PostForm.Get("token") == "" {
		// RFC 7009 §2.1: token is required. fosite would look the empty
		// string up, find nothing and answer 200, as if it were revoked.
		err = fosite.ErrInvalidRequest.WithHint("The token parameter is missing.")
	}
	if err == nil {
		err = p.oauth2.NewRevocationRequest(ctx, r)
	}
	if errors.Is(err, fosite.ErrUnauthorizedClient) {
		// fosite's handler finds another client's token before revoking
		// anything, for either kind and whatever the hint, but its writer
		// answers that 200, and its error's text speaks of requesting
		// tokens. It finds expired tokens too: those, like every token
		// no longer active, are invalid tokens, answered 200 (§2.2).
		err = p.refuseOthersToken(ctx, r)
	}
	if err == nil {
		err = p.revokeSpentRefreshGrant(ctx, r, caller.client)
	}
	if err != nil && (errors.Is(err, fosite.ErrTemporarilyUnavailable) || ourFault(err)) {
		// fosite answers some of these 200, which would tell the client a
		// token is revoked while it stays valid, and a client it could not
		// load 401; RFC 7009 §2.2.1 says 503. Its answer leaves out the
		// database's failure, which the store kept for the log.
		if cause := p.fstore.Failure(ctx); cause != nil && !storeFailed(err) {
			err = serverError(cause, true)
		}
		p.logFailure(ctx, "revocation failed", err)
		w.Header().Set("Retry-After", retryAfterSeconds)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"error": "temporarily_unavailable", "error_description": "The token could not be revoked; retry.",
		})
		return
	}
	if err != nil {
		p.logRefusal(r, "revocation refused", requestClientID(r, nil), "", err)
	} else {
		// RFC 7009 answers 200 for an unknown token too, so this records
		// the request, not that a live token ended.
		clientID := requestClientID(r, nil)
		p.audit.Record(ctx, audit.Event{Action: "token.revoked", Actor: "client:" + clientID, ClientID: clientID,
			Details: map[string]any{"token_type_hint": truncate(r.PostForm.Get("token_type_hint"), 32)}})
	}
	if errors.Is(err, fosite.ErrInvalidRequest) || errors.Is(err, fosite.ErrInvalidClient) || errors.Is(err, fosite.ErrUnauthorizedClient) {
		// fosite's writer would answer the bare error, dropping the hint
		// that says what was wrong, or, for unauthorized_client, 200.
		writeRefusalWithHint(w, err)
		return
	}
	challengeUnauthorized(w, err)
	p.oauth2.WriteRevocationResponse(ctx, w, err)
}

// refuseOthersToken is the answer to a revocation of a token issued to
// another client: unauthorized_client (RFC 7009 §2.1) while the token is
// active, nil (200, nothing revoked) once it is not, as for any invalid
// token (§2.2): the client can do nothing about it, and what it asked
// for, that the token no longer work, already holds.
func (p *Provider) refuseOthersToken(ctx context.Context, r *http.Request) error {
	hint := fosite.TokenUse(r.PostForm.Get("token_type_hint"))
	state, err := p.introspect(ctx, r.PostForm.Get("token"), hint, &introspector{admin: true})
	switch {
	case err != nil:
		return err
	case !state.Active:
		return nil
	}
	return fosite.ErrUnauthorizedClient.WithDescription("The token was not issued to this client.").
		WithHint("A client may revoke only its own tokens.")
}

// revokeSpentRefreshGrant ends the grant of a refresh token that was
// already rotated, when caller, the client the revocation authenticated,
// is the one it was issued to. fosite treats it as "already revoked" and
// leaves the grant's current tokens alive; presenting the same token at
// the token endpoint would end the grant, and so does revoking it here.
func (p *Provider) revokeSpentRefreshGrant(ctx context.Context, r *http.Request, caller fosite.Client) error {
	sig := p.core.RefreshTokenSignature(ctx, r.PostForm.Get("token"))
	if sig == "" {
		return nil
	}
	req, err := p.fstore.GetRefreshTokenSession(ctx, sig, nil)
	if storeFailed(err) {
		return fmt.Errorf("look up refresh token: %w", err)
	}
	if !errors.Is(err, fosite.ErrInactiveToken) || req == nil {
		return nil
	}
	if caller == nil || caller.GetID() != req.GetClient().GetID() {
		return nil // another client's token is not ours to touch
	}
	return p.revokeGrant(ctx, req.GetID())
}

// writeRefusalWithHint answers a refused client request (checkOAuthRequest's,
// or fosite's invalid_request or invalid_client) as RFC 6749 §5.2 says,
// with the error's hint as its description, which fosite's writers drop,
// and the challenge a 401 needs (challengeUnauthorized). Introspection and
// revocation share it so that both answer the same refusal alike.
func writeRefusalWithHint(w http.ResponseWriter, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	challengeUnauthorized(w, err)
	writeJSON(w, rfc.CodeField, map[string]string{"error": rfc.ErrorField, "error_description": rfc.GetDescription()})
}

// writeInvalidClient answers a failed client authentication (RFC 6749 §5.2).
func (p *Provider) writeInvalidClient(w http.ResponseWriter, description string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="hallpass"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": description})
}
