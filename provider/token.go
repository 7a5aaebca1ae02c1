package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/provider/fositestore"
	"github.com/hallpass/hallpass/storage"
)

// handleToken is the token endpoint (RFC 6749 §3.2). fosite parses and
// authenticates the request; hallpass decides what is granted (exchange).
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	ar, resp, err := p.exchange(r.Context(), r)
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	p.oauth2.WriteAccessResponse(r.Context(), w, ar, resp)
}

// exchange serves a token request: the access request as fosite read it
// (nil when it got no further than the checks before it), and the
// response, or the error to answer it with (writeAccessError).
func (p *Provider) exchange(ctx context.Context, r *http.Request) (fosite.AccessRequester, fosite.AccessResponder, error) {
	if err := checkOAuthRequest(r, false); err != nil {
		return nil, nil, err
	}
	if err := checkResourceParams(r.PostForm); err != nil {
		return nil, nil, err
	}
	sess := NewSession()
	if code := r.PostForm.Get("code"); code != "" && grantType(r.PostForm) == "authorization_code" {
		// fosite reads the code's rows four times, one at a time.
		ctx = p.fstore.ReadCodeOnce(ctx, code, p.core.AuthorizeCodeSignature(ctx, code))
	}
	ar, err := p.oauth2.NewAccessRequest(ctx, r, sess)
	if ar != nil && ar.GetClient() != nil && ar.GetClient().GetID() != "" {
		noteClientID(ctx, ar.GetClient().GetID())
	}
	if err != nil {
		// fosite answers a grant type no handler knows with a bare
		// invalid_request; RFC 6749 §5.2 has a code for it.
		if gt := r.PostForm.Get("grant_type"); gt != "" && !slices.Contains(supportedGrantTypes, gt) && errors.Is(err, fosite.ErrInvalidRequest) {
			err = fosite.ErrUnsupportedGrantType.WithHintf("Grant type %q is not supported; use one of %s.", gt, strings.Join(supportedGrantTypes, ", "))
		}
		if ar != nil && ar.GetClient() != nil && ar.GetClient().IsPublic() && grantType(r.PostForm) == "client_credentials" && errors.Is(err, fosite.ErrInvalidGrant) {
			// fosite answers a public client asking for the client
			// credentials grant invalid_grant, but there is no grant in
			// the request: the client may not use this grant type (RFC
			// 6749 §4.4, §5.2), as a confidential client not registered
			// for it hears.
			err = fosite.ErrUnauthorizedClient.WithHint("A public client cannot use the client_credentials grant; it is for confidential clients (RFC 6749 §4.4).")
		}
		if grantType(r.PostForm) == "refresh_token" {
			err = refreshRegistrationError(err)
		}
		if name := missingGrantParam(r.PostForm); name != "" && errors.Is(err, fosite.ErrInvalidGrant) {
			// fosite looks the missing credential up as if it were
			// one, and answers invalid_grant; the request is at fault.
			err = fosite.ErrInvalidRequest.WithHintf("The %s parameter is missing; the %s grant requires it (RFC 6749 §4.1.3, §6).", name, grantType(r.PostForm))
		}
		return ar, nil, p.lostRace(ctx, ar, "", err)
	}
	// user is who a user's grant is for, as read now; the credential they
	// had then is confirmed in the transaction that stores the tokens.
	var user *storage.User
	switch {
	case ar.GetGrantTypes().ExactOne("client_credentials"):
		err = p.grantClientCredentials(ctx, ar, sess)
	case ar.GetGrantTypes().ExactOne("refresh_token"):
		user, err = p.applyRefreshPolicy(ctx, ar, r.PostForm.Get("scope"))
	case ar.GetGrantTypes().ExactOne("authorization_code"):
		err = requirePKCEAtToken(ar)
		if err == nil {
			err = p.checkCodeResource(ctx, ar)
		}
		if err == nil {
			user, err = p.codeUser(ctx, ar, sess)
		}
		if err == nil && sess.Claims != nil {
			sid, _ := sess.Claims.Extra["sid"].(string)
			err = p.codeSessionLive(ctx, registration(ar.GetClient()), sid, sess.Subject)
		}
	}
	if err == nil {
		err = markSelfContained(ar, user)
	}
	if err != nil {
		return ar, nil, err
	}
	if user != nil {
		ctx = p.fstore.ConfirmFirst(ctx, func(ctx context.Context) error { return p.confirmGrantUser(ctx, user) })
	}
	resp, err := p.oauth2.NewAccessResponse(ctx, ar)
	if errors.Is(err, errCredentialChanged) {
		// Rolled back: the change revoked the grant's tokens as they
		// were; its own revocation is made sure of here.
		if err := p.revokeGrant(ctx, ar.GetID()); err != nil {
			return ar, nil, fmt.Errorf("revoke a grant whose user's credential changed: %w", err)
		}
		return ar, nil, fosite.ErrInvalidGrant.WithHint("The user's password changed, or the user was disabled, while these tokens were being issued; sign in again.")
	}
	if err != nil {
		return ar, nil, p.lostRace(ctx, ar, ar.GetID(), err)
	}
	p.metrics.tokensIssued.WithLabelValues(ar.GetGrantTypes()[0]).Inc()
	p.metrics.tokensByClient.WithLabelValues(ar.GetGrantTypes()[0], ar.GetClient().GetID()).Inc()
	return ar, resp, nil
}

