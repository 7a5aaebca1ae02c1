package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"
)

// FositeStore adapts a Store to the storage interfaces fosite's handlers
// need. It is the one place where storage errors become fosite errors and
// where fosite requests become Token rows, so the backends stay plain CRUD.
type FositeStore struct {
	store Store
	// newSession makes the empty session that stored session JSON is decoded
	// into when fosite passes none (the revocation handler does).
	newSession func() fosite.Session
	now        func() time.Time
	// defaultAudience is added to every client's audience: the audience
	// a token gets when nothing more specific applies (RFC 9068 §3).
	defaultAudience []string
}

// Compile-time proof that FositeStore satisfies everything compose's
// factories assert at runtime; a missing method would otherwise panic at
// start-up.
var (
	_ fosite.Storage                     = (*FositeStore)(nil)
	_ oauth2.CoreStorage                 = (*FositeStore)(nil)
	_ oauth2.TokenRevocationStorage      = (*FositeStore)(nil)
	_ openid.OpenIDConnectRequestStorage = (*FositeStore)(nil)
	_ pkce.PKCERequestStorage            = (*FositeStore)(nil)
	_ fositestorage.Transactional        = (*FositeStore)(nil)
)

// NewFositeStore wraps s. newSession must return a fresh, empty session of
// the one concrete type the provider uses everywhere. defaultAudience is
// allowed to every client (the provider's own issuer, the audience of
// tokens no resource server's scope claims).
func NewFositeStore(s Store, newSession func() fosite.Session, now func() time.Time, defaultAudience ...string) *FositeStore {
	if now == nil {
		now = time.Now
	}
	return &FositeStore{store: s, newSession: newSession, now: now, defaultAudience: defaultAudience}
}

// Store returns the wrapped store.
func (f *FositeStore) Store() Store { return f.store }

// FositeClient presents a stored Client to fosite.
type FositeClient struct {
	*Client
	// audience is what fosite checks requested and refreshed audiences
	// against: the registered Audience plus the default audience and the
	// audiences of the registered scopes the client may be granted. It is
	// only the outer bound: the provider narrows a token's audience to
	// what its granted scopes reach.
	audience []string
	// scopeAudience maps each of the client's allowed scopes that is
	// registered with an audience to that audience, read once with the
	// client so the token endpoint needs no second look at the scopes.
	scopeAudience map[string]string
}

// ScopeAudiences returns the audiences of the registered scopes among
// scopes (all of which the client is allowed), in order, without repeats.
func (c FositeClient) ScopeAudiences(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if a := c.scopeAudience[s]; a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

var (
	_ fosite.Client              = FositeClient{}
	_ fosite.OpenIDConnectClient = FositeClient{}
	_ fosite.ResponseModeClient  = FositeClient{}
)

// GetResponseModes allows the query response mode only, named or not:
// authorization codes never travel in fragments or auto-posted forms here.
func (c FositeClient) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery}
}

// GetID returns the client id.
func (c FositeClient) GetID() string { return c.ID }

// GetHashedSecret returns the stored SHA-256 digest of the secret.
func (c FositeClient) GetHashedSecret() []byte { return c.SecretHash }

// GetRedirectURIs returns the registered redirect URIs.
func (c FositeClient) GetRedirectURIs() []string { return c.RedirectURIs }

// GetGrantTypes returns the grant types the client may use.
func (c FositeClient) GetGrantTypes() fosite.Arguments { return c.GrantTypes }

// GetResponseTypes returns the response types the client may use.
func (c FositeClient) GetResponseTypes() fosite.Arguments { return c.ResponseTypes }

// GetScopes returns the scopes an admin allowed for the client.
func (c FositeClient) GetScopes() fosite.Arguments { return c.Scopes }

// IsPublic reports whether the client has no secret.
func (c FositeClient) IsPublic() bool { return c.TokenEndpointAuthMethod == "none" }

// GetAudience returns the audiences the client may request.
func (c FositeClient) GetAudience() fosite.Arguments {
	if c.audience != nil {
		return c.audience
	}
	return c.Audience
}

// GetRequestURIs returns nil: request_uri is not supported.
func (c FositeClient) GetRequestURIs() []string { return nil }

