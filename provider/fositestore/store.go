package fositestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/hallpass/hallpass/storage"
)

// Store adapts a storage.Store to the storage interfaces fosite's handlers
// need. It is the one place where storage errors become fosite errors and
// where fosite requests become storage.Token rows, so the backends stay
// plain CRUD.
type Store struct {
	store storage.Store
	// newSession makes the empty session that stored session JSON is decoded
	// into when fosite passes none (the revocation handler does).
	newSession func() fosite.Session
	now        func() time.Time
	audience   AudienceFunc
}

// AudienceFunc returns the audiences fosite lets a client request, and
// keep on refresh: the haystack its AudienceMatchingStrategy searches.
// What belongs there is protocol policy, so the provider decides it; the
// adapter only hands it to fosite.
type AudienceFunc func(ctx context.Context, c *storage.Client) ([]string, error)

// Compile-time proof that Store satisfies everything compose's factories
// assert at runtime; a missing method would otherwise panic at start-up.
var (
	_ fosite.Storage                     = (*Store)(nil)
	_ oauth2.CoreStorage                 = (*Store)(nil)
	_ oauth2.TokenRevocationStorage      = (*Store)(nil)
	_ openid.OpenIDConnectRequestStorage = (*Store)(nil)
	_ pkce.PKCERequestStorage            = (*Store)(nil)
	_ fositestorage.Transactional        = (*Store)(nil)
)

// New wraps s. newSession must return a fresh, empty session of the one
// concrete type the provider uses everywhere. audience gives the client
// GetClient returns its audience as fosite checks it; nil leaves the
// client's registered audiences.
func New(s storage.Store, newSession func() fosite.Session, now func() time.Time, audience AudienceFunc) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{store: s, newSession: newSession, now: now, audience: audience}
}

// Client presents a stored client to fosite. The provider reads the
// registration it carries (name, PKCE exemption, resource servers).
type Client struct {
	*storage.Client
	// audience is what GetAudience answers when set: the AudienceFunc's
	// answer, for the client GetClient loaded.
	audience []string
}

var (
	_ fosite.Client              = Client{}
	_ fosite.OpenIDConnectClient = Client{}
	_ fosite.ResponseModeClient  = Client{}
)

// GetResponseModes allows the query response mode only, named or not:
// authorization codes never travel in fragments or auto-posted forms here.
func (c Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery}
}

// GetID returns the client id.
func (c Client) GetID() string { return c.ID }

// GetHashedSecret returns the stored SHA-256 digest of the secret.
func (c Client) GetHashedSecret() []byte { return c.SecretHash }

// GetRedirectURIs returns the registered redirect URIs.
func (c Client) GetRedirectURIs() []string { return c.RedirectURIs }

// GetGrantTypes returns the grant types the client may use.
func (c Client) GetGrantTypes() fosite.Arguments { return c.GrantTypes }

// GetResponseTypes returns the response types the client may use.
func (c Client) GetResponseTypes() fosite.Arguments { return c.ResponseTypes }

// GetScopes returns the scopes an admin allowed for the client.
func (c Client) GetScopes() fosite.Arguments { return c.Scopes }

// IsPublic reports whether the client has no secret.
func (c Client) IsPublic() bool { return c.TokenEndpointAuthMethod == "none" }

// GetAudience returns the audiences fosite lets the client request: the
// AudienceFunc's answer for a client GetClient loaded, the registered
// audiences otherwise. fosite consults it only for the client making a
// request, never for the client of a stored token row.
func (c Client) GetAudience() fosite.Arguments {
	if c.audience != nil {
		return c.audience
	}
	return c.Audience
}

// GetRequestURIs returns nil: request_uri is not supported.
func (c Client) GetRequestURIs() []string { return nil }

// GetJSONWebKeys returns the client's registered key set (private_key_jwt),
// nil when it registered none or publishes them at a jwks_uri.
func (c Client) GetJSONWebKeys() *jose.JSONWebKeySet { return clientKeySet(c.Client) }

// GetJSONWebKeysURI returns where the client publishes its keys, "" when unset.
func (c Client) GetJSONWebKeysURI() string { return c.JWKSURI }

// GetRequestObjectSigningAlgorithm returns "": request objects are not supported.
func (c Client) GetRequestObjectSigningAlgorithm() string { return "" }