// grantType is the one grant type form asks for, read as fosite reads
// it (the grant_type parameter split on spaces, blanks dropped, so that
// "authorization_code " is authorization_code), or "" when it names none
// or several. What the exchange prepares for a grant (the code read once,
// ReadCodeOnce, which codeUser and checkCodeResource rely on) must be
// decided as fosite decides which grant it serves: compared as sent, a
// grant type with a blank around it was served as a code exchange
// without its read, and answered 500.
func grantType(form url.Values) string {
	if gts := fosite.RemoveEmpty(strings.Split(form.Get("grant_type"), " ")); len(gts) == 1 {
		return gts[0]
	}
	return ""
}

// missingGrantParam names the parameter that carries the grant of form's
// grant type, the authorization code (RFC 6749 §4.1.3) or the refresh
// token (§6), when form lacks it (sent empty, it counts as omitted,
// §3.2); it is "" otherwise.
func missingGrantParam(form url.Values) string {
	var name string
	switch grantType(form) {
	case "authorization_code":
		name = "code"
	case "refresh_token":
		name = "refresh_token"
	default:
		return ""
	}
	if form.Get(name) != "" {
		return ""
	}
	return name
}

// grantUser loads the user a grant (a code or a refresh token) was issued
// to: a user deleted or disabled since gets no tokens.
func (p *Provider) grantUser(ctx context.Context, sess *Session) (*storage.User, error) {
	user, err := p.activeUser(ctx, sess.Subject)
	if err != nil {
		return nil, err
	}
	if user == nil {
		return nil, fosite.ErrInvalidGrant.WithHint("The user of this grant no longer exists or is disabled.")
	}
	return user, nil
}

