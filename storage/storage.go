package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrNotFound is returned when the requested row does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrConflict is returned when a write loses to an existing row or to a
// concurrent writer: a duplicate primary key, a second active signing key, or a
// conditional update that matched no row because another writer got there
// first. It is an answer about the data, which a caller may give as 409 or
// "already used"; a transaction the database merely could not order
// against another is ErrTransient, never ErrConflict.
var ErrConflict = errors.New("storage: conflict")

// ErrTransient marks a transaction the database could not order against a
// concurrent one: a serialization failure or a deadlock (PostgreSQL's
// 40001 and 40P01). Nothing of it was written; running the whole
// transaction again may succeed. It says nothing about the data, so it is
// never ErrConflict.
//
// An error marked ErrTransient is also marked ErrUnavailable: a caller not
// written to run its transaction again answers it as a failure of ours
// (5xx, logged). A caller that retries tests ErrTransient before
// ErrUnavailable. Store.InTransaction already runs fn again on it, a few
// times, when it began the transaction itself, and so do the Store's own
// single statements and transactions outside a caller's; an ErrTransient
// that reaches the caller of those has outlived the retries.
var ErrTransient = errors.New("storage: transient conflict, retry the transaction")

// ErrUnavailable marks a failure of the store itself: the database is
// unreachable or timed out, a disk or driver error, a row that cannot be
// decoded. It is never the caller's fault, so callers answer it as a
// server error (5xx) and log it; they must not turn it into "not found",
// "wrong password" or "invalid client". Backends wrap every error that is
// not ErrNotFound, ErrConflict, ErrInvalidReference or ErrInvalidInput
// with it, ErrTransient included.
var ErrUnavailable = errors.New("storage: unavailable")

// ErrSchemaNewer is returned by Migrate and PendingMigrations when the
// database records a migration this release does not have: a later
// release migrated it. An older binary would read and write tables whose
// meaning it does not know (a rollback, a stale replica, an old CLI), so
// it must refuse to work on the database rather than serve from it.
var ErrSchemaNewer = errors.New("storage: schema newer than this release")

// ErrInvalidReference is returned when a write names a row that does not
// exist: a user given a role nobody created, or a session, consent or
// pending request for an unknown user or client.
var ErrInvalidReference = errors.New("storage: reference to a missing row")

// ErrInvalidInput is returned when a write carries a value no backend can
// hold: text that is not valid UTF-8 or contains a NUL character (which
// PostgreSQL refuses, and SQLite would keep, or change, without a word),
// or a time outside the years 1 to 9999. Every backend refuses it alike,
// before the database sees it, and writes nothing; it is the caller's
// input, never a failure of the store (not ErrUnavailable). A read by
// such a value finds what it would find on any backend, nothing: a
// lookup of one row ErrNotFound, a list an empty one.
var ErrInvalidInput = errors.New("storage: value no backend can store")

// User is a person who signs in at hallpass.
type User struct {
	// ID is the stable subject (sub) of the user's tokens; never reused.
	ID       string
	Username string
	// PasswordHash is a PHC-format argon2id hash; never the password.
	PasswordHash  string
	Email         string
	EmailVerified bool
	Name          string
	// Roles are role names; each must exist (ErrInvalidReference otherwise).
	Roles []string
	// Disabled users cannot sign in and their grants stop working.
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
	// TokenEpoch counts the times every grant of the user was ended
	// (RevokeTokensBySubject). Access tokens carry the epoch they were
	// issued under and stand only while it is current. Read only:
	// CreateUser and UpdateUser ignore it.
	TokenEpoch int64
}

