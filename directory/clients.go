package directory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/hallpass/hallpass/storage"
)

// Client metadata limits: generous for real clients, small enough that a
// single registration cannot bloat a row.
const (
	maxURIs       = 20
	maxURILength  = 2048
	maxScopes     = 100
	maxNameLength = 200
	maxIDLength   = 128
)

// SupportedGrantTypes are the grant types a client may register.
func SupportedGrantTypes() []string {
	return []string{"authorization_code", "refresh_token", "client_credentials"}
}

// SupportedAuthMethods are the token endpoint authentication methods a
// client may register.
func SupportedAuthMethods() []string {
	return []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
}

// usesSecret reports whether a client authenticating with method has a
// client secret: not a public client, nor one signing its assertions
// with its own keys.
func usesSecret(method string) bool {
	return method == "client_secret_basic" || method == "client_secret_post"
}

// UsesSecret is usesSecret, for configuration as code, which refuses a
// secret named for a client that would have none.
func UsesSecret(method string) bool { return usesSecret(method) }

// refuseSecret refuses a secret for client id, authenticating with
// method, unless the method uses one: a public client has none, and a
// private_key_jwt client proves itself with its keys, so a secret given
// it would be shown as working and never authenticate, then vanish at
// its next update. field is the input at fault.
func refuseSecret(field, id, method string) error {
	switch {
	case usesSecret(method):
		return nil
	case method == "none":
		return badMetadata(field, "client %q is public (token_endpoint_auth_method none): it has no secret", id)
	}
	return badMetadata(field, "client %q authenticates with token_endpoint_auth_method %s, not with a secret: it has none", id, method)
}