// codeUser is the user a code was issued to, for its exchange, read as
// grantUser reads it, and refuses the exchange (invalid_grant) when the
// code grants what its client's registration (clientStillGrants) or the
// user's roles (rolesStillGrant) no longer allow: a change of roles or of
// a client advances no token epoch (it ends nothing, README), so only
// the registration and the roles as they are now tell whether the code's
// grant still holds.
//
// A code that carries its user's token epoch is spent only at that
// epoch, whether it grants a refresh token or not: a change that ended
// the user's grants and committed between the read of the user
// and the code's write deleted no code, and a change that leaves the
// password as it is (a reset of the second factors, the user's sessions
// ended) passes confirmGrantUser, so without it such a code outlived the
// end of every grant of its user, refresh token and all. When the spend
// succeeds, the epoch read here is the code's (epochs only advance), so
// the access token carries the epoch the code was issued with.
func (p *Provider) codeUser(ctx context.Context, ar fosite.AccessRequester, sess *Session) (*storage.User, error) {
	scopes, ok := p.fstore.ReadCodeScopes(ctx)
	if !ok {
		return nil, fosite.ErrServerError.WithDebug("the code's row was not read before its exchange")
	}
	if err := clientStillGrants(ar.GetClient(), scopes); err != nil {
		return nil, err
	}
	user, err := p.grantUser(ctx, sess)
	if err != nil {
		return nil, err
	}
	if err := rolesStillGrant(ctx, p.cfg.Store, user, scopes, sess.Roles); err != nil {
		return nil, err
	}
	if sess.UserGrant && sess.Subject != "" {
		p.fstore.SpendAtUserEpoch(ctx, sess.UserEpoch)
	}
	return user, nil
}

// confirmGrantUser confirms, as the first statement of the transaction
// that stores a new refresh token (ConfirmFirst), that the user's
// credential is the one read before the tokens were made:
// errCredentialChanged if a password reset or a disable committed in
// between (exchange then answers invalid_grant). The check is in that
// transaction so that when it fails, the database failing included,
// nothing is spent: confirmed after the commit, a failed check left the
// code or refresh token spent and the client without tokens, and a
// client retrying the refresh had its whole grant revoked as a replay.
// It is first there because it locks the user's row (PostgreSQL's FOR
// SHARE) until the commit: a reset or a disable locks that row before
// the user's token rows, and a check after the spend of the code or
// refresh token took the two the other way round and deadlocked with it.
// Held from the start, the lock makes a reset that comes later wait for
// the commit, and then revoke the new refresh token with the rest.
// Only a refresh token needs it: an access token carries the user's token
// epoch as read (markSelfContained), which that change advanced, so it is
// already inactive, and a response without a refresh token skips the
// statement.
func (p *Provider) confirmGrantUser(ctx context.Context, user *storage.User) error {
	err := p.cfg.Store.ConfirmUserCredential(ctx, user.ID, user.PasswordHash)
	if errors.Is(err, storage.ErrNotFound) {
		return errCredentialChanged
	}
	if err != nil {
		return fmt.Errorf("confirm the credential of the grant's user: %w", err)
	}
	return nil
}

// revokeGrant ends every token of the grant grantID: its access tokens
// are deleted and its refresh tokens marked inactive, so that a later
// replay of one is still recognised.
func (p *Provider) revokeGrant(ctx context.Context, grantID string) error {
	if err := p.fstore.RevokeAccessToken(ctx, grantID); err != nil {
		return err
	}
	return p.fstore.RevokeRefreshToken(ctx, grantID)
}

// grantClientCredentials applies the rule for services (README "Users,
// roles and scopes"): granted = requested ∩ the client's allowed scopes. fosite has already refused any
// requested scope outside the client's registration (invalid_scope), so
// everything requested is granted. A request without scope gets every
// scope registered for the client (RFC 6749 §3.3 lets the server pick a
// documented default). The token is for the resource servers of its
// scopes and the client's registered audiences; an audience (or RFC 8707
// resource) parameter selects among them, and naming another is
// invalid_target.
func (p *Provider) grantClientCredentials(ctx context.Context, ar fosite.AccessRequester, sess *Session) error {
	client := ar.GetClient()
	scopes := ar.GetRequestedScopes()
	if len(scopes) == 0 {
		scopes = client.GetScopes()
	}
	aud, err := p.grantAudience(ctx, client, scopes, requestedAudience(ar))
	if err != nil {
		return err
	}
	for _, s := range scopes {
		ar.GrantScope(s)
	}
	grantAudienceTo(ar, aud)
	// RFC 9068 §2.2: with no user involved, sub is the client.
	sess.Subject = client.GetID()
	sess.ClientID = client.GetID()
	return nil
}