// GetJSONWebKeys returns nil: private_key_jwt is not supported.
func (c FositeClient) GetJSONWebKeys() *jose.JSONWebKeySet { return nil }

// GetJSONWebKeysURI returns "": private_key_jwt is not supported.
func (c FositeClient) GetJSONWebKeysURI() string { return "" }

// GetRequestObjectSigningAlgorithm returns "": request objects are not supported.
func (c FositeClient) GetRequestObjectSigningAlgorithm() string { return "" }

// GetTokenEndpointAuthMethod returns the registered authentication method.
func (c FositeClient) GetTokenEndpointAuthMethod() string { return c.TokenEndpointAuthMethod }

// GetTokenEndpointAuthSigningAlgorithm returns RS256 (unused without private_key_jwt).
func (c FositeClient) GetTokenEndpointAuthSigningAlgorithm() string { return "RS256" }

// digest turns a token signature (or raw code) into the key that is stored,
// so no usable token material ever sits in the database and keys stay short.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// fositeErr maps storage sentinels to the fosite errors its handlers test
// for. Anything else is marked ErrUnavailable: fosite folds some storage
// errors into client errors (a failed GetClient becomes invalid_client),
// and the mark, which fosite keeps as the error's cause, is how the
// provider tells an outage from a bad request.
func fositeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: %w", fosite.ErrNotFound, err)
	case errors.Is(err, ErrConflict):
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, err)
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrInvalidReference):
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// BeginTX starts a transaction (fosite's storage.Transactional).
func (f *FositeStore) BeginTX(ctx context.Context) (context.Context, error) {
	return f.store.BeginTX(ctx)
}

// Commit commits the transaction in ctx.
func (f *FositeStore) Commit(ctx context.Context) error { return f.store.Commit(ctx) }

// Rollback rolls back the transaction in ctx.
func (f *FositeStore) Rollback(ctx context.Context) error { return f.store.Rollback(ctx) }

// GetClient loads a client for fosite; unknown ids are fosite.ErrNotFound,
// which fosite answers with invalid_client. The client's audience, as
// fosite checks it, also holds the audience of every registered scope the
// client may be granted: the most any of its tokens could name. Which of
// them a token names depends on the scopes granted, and is the provider's
// decision.
func (f *FositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := f.store.GetClient(ctx, id)
	if err != nil {
		return nil, fositeErr(err)
	}
	fc, err := f.fositeClient(ctx, c)
	if err != nil {
		return nil, fositeErr(err)
	}
	return fc, nil
}

// fositeClient wraps c with its effective audience.
func (f *FositeStore) fositeClient(ctx context.Context, c *Client) (FositeClient, error) {
	aud := slices.Clone(c.Audience)
	add := func(a string) {
		if a != "" && !slices.Contains(aud, a) {
			aud = append(aud, a)
		}
	}
	for _, a := range f.defaultAudience {
		add(a)
	}
	scopeAud := map[string]string{}
	if len(c.Scopes) > 0 {
		scopes, err := f.store.ListScopes(ctx)
		if err != nil {
			return FositeClient{}, fmt.Errorf("load client %q: list scopes: %w", c.ID, err)
		}
		for _, s := range scopes {
			if slices.Contains(c.Scopes, s.Name) && s.Audience != "" {
				add(s.Audience)
				scopeAud[s.Name] = s.Audience
			}
		}
	}
	return FositeClient{Client: c, audience: aud, scopeAudience: scopeAud}, nil
}

