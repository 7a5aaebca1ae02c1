package fositestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
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
	// readAccess, when set, reads self-contained access tokens, which
	// then get no row (SelfContainedAccessTokens); accessLifespan bounds
	// how long a revocation record of one must be kept.
	readAccess     AccessTokenReader
	accessLifespan time.Duration
	// codeSignature, when set, gives a code's signature from the code:
	// a code's PKCE challenge and OpenID Connect request then go into
	// the code's own row (CodeSignatures).
	codeSignature func(ctx context.Context, code string) string
}

// CodeSignatures makes a code one row: given how to find a code's
// signature from the code (fosite's AuthorizeCodeSignature), the PKCE
// challenge and the OpenID Connect request that fosite stores with a code
// in a context of BatchCreates go into the code's row, whose form then
// holds all three requests' parameters, instead of two rows of their
// own; GetPKCERequestSession and GetOpenIDConnectSession find them there.
// Codes stored as three rows (before, or without a batch) are read as
// they are. Call it before the Store is used.
func (f *Store) CodeSignatures(sig func(ctx context.Context, code string) string) {
	f.codeSignature = sig
}

// AccessTokenReader verifies a self-contained access token (its signature,
// issuer and time claims) and reads what it says, filling session as the
// stored session of its grant would be. It returns nil, and no error, for
// a valid token that names no grant (one issued before access tokens were
// self-contained, which has a row).
type AccessTokenReader func(ctx context.Context, token string, session fosite.Session) (*AccessToken, error)

// AccessToken is what a self-contained access token says of itself.
type AccessToken struct {
	// GrantID is the request id of its grant, the one its code and
	// refresh tokens share (its own, for a client's token).
	GrantID  string
	ClientID string
	// ClientEpoch and UserEpoch are the token epochs (storage.Client and
	// storage.User TokenEpoch) it was issued under; UserID is "" for a
	// token a client got for itself.
	ClientEpoch int64
	UserID      string
	UserEpoch   int64
	RequestedAt time.Time
	Scopes      []string
	Audience    []string
}

// revocationMargin is how much longer than an access token's lifespan a
// revocation record is kept: a token of the grant may still be in the
// making when the record is written.
const revocationMargin = time.Minute

// SelfContainedAccessTokens makes access tokens self-contained: none is
// stored. GetAccessTokenSession is then given the whole token (see the
// provider's strategy), reads it with read, and answers from its grant:
// the token stands while no revocation record names its grant or itself
// and the token epochs of its client and user are those it carries.
// lifespan is the longest an access token lives. Call it before the Store
// is used.
func (f *Store) SelfContainedAccessTokens(read AccessTokenReader, lifespan time.Duration) {
	f.readAccess, f.accessLifespan = read, lifespan
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
// for: a lost race (storage.ErrConflict, never a transaction the database
// could not order, storage.ErrTransient) is fosite's serialization
// failure, which it answers invalid_request or invalid_grant; a transient
// one stays storage.ErrUnavailable, a server_error, since fosite's
// transaction cannot be run again here. Anything else is marked
// storage.ErrUnavailable: fosite folds some
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
	case errors.Is(err, storage.ErrInvalidInput):
		// Text or a time no store can hold came with the request: fosite
		// answers invalid_request, not the server_error it gives any
		// other storage error.
		return fosite.ErrInvalidRequest.WithWrap(err).WithHint("The request holds text or a time that hallpass cannot store.")
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}

// BeginTX starts a transaction (fosite's storage.Transactional). In the
// exchange of a code read once (ReadCodeOnce) that grants no refresh
// token, with self-contained access tokens, it starts none: fosite's
// transaction would hold one write, spending the code, which is a
// conditional update of its own, so it saves a BEGIN and a COMMIT. A
// failure after the code is spent then leaves it spent, without tokens.
//
// In a context of ConfirmFirst, a request that will store a refresh token
// (every one but such an exchange of a code that grants none) runs the
// check as the transaction's first statement; when it fails, BeginTX
// rolls the transaction back and returns the check's error, which fosite
// returns as the request's.
func (f *Store) BeginTX(ctx context.Context) (context.Context, error) {
	r, code := ctx.Value(codeReadKey{f}).(*codeRead)
	oneWrite := code && r.oneWrite()
	if oneWrite && f.readAccess != nil {
		return context.WithValue(ctx, noTxKey{f}, true), nil
	}
	ctx, err := f.store.BeginTX(ctx)
	if err != nil {
		return ctx, err
	}
	check, ok := ctx.Value(confirmKey{f}).(confirmFunc)
	if !ok || oneWrite {
		return ctx, nil
	}
	if err := check(ctx); err != nil {
		// fosite rolls back only what it began.
		if rbErr := f.store.Rollback(ctx); rbErr != nil {
			err = errors.Join(err, fmt.Errorf("roll back after a failed confirmation: %w", rbErr))
		}
		return ctx, err
	}
	return ctx, nil
}

// noTxKey marks a context BeginTX began no transaction in.
type noTxKey struct{ f *Store }

func (f *Store) noTx(ctx context.Context) bool {
	no, _ := ctx.Value(noTxKey{f}).(bool)
	return no
}

// Commit commits the transaction in ctx.
func (f *Store) Commit(ctx context.Context) error {
	if f.noTx(ctx) {
		return nil
	}
	return f.store.Commit(ctx)
}