// GetTokenEndpointAuthMethod returns the registered authentication method.
func (c Client) GetTokenEndpointAuthMethod() string { return c.TokenEndpointAuthMethod }

// GetTokenEndpointAuthSigningAlgorithm returns the algorithm the client's
// assertions must use (fosite compares it with their alg header); RS256
// when unset, which only a private_key_jwt client reaches.
func (c Client) GetTokenEndpointAuthSigningAlgorithm() string {
	if c.TokenEndpointAuthSigningAlg == "" {
		return "RS256"
	}
	return c.TokenEndpointAuthSigningAlg
}

// digest turns a token signature (or raw code) into the key that is stored,
// so no usable token material ever sits in the database and keys stay short.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// fositeErr maps storage sentinels to the fosite errors its handlers test
// for. Anything else is marked storage.ErrUnavailable: fosite folds some
// storage errors into client errors (a failed GetClient becomes
// invalid_client), and the mark, which fosite keeps as the error's cause,
// is how the provider tells an outage from a bad request.
func fositeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: %w", fosite.ErrNotFound, err)
	case errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, err)
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, storage.ErrInvalidReference):
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}

// BeginTX starts a transaction (fosite's storage.Transactional).
func (f *Store) BeginTX(ctx context.Context) (context.Context, error) {
	return f.store.BeginTX(ctx)
}

// Commit commits the transaction in ctx.
func (f *Store) Commit(ctx context.Context) error { return f.store.Commit(ctx) }

// Rollback rolls back the transaction in ctx.
func (f *Store) Rollback(ctx context.Context) error { return f.store.Rollback(ctx) }

// GetClient loads a client for fosite; unknown ids are fosite.ErrNotFound,
// which fosite answers with invalid_client. Its audience, as fosite checks
// it, is the AudienceFunc's answer.
func (f *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := f.store.GetClient(ctx, id)
	if err != nil {
		return nil, fositeErr(err)
	}
	fc := Client{Client: c}
	if f.audience != nil {
		if fc.audience, err = f.audience(ctx, c); err != nil {
			return nil, fositeErr(fmt.Errorf("load client %q: audience: %w", id, err))
		}
	}
	return fc, nil
}