// Role grants scopes to the users who hold it.
type Role struct {
	Name        string
	Description string
	// Scopes may name registered or unregistered scopes.
	Scopes []string
	// RequireMFA makes every holder of the role sign in with a second
	// factor, enrolling one at their next sign-in if they have none.
	RequireMFA bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Scope is a registered scope: what the consent page says about it and
// which resource server (audience) tokens carrying it are meant for.
type Scope struct {
	Name        string
	Description string
	// Audience is the identifier of the resource server; may be empty.
	Audience  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// BrowserSession is a signed-in browser (the SSO session). ID is a digest
// of the cookie value, never the value itself.
type BrowserSession struct {
	ID     string
	UserID string
	// SID is the session's public identifier, the sid claim of the ID
	// tokens issued in it (OpenID Front-/Back-Channel Logout): random,
	// unrelated to the cookie, unique when set. Empty for sessions
	// created before it existed.
	SID      string
	AuthTime time.Time
	// LastSeenAt drives the idle timeout, ExpiresAt the absolute one.
	LastSeenAt time.Time
	ExpiresAt  time.Time
	CreatedAt  time.Time
	// UserAgent and Address are the browser's User-Agent and client
	// address at sign-in, for the user to recognise the session by;
	// empty when unknown.
	UserAgent string
	Address   string
	// AMR lists the authentication methods (RFC 8176: "pwd", "otp", ...)
	// the session's sign-in used; empty for sessions from before it was
	// recorded, which proved a password only.
	AMR []string
}

// Consent records that a user allowed a client a set of scopes.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// SignedIn is what the authorization endpoint needs to know of a browser
// session, read at once (Store.GetSignedIn): the session, its user, whether
// the user has a second factor, and their consent to one client.
type SignedIn struct {
	Session BrowserSession
	User    User
	// HasTOTP and HasPasskey report whether the user has an authenticator
	// app (GetTOTP would find it) and at least one passkey (ListPasskeys
	// would list it).
	HasTOTP    bool
	HasPasskey bool
	// Consent is the user's consent to the client asked about, as
	// GetConsent returns it; nil when there is none.
	Consent *Consent
}

// AuthRequest is an authorization request waiting for the user to log in
// or consent. Its parameters stay on the server so the browser cannot
// change them between the steps.
type AuthRequest struct {
	// ID is a digest of the random handle the browser holds.
	ID string
	// Query is the original authorization request's URL query.
	Query string
	// RequestedAt is when the authorization request first arrived; prompt
	// and max_age are judged against it.
	RequestedAt time.Time
	// BrowserBinding is a digest of a cookie set in the browser that
	// started the request; only that browser may continue it.
	BrowserBinding []byte
	// UserID and AuthTime are set once the user has logged in for it.
	UserID    string
	AuthTime  time.Time
	ExpiresAt time.Time
	// AMR lists the authentication methods the login for it used so far
	// (SetAuthRequestLogin, SetAuthRequestAMR); empty until then.
	AMR []string
}

// TOTP is a user's confirmed time-based one-time password authenticator
// (RFC 6238).
type TOTP struct {
	UserID string
	// Secret is the shared secret sealed under the key-encryption secret;
	// the store never sees it in the clear.
	Secret []byte
	// LastStep is the last time step a code was accepted for; a code for
	// it or an earlier step is a replay.
	LastStep  int64
	CreatedAt time.Time
}

// Passkey is a WebAuthn credential a user registered: a key pair whose
// private half stays in the authenticator (a phone, a security key, a
// password manager).
type Passkey struct {
	// ID is the credential id, base64url without padding; unique across
	// users.
	ID     string
	UserID string
	// PublicKey is the credential's COSE public key.
	PublicKey []byte
	// SignCount is the signature counter of the last accepted assertion
	// (0 for authenticators that keep none).
	SignCount uint32
	// Transports are the ways the browser said it reaches the
	// authenticator ("internal", "hybrid", "usb"…).
	Transports []string
	// AAGUID names the authenticator model; nil when it gave none.
	AAGUID []byte
	// BackupEligible marks a passkey that may be synced to other devices
	// (a password manager's); BackupState that it is backed up now.
	BackupEligible bool
	BackupState    bool
	// UserVerified is whether the authenticator verified the user (PIN,
	// biometrics) at registration.
	UserVerified bool
	// AttestationFormat is the attestation statement's format ("none",
	// "packed"…).
	AttestationFormat string
	// Name is what the user called it.
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

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
	// Audience lists the resource servers this client may request tokens
	// for besides those of its granted scopes.
	Audience                []string
	TokenEndpointAuthMethod string
	// SkipConsent marks a first-party client whose users are not asked for consent.
	SkipConsent bool
	// ResourceServers are the resource servers (audiences) this client
	// speaks for: it may introspect tokens whose aud names one of them.
	ResourceServers []string
	// PKCEOptional lets a legacy confidential client use the code flow
	// without PKCE. The zero value, PKCE required, is the safe default.
	PKCEOptional bool
	CreatedAt    time.Time
	UpdatedAt    time.Time

	// JWKS is the client's public keys, a JSON Web Key Set (RFC 7517) as
	// JSON text, for private_key_jwt; empty when unset.
	JWKS string
	// JWKSURI is where the client publishes its JWK Set instead; at most
	// one of JWKS and JWKSURI is set.
	JWKSURI string
	// TokenEndpointAuthSigningAlg is the JWS algorithm of the client's
	// assertions (private_key_jwt); empty when unset.
	TokenEndpointAuthSigningAlg string
	// RequirePAR makes the client's authorization requests come through
	// the pushed authorization request endpoint (RFC 9126 §6).
	RequirePAR bool
	// BackchannelLogoutURI receives logout tokens when a session the
	// client got tokens in ends (OpenID Back-Channel Logout 1.0); empty
	// when unset. BackchannelLogoutSessionRequired asks for sid in them.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// TokenEpoch counts the times every grant of the client was ended
	// (RevokeTokensByClient); access tokens carry the epoch they were
	// issued under, as with User.TokenEpoch. It starts at a random value,
	// so a client registered again under a deleted one's id does not
	// revive the old client's tokens. Read only: CreateClient and
	// UpdateClient ignore it.
	TokenEpoch int64
}

// SessionClient records that a client received tokens in a browser
// session, so it can be told when the session ends (OpenID Back-Channel
// Logout 1.0).
type SessionClient struct {
	// SID is the browser session's public id (BrowserSession.SID).
	SID      string
	ClientID string
	UserID   string
	// ExpiresAt is when the row may be deleted: when the session would
	// have ended anyway.
	ExpiresAt time.Time
}

// LogoutNotice is a back-channel logout token waiting to be sent
// (OpenID Back-Channel Logout 1.0): client ClientID is to be told that
// browser session SID of user UserID ended. TakeSessionClients queues
// them; ClaimLogoutNotices hands them to a sender.
type LogoutNotice struct {
	ID       string
	ClientID string
	SID      string
	UserID   string
	// Attempts counts the sends of the notice that the client failed
	// (RetryLogoutNotice with attempted), before this claim; a claim that
	// ended for a failure of the sender's own, or whose lease ran out,
	// spent none: a sender gives a notice up on its clients' failures
	// only.
	Attempts int
	// Claim counts the claims of the notice, this one included: it only
	// grows, so it tells this claim from a later one (RetryLogoutNotice
	// is fenced on it), which Attempts cannot.
	Claim     int
	CreatedAt time.Time
}

// GrantRevocationID is the id (RevokeAccess, AccessTokenState) of the
// revocation record that ends every self-contained access token of the
// grant whose request id is requestID.
func GrantRevocationID(requestID string) string { return "grant:" + requestID }

// AccessTokenState is what the store knows about a self-contained access
// token: whether a revocation record names it, and the current token
// epoch of its user.
type AccessTokenState struct {
	// Revoked is true when a revocation record names any of the ids asked
	// about.
	Revoked bool
	// UserFound is false when the user asked about does not exist (or
	// none was asked about); UserEpoch is then 0.
	UserFound bool
	UserEpoch int64
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
	// KindPAR is a pushed authorization request (RFC 9126), keyed by a
	// digest of its request_uri; spent (inactive) once an authorization
	// request has used it.
	KindPAR TokenKind = "par"
)

// TokenKey names one token row.
type TokenKey struct {
	Kind      TokenKind
	Signature string
}

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
	// Active is false once the row is spent or revoked. An inactive
	// authorization code was spent by an exchange of it, nothing else:
	// the end of a grant deletes its codes that were not spent
	// (RevokeTokensByClient), so a spent code presented again is a
	// replay, and an ended one is not found.
	Active bool
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

// ThrottleEntry is the sign-in throttling state of one key. The key is a
// digest standing for what is counted (an account, a client address),
// never a username or an address in clear, so every input maps to one
// entry at most. What Attempts and LockedUntil mean is the provider's
// policy; the store only keeps entries and changes them atomically
// (Store.UpdateThrottle).
type ThrottleEntry struct {
	ID string
	// Attempts counts what the policy counts (e.g. failed sign-ins).
	Attempts int
	// LockedUntil is when the key may try again; zero when not locked.
	LockedUntil time.Time
	// ExpiresAt is when the entry is forgotten: DeleteExpired deletes it
	// after this time. Every stored entry has one; an entry passed back
	// to UpdateThrottle with a zero ExpiresAt is deleted.
	ExpiresAt time.Time
}

// lockingReadsKey marks a context made by LockingReads.
type lockingReadsKey struct{}

// LockingReads returns ctx marked so that a read of one client, user,
// role or scope made with it inside a transaction BeginTX began
// (GetClient, GetUser, GetUserByUsername, FindUsersByUsernameFold,
// GetRole, GetScope) locks the rows it reads until the transaction ends:
// a concurrent change of them waits for the transaction, and the read
// waits for one under way and then returns what it committed. For a
// transaction that changes a record only if it is still as the caller
// saw it (an If-Match): without the lock, two such transactions on
// PostgreSQL (READ COMMITTED) could both read the version they expect
// and both write, the second undoing the first. Where transactions run
// at REPEATABLE READ or SERIALIZABLE, a read that waited fails with
// ErrTransient instead, as LockKeys does. Where every write transaction
// holds the database's one write lock from its start (SQLite), the mark
// changes nothing; outside a transaction, neither.
func LockingReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, lockingReadsKey{}, true)
}