// requirePKCEAtToken refuses a code redeemed without PKCE by a client that
// must use it. The authorization endpoint issues no such code, but one
// issued while an admin had exempted the client would otherwise outlive
// the exemption. (A code issued with a challenge is fosite's: it refuses
// the exchange without the verifier.)
func requirePKCEAtToken(ar fosite.AccessRequester) error {
	if requiresPKCE(ar.GetClient()) && ar.GetRequestForm().Get("code_verifier") == "" {
		return fosite.ErrInvalidGrant.WithHint("This client must use PKCE, and this code was issued without a code_challenge; start a new authorization request with code_challenge_method=S256.")
	}
	return nil
}

// applyRefreshPolicy re-checks a refresh against the user as they are now,
// which fosite does not: a deleted or disabled user's refresh fails, and
// scopes their roles no longer allow are dropped. A scope parameter may
// narrow the grant (RFC 6749 §6) but never widen it; the narrowed grant is
// what the rotated refresh token carries on.
func (p *Provider) applyRefreshPolicy(ctx context.Context, ar fosite.AccessRequester, requested string) (*storage.User, error) {
	sess, ok := ar.GetSession().(*Session)
	req, ok2 := ar.(*fosite.AccessRequest)
	if !ok || !ok2 {
		return nil, fosite.ErrServerError.WithDebugf("unexpected session %T or request %T", ar.GetSession(), ar)
	}
	user, err := p.grantUser(ctx, sess)
	if err != nil {
		return nil, err
	}
	// A scope parameter of blanks names no scope: it is omitted, as fosite
	// reads it at the other grants, not a narrowing to nothing. As there,
	// only a space delimits (RFC 6749 §3.3), so a tab is part of a scope
	// that was not granted.
	//
	// Scopes are compared as spelt (RFC 6749 §3.3: scope tokens are
	// case-sensitive), with slices.Contains: fosite.Arguments.Has ignores
	// case, and took "OPENID" for the openid granted, which the roles'
	// check below then dropped, narrowing the grant for good.
	want := req.GrantedScope
	if fields := fosite.RemoveEmpty(strings.Split(requested, " ")); len(fields) > 0 {
		want = fosite.Arguments(fields)
		for _, s := range want {
			if !slices.Contains(req.GrantedScope, s) {
				return nil, fosite.ErrInvalidScope.WithHintf("Scope %q was not granted originally; a refresh can only narrow the grant.", s)
			}
		}
		// Every refresh answers with a rotated refresh token (fosite),
		// and only a grant that keeps offline_access may be refreshed:
		// narrowed without it, the grant would get a refresh token that
		// its next refresh refuses. The scope it has is kept (the
		// response's scope says so, RFC 6749 §3.3).
		if slices.Contains(req.GrantedScope, "offline_access") && !slices.Contains(want, "offline_access") {
			want = append(want, "offline_access")
		}
	}
	allowed, err := userScopes(ctx, p.cfg.Store, user)
	if err != nil {
		return nil, err
	}
	keep := fosite.Arguments{}
	for _, s := range want {
		if slices.Contains(allowed, s) && !slices.Contains(keep, s) {
			keep = append(keep, s)
		}
	}
	// fosite copied the original aud; the token is for what its surviving
	// scopes reach, so a dropped scope's resource server is dropped too.
	aud, err := p.narrowedAudience(ctx, ar.GetClient(), keep, req.RequestedAudience)
	if err != nil {
		return nil, err
	}
	// RFC 8707: resource on a refresh selects the APIs this access token
	// is for. The grant keeps its requested audience, so the next refresh
	// may select another.
	if aud, err = selectFromGrant(aud, ar.GetRequestForm()); err != nil {
		return nil, err
	}
	req.GrantedScope = keep
	req.GrantedAudience = fosite.Arguments(aud)
	sess.Roles = user.Roles
	sess.Username = user.Username
	if sess.Claims != nil {
		sid, _ := sess.Claims.Extra["sid"].(string)
		sess.Claims.Extra = idTokenExtra(user, keep, sid)
	}
	return user, nil
}