// ClientMetadata is a client as RFC 7591 describes it, plus hallpass's
// admin-only fields. It is both the request and the response body of
// registration and of /admin/clients, and what the CLI prints.
type ClientMetadata struct {
	ClientID                string   `json:"client_id,omitempty"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	// Scope is the space-separated list of scopes the client may be granted.
	Scope string `json:"scope"`
	// Audience lists the resource servers the client's tokens may name.
	Audience []string `json:"audience"`
	// SkipConsent marks a first-party client (admin API only).
	SkipConsent bool `json:"skip_consent"`
	// ResourceServers are the resource servers (token audiences) the
	// client speaks for: besides its own tokens, it may introspect tokens
	// whose aud names one of them (admin API only).
	ResourceServers []string `json:"resource_servers"`
	// RequirePKCE false lets a legacy confidential client use the code
	// flow without PKCE (admin API only); absent means true.
	RequirePKCE *bool `json:"require_pkce,omitempty"`

	// JWKS is the client's public key set (RFC 7591 §2), for
	// private_key_jwt; JWKSURI is where it publishes one instead.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// TokenEndpointAuthSigningAlg is the algorithm of the client's
	// assertions: RS256 (the default), ES256 or PS256.
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty"`
	// RequirePushedAuthorizationRequests makes the client's authorization
	// requests go through the PAR endpoint (RFC 9126 §6).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	// BackchannelLogoutURI and BackchannelLogoutSessionRequired are
	// OpenID Back-Channel Logout 1.0 §2.2.
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`

	// httpOrigin is Options.BuiltinHTTPOrigin, set by RegisterBuiltin
	// alone: the origin on which validate accepts plain-http redirect
	// URIs. Unexported, so no caller outside the package, and no JSON
	// body, can set it.
	httpOrigin string
}

// metadataFor renders a stored client; secret is included only when just
// generated, since only its digest is kept.
func metadataFor(c *storage.Client, secret string) ClientMetadata {
	requirePKCE := !c.PKCEOptional
	m := ClientMetadata{
		ClientID:                c.ID,
		ClientSecret:            secret,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		ClientName:              c.Name,
		RedirectURIs:            listOf(c.RedirectURIs),
		PostLogoutRedirectURIs:  listOf(c.PostLogoutRedirectURIs),
		GrantTypes:              listOf(c.GrantTypes),
		ResponseTypes:           listOf(c.ResponseTypes),
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		Scope:                   strings.Join(c.Scopes, " "),
		Audience:                listOf(c.Audience),
		SkipConsent:             c.SkipConsent,
		ResourceServers:         listOf(c.ResourceServers),
		RequirePKCE:             &requirePKCE,

		JWKSURI:                            c.JWKSURI,
		TokenEndpointAuthSigningAlg:        c.TokenEndpointAuthSigningAlg,
		RequirePushedAuthorizationRequests: c.RequirePAR,
		BackchannelLogoutURI:               c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:   c.BackchannelLogoutSessionRequired,
	}
	if c.JWKS != "" {
		m.JWKS = json.RawMessage(c.JWKS)
	}
	if usesSecret(c.TokenEndpointAuthMethod) {
		never := int64(0)
		m.ClientSecretExpiresAt = &never
	}
	return m
}

func viewClient(c *storage.Client) ClientMetadata { return metadataFor(c, "") }

// CheckClientID returns the refusal (ErrInvalid) of id as the id an
// admin chooses for a new client, or nil: 1 to 128 characters of A-Z a-z
// 0-9 - _ . ~, other than . and .. (ValidName). It is the one test of a
// chosen id, for Create, CreateWithSecret and configuration as code,
// whose plan must refuse what its apply would.
func CheckClientID(id string) error {
	if !ValidName(id, "-_.~", maxIDLength) {
		return badMetadata("client_id", "client_id must be 1 to %d characters of A-Z a-z 0-9 - _ . ~, other than . and ..", maxIDLength)
	}
	return nil
}

func badMetadata(field, format string, args ...any) *Error {
	return invalid(ObjectClient, field, format, args...)
}

// validate checks m and fills in RFC 7591 defaults, returning the client to
// store (without id, secret or timestamps).
func (m *ClientMetadata) validate() (*storage.Client, error) {
	c := &storage.Client{}
	if err := unreadable(ObjectClient, m); err != nil {
		return nil, err
	}
	if m.ClientSecret != "" {
		// Refused rather than dropped: whoever sent it would believe the
		// client now authenticates with it.
		return nil, badMetadata("client_secret", "client_secret cannot be chosen here: hallpass generates a confidential client's secret and shows it once, when the client is created (a new one: the console's \"Rotate secret\"; an operator's own: client_secret_env in configuration as code)")
	}
	if len(m.ClientName) > maxNameLength || !DisplaySafe(m.ClientName) {
		return nil, badMetadata("client_name", "client_name must be at most %d characters without control characters, invisible characters or words mixing Latin, Cyrillic or Greek letters", maxNameLength)
	}
	c.Name = m.ClientName

	c.TokenEndpointAuthMethod = m.TokenEndpointAuthMethod
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = "client_secret_basic"
	}
	if !slices.Contains(SupportedAuthMethods(), c.TokenEndpointAuthMethod) {
		return nil, badMetadata("token_endpoint_auth_method", "token_endpoint_auth_method %s is not supported; use one of %s", shown(c.TokenEndpointAuthMethod), strings.Join(SupportedAuthMethods(), ", "))
	}

	var err error
	if c.GrantTypes, err = distinct(ObjectClient, "grant_types", m.GrantTypes); err != nil {
		return nil, err
	}
	if m.GrantTypes == nil {
		c.GrantTypes = []string{"authorization_code"}
	}
	if len(c.GrantTypes) == 0 {
		return nil, badMetadata("grant_types", "grant_types must not be empty")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(SupportedGrantTypes(), g) {
			return nil, badMetadata("grant_types", "grant type %s is not supported; use %s", shown(g), strings.Join(SupportedGrantTypes(), ", "))
		}
	}
	code := slices.Contains(c.GrantTypes, "authorization_code")
	if slices.Contains(c.GrantTypes, "refresh_token") && !code {
		return nil, badMetadata("grant_types", "grant type refresh_token needs authorization_code: refresh tokens are only issued with a code")
	}
	if slices.Contains(c.GrantTypes, "client_credentials") && c.TokenEndpointAuthMethod == "none" {
		return nil, badMetadata("grant_types", "grant type client_credentials needs a confidential client; token_endpoint_auth_method none cannot use it")
	}

	if c.ResponseTypes, err = distinct(ObjectClient, "response_types", m.ResponseTypes); err != nil {
		return nil, err
	}
	if m.ResponseTypes == nil && code {
		c.ResponseTypes = []string{"code"}
	}
	for _, rt := range c.ResponseTypes {
		if rt != "code" {
			return nil, badMetadata("response_types", "response type %s is not supported; only code is", shown(rt))
		}
	}
	if code != slices.Contains(c.ResponseTypes, "code") {
		return nil, badMetadata("response_types", "response type code and grant type authorization_code go together (RFC 7591 §2.1)")
	}

	public := c.TokenEndpointAuthMethod == "none"
	if c.RedirectURIs, err = redirectURIs("redirect_uris", m.RedirectURIs, forRedirect, public, m.httpOrigin); err != nil {
		return nil, err
	}
	if c.PostLogoutRedirectURIs, err = redirectURIs("post_logout_redirect_uris", m.PostLogoutRedirectURIs, forPostLogout, public, m.httpOrigin); err != nil {
		return nil, err
	}
	if code && len(m.RedirectURIs) == 0 {
		return nil, badMetadata("redirect_uris", "grant type authorization_code needs at least one redirect_uri")
	}

	if c.Scopes, err = distinct(ObjectClient, "scope", strings.Fields(m.Scope)); err != nil {
		return nil, err
	}
	if len(c.Scopes) > maxScopes {
		return nil, badMetadata("scope", "at most %d scopes may be registered", maxScopes)
	}
	for _, s := range c.Scopes {
		if why := scopeTokenProblem(s); why != "" {
			return nil, badMetadata("scope", "scope %s %s", shown(s), why)
		}
		if id, ok := protocolLookAlike(s); ok {
			return nil, badMetadata("scope", "scope %q %s", s, lookAlikeReason(id))
		}
	}
	if m.Scope == "" && code {
		// An SSO client with no scope registered could sign nobody in.
		c.Scopes = []string{"openid", "profile", "email"}
		if slices.Contains(c.GrantTypes, "refresh_token") {
			c.Scopes = append(c.Scopes, "offline_access")
		}
	}

	if c.Audience, err = audienceList("audience", m.Audience); err != nil {
		return nil, err
	}
	if c.ResourceServers, err = audienceList("resource_servers", m.ResourceServers); err != nil {
		return nil, err
	}
	c.SkipConsent = m.SkipConsent
	c.PKCEOptional = m.RequirePKCE != nil && !*m.RequirePKCE
	if c.PKCEOptional && public {
		return nil, badMetadata("require_pkce", "require_pkce cannot be false for a public client (token_endpoint_auth_method none): without a secret, PKCE is the only thing that ties a code to the app that asked for it")
	}
	if err := m.validateProtocol(c); err != nil {
		return nil, err
	}
	return c, nil
}

// audienceList checks a list of resource server identifiers (field names
// it in errors) and returns it without repeats.
func audienceList(field string, in []string) ([]string, error) {
	out, err := distinct(ObjectClient, field, in)
	if err != nil {
		return nil, err
	}
	if len(out) > maxURIs {
		return nil, badMetadata(field, "at most %d entries may be registered in %s", maxURIs, field)
	}
	for _, a := range out {
		if !identifier(a) {
			return nil, badMetadata(field, "%s entry %s must be a non-empty identifier of at most %d characters without spaces", field, shown(a), maxURILength)
		}
	}
	return out, nil
}

// identifier reports whether s can name a resource server (a token
// audience): non-empty, at most maxURILength, without spaces or control
// characters.
func identifier(s string) bool {
	return s != "" && len(s) <= maxURILength && strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0
}

// newClientSecret returns 256 random bits, base64url so it survives the
// URL-decoding that RFC 6749 §2.3.1 applies to Basic credentials, and the
// SHA-256 digest that is stored in its place.
func newClientSecret() (plain string, digest []byte) {
	plain = randomText(32)
	sum := sha256.Sum256([]byte(plain))
	return plain, sum[:]
}

// Clients manages OAuth clients.
type Clients struct {
	store storage.Store
	now   func() time.Time
	audit Recorder
	// builtin are the ids of the clients hallpass registers itself
	// (Options.BuiltinClients).
	builtin []string
	// builtinHTTPOrigin is Options.BuiltinHTTPOrigin.
	builtinHTTPOrigin string
}

// Create validates m and stores the client. The returned metadata carries
// the generated secret, which is never shown again. An admin may choose
// the id (else one is generated); an existing id, or a reserved one
// (IsReserved: a built-in one, but for case), is a conflict.
func (s *Clients) Create(ctx context.Context, m ClientMetadata) (ClientMetadata, error) {
	if err := s.refuseReserved(m.ClientID); err != nil {
		return ClientMetadata{}, err
	}
	return s.create(ctx, m, m.ClientID, "create")
}

// Register is RFC 7591 dynamic client registration: the id is always
// generated, and what only an admin decides is refused rather than
// dropped, so the registrant does not believe it took effect.
func (s *Clients) Register(ctx context.Context, m ClientMetadata) (ClientMetadata, error) {
	// Self-registered clients are never first-party: consent is the
	// user's. Refused, not dropped: a registrant told nothing would
	// believe its users are not asked.
	if m.SkipConsent {
		return ClientMetadata{}, badMetadata("skip_consent", "skip_consent cannot be set through registration: a registered client's users are always asked for consent; an admin marks a first-party client at /admin/clients")
	}
	if m.RequirePKCE != nil && !*m.RequirePKCE {
		return ClientMetadata{}, badMetadata("require_pkce", "require_pkce cannot be turned off through registration; an admin can do it for a legacy confidential client at /admin/clients")
	}
	if len(m.ResourceServers) > 0 {
		return ClientMetadata{}, badMetadata("resource_servers", "resource_servers cannot be set through registration; an admin sets them at /admin/clients")
	}
	return s.create(ctx, m, "", "register")
}

// create stores the client m describes under id, or a generated id, and
// records it as client.<verb>.
func (s *Clients) create(ctx context.Context, m ClientMetadata, id, verb string) (ClientMetadata, error) {
	c, err := m.validate()
	if err != nil {
		return ClientMetadata{}, err
	}
	if id == "" {
		id = uuid.NewString()
	} else if err := CheckClientID(id); err != nil {
		return ClientMetadata{}, err
	}
	c.ID = id
	var secret string
	if usesSecret(c.TokenEndpointAuthMethod) {
		secret, c.SecretHash = newClientSecret()
	}
	c.CreatedAt = stamp(s.now())
	c.UpdatedAt = c.CreatedAt
	if err := s.insert(ctx, c); err != nil {
		return ClientMetadata{}, err
	}
	record(ctx, s.audit, ObjectClient, verb, c.ID, changedFields(nil, viewClient(c)), nil)
	return metadataFor(c, secret), nil
}

// insert stores the new client c, refusing an id that another client
// holds, or one that differs from it only by case (NameTaken): every
// creation (the admin API, the console, the CLI, configuration as code,
// registration) comes here. A built-in client's id is not checked: its
// variants are reserved (IsReserved), and hallpass's start-up must
// register it whatever an older database holds.
func (s *Clients) insert(ctx context.Context, c *storage.Client) error {
	return inTransaction(ctx, s.store, func(tx context.Context) error {
		if !s.IsBuiltin(c.ID) {
			if err := nameFree(tx, s.store, ObjectClient, s.store.FindClientIDsFold, c.ID); err != nil {
				return err
			}
		}
		return storeErr(s.store.CreateClient(tx, c), ObjectClient, c.ID)
	})
}

// Update replaces the metadata of client id. The secret is kept, unless
// the client turns to a secret method (a secret is generated and returned once)
// or to none or private_key_jwt (the secret is dropped). A client that
// turns to none from a method that authenticates loses its grants in the
// same transaction (turnsPublic), recorded as client.tokens_revoked. A
// built-in client (IsBuiltin) is a conflict.
func (s *Clients) Update(ctx context.Context, id string, m ClientMetadata) (ClientMetadata, error) {
	if err := s.refuseBuiltin(id); err != nil {
		return ClientMetadata{}, err
	}
	return s.update(ctx, id, m, "")
}

// PrepareUpdate returns Update(ctx, id, m), to run with a context that
// may carry a transaction: a client's update has no work that must run
// before one (Users.PrepareUpdate has).
func (s *Clients) PrepareUpdate(_ context.Context, id string, m ClientMetadata) (func(ctx context.Context) (ClientMetadata, error), error) {
	return func(ctx context.Context) (ClientMetadata, error) { return s.Update(ctx, id, m) }, nil
}

// update is Update for any client, built-in ones included. A chosen
// secret, when not "", replaces the client's (UpdateWithSecret), in the
// same write and the same audit record.
func (s *Clients) update(ctx context.Context, id string, m ClientMetadata, chosen string) (ClientMetadata, error) {
	var old, c *storage.Client
	var secret string
	var revoke bool
	err := inTransaction(ctx, s.store, func(tx context.Context) error {
		var err error
		// What the update keeps of the client (its secret above all) is
		// what the client is as the update writes (lockedClient).
		if old, err = s.lockedClient(tx, id); err != nil {
			return err
		}
		in := m
		if in.ClientID != "" && in.ClientID != old.ID {
			return badMetadata("client_id", "client_id cannot be changed")
		}
		if in.ClientSecret != "" {
			// The client's own secret sent back, as in the metadata the
			// create answered (RFC 7592 §2.2 allows it if it matches): no
			// change. Any other value would be a secret chosen here.
			if !secretMatches(old, in.ClientSecret) {
				return badMetadata("client_secret", "client_secret does not match the client's secret, and cannot be changed here (a new one: the console's \"Rotate secret\"; an operator's own: client_secret_env in configuration as code)")
			}
			in.ClientSecret = ""
		}
		if c, err = in.validate(); err != nil {
			return err
		}
		c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, stamp(s.now())
		secret = ""
		switch {
		case !usesSecret(c.TokenEndpointAuthMethod):
			if chosen != "" {
				return badMetadata("client_secret", "client %q would be public (token_endpoint_auth_method %s): it has no secret", id, c.TokenEndpointAuthMethod)
			}
			c.SecretHash = nil
		case chosen != "":
			sum := sha256.Sum256([]byte(chosen))
			c.SecretHash = sum[:]
		case len(old.SecretHash) == 0:
			secret, c.SecretHash = newClientSecret()
		default:
			c.SecretHash = old.SecretHash
		}
		// A client made public keeps no grant it got while it
		// authenticated (turnsPublic): the update and the revocation
		// commit together.
		revoke = turnsPublic(old.TokenEndpointAuthMethod, c.TokenEndpointAuthMethod)
		if err := s.store.UpdateClient(tx, c); err != nil {
			return storeErr(err, ObjectClient, id)
		}
		if revoke {
			if err := s.store.RevokeTokensByClient(tx, c.ID); err != nil {
				return fmt.Errorf("revoke the tokens of client %q, made public: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return ClientMetadata{}, err
	}
	fields := changedFields(viewClient(old), viewClient(c))
	if !bytes.Equal(old.SecretHash, c.SecretHash) {
		fields = append(fields, "client_secret")
	}
	recordUpdate(ctx, s.audit, ObjectClient, c.ID, fields, nil)
	if revoke {
		record(ctx, s.audit, ObjectClient, "tokens_revoked", c.ID, nil, map[string]any{
			"reason": "token_endpoint_auth_method changed from " + old.TokenEndpointAuthMethod + " to none"})
	}
	return metadataFor(c, secret), nil
}

// lockedClient reads client id for a change that writes the whole client
// back in tx, the transaction ctx carries: from the database, not a cache
// that another replica's change has not reached, and locked until tx
// ends (storage.LockingReads), so that a change made meanwhile waits and
// is read, not written over. Read before the transaction, a secret
// rotated meanwhile came back with an update (the one rotated away
// because it leaked), and a rotation undid an update.
func (s *Clients) lockedClient(tx context.Context, id string) (*storage.Client, error) {
	c, err := s.store.GetClient(storage.LockingReads(tx), id)
	if err != nil {
		return nil, storeErr(err, ObjectClient, id)
	}
	return c, nil
}

// turnsPublic reports whether a client whose token endpoint
// authentication method changes from old to new stops authenticating:
// then its grants are revoked (update). Its refresh tokens and unused
// codes were issued to a client that had to prove itself to use them;
// kept, a copy leaked from the confidential backend (a log, a database
// dump) would work from anywhere with no secret. RFC 6749 §10.4 binds a
// refresh token to the client's authentication, and RFC 9700 §4.14.2
// wants a public client's refresh tokens sender-constrained or rotated
// from their issue, which these were not bound to.
func turnsPublic(old, new string) bool {
	return old != "none" && new == "none"
}

// Get returns client id, without its secret.
func (s *Clients) Get(ctx context.Context, id string) (ClientMetadata, error) {
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return ClientMetadata{}, storeErr(err, ObjectClient, id)
	}
	return viewClient(c), nil
}

// List returns every client, without secrets.
func (s *Clients) List(ctx context.Context) ([]ClientMetadata, error) {
	return listed(ctx, ObjectClient, s.store.ListClients, viewClient)
}

// Delete deletes client id and, with it, every token issued to it. A
// built-in client (IsBuiltin) is a conflict.
func (s *Clients) Delete(ctx context.Context, id string) error {
	if err := s.refuseBuiltin(id); err != nil {
		return err
	}
	if err := s.store.DeleteClient(ctx, id); err != nil {
		return storeErr(err, ObjectClient, id)
	}
	record(ctx, s.audit, ObjectClient, "delete", id, nil, nil)
	return nil
}

// RevokeTokens ends every grant of client id, keeping the client: access
// tokens stop introspecting as active, refresh tokens and unused codes
// stop working.
func (s *Clients) RevokeTokens(ctx context.Context, id string) error {
	if _, err := s.store.GetClient(ctx, id); err != nil {
		return storeErr(err, ObjectClient, id)
	}
	if err := s.store.RevokeTokensByClient(ctx, id); err != nil {
		return fmt.Errorf("revoke tokens of client %q: %w", id, err)
	}
	record(ctx, s.audit, ObjectClient, "tokens_revoked", id, nil, nil)
	return nil
}