// ReadsLock reports whether ctx was marked by LockingReads: for a Store,
// whether its reads of records in ctx's transaction lock them.
func ReadsLock(ctx context.Context) bool {
	on, _ := ctx.Value(lockingReadsKey{}).(bool)
	return on
}

// Store is everything hallpass persists. Implementations must be safe for
// concurrent use, store every time in UTC, and, when ctx carries a
// transaction started by BeginTX, run every method inside it (and lock
// what the reads LockingReads names read, when ctx is so marked).
type Store interface {
	// Migrate applies the embedded schema migrations that are not yet
	// applied. It changes nothing and returns ErrSchemaNewer on a database
	// that records a migration later than the newest embedded one.
	Migrate(ctx context.Context) error
	// PendingMigrations returns the versions of the embedded migrations
	// that are not applied yet, in the order Migrate would apply them:
	// every one on a database never migrated, none on one that is up to
	// date. It only reads, so that a server told not to migrate can
	// refuse to start on a schema it does not know; ErrSchemaNewer, as
	// Migrate, on a database a later release migrated.
	PendingMigrations(ctx context.Context) ([]int, error)
	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the database handle.
	Close() error

	// BeginTX starts a transaction and returns a context carrying it;
	// Commit and Rollback end it. (fosite's storage.Transactional.)
	//
	// A statement of the transaction that fails at the database (a
	// unique or foreign-key violation, a failure of the database) aborts
	// it on every backend, as PostgreSQL does: every later call in it
	// fails with that first error, marks included, and Commit rolls back
	// and returns it, so that nothing of the transaction is written.
	// Answers that are not a failed statement (ErrNotFound, and
	// ErrInvalidInput or ErrInvalidReference found before writing) leave
	// it going.
	BeginTX(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	// InTransaction runs fn with a context carrying a transaction: the
	// one ctx carries already, if any (fn then joins it, and the outer
	// caller commits or rolls back), or else a new one, committed when fn
	// returns nil and rolled back when it returns an error (which is
	// returned unchanged) or panics. Several steps that must take effect
	// together or not at all (a configuration applied from a file) call
	// the store's methods inside fn.
	//
	// When it began the transaction and the transaction fails with
	// ErrTransient (fn's error, the commit's, or a statement's that fn
	// did not return, which aborted the transaction all the same), it
	// rolls back and runs fn again in a new one, a bounded number of
	// times, where the backend says a retry can win. So fn may run more
	// than once: it must do nothing outside the store that cannot be
	// done again (send a message, show a secret), and must set afresh
	// whatever it returns through variables of the caller.
	InTransaction(ctx context.Context, fn func(ctx context.Context) error) error
	// AfterCommit runs fn once the transaction ctx carries has
	// committed, or at once when ctx carries none: the home of what a
	// change does outside the database (a log line, a message sent),
	// which must follow only a change that happened, and only once. fn
	// runs after the commit, in the order queued, with the context the
	// transaction began in; it is dropped when the transaction rolls
	// back or fails to commit, so an attempt InTransaction runs again
	// starts with an empty queue.
	AfterCommit(ctx context.Context, fn func(ctx context.Context))

	// CreateClient stores a new client; ErrConflict if the id exists.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns ErrNotFound for an unknown id.
	GetClient(ctx context.Context, id string) (*Client, error)
	// ListClients returns every client ordered by id.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient replaces every field but ID and CreatedAt; ErrNotFound if absent.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient deletes the client, every token row issued to it and
	// every consent given to it; ErrNotFound if absent.
	DeleteClient(ctx context.Context, id string) error

	// CreateToken stores a token row; ErrConflict if (kind, signature) exists.
	CreateToken(ctx context.Context, t *Token) error
	// GetToken returns the row whether active or not; ErrNotFound if absent.
	GetToken(ctx context.Context, kind TokenKind, signature string) (*Token, error)
	// DeactivateToken marks an active row inactive. ErrNotFound if absent,
	// ErrConflict if it was already inactive (a concurrent caller won).
	DeactivateToken(ctx context.Context, kind TokenKind, signature string) error
	// DeactivateTokenAtEpoch is DeactivateToken for a row whose subject is
	// a user, provided that user's token epoch is still userEpoch, in one
	// statement: a code issued with the epoch it read is not spent (and
	// so yields no tokens) once the user was deleted, disabled or given a
	// new password, even if that change committed between the read and
	// the code's write. ErrConflict, nothing changed, if the row was
	// already inactive (spent); ErrNotFound if absent, and, nothing
	// changed, if the user's epoch moved on or the user is gone: the row
	// is of a grant that has ended, which the change would have deleted
	// had the row been written before it (RevokeTokensBySubject).
	DeactivateTokenAtEpoch(ctx context.Context, kind TokenKind, signature string, userEpoch int64) error
	// DeleteToken deletes one row; ErrNotFound if absent.
	DeleteToken(ctx context.Context, kind TokenKind, signature string) error
	// DeactivateTokensByRequest marks every row of kind with requestID inactive.
	DeactivateTokensByRequest(ctx context.Context, kind TokenKind, requestID string) error
	// DeleteTokensByRequest deletes every row of kind with requestID.
	DeleteTokensByRequest(ctx context.Context, kind TokenKind, requestID string) error
	// HasActiveToken reports whether any row of kind with requestID is
	// active: for refresh tokens, whether the grant requestID still
	// stands, which tells a spent refresh token replayed while its grant
	// lives (a theft) from one presented after the grant ended. false,
	// not an error, if there is no such row.
	HasActiveToken(ctx context.Context, kind TokenKind, requestID string) (bool, error)
	// HasTokenAfter reports whether any row of kind with requestID, active
	// or not, was requested after the time after: for refresh tokens,
	// whether the one requested at after was rotated, since a rotation
	// stores its successor in the same transaction and a revocation
	// stores none. It tells a spent refresh token presented again (a
	// replay, even once the grant has ended) from a revoked one.
	HasTokenAfter(ctx context.Context, kind TokenKind, requestID string, after time.Time) (bool, error)
	// CreateTokens stores rows in one statement: every one of them, or,
	// with ErrConflict when a (kind, signature) of them exists, none.
	CreateTokens(ctx context.Context, ts []*Token) error
	// CreateTokensTouching is CreateTokens that also sets LastSeenAt of
	// browser session sessionID to lastSeen (as TouchBrowserSession), in
	// one write: the rows and the touch are stored together or not at
	// all. A session that does not exist is not an error: the rows are
	// stored all the same.
	CreateTokensTouching(ctx context.Context, ts []*Token, sessionID string, lastSeen time.Time) error
	// GetTokens returns the rows of keys that exist, active or not, in
	// one read, in no particular order; a key without a row is left out,
	// and a key given twice comes back once.
	GetTokens(ctx context.Context, keys []TokenKey) ([]Token, error)

	// SetClientAssertionJTI deletes expired JTIs other than jti, then
	// records jti until exp, atomically; ErrConflict if jti is recorded
	// and unexpired, or if it is recorded (expired or not) and exp is not
	// after now. An expired record of jti is replaced by an unexpired one:
	// of sets racing over it, one wins. It is the one replay store:
	// client-assertion JTIs (fositestore: "jti:" and a digest of the
	// client and the jti) and answered passkey ceremonies ("passkey:"
	// and a digest of the challenge).
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

	// CreateUser stores a user; ErrConflict if the id or username exists,
	// ErrInvalidReference if a role does not exist.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns ErrNotFound for an unknown id.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByUsername returns ErrNotFound for an unknown username.
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	// FindUsersByUsernameFold returns the users whose username equals
	// username under Unicode simple case folding (strings.EqualFold:
	// "alice", "Alice" and "ALICE" are one), ordered by username; none
	// is an empty list, not an error. The directory refuses a username
	// one of them holds, in the transaction that writes it, and a sign-in
	// finds its user among them (directory.Users.SignInUser). Usernames
	// are ASCII (the directory's rule): one stored outside ASCII need
	// not be found.
	FindUsersByUsernameFold(ctx context.Context, username string) ([]User, error)
	// LockUsernames takes, inside the transaction in ctx, an exclusive
	// lock that serializes the transactions that create or rename users
	// among processes and replicas (a row lock, not an advisory lock),
	// held until the transaction ends: taken before
	// FindUsersByUsernameFold, it keeps two such transactions from both
	// finding a name free. It fails without a transaction in ctx. Where
	// transactions run at REPEATABLE READ or SERIALIZABLE, a locker that
	// waited fails with ErrTransient, as LockKeys does.
	LockUsernames(ctx context.Context) error
	// FindRoleNamesFold, FindScopeNamesFold and FindClientIDsFold return
	// the role names, registered scope names or client ids that equal
	// name under Unicode simple case folding (strings.EqualFold), in byte
	// order; none is an empty list, not an error. The directory refuses a
	// new role, scope or client whose name one of them holds, in the
	// transaction that creates it, after LockNames. Names are ASCII (the
	// directory's rules): one stored outside ASCII need not be found.
	FindRoleNamesFold(ctx context.Context, name string) ([]string, error)
	FindScopeNamesFold(ctx context.Context, name string) ([]string, error)
	FindClientIDsFold(ctx context.Context, id string) ([]string, error)
	// LockNames is LockUsernames for the transactions that create roles,
	// scopes and clients (one lock for the three kinds): taken before
	// their Find...Fold, it keeps two such transactions from both finding
	// a name free. It fails without a transaction in ctx; where
	// transactions run at REPEATABLE READ or SERIALIZABLE, a locker that
	// waited fails with ErrTransient.
	LockNames(ctx context.Context) error
	// ConfirmUserCredential succeeds only while user userID exists, is not
	// disabled and still has passwordHash; ErrNotFound otherwise. It locks
	// the user row against a change, so it waits for a concurrent change of
	// the user (a password reset, a disable) to commit and then judges the
	// changed row. Called after a sign-in has created its session, it
	// closes the window in which a reset running between the password
	// check and the session's creation would miss the new session: either
	// the reset's session sweep sees it, or this sees the reset. A token
	// request calls it first in the transaction that stores a refresh
	// token, so that it locks the user's row before the token rows, as a
	// reset does (the other order deadlocks).
	ConfirmUserCredential(ctx context.Context, userID, passwordHash string) error
	// ListUsers returns every user ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser replaces every field but ID and CreatedAt; ErrNotFound if
	// absent, ErrConflict if the new username is taken, ErrInvalidReference
	// if a role does not exist.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser deletes the user with their sessions, consents, pending
	// requests and token rows (by subject); ErrNotFound if absent.
	DeleteUser(ctx context.Context, id string) error

	// CreateRole stores a role; ErrConflict if the name exists.
	CreateRole(ctx context.Context, r *Role) error
	// GetRole returns ErrNotFound for an unknown name.
	GetRole(ctx context.Context, name string) (*Role, error)
	// ListRoles returns every role ordered by name.
	ListRoles(ctx context.Context) ([]Role, error)
	// UpdateRole replaces Description, Scopes and (when set) UpdatedAt;
	// ErrNotFound if absent.
	UpdateRole(ctx context.Context, r *Role) error
	// DeleteRole deletes the role and takes it from every user who held it;
	// ErrNotFound if absent.
	DeleteRole(ctx context.Context, name string) error
	// RoleHolders returns the usernames, in byte order, of at most limit
	// of the users who hold role name, and how many hold it;
	// ErrNotFound if the role does not exist. In a transaction it locks
	// the role, so that no user gains it until the transaction ends: a
	// DeleteRole after it in the same transaction takes the role from
	// the users it counted, which the audit record of the deletion names.
	RoleHolders(ctx context.Context, name string, limit int) (usernames []string, total int, err error)

	// CreateScope registers a scope; ErrConflict if the name exists.
	CreateScope(ctx context.Context, s *Scope) error
	// GetScope returns ErrNotFound for an unregistered name.
	GetScope(ctx context.Context, name string) (*Scope, error)
	// ListScopes returns every registered scope ordered by name.
	ListScopes(ctx context.Context) ([]Scope, error)
	// UpdateScope replaces Description, Audience and (when set) UpdatedAt;
	// ErrNotFound if absent.
	UpdateScope(ctx context.Context, s *Scope) error
	// DeleteScope unregisters a scope (roles keep naming it); ErrNotFound if absent.
	DeleteScope(ctx context.Context, name string) error

	// CreateBrowserSession stores a session; ErrConflict if the id, or a
	// non-empty SID, exists.
	CreateBrowserSession(ctx context.Context, s *BrowserSession) error
	// GetBrowserSession returns ErrNotFound for an unknown id (expired
	// sessions are returned; the caller checks the timeouts).
	GetBrowserSession(ctx context.Context, id string) (*BrowserSession, error)
	// GetBrowserSessionBySID returns the session whose SID is sid;
	// ErrNotFound if none (an empty sid names no session).
	GetBrowserSessionBySID(ctx context.Context, sid string) (*BrowserSession, error)
	// TouchBrowserSession sets LastSeenAt; ErrNotFound if absent.
	TouchBrowserSession(ctx context.Context, id string, lastSeen time.Time) error
	// DeleteBrowserSession deletes one session; ErrNotFound if absent.
	DeleteBrowserSession(ctx context.Context, id string) error
	// DeleteUserBrowserSessions deletes every session of a user but keep,
	// a session id ("" keeps none; another user's keeps none of this
	// user's), in one statement however many there are. Not an error if
	// there are none.
	DeleteUserBrowserSessions(ctx context.Context, userID, keep string) error

	// PutConsent creates or replaces the consent of (UserID, ClientID).
	PutConsent(ctx context.Context, c *Consent) error
	// GetConsent returns ErrNotFound when the user never consented to the client.
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// ConfirmConsent succeeds only while user userID's consent to client
	// clientID exists and covers every one of scopes; ErrNotFound
	// otherwise. It waits for a concurrent change of the consent (a
	// withdrawal) to commit and then judges the changed row, and inside a
	// transaction keeps such a change waiting until it commits. Called
	// after an authorization code was written, it sees any withdrawal
	// that committed before the code, which that withdrawal's revocation
	// of the user's grants could not see.
	ConfirmConsent(ctx context.Context, userID, clientID string, scopes []string) error
	// GetSignedIn returns browser session id (expired or not, as
	// GetBrowserSession), its user, whether the user has a second factor
	// and their consent to clientID, in one read, all as of one moment;
	// ErrNotFound for an unknown session.
	GetSignedIn(ctx context.Context, id, clientID string) (*SignedIn, error)

	// CreateAuthRequest stores a pending request; ErrConflict if the id exists.
	CreateAuthRequest(ctx context.Context, r *AuthRequest) error
	// GetAuthRequest returns ErrNotFound for an unknown id.
	GetAuthRequest(ctx context.Context, id string) (*AuthRequest, error)
	// SetAuthRequestLogin records who logged in for the request, when,
	// and with which authentication methods (replacing any recorded), in
	// one write; ErrNotFound if absent.
	SetAuthRequestLogin(ctx context.Context, id, userID string, authTime time.Time, amr []string) error
	// SetAuthRequestAMR replaces the authentication methods recorded on
	// a pending request whose login is userID's; ErrNotFound if absent
	// or if its login is no longer userID's (another user signed in for
	// it since the caller read it: a factor that user proved must not
	// become another's).
	SetAuthRequestAMR(ctx context.Context, id, userID string, amr []string) error
	// SetBrowserSessionAMR replaces the authentication methods of a
	// session, once its user proved a second factor; ErrNotFound if absent.
	SetBrowserSessionAMR(ctx context.Context, id string, amr []string) error

	// PutTOTP creates or replaces the TOTP authenticator of t.UserID;
	// ErrInvalidReference if the user does not exist.
	PutTOTP(ctx context.Context, t *TOTP) error
	// GetTOTP returns the user's TOTP authenticator; ErrNotFound if the
	// user has none.
	GetTOTP(ctx context.Context, userID string) (*TOTP, error)
	// ListTOTP returns every user's TOTP authenticator, ordered by user
	// id (byte order), for re-sealing the secrets under a new
	// key-encryption secret.
	ListTOTP(ctx context.Context) ([]TOTP, error)
	// SetTOTPSecret replaces the sealed secret of the user's authenticator
	// and nothing else (LastStep stays); ErrNotFound if there is none.
	SetTOTPSecret(ctx context.Context, userID string, secret []byte) error
	// UseTOTPStep records that a code for step was accepted, atomically:
	// ErrConflict if step is not after LastStep (a replay, or a race lost
	// to another use of the same code), ErrNotFound if the user has no
	// authenticator.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// PutRecoveryCodes replaces every recovery code of the user with
	// these digests; ErrInvalidReference if the user does not exist.
	PutRecoveryCodes(ctx context.Context, userID string, digests []string) error
	// PutRecoveryCodesIfNone stores these digests as the user's recovery
	// codes only if the user has no unused one, and reports whether it
	// did: a first enrolment issues codes, and of concurrent calls for
	// one user (alone or each in its own transaction) exactly one stores
	// its codes, the others returning false once it committed;
	// ErrInvalidReference if the user does not exist.
	PutRecoveryCodesIfNone(ctx context.Context, userID string, digests []string) (bool, error)
	// UseRecoveryCode deletes the recovery code with this digest, so it
	// is used once: ErrNotFound if the user has no such unused code (of
	// two concurrent uses exactly one succeeds).
	UseRecoveryCode(ctx context.Context, userID, digest string) error
	// CountRecoveryCodes returns how many unused recovery codes the user has.
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)
	// DeleteUserFactors deletes the user's TOTP authenticator, recovery
	// codes and passkeys; not an error if there are none.
	DeleteUserFactors(ctx context.Context, userID string) error

	// CreatePasskey stores a newly registered passkey; ErrConflict if a
	// passkey with its ID exists (of any user), ErrInvalidReference if the
	// user does not exist.
	CreatePasskey(ctx context.Context, pk *Passkey) error
	// GetPasskey returns the passkey with this credential id; ErrNotFound
	// if there is none.
	GetPasskey(ctx context.Context, id string) (*Passkey, error)
	// GetUserPasskey returns the user's passkey with this credential id;
	// ErrNotFound if there is none, another user's included.
	GetUserPasskey(ctx context.Context, userID, id string) (*Passkey, error)
	// ListPasskeys returns the user's passkeys, oldest first (one of
	// unknown creation time first of all), then by id in byte order;
	// empty, not an error, for a user with none or an unknown user.
	ListPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// UsePasskey records an accepted assertion of passkey id, atomically:
	// it sets SignCount to signCount, BackupState to backupState and
	// LastUsedAt to at, provided signCount is greater than the stored
	// count or both are 0 (an authenticator without a counter). A counter
	// that did not advance is a cloned authenticator's sign, or a lost
	// race with another use of the same assertion: ErrConflict, nothing
	// changed. With a counter of 0 (synced passkeys) nothing here tells two
	// uses of one assertion apart: the caller must spend the ceremony
	// once (provider records its challenge with SetClientAssertionJTI).
	// ErrNotFound if there is no such passkey.
	UsePasskey(ctx context.Context, id string, signCount uint32, backupState bool, at time.Time) error
	// DeletePasskey deletes the user's passkey id; ErrNotFound if the user
	// has no passkey with this id (another user's included).
	DeletePasskey(ctx context.Context, userID, id string) error

	// DeleteAuthRequest deletes a pending request; ErrNotFound if absent
	// (so of two concurrent completions one fails).
	DeleteAuthRequest(ctx context.Context, id string) error

	// PutSessionClient records sc, or renews its ExpiresAt if (SID,
	// ClientID) is recorded; ErrInvalidReference if the client does not
	// exist.
	PutSessionClient(ctx context.Context, sc *SessionClient) error
	// PutLiveSessionClient records sc as PutSessionClient does, only if
	// browser session sc.SID exists, is user sc.UserID's, expires after
	// now and was last seen at or after seenSince, judged and written in
	// one statement; ErrNotFound, and nothing written, otherwise. On a
	// database whose readers do not wait for writers, the statement waits
	// for a change of the session under way (its end, which takes its
	// clients' records in the same transaction) and judges the session as
	// that change left it: a record is never written for a session whose
	// end had already taken its clients' records, and left untold.
	PutLiveSessionClient(ctx context.Context, sc *SessionClient, now, seenSince time.Time) error
	// TakeSessionClients deletes and returns the records of browser
	// session sid, or, when sid is "", of every session of user userID
	// (exactly one of them is non-empty) but the session whose id is keep
	// ("" keeps none; keep only goes with userID), in one statement.
	// Deleting them as they are read makes each ended session's clients
	// be told once, however many callers end it at once. It returns
	// every record taken, with a logout URI or not.
	//
	// In the same transaction (ctx's, or one of its own) it queues a
	// LogoutNotice, due at once, for each record taken whose client has
	// a BackchannelLogoutURI: a change that commits always has its
	// notices, and one rolled back has none.
	TakeSessionClients(ctx context.Context, sid, userID, keep string) ([]SessionClient, error)
	// ClaimLogoutNotices takes up to limit notices that are due
	// (their next attempt is at or before now) and not leased to
	// another sender (no lease, or one ended by now), leases them until
	// now+lease, counts the claim (Claim, not Attempts) and returns
	// them, in one statement: two senders claiming at once, in this
	// process or another, never get the same notice. A notice whose
	// lease ends before it was finished or retried (its sender died, or
	// could not write) is claimed again, its Attempts as they were.
	ClaimLogoutNotices(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]LogoutNotice, error)
	// FinishLogoutNotice deletes notice id: delivered, or given up;
	// ErrNotFound if it does not exist.
	FinishLogoutNotice(ctx context.Context, id string) error
	// RetryLogoutNotice makes notice id due again at next and ends its
	// lease, if it is still the claim whose Claim is claim. attempted
	// counts the claim's send, which the client failed (Attempts one
	// more); without it the notice is postponed with its Attempts kept
	// (no send the client failed: a failure of the sender's own, or
	// shutting down, ended the claim). ErrNotFound if the notice does not exist or was
	// claimed again since (its lease ended and another sender holds it
	// now, whose lease a late retry must not end).
	RetryLogoutNotice(ctx context.Context, id string, claim int, attempted bool, next time.Time) error

	// RevokeTokensByClient ends every grant of a client: its access-token
	// rows are deleted, and its codes not yet spent (active) too: a code
	// presented after its grant ended is not found, never taken for a
	// replay. Its refresh tokens are marked inactive (kept so that later
	// replay is still recognised), spent codes are left as they are
	// (inactive: a replay of one is still recognised), and its TokenEpoch
	// is advanced, which ends its self-contained access tokens.
	RevokeTokensByClient(ctx context.Context, clientID string) error
	// RevokeTokensBySubject does the same for every grant of a subject
	// (a user id), advancing the user's TokenEpoch when the subject is a
	// user.
	RevokeTokensBySubject(ctx context.Context, subject string) error

	// RevokeAccess records that the self-contained access tokens named by
	// ids are revoked, until expires (after which DeleteExpired may forget
	// the record: by then every token it names has expired). What an id
	// names is the caller's (a grant, one token); recording an id again
	// keeps the later of the two expiries.
	RevokeAccess(ctx context.Context, ids []string, expires time.Time) error
	// AccessTokenState reports, in one read, whether a revocation record
	// names any of ids (expired records included), and the TokenEpoch of
	// user userID ("" asks about no user).
	AccessTokenState(ctx context.Context, ids []string, userID string) (AccessTokenState, error)

	// GetThrottle returns the throttle entries of ids, in that order; an
	// id without an entry comes back with only ID set. Expired entries
	// are returned as stored: the caller judges expiry.
	GetThrottle(ctx context.Context, ids []string) ([]ThrottleEntry, error)
	// UpdateThrottle reads the entries of ids as GetThrottle does, passes
	// them to update, and stores the entries update returns (an entry with
	// a zero ExpiresAt is deleted; ids it does not return keep their
	// entry), as one atomic step: calls sharing an id, from any process
	// on the database, take effect one after the other, so no count is
	// lost and no two callers see the same count. update may run more
	// than once, when the step is retried after losing to a concurrent
	// one; only its last result is stored, so it must have no effects of
	// its own. ids must be distinct and non-empty, and update may return
	// entries of ids only (an error otherwise, with nothing stored).
	// Inside a transaction carried by ctx it is not retried: losing to a
	// concurrent step is ErrConflict (the row it would insert exists) or
	// ErrTransient (at stricter isolation levels), and the caller that
	// began the transaction runs it again.
	UpdateThrottle(ctx context.Context, ids []string, update func([]ThrottleEntry) []ThrottleEntry) error

	// DeleteExpired deletes at most limit rows that expired before
	// `before` — token rows, client-assertion JTIs, browser sessions past
	// their absolute expiry, pending authorization requests, throttle
	// entries, access-token revocation records, logout notices queued
	// more than a day before `before` (undelivered that long: no server
	// is draining them) — and returns
	// how many it deleted. Bounded, so housekeeping never holds long locks;
	// safe to run from several replicas at once.
	DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error)

	// LockKeys takes, inside the transaction in ctx, an exclusive lock that
	// serializes signing-key changes among replicas (a row lock, not an
	// advisory lock), held until the transaction ends. It fails without a
	// transaction in ctx. Where transactions run at REPEATABLE READ or
	// SERIALIZABLE, a locker that waited fails with ErrTransient rather
	// than read the keys through a stale snapshot: its caller runs the
	// transaction again.
	LockKeys(ctx context.Context) error

	// PutSetting creates or replaces a named value (used when the
	// key-encryption secret changes and sealed settings are re-sealed).
	PutSetting(ctx context.Context, name string, value []byte) error
	// SetKeyPrivate replaces the sealed private part of key id (re-sealing
	// under a new key-encryption secret); ErrNotFound if absent.
	SetKeyPrivate(ctx context.Context, id string, privateEncrypted []byte) error

	AuditStore

	// ListUserBrowserSessions returns every session of userID, expired
	// ones included (the caller judges the timeouts), most recently seen
	// first (never seen last), then by id in byte order.
	ListUserBrowserSessions(ctx context.Context, userID string) ([]BrowserSession, error)
	// ListUserConsents returns every consent userID gave, ordered by
	// client id.
	ListUserConsents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsent deletes the consent of userID to clientID;
	// ErrNotFound if there is none.
	DeleteConsent(ctx context.Context, userID, clientID string) error
	// RevokeTokensByClientSubject ends every grant of subject to
	// clientID, as RevokeTokensByClient does for every subject: access
	// token rows and unspent codes deleted, refresh tokens marked
	// inactive, and the self-contained access tokens of each such grant
	// revoked by a revocation record (GrantRevocationID) kept until
	// accessUntil, when the last of them has expired.
	RevokeTokensByClientSubject(ctx context.Context, clientID, subject string, accessUntil time.Time) error
}

