package storage

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when the requested row does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrConflict is returned when a write loses to an existing row or to a
// concurrent writer: a duplicate primary key, a second active signing key, or a
// conditional update that matched no row because another writer got there
// first. Callers may retry or report 409.
var ErrConflict = errors.New("storage: conflict")

// Client is a registered OAuth 2.0 client.
type Client struct {
	ID string
	// SecretHash is the SHA-256 digest of the client secret; empty for public
	// clients (TokenEndpointAuthMethod "none").
	SecretHash             []byte
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	ResponseTypes          []string
	// Scopes are the scopes an admin allowed for this client; a token never
	// carries a scope outside this list.
	Scopes []string
	// Audience lists the resource servers this client may request tokens for.
	Audience                []string
	TokenEndpointAuthMethod string
	// SkipConsent marks a first-party client whose users are not asked for consent.
	SkipConsent bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TokenKind says which fosite table a Token row belongs to.
type TokenKind string

// The kinds of token rows hallpass keeps. Each kind has its own keyspace: the
// same signature may exist under two kinds.
const (
	KindAuthorizeCode TokenKind = "authorize_code"
	KindAccessToken   TokenKind = "access_token"
	KindRefreshToken  TokenKind = "refresh_token"
	KindOpenIDConnect TokenKind = "oidc"
	KindPKCE          TokenKind = "pkce"
)

// Token is one persisted fosite request: an authorization code, access token,
// refresh token, OIDC or PKCE session. Signature is already a digest of the
// token's signature (never the token itself).
type Token struct {
	Kind        TokenKind
	Signature   string
	RequestID   string
	RequestedAt time.Time
	ClientID    string
	// Subject is the user (or, for client credentials, the client) the token
	// was issued to; kept for admin queries.
	Subject           string
	RequestedScopes   []string
	GrantedScopes     []string
	RequestedAudience []string
	GrantedAudience   []string
	// Form is the sanitized request form, url-encoded.
	Form string
	// Session is the JSON-encoded fosite session.
	Session []byte
	Active  bool
	// ExpiresAt is when the row may be garbage-collected.
	ExpiresAt time.Time
	// AccessSignature links a refresh token to the access token issued with it.
	AccessSignature string
}

// KeyState is the lifecycle state of a signing key.
type KeyState string

// Signing-key states, in lifecycle order: next (published, not signing),
// active (the one signing key), retired (published for verification only).
const (
	KeyNext    KeyState = "next"
	KeyActive  KeyState = "active"
	KeyRetired KeyState = "retired"
)

// Key is a signing key as stored: the public half as a JWK, the private half
// encrypted under the operator's key-encryption secret.
type Key struct {
	ID        string // the JWS kid
	Algorithm string // e.g. RS256
	State     KeyState
	// PublicJWK is the JSON encoding of the public JWK.
	PublicJWK []byte
	// PrivateEncrypted is the AEAD-sealed private key; never plaintext.
	PrivateEncrypted []byte
	CreatedAt        time.Time
	// ActivatesAt, RetiresAt and RemovesAt are the planned (or actual) times of
	// the next state changes; zero when not planned.
	ActivatesAt time.Time
	RetiresAt   time.Time
	RemovesAt   time.Time
}

// Store is everything hallpass persists. Implementations must be safe for
// concurrent use, store every time in UTC, and, when ctx carries a
// transaction started by BeginTX, run every method inside it.
type Store interface {
	// Migrate applies the embedded schema migrations that are not yet applied.
	Migrate(ctx context.Context) error
	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the database handle.
	Close() error

	// BeginTX starts a transaction and returns a context carrying it;
	// Commit and Rollback end it. (fosite's storage.Transactional.)
	BeginTX(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error

	// CreateClient stores a new client; ErrConflict if the id exists.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns ErrNotFound for an unknown id.
	GetClient(ctx context.Context, id string) (*Client, error)
	// ListClients returns every client ordered by id.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient replaces every field but ID and CreatedAt; ErrNotFound if absent.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient deletes the client and every token row issued to it;
	// ErrNotFound if absent.
	DeleteClient(ctx context.Context, id string) error

	// CreateToken stores a token row; ErrConflict if (kind, signature) exists.
	CreateToken(ctx context.Context, t *Token) error
	// GetToken returns the row whether active or not; ErrNotFound if absent.
	GetToken(ctx context.Context, kind TokenKind, signature string) (*Token, error)
	// DeactivateToken marks an active row inactive. ErrNotFound if absent,
	// ErrConflict if it was already inactive (a concurrent caller won).
	DeactivateToken(ctx context.Context, kind TokenKind, signature string) error
	// DeleteToken deletes one row; ErrNotFound if absent.
	DeleteToken(ctx context.Context, kind TokenKind, signature string) error
	// DeactivateTokensByRequest marks every row of kind with requestID inactive.
	DeactivateTokensByRequest(ctx context.Context, kind TokenKind, requestID string) error
	// DeleteTokensByRequest deletes every row of kind with requestID.
	DeleteTokensByRequest(ctx context.Context, kind TokenKind, requestID string) error

	// SetClientAssertionJTI deletes expired JTIs, then records jti until exp;
	// ErrConflict if jti is already recorded and unexpired.
	SetClientAssertionJTI(ctx context.Context, jti string, exp time.Time) error
	// GetClientAssertionJTI returns the expiry of a recorded jti; ErrNotFound if unknown.
	GetClientAssertionJTI(ctx context.Context, jti string) (time.Time, error)

	// CreateKey stores a signing key. ErrConflict if the kid exists, or if
	// k.State is active and another active key exists (at most one active key).
	CreateKey(ctx context.Context, k *Key) error
	// ListKeys returns every key ordered by CreatedAt.
	ListKeys(ctx context.Context) ([]Key, error)
	// UpdateKey replaces State and the planned times of key k.ID; ErrNotFound
	// if absent, ErrConflict if it would make a second active key.
	UpdateKey(ctx context.Context, k *Key) error
	// DeleteKey removes a key; ErrNotFound if absent.
	DeleteKey(ctx context.Context, id string) error

	// CreateSetting stores a named value once; ErrConflict if it exists.
	// Used for values that must survive restarts and be shared by replicas
	// (the generated admin token's digest, the sealed token HMAC secret).
	CreateSetting(ctx context.Context, name string, value []byte) error
	// GetSetting returns ErrNotFound for an unknown name.
	GetSetting(ctx context.Context, name string) ([]byte, error)
}