// refreshRegistrationError answers a refresh that fosite refused because
// the grant no longer fits the client's current registration: fosite
// re-checks a refreshed grant's scopes and audience against it before
// hallpass's policy runs, and answers a scope the client may no longer be
// granted invalid_scope, as if the client had asked for it, and an
// audience invalid_target. Neither is the refresh request's fault (RFC
// 6749 §5.2 keeps invalid_scope for the scope requested, and the
// refused token was refused whatever was requested): the grant is no
// longer valid, invalid_grant, and the user must sign in again.
// Any other err is returned as it is.
func refreshRegistrationError(err error) error {
	switch {
	case errors.Is(err, errInvalidTarget):
		return fosite.ErrInvalidGrant.WithHint("This grant is for a resource server the client may no longer get tokens for; sign in again.")
	case errors.Is(err, fosite.ErrInvalidScope):
		return fosite.ErrInvalidGrant.WithHint("This grant carries a scope the client may no longer be granted; sign in again.")
	}
	return err
}

// codeEndedHint explains a code refused because its grant ended after
// the exchange read it, which is no replay.
const codeEndedHint = "The authorization code is no longer valid: its grant ended before it was exchanged (the user withdrew consent or their account changed, or the client's tokens were revoked); sign in again."

// grantEndedHint explains a refresh token refused because its grant had
// ended, which is no replay.
const grantEndedHint = "The refresh token is no longer valid: its grant has ended (the client revoked it, the user withdrew consent or signed out, or their account changed); sign in again."