// CheckThrottleIDs checks the ids a backend's UpdateThrottle was given:
// at least one, none empty, all distinct.
func CheckThrottleIDs(ids []string) error {
	if len(ids) == 0 {
		return errors.New("update throttle: no ids")
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "" {
			return errors.New("update throttle: empty id")
		}
		if seen[id] {
			return fmt.Errorf("update throttle: id %q given twice", id)
		}
		seen[id] = true
	}
	return nil
}

// CheckThrottleResult checks what UpdateThrottle's update function
// returned: entries of ids only, each at most once.
func CheckThrottleResult(ids []string, out []ThrottleEntry) error {
	seen := make(map[string]bool, len(out))
	for _, e := range out {
		if !slices.Contains(ids, e.ID) {
			return fmt.Errorf("update throttle: update returned id %q, which it was not given", e.ID)
		}
		if seen[e.ID] {
			return fmt.Errorf("update throttle: update returned id %q twice", e.ID)
		}
		seen[e.ID] = true
	}
	return nil
}

// AuditEntry is one record of the audit log: who did what to which object,
// from where. Entries form a hash chain: Hash covers the entry's fields
// and PrevHash, the Hash of the entry before it, so an entry changed,
// removed or moved afterwards no longer matches the chain. The store keeps
// the chain's order; the audit package decides what Hash covers.
type AuditEntry struct {
	// Seq numbers the entries from 1 without gaps, in the order appended.
	Seq  int64
	Time time.Time
	// Actor is who acted: "admin-token", "cli:alice", "user:<id>", or ""
	// when nobody signed in yet (a failed sign-in).
	Actor string
	// Action is the event's type, "<family>.<verb>": "client.update",
	// "signin.failure", "key.promoted".
	Action string
	// Object names what was acted on: "client:abc", "user:alice".
	Object     string
	ClientAddr string
	UserAgent  string
	ClientID   string
	// Details is a JSON object with what else the event says (the names
	// of changed fields, a reason); never a secret, token or password
	// hash. Empty for none.
	Details string
	// PrevHash and Hash are lower-case hex SHA-256 digests; PrevHash is
	// empty for the first entry ever appended.
	PrevHash string
	Hash     string
}