// ClientAssertionJWTValid returns an error if jti was already used and has
// not expired.
func (f *FositeStore) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	exp, err := f.store.GetClientAssertionJTI(ctx, digest(jti))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fositeErr(err)
	}
	if exp.After(f.now()) {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT records jti as used until exp.
func (f *FositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := f.store.SetClientAssertionJTI(ctx, digest(jti), exp)
	if errors.Is(err, ErrConflict) {
		return fosite.ErrJTIKnown
	}
	return fositeErr(err)
}

func (f *FositeStore) create(ctx context.Context, kind TokenKind, key string, req fosite.Requester, expiry fosite.TokenType, accessSig string) error {
	sess := req.GetSession()
	if sess == nil {
		return fmt.Errorf("store %s: request %s has no session", kind, req.GetID())
	}
	body, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("store %s: encode session: %w", kind, err)
	}
	t := &Token{
		Kind:              kind,
		Signature:         digest(key),
		RequestID:         req.GetID(),
		RequestedAt:       req.GetRequestedAt(),
		ClientID:          req.GetClient().GetID(),
		Subject:           sess.GetSubject(),
		RequestedScopes:   req.GetRequestedScopes(),
		GrantedScopes:     req.GetGrantedScopes(),
		RequestedAudience: req.GetRequestedAudience(),
		GrantedAudience:   req.GetGrantedAudience(),
		Form:              req.GetRequestForm().Encode(),
		Session:           body,
		Active:            true,
		ExpiresAt:         sess.GetExpiresAt(expiry),
	}
	if accessSig != "" {
		t.AccessSignature = digest(accessSig)
	}
	if err := f.store.CreateToken(ctx, t); err != nil {
		return fositeErr(fmt.Errorf("store %s: %w", kind, err))
	}
	return nil
}

// get loads a row and rebuilds the fosite request. An inactive row is
// returned together with the row, so callers can choose the fosite error
// that triggers replay handling.
func (f *FositeStore) get(ctx context.Context, kind TokenKind, key string, session fosite.Session) (*fosite.Request, *Token, error) {
	t, err := f.store.GetToken(ctx, kind, digest(key))
	if err != nil {
		return nil, nil, fositeErr(fmt.Errorf("load %s: %w", kind, err))
	}
	c, err := f.store.GetClient(ctx, t.ClientID)
	if err != nil {
		// A deleted client's tokens die with it.
		return nil, nil, fositeErr(fmt.Errorf("load %s: client %q: %w", kind, t.ClientID, err))
	}
	fc, err := f.fositeClient(ctx, c)
	if err != nil {
		return nil, nil, fositeErr(err)
	}
	if session == nil {
		session = f.newSession()
	}
	if err := json.Unmarshal(t.Session, session); err != nil {
		return nil, nil, fositeErr(fmt.Errorf("load %s: decode session: %w", kind, err))
	}
	form, err := url.ParseQuery(t.Form)
	if err != nil {
		return nil, nil, fositeErr(fmt.Errorf("load %s: decode form: %w", kind, err))
	}
	return &fosite.Request{
		ID:                t.RequestID,
		RequestedAt:       t.RequestedAt,
		Client:            fc,
		RequestedScope:    fosite.Arguments(orEmpty(t.RequestedScopes)),
		GrantedScope:      fosite.Arguments(orEmpty(t.GrantedScopes)),
		RequestedAudience: fosite.Arguments(orEmpty(t.RequestedAudience)),
		GrantedAudience:   fosite.Arguments(orEmpty(t.GrantedAudience)),
		Form:              form,
		Session:           session,
	}, t, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (f *FositeStore) delete(ctx context.Context, kind TokenKind, key string) error {
	if err := f.store.DeleteToken(ctx, kind, digest(key)); err != nil {
		return fositeErr(fmt.Errorf("delete %s: %w", kind, err))
	}
	return nil
}

// CreateAuthorizeCodeSession stores an issued authorization code.
func (f *FositeStore) CreateAuthorizeCodeSession(ctx context.Context, signature string, req fosite.Requester) error {
	return f.create(ctx, KindAuthorizeCode, signature, req, fosite.AuthorizeCode, "")
}

// GetAuthorizeCodeSession returns the code's request. A redeemed code comes
// back with its request and fosite.ErrInvalidatedAuthorizeCode, which makes
// fosite revoke everything issued from it (RFC 6749 §4.1.2).
func (f *FositeStore) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, t, err := f.get(ctx, KindAuthorizeCode, signature, session)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession marks a code redeemed. It fails when the
// code was already redeemed, so of two concurrent redemptions one loses.
func (f *FositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	if err := f.store.DeactivateToken(ctx, KindAuthorizeCode, digest(signature)); err != nil {
		return fositeErr(fmt.Errorf("invalidate authorization code: %w", err))
	}
	return nil
}

// CreateAccessTokenSession stores an issued access token.
func (f *FositeStore) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	return f.create(ctx, KindAccessToken, signature, req, fosite.AccessToken, "")
}