// lostRace is the one place where a token request that lost a race for
// its one-time credential (an authorization code, a refresh token) gets its
// answer. Any other err is returned as it is.
//
// Policy: a code or refresh token presented by two requests at once is a
// replay, since nothing tells a racing client apart from an attacker
// racing it with a stolen copy (RFC 6749 §4.1.2 for codes, RFC 9700
// §4.14.2 for refresh tokens). Exactly one request wins: the storage
// spends the credential with a conditional update, so of the racers one
// spends it and every other one either fails that update or finds it
// spent. Every loser gets invalid_grant, and the whole grant is revoked,
// the tokens the winner just got included. A loser only sees the
// credential spent once the winner has committed, so the revocation
// always catches the winner's tokens: after a race, the winner's access
// token introspects inactive and its refresh token is refused. Clients
// must send one refresh at a time (README.md, "Refresh tokens").
//
// fosite gets these losers wrong: server_error for a code lost while
// spending it, invalid_request "please retry" for a refresh token
// (handleRefreshTokenEndpointStorageError), which a client would retry
// with the same spent credential. grantID is the grant of a request that
// got as far as spending the credential; it is "" for one refused while
// fosite read the request. fosite handles a spent code found there itself
// (invalid_grant, grant revoked), and it is recorded here as the replay
// it is, and the grant revoked again (fosite answers invalid_grant when
// its revocation failed); a spent refresh token found there runs fosite's reuse
// detection, which revokes the grant but answers invalid_request when it
// loses the race to delete the spent row, so the grant is looked up by
// the token and revoked again here.
//
// Only an exchange spends a code: the end of its grant (consent
// withdrawn, a new password, a disable, the client's tokens revoked)
// deletes a code not yet spent (storage.Store.RevokeTokensByClient). So
// a code found spent is a replay, and a code whose grant ended is not
// found (invalid_grant from fosite) or, when the end came after the
// exchange read it, not spendable (fositestore.ErrCodeEnded): no replay,
// so no alarm and nothing to revoke (the end revoked the grant).
//
// A lock wait that times out or a failed commit is not a lost race (nobody
// spent the credential) and stays a server error.
func (p *Provider) lostRace(ctx context.Context, ar fosite.AccessRequester, grantID string, err error) error {
	if ar == nil || len(ar.GetGrantTypes()) != 1 {
		return err
	}
	grantType := ar.GetGrantTypes()[0]
	var raced bool
	var hint string
	switch grantType {
	case "authorization_code":
		if grantID != "" && errors.Is(err, fositestore.ErrCodeEnded) {
			return fosite.ErrInvalidGrant.WithHint(codeEndedHint)
		}
		raced = grantID != "" && (errors.Is(err, fosite.ErrSerializationFailure) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode))
		hint = "The authorization code has already been used."
	case "refresh_token":
		raced = errors.Is(err, fosite.ErrInvalidRequest) &&
			(errors.Is(err, fosite.ErrSerializationFailure) || errors.Is(err, fosite.ErrInactiveToken) || errors.Is(err, fosite.ErrNotFound))
		hint = "The refresh token was already used, possibly by a concurrent request; every token of its grant is revoked. Send one refresh at a time."
	}
	if !raced {
		if grantType == "authorization_code" {
			if id, replayed := p.fstore.CodeReplayed(ctx); replayed {
				p.recordReuse(ctx, ar, id, grantType)
				// fosite revoked the grant, but answers invalid_grant
				// even when that failed, leaving the first exchange's
				// tokens valid: the revocation is made sure of here,
				// and a failure of it is ours.
				if id != "" {
					if rerr := p.revokeGrant(ctx, id); rerr != nil {
						return fmt.Errorf("revoke the grant of a replayed authorization code: %w", rerr)
					}
				}
			}
		}
		if grantType == "refresh_token" && errors.Is(err, fositestore.ErrGrantEnded) {
			// No replay: the grant had ended before (fosite's reuse
			// detection did not run).
			return fosite.ErrInvalidGrant.WithWrap(err).WithHint(grantEndedHint)
		}
		if grantType == "refresh_token" && errors.Is(err, fosite.ErrInactiveToken) {
			// A spent (or revoked) refresh token presented again: fosite's
			// reuse detection has revoked its grant. It is a replay unless
			// the grant had been ended for everyone already, and the token
			// was not spent by a rotation: an app that has not heard of
			// the sweep presents its latest token, never a rotated one.
			ended := false
			if !errors.Is(err, fositestore.ErrRefreshRotated) {
				var eerr error
				if ended, eerr = p.sweptGrant(ctx, ar); eerr != nil {
					return eerr
				}
			}
			if ended {
				return fosite.ErrInvalidGrant.WithHint("This grant has ended: the user's password changed, the user was disabled or removed, or an administrator revoked the client's tokens; sign in again.")
			}
			p.recordReuse(ctx, ar, "", grantType)
		}
		return err
	}
	if grantID == "" {
		sig := p.core.RefreshTokenSignature(ctx, ar.GetRequestForm().Get("refresh_token"))
		req, gerr := p.fstore.GetRefreshTokenSession(ctx, sig, nil)
		switch {
		case errors.Is(gerr, fosite.ErrNotFound):
			// Deleted by reuse detection, which revoked the grant in the
			// same transaction.
		case req != nil && (gerr == nil || errors.Is(gerr, fosite.ErrInactiveToken)):
			grantID = req.GetID()
		default:
			return fmt.Errorf("find the grant of a refresh token lost to a race: %w", gerr)
		}
	}
	if grantID != "" {
		// A refresh that lost to the end of its grant (its client
		// revoking it, the user withdrawing consent, a sweep) rather than
		// to another refresh finds no refresh token of the grant active:
		// the winner of a race of refreshes committed its new one before
		// the loser saw the presented one spent. That is no replay; nor
		// is a second loser of one race, after the first revoked the
		// grant and raised the alarm.
		live := true
		if grantType == "refresh_token" {
			var lerr error
			if live, lerr = p.cfg.Store.HasActiveToken(ctx, storage.KindRefreshToken, grantID); lerr != nil {
				return fmt.Errorf("look up the grant of a refresh token lost to a race: %w", lerr)
			}
		}
		if err := p.revokeGrant(ctx, grantID); err != nil {
			return fmt.Errorf("revoke the grant of a replayed %s: %w", grantType, err)
		}
		if !live {
			return fosite.ErrInvalidGrant.WithHint(grantEndedHint)
		}
	}
	p.recordReuse(ctx, ar, grantID, grantType)
	return fosite.ErrInvalidGrant.WithHint(hint)
}