// failureKey is the context key of NoteFailures' note.
type failureKey struct{ f *Store }

// failureNote is the first failure of the database a request met.
type failureNote struct {
	mu  sync.Mutex
	err error
}

// NoteFailures returns a context in which the store keeps the first
// failure of the database (storage.ErrUnavailable) that reading a token
// or revoking a grant meets, for Failure: fosite's revocation handler
// answers such a failure with a bare temporarily_unavailable, which
// leaves out the cause. The context is for one request.
func (f *Store) NoteFailures(ctx context.Context) context.Context {
	return context.WithValue(ctx, failureKey{f}, &failureNote{})
}

// Failure returns the failure NoteFailures kept in ctx, nil if none.
func (f *Store) Failure(ctx context.Context) error {
	n, ok := ctx.Value(failureKey{f}).(*failureNote)
	if !ok {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// note keeps err in ctx's note (NoteFailures) if it is the first failure
// of the database there.
func (f *Store) note(ctx context.Context, err error) {
	n, ok := ctx.Value(failureKey{f}).(*failureNote)
	if !ok || !errors.Is(err, storage.ErrUnavailable) {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.err == nil {
		n.err = err
	}
}

// confirmKey is the context key of ConfirmFirst's check.
type confirmKey struct{ f *Store }

// confirmFunc is ConfirmFirst's check.
type confirmFunc func(ctx context.Context) error

// ConfirmFirst returns a context in which a token request that will store
// a refresh token (a refresh; the exchange of a code that grants
// offline_access) runs check as the first statement of its transaction
// (BeginTX), before the code or refresh token it presents is spent.
//
// First, because a check that locks a row (the user's) must take it
// before the token rows: a change of the user that revokes their tokens
// (a password reset, a disable) locks the user's row, then their token
// rows, and a request taking them the other way round, its token row at
// the spend and the user's at the end, deadlocks with it. Taken first,
// the lock orders the two: a change that committed before is seen by
// check, and one that comes after waits for the commit and then sees,
// and revokes, the new refresh token.
//
// In the transaction, because a failure of check (the database failing,
// or what check refuses) then ends the transaction without a change: the
// code or refresh token presented is not spent, so a client that meets a
// failure of ours may try again, and nothing is issued that check did not
// confirm. The context is for one request.
func (f *Store) ConfirmFirst(ctx context.Context, check func(ctx context.Context) error) context.Context {
	return context.WithValue(ctx, confirmKey{f}, confirmFunc(check))
}

// Rollback rolls back the transaction in ctx.
func (f *Store) Rollback(ctx context.Context) error {
	if f.noTx(ctx) {
		return nil
	}
	return f.store.Rollback(ctx)
}

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

// assertionClientKey is the context key of WithAssertionClient's
// assertionCheck.
type assertionClientKey struct{}

// assertionCheck is one client authentication by assertion: the client
// whose jti is asked about, and the first failure of ours (the
// database's, above all) that looking the jti up or recording it met.
type assertionCheck struct {
	clientID string

	mu  sync.Mutex
	err error
}

// WithAssertionClient returns ctx carrying clientID, the client whose
// assertion (its iss and sub, which fosite checks are both the client's
// id before it asks about the jti) ClientAssertionJWTValid and
// SetClientAssertionJWT are then asked about. fosite passes them the jti
// alone, and a jti is unique per issuer only (RFC 7523 §3): recorded
// without its client, one client's jti would be spent for every other,
// and a client could have another's next (predictable) jti refused as a
// replay. The context is for one client authentication; what failed in
// it is then AssertionFailure's.
func WithAssertionClient(ctx context.Context, clientID string) context.Context {
	return context.WithValue(ctx, assertionClientKey{}, &assertionCheck{clientID: clientID})
}

// AssertionFailure returns the first failure of ours (the database's:
// storage.ErrUnavailable) that ClientAssertionJWTValid or
// SetClientAssertionJWT met in ctx's client authentication
// (WithAssertionClient), nil if none. fosite answers any error of
// ClientAssertionJWTValid as the client's replay (invalid_client, "jti
// already used"), so a database outage would blame the client: its
// caller asks here, once fosite has refused, whether the refusal was
// ours.
func AssertionFailure(ctx context.Context) error {
	c, ok := ctx.Value(assertionClientKey{}).(*assertionCheck)
	if !ok {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// failed keeps err, an error of the assertion methods, in ctx's
// assertionCheck if it is the first failure of ours there, and returns
// it. A refusal (a jti used, text no store can hold) is the client's.
func failed(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, fosite.ErrJTIKnown) || errors.Is(err, storage.ErrInvalidInput) {
		return err
	}
	if c, ok := ctx.Value(assertionClientKey{}).(*assertionCheck); ok {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.err == nil {
			c.err = err
		}
	}
	return err
}

// assertionKeyPrefix starts the replay-store key of a client's jti; the
// legacy key (legacyAssertionKey) is bare hex and the passkey
// ceremonies' starts "passkey:", so the three never meet.
const assertionKeyPrefix = "jti:"

// assertionKey is the replay-store key of jti as used by the client in
// ctx (WithAssertionClient): a digest of both, the client id
// length-prefixed so that no two pairs share an encoding. Without a
// client in ctx it fails rather than record the jti for all clients.
func assertionKey(ctx context.Context, jti string) (string, error) {
	c, ok := ctx.Value(assertionClientKey{}).(*assertionCheck)
	if !ok || c.clientID == "" {
		return "", errors.New("client assertion jti: no client in the context (fositestore.WithAssertionClient)")
	}
	return assertionKeyPrefix + digest(fmt.Sprintf("%d:%s%s", len(c.clientID), c.clientID, jti)), nil
}

// legacyAssertionKey is the key under which releases before the jti was
// recorded per client recorded it, for every client at once. Such a
// record still refuses the jti, for any client, until it expires: during
// a rolling upgrade a replica of the old release may have taken the
// assertion, and a replay of it to a new replica must be refused. Only
// the old release writes these keys, so once its replicas are gone none
// is written, and those left expire within the longest assertion's
// lifetime and jtiGrace.
func legacyAssertionKey(jti string) string { return digest(jti) }

// ClientAssertionJWTValid returns an error if jti was already used by the
// client in ctx (WithAssertionClient), or by any client under the legacy
// key, and that record has not expired. An expired record does not
// refuse, whether or not housekeeping has swept it yet. A failure to
// look (the database's) is kept for AssertionFailure.
func (f *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	key, err := assertionKey(ctx, jti)
	if err != nil {
		return err
	}
	for _, k := range []string{key, legacyAssertionKey(jti)} {
		exp, err := f.store.GetClientAssertionJTI(ctx, k)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return failed(ctx, fmt.Errorf("look up client assertion jti: %w", fositeErr(err)))
		}
		if exp.After(f.now()) {
			return fosite.ErrJTIKnown
		}
	}
	return nil
}

// jtiGrace is how long past its exp a client assertion's jti is still
// remembered. An assertion is accepted only before its exp, but a
// request that found its jti unused just before may record it just
// after (a slow jwks_uri fetch or database in between). Recorded only
// until exp, the record of another use of the same assertion would be
// swept away as expired by that late one, and both uses would pass.
const jtiGrace = 30 * time.Second

// SetClientAssertionJWT records jti as used by the client in ctx
// (WithAssertionClient) until jtiGrace past exp;
// fosite.ErrJTIKnown (invalid_client) if it is recorded already, or if
// that is already past. A record past its time may have been swept by
// the set of another jti, so a use recorded that late cannot tell
// whether it is the first: it is refused as used, never recorded (a
// request stalled that long is retried with a new assertion). A jti used
// again once the record of its earlier use is past its time is recorded
// over that record (storage replaces an expired record atomically), not
// refused until a sweep happens to remove it. A failure to record (the
// database's) is kept for AssertionFailure too.
func (f *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	key, err := assertionKey(ctx, jti)
	if err != nil {
		return err
	}
	until := exp.Add(jtiGrace)
	if !until.After(f.now()) {
		return fosite.ErrJTIKnown
	}
	err = f.store.SetClientAssertionJTI(ctx, key, until)
	if errors.Is(err, storage.ErrConflict) {
		return fosite.ErrJTIKnown
	}
	if err != nil {
		return failed(ctx, fmt.Errorf("record client assertion jti: %w", fositeErr(err)))
	}
	return nil
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
	if b, ok := ctx.Value(batchKey{f}).(*batch); ok {
		form := url.Values{}
		maps.Copy(form, req.GetRequestForm())
		b.rows = append(b.rows, t)
		b.forms = append(b.forms, form)
		return nil
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
	t, err := f.getRow(ctx, kind, digest(key))
	if err != nil {
		return nil, nil, fositeErr(fmt.Errorf("load %s: %w", kind, err))
	}
	req, err := f.request(ctx, kind, t, session)
	return req, t, err
}

// request rebuilds the fosite request of row t, read as a row of kind,
// decoding its session into session (a new one when nil).
func (f *Store) request(ctx context.Context, kind storage.TokenKind, t *storage.Token, session fosite.Session) (*fosite.Request, error) {
	r, _ := ctx.Value(codeReadKey{f}).(*codeRead)
	c, err := r.client(ctx, f.store, t)
	if err != nil {
		// A deleted client's tokens die with it.
		return nil, fositeErr(fmt.Errorf("load %s: client %q: %w", kind, t.ClientID, err))
	}
	if session == nil {
		session = f.newSession()
	}
	if r == nil || !r.decoded(t, session) {
		if err := json.Unmarshal(t.Session, session); err != nil {
			return nil, fositeErr(fmt.Errorf("load %s: decode session: %w", kind, err))
		}
	}
	form, err := r.form(t)
	if err != nil {
		return nil, fositeErr(fmt.Errorf("load %s: decode form: %w", kind, err))
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
	}, nil
}

// getRow reads a row: from the code exchange's one read when ctx carries
// one (ReadCodeOnce) and the row is of its code, from the store otherwise.
func (f *Store) getRow(ctx context.Context, kind storage.TokenKind, sig string) (*storage.Token, error) {
	r, ok := ctx.Value(codeReadKey{f}).(*codeRead)
	if !ok || !r.covers(kind, sig) {
		return f.store.GetToken(ctx, kind, sig)
	}
	if err := r.load(ctx, f.store); err != nil {
		return nil, err
	}
	t, ok := r.rows[kind]
	if !ok {
		return nil, fmt.Errorf("get %s token: %w", kind, storage.ErrNotFound)
	}
	return t, nil
}

// codeRows reads the rows of a code, in one statement: the code's own
// (by the digest code of its signature) and the PKCE and OpenID Connect
// rows of a code stored as three (by code, and by the digest oidc of the
// code itself); "" leaves a key out. A row that does not exist is
// missing from the map.
func (f *Store) codeRows(ctx context.Context, code, oidc string) (map[storage.TokenKind]*storage.Token, error) {
	r, ok := ctx.Value(codeReadKey{f}).(*codeRead)
	if ok && (code == "" || code == r.code) && (oidc == "" || oidc == r.oidc) {
		if err := r.load(ctx, f.store); err != nil {
			return nil, err
		}
		return r.rows, nil
	}
	var keys []storage.TokenKey
	if code != "" {
		keys = append(keys, storage.TokenKey{Kind: storage.KindAuthorizeCode, Signature: code}, storage.TokenKey{Kind: storage.KindPKCE, Signature: code})
	}
	if oidc != "" {
		keys = append(keys, storage.TokenKey{Kind: storage.KindOpenIDConnect, Signature: oidc})
	}
	rows, err := f.store.GetTokens(ctx, keys)
	if err != nil {
		return nil, err
	}
	m := make(map[storage.TokenKind]*storage.Token, len(rows))
	for i := range rows {
		m[rows[i].Kind] = &rows[i]
	}
	return m, nil
}

// codeReadKey is the context key of a code exchange's one read.
type codeReadKey struct{ f *Store }

// codeRead is the one read of a code's rows in a code exchange: the code
// and its PKCE challenge (keyed by the digest of the code's signature) and
// its OpenID Connect request (by the digest of the code).
type codeRead struct {
	code, oidc string
	loaded     bool
	rows       map[storage.TokenKind]*storage.Token
	// sessions are the sessions a row's session was decoded into, by
	// session: fosite hands the one session it decoded the code into
	// back for the code's PKCE and OpenID Connect requests, which are
	// the same row, and decoding it again would change nothing.
	sessions map[fosite.Session]*storage.Token
	// userEpoch, when set (SpendAtUserEpoch), is the token epoch the
	// code's user must still have for the code to be spent.
	userEpoch *int64
	// replayed is set when the code was found spent (CodeReplayed).
	replayed bool
	// forms are the rows' forms, parsed once: fosite rebuilds the code's
	// request four times (the code twice, its PKCE and OpenID Connect
	// requests), each from the same row.
	forms map[*storage.Token]url.Values
	// rowsClient is the rows' client (one code, one client), read once.
	rowsClient *storage.Client
}

// held reports whether t is one of the rows this read holds.
func (r *codeRead) held(t *storage.Token) bool {
	for _, row := range r.rows {
		if row == t {
			return true
		}
	}
	return false
}

// form returns the parsed form of t: a copy of the one parse of a row
// this read holds (r may be nil), a parse of its own otherwise. The copy
// is shallow; fosite reads a stored request's form and never changes it.
func (r *codeRead) form(t *storage.Token) (url.Values, error) {
	form, err := r.parsed(t)
	if err != nil || r == nil || !r.held(t) {
		return form, err
	}
	return maps.Clone(form), nil
}

// parsed returns the parsed form of t, parsed once for a row this read
// holds (r may be nil), for reading only.
func (r *codeRead) parsed(t *storage.Token) (url.Values, error) {
	if r == nil || !r.held(t) {
		return url.ParseQuery(t.Form)
	}
	if form, ok := r.forms[t]; ok {
		return form, nil
	}
	form, err := url.ParseQuery(t.Form)
	if err != nil {
		return nil, err
	}
	r.forms[t] = form
	return form, nil
}

// client returns the client of row t: read once for the rows this read
// holds (r may be nil), from s each time otherwise. The rows of one code
// share one client, which fosite does not change.
func (r *codeRead) client(ctx context.Context, s storage.Store, t *storage.Token) (*storage.Client, error) {
	if r == nil || !r.held(t) {
		return s.GetClient(ctx, t.ClientID)
	}
	if c := r.rowsClient; c != nil && c.ID == t.ClientID {
		return c, nil
	}
	c, err := s.GetClient(ctx, t.ClientID)
	if err != nil {
		return nil, err
	}
	r.rowsClient = c
	return c, nil
}

// SpendAtUserEpoch makes the exchange in ctx (ReadCodeOnce) spend its code
// only if the code's user still has token epoch epoch, so that a user
// deleted, disabled, given a new password or otherwise signed out
// everywhere after the code's issue read them, and before its write, gets
// no tokens from it.
func (f *Store) SpendAtUserEpoch(ctx context.Context, epoch int64) {
	if r, ok := ctx.Value(codeReadKey{f}).(*codeRead); ok {
		r.userEpoch = &epoch
	}
}

// oneWrite reports whether the exchange of the code read writes one row
// at most: spending the code, which grants no refresh token (none of
// fosite's refresh-token scopes). False before the code is read.
func (r *codeRead) oneWrite() bool {
	t, ok := r.rows[storage.KindAuthorizeCode]
	return r.loaded && ok && !fosite.Arguments(t.GrantedScopes).HasOneOf("offline", "offline_access")
}

// load reads the rows, once.
func (r *codeRead) load(ctx context.Context, s storage.Store) error {
	if r.loaded {
		return nil
	}
	rows, err := s.GetTokens(ctx, []storage.TokenKey{
		{Kind: storage.KindAuthorizeCode, Signature: r.code},
		{Kind: storage.KindPKCE, Signature: r.code},
		{Kind: storage.KindOpenIDConnect, Signature: r.oidc},
	})
	if err != nil {
		return err
	}
	for i := range rows {
		r.rows[rows[i].Kind] = &rows[i]
	}
	r.loaded = true
	return nil
}

// decoded reports whether t's session was decoded into session already,
// and notes that it is about to be, if not. Only the rows this read holds
// count.
func (r *codeRead) decoded(t *storage.Token, session fosite.Session) bool {
	if !r.held(t) || reflect.TypeOf(session).Kind() != reflect.Pointer {
		// Only a pointer is the same session when handed back.
		return false
	}
	if r.sessions[session] == t {
		return true
	}
	r.sessions[session] = t
	return false
}

func (r *codeRead) covers(kind storage.TokenKind, sig string) bool {
	switch kind {
	case storage.KindAuthorizeCode, storage.KindPKCE:
		return sig == r.code
	case storage.KindOpenIDConnect:
		return sig == r.oidc
	}
	return false
}

// ReadCodeOnce returns a context in which the exchange of code, whose
// signature is signature, reads the code's rows (the code, its PKCE
// challenge, its OpenID Connect request) once, in one statement, however
// often fosite asks for them: it reads the code twice, then the other two.
// Reading the code once is safe: spending it is a conditional update
// (InvalidateAuthorizeCodeSession), so of two exchanges of one code only
// one spends it, whatever each read. The context is for one request.
func (f *Store) ReadCodeOnce(ctx context.Context, code, signature string) context.Context {
	return context.WithValue(ctx, codeReadKey{f}, &codeRead{code: digest(signature), oidc: digest(code),
		rows: make(map[storage.TokenKind]*storage.Token, 3), sessions: map[fosite.Session]*storage.Token{},
		forms: map[*storage.Token]url.Values{}})
}

// ReadCodeScopes returns the scopes granted with the code read in ctx
// (ReadCodeOnce), once read; false when there is none.
func (f *Store) ReadCodeScopes(ctx context.Context) ([]string, bool) {
	t, ok := f.readCode(ctx)
	if !ok {
		return nil, false
	}
	return t.GrantedScopes, true
}

// ReadCodeAudience returns the audience granted with the code read in ctx
// (ReadCodeOnce), once read; false when there is none.
func (f *Store) ReadCodeAudience(ctx context.Context) ([]string, bool) {
	t, ok := f.readCode(ctx)
	if !ok {
		return nil, false
	}
	return t.GrantedAudience, true
}

// readCode returns the code's row of the read in ctx, once read.
func (f *Store) readCode(ctx context.Context) (*storage.Token, bool) {
	r, ok := ctx.Value(codeReadKey{f}).(*codeRead)
	if !ok || !r.loaded {
		return nil, false
	}
	t, ok := r.rows[storage.KindAuthorizeCode]
	return t, ok
}

// batchKey is the context key of a batch of rows to create.
type batchKey struct{ f *Store }

// batch holds the rows fosite stored in a context of BatchCreates, each
// with its form, which a code's row extends (intoCode).
type batch struct {
	rows  []*storage.Token
	forms []url.Values
	// touch, when set, is a browser session to touch with the rows
	// (TouchWithBatch).
	touch *sessionTouch
}

// sessionTouch is a browser session's id and the last-seen time to
// record for it.
type sessionTouch struct {
	id string
	at time.Time
}

// intoCode puts the PKCE or OpenID Connect request req into the row, in
// ctx's batch, of the code whose signature's digest is sig: its form is
// added to the row's. False when there is no such row (or the Store
// keeps a code's requests apart): the caller stores req as a row of its
// own.
func (f *Store) intoCode(ctx context.Context, sig string, req fosite.Requester) bool {
	b, ok := ctx.Value(batchKey{f}).(*batch)
	if !ok || f.codeSignature == nil {
		return false
	}
	for i, t := range b.rows {
		if t.Kind == storage.KindAuthorizeCode && t.Signature == sig && t.RequestID == req.GetID() {
			for k, vs := range req.GetRequestForm() {
				if _, ok := b.forms[i][k]; !ok {
					b.forms[i][k] = vs
				}
			}
			return true
		}
	}
	return false
}

// BatchCreates returns a context in which the rows fosite stores are kept
// back, to be written together, in one statement, by WriteBatch: an
// authorization code, its PKCE challenge and its OpenID Connect request
// then cost one write, all or nothing, without a transaction around them.
func (f *Store) BatchCreates(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchKey{f}, &batch{})
}

// TouchWithBatch makes WriteBatch of ctx's batch (BatchCreates) also set
// the last-seen time of browser session id to at, in the same write
// (storage.Store.CreateTokensTouching): a signed-in browser's
// authorization request then writes once, not twice. False when ctx
// carries no batch.
func (f *Store) TouchWithBatch(ctx context.Context, id string, at time.Time) bool {
	b, ok := ctx.Value(batchKey{f}).(*batch)
	if ok {
		b.touch = &sessionTouch{id: id, at: at}
	}
	return ok
}

// WriteBatch writes the rows kept back in ctx (BatchCreates), with the
// session touch TouchWithBatch left, if any.
func (f *Store) WriteBatch(ctx context.Context) error {
	b, ok := ctx.Value(batchKey{f}).(*batch)
	if !ok {
		return errors.New("write batch: no batch in ctx")
	}
	rows, touch := b.rows, b.touch
	for i, t := range rows {
		t.Form = b.forms[i].Encode()
	}
	b.rows, b.forms, b.touch = nil, nil, nil
	var err error
	if touch != nil {
		err = f.store.CreateTokensTouching(ctx, rows, touch.id, touch.at)
	} else {
		err = f.store.CreateTokens(ctx, rows)
	}
	if err != nil {
		return fositeErr(fmt.Errorf("store %d token rows: %w", len(rows), err))
	}
	return nil
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
// fosite revoke everything issued from it (RFC 6749 §4.1.2); in a code
// exchange's context (ReadCodeOnce) CodeReplayed then says so. A code
// that was never redeemed and whose grant ended since is not found: the
// end deleted it (storage.Store.RevokeTokensByClient).
func (f *Store) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, t, err := f.get(ctx, storage.KindAuthorizeCode, signature, session)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		if r, ok := ctx.Value(codeReadKey{f}).(*codeRead); ok && r.covers(storage.KindAuthorizeCode, digest(signature)) {
			r.replayed = true
		}
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// CodeReplayed reports whether the exchange in ctx (ReadCodeOnce) found its
// code spent (GetAuthorizeCodeSession), and the code's grant: a replay,
// since only an exchange spends a code, for which fosite has revoked the
// grant.
func (f *Store) CodeReplayed(ctx context.Context) (grantID string, ok bool) {
	r, ok := ctx.Value(codeReadKey{f}).(*codeRead)
	if !ok || !r.replayed {
		return "", false
	}
	if t, ok := r.rows[storage.KindAuthorizeCode]; ok {
		grantID = t.RequestID
	}
	return grantID, true
}

// ErrCodeEnded is InvalidateAuthorizeCodeSession's answer for a code that
// its exchange read unspent and then could not spend because its grant
// ended in between: the end deleted the code, or (SpendAtUserEpoch) the
// user's token epoch moved on. It wraps fosite.ErrNotFound. The exchange
// lost no race for the code to another exchange: it is no replay.
var ErrCodeEnded = fmt.Errorf("%w: the authorization code's grant has ended", fosite.ErrNotFound)

// InvalidateAuthorizeCodeSession marks a code redeemed. It fails when the
// code was already redeemed, so of two concurrent redemptions one loses
// (fosite.ErrSerializationFailure), and with ErrCodeEnded when the code's
// grant ended since the code was read.
func (f *Store) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	sig := digest(signature)
	r, ok := ctx.Value(codeReadKey{f}).(*codeRead)
	ok = ok && r.covers(storage.KindAuthorizeCode, sig)
	var err error
	if ok && r.userEpoch != nil {
		err = f.store.DeactivateTokenAtEpoch(ctx, storage.KindAuthorizeCode, sig, *r.userEpoch)
	} else {
		err = f.store.DeactivateToken(ctx, storage.KindAuthorizeCode, sig)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("invalidate authorization code: %w: %w", ErrCodeEnded, err)
	}
	if err != nil {
		return fositeErr(fmt.Errorf("invalidate authorization code: %w", err))
	}
	if ok {
		if t, ok := r.rows[storage.KindAuthorizeCode]; ok {
			t.Active = false
		}
	}
	return nil
}

// CreateAccessTokenSession stores an issued access token, unless access
// tokens are self-contained.
func (f *Store) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	if f.readAccess != nil {
		return nil
	}
	return f.create(ctx, storage.KindAccessToken, signature, req, fosite.AccessToken, "")
}

// GetAccessTokenSession returns an access token's request. Given a whole
// self-contained token, it reads the token and asks the store only whether
// it still stands; a token that is not one, or any other signature, is
// looked up by its row.
func (f *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (_ fosite.Requester, err error) {
	defer func() { f.note(ctx, err) }()
	if f.readAccess != nil && strings.Count(signature, ".") == 2 {
		req, err := f.getSelfContained(ctx, signature, session)
		if req != nil || err != nil {
			return req, err
		}
	}
	req, t, err := f.get(ctx, storage.KindAccessToken, jwsSignature(signature), session)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// getSelfContained answers GetAccessTokenSession for a whole token; nil
// and no error for a valid token that names no grant. A revoked token
// comes back with its request and fosite.ErrInactiveToken.
func (f *Store) getSelfContained(ctx context.Context, token string, session fosite.Session) (fosite.Requester, error) {
	if session == nil {
		session = f.newSession()
	}
	at, err := f.readAccess(ctx, token, session)
	if err != nil {
		return nil, fmt.Errorf("%w: read access token: %w", fosite.ErrNotFound, err)
	}
	if at == nil {
		return nil, nil
	}
	c, err := f.store.GetClient(ctx, at.ClientID)
	if err != nil {
		// A deleted client's tokens die with it.
		return nil, fositeErr(fmt.Errorf("load access token: client %q: %w", at.ClientID, err))
	}
	st, err := f.store.AccessTokenState(ctx, []string{grantRevocation(at.GrantID), tokenRevocation(digest(jwsSignature(token)))}, at.UserID)
	if err != nil {
		return nil, fositeErr(fmt.Errorf("load access token: %w", err))
	}
	req := &fosite.Request{
		ID:                at.GrantID,
		RequestedAt:       at.RequestedAt,
		Client:            Client{Client: c},
		RequestedScope:    fosite.Arguments(orEmpty(at.Scopes)),
		GrantedScope:      fosite.Arguments(orEmpty(at.Scopes)),
		RequestedAudience: fosite.Arguments(orEmpty(at.Audience)),
		GrantedAudience:   fosite.Arguments(orEmpty(at.Audience)),
		Form:              url.Values{},
		Session:           session,
	}
	if st.Revoked || c.TokenEpoch != at.ClientEpoch || (at.UserID != "" && (!st.UserFound || st.UserEpoch != at.UserEpoch)) {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// grantRevocation and tokenRevocation name the revocation records of a
// grant and of one access token (by the digest of its signature).
func grantRevocation(requestID string) string { return storage.GrantRevocationID(requestID) }
func tokenRevocation(sigDigest string) string { return "token:" + sigDigest }

// jwsSignature returns the signature segment of a compact JWS, s itself
// when it is none (it is then a signature already).
func jwsSignature(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// revokeAccess records the revocation of the self-contained access tokens
// ids name, for as long as any of them can live.
func (f *Store) revokeAccess(ctx context.Context, ids ...string) error {
	return f.store.RevokeAccess(ctx, ids, f.now().Add(f.accessLifespan+revocationMargin))
}

// DeleteAccessTokenSession deletes one access token: its row, or, given a
// whole self-contained token, a revocation record of it.
func (f *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	if f.readAccess != nil && strings.Count(signature, ".") == 2 {
		if err := f.revokeAccess(ctx, tokenRevocation(digest(jwsSignature(signature)))); err != nil {
			return fositeErr(fmt.Errorf("revoke access token: %w", err))
		}
	}
	return f.delete(ctx, storage.KindAccessToken, jwsSignature(signature))
}

// CreateRefreshTokenSession stores an issued refresh token, linked to the
// access token issued with it.
func (f *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	return f.create(ctx, storage.KindRefreshToken, signature, req, fosite.RefreshToken, accessSignature)
}

// ErrGrantEnded is GetRefreshTokenSession's answer for an inactive refresh
// token whose grant has ended: no refresh token of the grant is active any
// more (its client revoked it, the user withdrew consent or signed out
// of it, a sweep or an earlier replay ended it). It wraps
// fosite.ErrNotFound, so fosite refuses the token as invalid_grant without
// running its reuse detection: there is no live grant left to protect,
// and an app presenting its own revoked token is no theft.
var ErrGrantEnded = fmt.Errorf("%w: the refresh token's grant has ended", fosite.ErrNotFound)

// ErrRefreshRotated is GetRefreshTokenSession's answer for a refresh
// token spent by a rotation, presented again. It wraps
// fosite.ErrInactiveToken, so fosite runs its reuse detection: whoever
// presents a rotated token replays it, whether or not its grant has
// ended since. An ended grant is no excuse for it: a thief who refreshed
// first and then ended the grant (revoking it with an access token of the
// grant, or a sign-out) would otherwise turn the legitimate app's replay,
// the one sign of the theft, into a quiet invalid_grant.
var ErrRefreshRotated = fmt.Errorf("%w: the refresh token was rotated", fosite.ErrInactiveToken)

// GetRefreshTokenSession returns a refresh token's request. A spent token
// of a grant that still stands, or one spent by a rotation, comes back
// with its request and fosite.ErrInactiveToken (ErrRefreshRotated for
// the latter) so fosite's reuse detection can revoke the whole grant; a
// token revoked without being rotated, of a grant that has ended, is
// ErrGrantEnded. Both checks run only for an inactive token.
func (f *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (_ fosite.Requester, err error) {
	defer func() { f.note(ctx, err) }()
	req, t, err := f.get(ctx, storage.KindRefreshToken, signature, session)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		live, err := f.store.HasActiveToken(ctx, storage.KindRefreshToken, t.RequestID)
		if err != nil {
			return nil, fositeErr(fmt.Errorf("load %s: look up its grant: %w", storage.KindRefreshToken, err))
		}
		// A rotation stores the spent token's successor in its
		// transaction; a revocation stores none.
		rotated, err := f.store.HasTokenAfter(ctx, storage.KindRefreshToken, t.RequestID, t.RequestedAt)
		if err != nil {
			return nil, fositeErr(fmt.Errorf("load %s: look for its successor: %w", storage.KindRefreshToken, err))
		}
		switch {
		case rotated:
			return req, ErrRefreshRotated
		case !live:
			return nil, ErrGrantEnded
		}
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
	if f.readAccess != nil {
		// The access token issued with the spent refresh token ends; the
		// one issued now, of the same grant, stands.
		t, err := f.store.GetToken(ctx, storage.KindRefreshToken, digest(signature))
		if err != nil {
			return fositeErr(fmt.Errorf("rotate refresh token: %w", err))
		}
		if t.AccessSignature != "" {
			if err := f.revokeAccess(ctx, tokenRevocation(t.AccessSignature)); err != nil {
				return fositeErr(fmt.Errorf("rotate refresh token: revoke its access token: %w", err))
			}
		}
	}
	if err := f.store.DeleteTokensByRequest(ctx, storage.KindAccessToken, requestID); err != nil {
		return fositeErr(fmt.Errorf("rotate refresh token: revoke access tokens: %w", err))
	}
	return nil
}

// RevokeRefreshToken marks every refresh token of a grant inactive; the rows
// stay so that later reuse is still detected.
func (f *Store) RevokeRefreshToken(ctx context.Context, requestID string) (err error) {
	defer func() { f.note(ctx, err) }()
	if err := f.store.DeactivateTokensByRequest(ctx, storage.KindRefreshToken, requestID); err != nil {
		return fositeErr(fmt.Errorf("revoke refresh tokens: %w", err))
	}
	return nil
}

// RevokeAccessToken ends every access token of a grant: it deletes their
// rows and, for self-contained ones, records the grant's revocation.
func (f *Store) RevokeAccessToken(ctx context.Context, requestID string) (err error) {
	defer func() { f.note(ctx, err) }()
	if f.readAccess != nil {
		if err := f.revokeAccess(ctx, grantRevocation(requestID)); err != nil {
			return fositeErr(fmt.Errorf("revoke access tokens: %w", err))
		}
	}
	if err := f.store.DeleteTokensByRequest(ctx, storage.KindAccessToken, requestID); err != nil {
		return fositeErr(fmt.Errorf("revoke access tokens: %w", err))
	}
	return nil
}

// CreateOpenIDConnectSession stores the OIDC request of an authorization
// code: in the code's row (CodeSignatures), or in a row of its own keyed
// by the raw code.
func (f *Store) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	if f.codeSignature != nil && f.intoCode(ctx, digest(f.codeSignature(ctx, code)), req) {
		return nil
	}
	return f.create(ctx, storage.KindOpenIDConnect, code, req, fosite.AuthorizeCode, "")
}

// GetOpenIDConnectSession returns the OIDC request of a code: its own
// row, or else the code's row when that grants openid (fosite stores an
// OIDC request for every code that does), without its id_token_hint;
// ErrNotFound for a code issued without openid, which fosite skips
// quietly.
func (f *Store) GetOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) (fosite.Requester, error) {
	oidc, codeSig := digest(code), ""
	if r, ok := ctx.Value(codeReadKey{f}).(*codeRead); ok && r.oidc == oidc {
		// The exchange's read already knows the code's signature.
		codeSig = r.code
	} else if f.codeSignature != nil {
		codeSig = digest(f.codeSignature(ctx, code))
	}
	rows, err := f.codeRows(ctx, codeSig, oidc)
	if err != nil {
		return nil, fositeErr(fmt.Errorf("load %s: %w", storage.KindOpenIDConnect, err))
	}
	t := rows[storage.KindOpenIDConnect]
	if c := rows[storage.KindAuthorizeCode]; t == nil && c != nil && slices.Contains(c.GrantedScopes, "openid") {
		t = c
	}
	if t == nil {
		return nil, fositeErr(fmt.Errorf("load %s: %w", storage.KindOpenIDConnect, storage.ErrNotFound))
	}
	oreq, err := f.request(ctx, storage.KindOpenIDConnect, t, req.GetSession())
	if err != nil {
		return nil, err
	}
	// The id_token_hint was checked when the code was issued (hallpass's
	// check, then fosite's ValidatePrompt); at the exchange fosite would
	// only decode it again, and answer server_error once its key is no
	// longer published (revoked, or retired and removed, since).
	oreq.Form.Del("id_token_hint")
	return oreq, nil
}

// DeleteOpenIDConnectSession keeps the OIDC request of a code: fosite
// deletes it once the code is spent, in a write of its own, but it is
// only ever read after its code was found active (fosite's code handler
// runs first and refuses a spent code), so once the code is spent it is
// never read again. It expires with the code and is removed with its
// client or user, like the PKCE challenge.
func (f *Store) DeleteOpenIDConnectSession(context.Context, string) error {
	return nil
}

// CreatePKCERequestSession stores the PKCE challenge of a code: in the
// code's row (CodeSignatures), or in a row of its own.
func (f *Store) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	if f.intoCode(ctx, digest(signature), req) {
		return nil
	}
	return f.create(ctx, storage.KindPKCE, signature, req, fosite.AuthorizeCode, "")
}

// GetPKCERequestSession returns the PKCE request of a code: its own row,
// or else the code's row when that holds a code_challenge; ErrNotFound
// when the code was issued without PKCE.
func (f *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	rows, err := f.codeRows(ctx, digest(signature), "")
	if err != nil {
		return nil, fositeErr(fmt.Errorf("load %s: %w", storage.KindPKCE, err))
	}
	t := rows[storage.KindPKCE]
	if c := rows[storage.KindAuthorizeCode]; t == nil && c != nil && f.hasParam(ctx, c, "code_challenge") {
		t = c
	}
	if t == nil {
		return nil, fositeErr(fmt.Errorf("load %s: %w", storage.KindPKCE, storage.ErrNotFound))
	}
	return f.request(ctx, storage.KindPKCE, t, session)
}

// hasParam reports whether the form of row t has a non-empty name; the
// form is parsed once for a row of the exchange's one read.
func (f *Store) hasParam(ctx context.Context, t *storage.Token, name string) bool {
	r, _ := ctx.Value(codeReadKey{f}).(*codeRead)
	v, err := r.parsed(t)
	return err == nil && v.Get(name) != ""
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