// ClientAssertionJWTValid returns an error if jti was already used and has
// not expired.
func (f *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	exp, err := f.store.GetClientAssertionJTI(ctx, digest(jti))
	if errors.Is(err, storage.ErrNotFound) {
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
func (f *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := f.store.SetClientAssertionJTI(ctx, digest(jti), exp)
	if errors.Is(err, storage.ErrConflict) {
		return fosite.ErrJTIKnown
	}
	return fositeErr(err)
}

func (f *Store) create(ctx context.Context, kind storage.TokenKind, key string, req fosite.Requester, expiry fosite.TokenType, accessSig string) error {
	sess := req.GetSession()
	if sess == nil {
		return fmt.Errorf("store %s: request %s has no session", kind, req.GetID())
	}
	body, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("store %s: encode session: %w", kind, err)
	}
	t := &storage.Token{
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
func (f *Store) get(ctx context.Context, kind storage.TokenKind, key string, session fosite.Session) (*fosite.Request, *storage.Token, error) {
	t, err := f.store.GetToken(ctx, kind, digest(key))
	if err != nil {
		return nil, nil, fositeErr(fmt.Errorf("load %s: %w", kind, err))
	}
	c, err := f.store.GetClient(ctx, t.ClientID)
	if err != nil {
		// A deleted client's tokens die with it.
		return nil, nil, fositeErr(fmt.Errorf("load %s: client %q: %w", kind, t.ClientID, err))
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
	// The client goes without its AudienceFunc audience: fosite checks
	// audiences against the client making a request, never against a
	// stored request's, so reading a token costs no policy lookup.
	return &fosite.Request{
		ID:                t.RequestID,
		RequestedAt:       t.RequestedAt,
		Client:            Client{Client: c},
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

func (f *Store) delete(ctx context.Context, kind storage.TokenKind, key string) error {
	if err := f.store.DeleteToken(ctx, kind, digest(key)); err != nil {
		return fositeErr(fmt.Errorf("delete %s: %w", kind, err))
	}
	return nil
}

// CreateAuthorizeCodeSession stores an issued authorization code.
func (f *Store) CreateAuthorizeCodeSession(ctx context.Context, signature string, req fosite.Requester) error {
	return f.create(ctx, storage.KindAuthorizeCode, signature, req, fosite.AuthorizeCode, "")
}

// GetAuthorizeCodeSession returns the code's request. A redeemed code comes
// back with its request and fosite.ErrInvalidatedAuthorizeCode, which makes
// fosite revoke everything issued from it (RFC 6749 §4.1.2).
func (f *Store) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, t, err := f.get(ctx, storage.KindAuthorizeCode, signature, session)
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
func (f *Store) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	if err := f.store.DeactivateToken(ctx, storage.KindAuthorizeCode, digest(signature)); err != nil {
		return fositeErr(fmt.Errorf("invalidate authorization code: %w", err))
	}
	return nil
}

// CreateAccessTokenSession stores an issued access token.
func (f *Store) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	return f.create(ctx, storage.KindAccessToken, signature, req, fosite.AccessToken, "")
}

// GetAccessTokenSession returns an access token's request.
func (f *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, t, err := f.get(ctx, storage.KindAccessToken, signature, session)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteAccessTokenSession deletes one access token.
func (f *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return f.delete(ctx, storage.KindAccessToken, signature)
}

// CreateRefreshTokenSession stores an issued refresh token, linked to the
// access token issued with it.
func (f *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	return f.create(ctx, storage.KindRefreshToken, signature, req, fosite.RefreshToken, accessSignature)
}

// GetRefreshTokenSession returns a refresh token's request. A spent or
// revoked token comes back with its request and fosite.ErrInactiveToken so
// fosite's reuse detection can revoke the whole grant.
func (f *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, t, err := f.get(ctx, storage.KindRefreshToken, signature, session)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteRefreshTokenSession deletes one refresh token.
func (f *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return f.delete(ctx, storage.KindRefreshToken, signature)
}

// RotateRefreshToken spends the presented refresh token and revokes the
// access tokens of its grant. Losing a race to a concurrent refresh is
// fosite.ErrSerializationFailure. There is no grace period: clients must
// serialize their refresh calls.
func (f *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	if err := f.store.DeactivateToken(ctx, storage.KindRefreshToken, digest(signature)); err != nil {
		return fositeErr(fmt.Errorf("rotate refresh token: %w", err))
	}
	if err := f.store.DeleteTokensByRequest(ctx, storage.KindAccessToken, requestID); err != nil {
		return fositeErr(fmt.Errorf("rotate refresh token: revoke access tokens: %w", err))
	}
	return nil
}

// RevokeRefreshToken marks every refresh token of a grant inactive; the rows
// stay so that later reuse is still detected.
func (f *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	if err := f.store.DeactivateTokensByRequest(ctx, storage.KindRefreshToken, requestID); err != nil {
		return fositeErr(fmt.Errorf("revoke refresh tokens: %w", err))
	}
	return nil
}

// RevokeAccessToken deletes every access token of a grant.
func (f *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	if err := f.store.DeleteTokensByRequest(ctx, storage.KindAccessToken, requestID); err != nil {
		return fositeErr(fmt.Errorf("revoke access tokens: %w", err))
	}
	return nil
}

// CreateOpenIDConnectSession stores the OIDC request of an authorization
// code, keyed by the raw code.
func (f *Store) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	return f.create(ctx, storage.KindOpenIDConnect, code, req, fosite.AuthorizeCode, "")
}

// GetOpenIDConnectSession returns the OIDC request of a code; ErrNotFound
// for a code issued without openid, which fosite skips quietly.
func (f *Store) GetOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) (fosite.Requester, error) {
	r, _, err := f.get(ctx, storage.KindOpenIDConnect, code, req.GetSession())
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DeleteOpenIDConnectSession deletes the OIDC request of a code.
func (f *Store) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return f.delete(ctx, storage.KindOpenIDConnect, code)
}

// CreatePKCERequestSession stores the PKCE challenge of a code.
func (f *Store) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	return f.create(ctx, storage.KindPKCE, signature, req, fosite.AuthorizeCode, "")
}

// GetPKCERequestSession returns the PKCE request of a code; ErrNotFound
// when the code was issued without PKCE.
func (f *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	r, _, err := f.get(ctx, storage.KindPKCE, signature, session)
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
func (f *Store) DeletePKCERequestSession(context.Context, string) error {
	return nil
}