// sweptGrant reports whether the inactive refresh token of ar was ended
// by a sweep of every grant of its client or of its user (an admin's
// revoke-tokens, a new password, a disable, a deletion), which advanced
// the client's or user's token epoch past the one the token was issued
// under. Presented afterwards, such a token is an app that has not heard
// yet, not a replay: counted and recorded as one, each sweep raised a
// theft alarm (token.reuse_detected, hallpass_token_reuse_detections_total)
// for every app the user had signed in to. fosite read the token's stored
// session into ar's before it refused it, epochs included.
func (p *Provider) sweptGrant(ctx context.Context, ar fosite.AccessRequester) (bool, error) {
	sess, ok := ar.GetSession().(*Session)
	c := registration(ar.GetClient())
	// fosite refuses a spent token before it compares its client with
	// the presenting one: presented by another client (a thief without
	// the secret of the token's own), the presenter's epoch says nothing
	// of the token's, and the replay is one.
	if !ok || c == nil || sess.GrantID == "" || sess.ClientID != c.ID {
		return false, nil
	}
	if sess.ClientEpoch != c.TokenEpoch {
		return true, nil
	}
	if !sess.UserGrant {
		return false, nil
	}
	user, err := p.activeUser(ctx, sess.Subject)
	if err != nil {
		return false, fmt.Errorf("read the user of a spent refresh token: %w", err)
	}
	return user == nil || user.TokenEpoch != sess.UserEpoch, nil
}

// recordReuse logs and records a one-time credential presented again
// (grantID "" when fosite revoked the grant itself).
func (p *Provider) recordReuse(ctx context.Context, ar fosite.AccessRequester, grantID, grantType string) {
	clientID := ""
	if c := ar.GetClient(); c != nil {
		clientID = c.GetID()
	}
	p.log.WarnContext(ctx, "one-time credential presented twice; its grant is revoked", "request_id", RequestID(ctx), "client_id", clientID, "grant_type", grantType)
	p.metrics.tokenReuse.WithLabelValues(grantType).Inc()
	ev := audit.Event{Action: "token.reuse_detected", Actor: "client:" + clientID, ClientID: clientID,
		Details: map[string]any{"grant_type": grantType}}
	if grantID != "" {
		ev.Object = "grant:" + grantID
	}
	p.audit.Record(ctx, ev)
}

// writeAccessError answers a failed token request (RFC 6749 §5.2), with
// the error accessFailure makes of err.
func (p *Provider) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	if ourFault(err) {
		setRetryAfter(w, err)
	}
	err = p.accessFailure(r, ar, err)
	challengeUnauthorized(w, err)
	p.oauth2.WriteAccessError(r.Context(), w, ar, err)
}

// accessFailure logs a failed token request and returns the error it is
// answered with. A failure of ours, a storage outage above all, is a
// logged server_error whatever fosite made of it (it answers a failed
// client lookup invalid_client, which would send operators rotating
// secrets during a database outage); a refusal is logged at info level
// for diagnosis. Neither log line holds the request body.
func (p *Provider) accessFailure(r *http.Request, ar fosite.AccessRequester, err error) error {
	if ourFault(err) {
		p.logFailure(r.Context(), "token request failed", err)
		return serverError(err, false)
	}
	p.logRefusal(r, "token request refused", requestClientID(r, ar), r.PostForm.Get("redirect_uri"), err)
	return err
}