// GetAccessTokenSession returns an access token's request.
func (f *FositeStore) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, t, err := f.get(ctx, KindAccessToken, signature, session)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteAccessTokenSession deletes one access token.
func (f *FositeStore) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return f.delete(ctx, KindAccessToken, signature)
}

// CreateRefreshTokenSession stores an issued refresh token, linked to the
// access token issued with it.
func (f *FositeStore) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	return f.create(ctx, KindRefreshToken, signature, req, fosite.RefreshToken, accessSignature)
}

// GetRefreshTokenSession returns a refresh token's request. A spent or
// revoked token comes back with its request and fosite.ErrInactiveToken so
// fosite's reuse detection can revoke the whole grant.
func (f *FositeStore) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, t, err := f.get(ctx, KindRefreshToken, signature, session)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteRefreshTokenSession deletes one refresh token.
func (f *FositeStore) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return f.delete(ctx, KindRefreshToken, signature)
}

// RotateRefreshToken spends the presented refresh token and revokes the
// access tokens of its grant. Losing a race to a concurrent refresh is
// fosite.ErrSerializationFailure. There is no grace period: clients must
// serialize their refresh calls.
func (f *FositeStore) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	if err := f.store.DeactivateToken(ctx, KindRefreshToken, digest(signature)); err != nil {
		return fositeErr(fmt.Errorf("rotate refresh token: %w", err))
	}
	if err := f.store.DeleteTokensByRequest(ctx, KindAccessToken, requestID); err != nil {
		return fositeErr(fmt.Errorf("rotate refresh token: revoke access tokens: %w", err))
	}
	return nil
}

// RevokeRefreshToken marks every refresh token of a grant inactive; the rows
// stay so that later reuse is still detected.
func (f *FositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	if err := f.store.DeactivateTokensByRequest(ctx, KindRefreshToken, requestID); err != nil {
		return fositeErr(fmt.Errorf("revoke refresh tokens: %w", err))
	}
	return nil
}

// RevokeAccessToken deletes every access token of a grant.
func (f *FositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	if err := f.store.DeleteTokensByRequest(ctx, KindAccessToken, requestID); err != nil {
		return fositeErr(fmt.Errorf("revoke access tokens: %w", err))
	}
	return nil
}

// CreateOpenIDConnectSession stores the OIDC request of an authorization
// code, keyed by the raw code.
func (f *FositeStore) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	return f.create(ctx, KindOpenIDConnect, code, req, fosite.AuthorizeCode, "")
}

// GetOpenIDConnectSession returns the OIDC request of a code; ErrNotFound
// for a code issued without openid, which fosite skips quietly.
func (f *FositeStore) GetOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) (fosite.Requester, error) {
	r, _, err := f.get(ctx, KindOpenIDConnect, code, req.GetSession())
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DeleteOpenIDConnectSession deletes the OIDC request of a code.
func (f *FositeStore) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return f.delete(ctx, KindOpenIDConnect, code)
}

// CreatePKCERequestSession stores the PKCE challenge of a code.
func (f *FositeStore) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	return f.create(ctx, KindPKCE, signature, req, fosite.AuthorizeCode, "")
}

// GetPKCERequestSession returns the PKCE request of a code; ErrNotFound
// when the code was issued without PKCE.
func (f *FositeStore) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	r, _, err := f.get(ctx, KindPKCE, signature, session)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DeletePKCERequestSession keeps the PKCE request of a code on purpose.
// fosite deletes it before it compares the verifier, so a token request
// with a wrong verifier would consume the challenge, and a second request
// without any verifier would then redeem the code as if PKCE had never
// been used (a downgrade, RFC 9700 §2.1.1). Kept, the challenge binds the
// code for its whole life; the row expires with the code and is removed
// with its client or user.
func (f *FositeStore) DeletePKCERequestSession(context.Context, string) error {
	return nil
}