// AuditCheckpoint is a signed statement that the audit chain had, at entry
// Seq, the hash Hash: a compact JWS by the signing key KeyID over
// {seq, hash, time}. An entry covered by a checkpoint cannot be rewritten,
// even together with every entry after it, without the signing key.
type AuditCheckpoint struct {
	Seq       int64
	Hash      string
	Time      time.Time
	KeyID     string
	Signature string
}

// AuditQuery selects audit entries. Zero fields select everything.
type AuditQuery struct {
	// AfterSeq selects entries with a greater Seq (paging).
	AfterSeq int64
	// BeforeSeq, when not 0, selects entries with a smaller Seq (paging
	// back through a newest-first listing).
	BeforeSeq int64
	// Since selects entries at or after this time.
	Since time.Time
	// Actor selects entries whose Actor is exactly this.
	Actor string
	// Action selects entries whose Action is this, or starts with this
	// followed by a dot ("client" selects "client.update").
	Action string
	// Limit bounds how many entries are returned; 0 means no bound.
	Limit int
	// Newest orders the entries by Seq descending, so that Limit keeps
	// the newest of those selected; otherwise they are ordered by Seq.
	Newest bool
}

// AuditStore is the audit log's part of the Store.
type AuditStore interface {
	// AppendAudit appends e as the next entry of the chain, as one atomic
	// step serialized among every process on the database (a row lock on
	// the chain's head, held until the step's transaction ends): it sets
	// e.Seq to the last Seq plus one and e.PrevHash to the last Hash, then
	// e.Hash to seal(e), and stores e. seal may run more than once (the
	// step is retried after losing a race), so it must have no effects.
	// Inside a transaction carried by ctx the head stays locked until that
	// transaction ends.
	AppendAudit(ctx context.Context, e *AuditEntry, seal func(*AuditEntry) string) error
	// AuditHead returns the Seq and Hash of the last entry appended, even
	// if it was pruned since; 0 and "" before the first.
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
	// ListAudit returns the entries q selects, ordered by Seq (descending
	// when q.Newest).
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	// CreateAuditCheckpoint stores a checkpoint; ErrConflict if one for
	// c.Seq exists.
	CreateAuditCheckpoint(ctx context.Context, c *AuditCheckpoint) error
	// ListAuditCheckpoints returns every checkpoint ordered by Seq.
	ListAuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error)
	// PruneAudit deletes the entries with Seq <= through and the
	// checkpoints with Seq < through, keeping the checkpoint at through,
	// from which the rest of the chain is verified; it returns how many
	// entries it deleted. ErrNotFound (deleting nothing) if there is no
	// checkpoint at through.
	PruneAudit(ctx context.Context, through int64) (int, error)
}
