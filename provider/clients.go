package provider

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/go-chi/chi/v5"
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

// The grant types, response types and authentication methods hallpass
// supports; registration refuses anything else.
var (
	supportedGrantTypes  = []string{"authorization_code", "refresh_token", "client_credentials"}
	supportedAuthMethods = []string{"client_secret_basic", "client_secret_post", "none"}
)

// ClientMetadata is a client as RFC 7591 describes it, plus hallpass's
// admin-only fields. It is both the request and the response body of
// registration and of /admin/clients.
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
		RedirectURIs:            nonNil(c.RedirectURIs),
		PostLogoutRedirectURIs:  nonNil(c.PostLogoutRedirectURIs),
		GrantTypes:              nonNil(c.GrantTypes),
		ResponseTypes:           nonNil(c.ResponseTypes),
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		Scope:                   strings.Join(c.Scopes, " "),
		Audience:                nonNil(c.Audience),
		SkipConsent:             c.SkipConsent,
		ResourceServers:         nonNil(c.ResourceServers),
		RequirePKCE:             &requirePKCE,
	}
	if c.TokenEndpointAuthMethod != "none" {
		never := int64(0)
		m.ClientSecretExpiresAt = &never
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func metadataError(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "invalid_client_metadata", format, args...)
}

func redirectError(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "invalid_redirect_uri", format, args...)
}

// validate checks m and fills in RFC 7591 defaults, returning the client to
// store (without id, secret or timestamps).
func (m *ClientMetadata) validate() (*storage.Client, error) {
	c := &storage.Client{}
	if len(m.ClientName) > maxNameLength || strings.IndexFunc(m.ClientName, unicode.IsControl) >= 0 {
		return nil, metadataError("client_name must be at most %d characters without control characters", maxNameLength)
	}
	c.Name = m.ClientName

	c.TokenEndpointAuthMethod = m.TokenEndpointAuthMethod
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = "client_secret_basic"
	}
	if !slices.Contains(supportedAuthMethods, c.TokenEndpointAuthMethod) {
		return nil, metadataError("token_endpoint_auth_method %q is not supported; use one of %s", c.TokenEndpointAuthMethod, strings.Join(supportedAuthMethods, ", "))
	}

	c.GrantTypes = dedupe(m.GrantTypes)
	if m.GrantTypes == nil {
		c.GrantTypes = []string{"authorization_code"}
	}
	if len(c.GrantTypes) == 0 {
		return nil, metadataError("grant_types must not be empty")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(supportedGrantTypes, g) {
			return nil, metadataError("grant type %q is not supported; use %s", g, strings.Join(supportedGrantTypes, ", "))
		}
	}
	code := slices.Contains(c.GrantTypes, "authorization_code")
	if slices.Contains(c.GrantTypes, "refresh_token") && !code {
		return nil, metadataError("grant type refresh_token needs authorization_code: refresh tokens are only issued with a code")
	}
	if slices.Contains(c.GrantTypes, "client_credentials") && c.TokenEndpointAuthMethod == "none" {
		return nil, metadataError("grant type client_credentials needs a confidential client; token_endpoint_auth_method none cannot use it")
	}

	c.ResponseTypes = dedupe(m.ResponseTypes)
	if m.ResponseTypes == nil && code {
		c.ResponseTypes = []string{"code"}
	}
	for _, rt := range c.ResponseTypes {
		if rt != "code" {
			return nil, metadataError("response type %q is not supported; only code is", rt)
		}
	}
	if code != slices.Contains(c.ResponseTypes, "code") {
		return nil, metadataError("response type code and grant type authorization_code go together (RFC 7591 §2.1)")
	}

	if len(m.RedirectURIs) > maxURIs || len(m.PostLogoutRedirectURIs) > maxURIs {
		return nil, redirectError("at most %d redirect URIs may be registered", maxURIs)
	}
	public := c.TokenEndpointAuthMethod == "none"
	for _, u := range m.RedirectURIs {
		if err := checkRedirectURI(u, forRedirect, public); err != nil {
			return nil, redirectError("redirect_uris: %v", err)
		}
	}
	for _, u := range m.PostLogoutRedirectURIs {
		if err := checkRedirectURI(u, forPostLogout, public); err != nil {
			return nil, redirectError("post_logout_redirect_uris: %v", err)
		}
	}
	if code && len(m.RedirectURIs) == 0 {
		return nil, redirectError("grant type authorization_code needs at least one redirect_uri")
	}
	c.RedirectURIs = dedupe(m.RedirectURIs)
	c.PostLogoutRedirectURIs = dedupe(m.PostLogoutRedirectURIs)

	c.Scopes = dedupe(strings.Fields(m.Scope))
	if len(c.Scopes) > maxScopes {
		return nil, metadataError("at most %d scopes may be registered", maxScopes)
	}
	for _, s := range c.Scopes {
		if !validScopeToken(s) {
			return nil, metadataError("scope %q contains characters RFC 6749 §3.3 does not allow", s)
		}
	}
	if m.Scope == "" && code {
		// An SSO client with no scope registered could sign nobody in.
		c.Scopes = []string{"openid", "profile", "email"}
		if slices.Contains(c.GrantTypes, "refresh_token") {
			c.Scopes = append(c.Scopes, "offline_access")
		}
	}

	var err error
	if c.Audience, err = audienceList("audience", m.Audience); err != nil {
		return nil, err
	}
	if c.ResourceServers, err = audienceList("resource_servers", m.ResourceServers); err != nil {
		return nil, err
	}
	c.SkipConsent = m.SkipConsent
	c.PKCEOptional = m.RequirePKCE != nil && !*m.RequirePKCE
	if c.PKCEOptional && public {
		return nil, metadataError("require_pkce cannot be false for a public client (token_endpoint_auth_method none): without a secret, PKCE is the only thing that ties a code to the app that asked for it")
	}
	return c, nil
}

// audienceList checks a list of resource server identifiers (field names
// it in errors) and returns it without repeats.
func audienceList(field string, in []string) ([]string, error) {
	out := dedupe(in)
	if len(out) > maxURIs {
		return nil, metadataError("at most %d entries may be registered in %s", maxURIs, field)
	}
	for _, a := range out {
		if a == "" || len(a) > maxURILength || strings.IndexFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return nil, metadataError("%s entry %q must be a non-empty identifier of at most %d characters without spaces", field, a, maxURILength)
		}
	}
	return out, nil
}

// uriUse is what a URI is registered for; it decides which query
// parameters would collide with what hallpass appends to it.
type uriUse int

const (
	// forRedirect is a redirect_uris entry: the authorization response
	// (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207) is appended to it.
	forRedirect uriUse = iota
	// forPostLogout is a post_logout_redirect_uris entry: OpenID
	// RP-Initiated Logout 1.0 §3 appends state to it.
	forPostLogout
)

// reservedParams lists, per use, the query parameters hallpass appends.
// A URI that already carries one leaves the client to guess which of two
// values is the real one, which is how codes and errors get forged.
func reservedParams(use uriUse) []string {
	if use == forPostLogout {
		return []string{"state"}
	}
	return []string{"code", "state", "iss", "error", "error_description", "error_uri"}
}

// isScriptScheme reports whether scheme runs or reads content in place
// instead of taking the user to an application.
func isScriptScheme(scheme string) bool {
	switch scheme {
	case "javascript", "data", "file", "vbscript":
		return true
	}
	return false
}

// checkRedirectURI enforces RFC 6749 §3.1.2 and RFC 9700 §2.1, §4.1: an
// absolute URI matched exactly, so no wildcard, no fragment, no user
// information; https, or http only to loopback (RFC 8252 §7.3); a
// private-use scheme in reverse-domain form (RFC 8252 §7.1) only for a
// public client, since native apps are public clients (RFC 8252 §8.4) and
// a web server has no use for one; and no query parameter that collides
// with what hallpass appends. Each error names the rule it breaks.
func checkRedirectURI(raw string, use uriUse, public bool) error {
	if raw == "" || len(raw) > maxURILength {
		return fmt.Errorf("a redirect URI must be non-empty and at most %d characters", maxURILength)
	}
	// Errors quote the URI without any password it carries.
	shown := raw
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		shown = u.Redacted()
	}
	if strings.Contains(raw, "*") || strings.Contains(strings.ToLower(raw), "%2a") {
		return fmt.Errorf("%q must not contain a wildcard (*): redirect URIs are matched exactly", shown)
	}
	if strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not contain a fragment (#)", shown)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%q must be a valid absolute URI", shown)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not contain user information (user@)", shown)
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case isScriptScheme(scheme):
		return fmt.Errorf("%q must not use the %s: scheme", shown, scheme)
	case scheme == "https":
		if u.Host == "" {
			return fmt.Errorf("%q must name a host", shown)
		}
	case scheme == "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("%q must use https: http is allowed only for localhost or a loopback address", shown)
		}
	case !strings.Contains(scheme, "."):
		return fmt.Errorf("%q must use https, loopback http, or a reverse-domain private-use scheme such as com.example.app: (RFC 8252 §7.1)", shown)
	case !public:
		return fmt.Errorf("%q must use https or loopback http: a private-use scheme is for native apps, which are public clients (token_endpoint_auth_method none)", shown)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("%q must have a well-formed query", shown)
	}
	for name := range q {
		for _, reserved := range reservedParams(use) {
			if strings.EqualFold(name, reserved) {
				return fmt.Errorf("%q must not carry the query parameter %q: hallpass adds it to the response", shown, name)
			}
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validScopeToken checks RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// newClientSecret returns 256 random bits, base64url so it survives the
// URL-decoding that RFC 6749 §2.3.1 applies to Basic credentials.
func newClientSecret() (plain string, digest []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	plain = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(plain))
	return plain, sum[:]
}

// CreateClient validates m and stores the client. The returned metadata
// carries the generated secret, which is never shown again. allowID lets an
// admin choose the id (dynamic registration always generates one).
// Validation failures are RFC 7591 errors; an existing id is a conflict.
func CreateClient(ctx context.Context, store storage.Store, m *ClientMetadata, allowID bool, now time.Time) (ClientMetadata, error) {
	c, err := m.validate()
	if err != nil {
		return ClientMetadata{}, err
	}
	c.ID = uuid.NewString()
	if allowID && m.ClientID != "" {
		if !validName(m.ClientID, "-_.~", maxIDLength) {
			return ClientMetadata{}, metadataError("client_id must be 1 to %d characters of A-Z a-z 0-9 - _ . ~", maxIDLength)
		}
		c.ID = m.ClientID
	}
	var secret string
	if c.TokenEndpointAuthMethod != "none" {
		secret, c.SecretHash = newClientSecret()
	}
	c.CreatedAt, c.UpdatedAt = stamp(now), stamp(now)
	if err := store.CreateClient(ctx, c); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return ClientMetadata{}, errorf(http.StatusConflict, "conflict", "a client with id %q already exists", c.ID)
		}
		return ClientMetadata{}, fmt.Errorf("create client: %w", err)
	}
	return metadataFor(c, secret), nil
}

// UpdateClient replaces the metadata of client id. The secret is kept,
// unless the client turns confidential (a secret is generated and returned
// once) or public (the secret is dropped).
func UpdateClient(ctx context.Context, store storage.Store, id string, m *ClientMetadata, now time.Time) (ClientMetadata, error) {
	old, err := store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return ClientMetadata{}, errorf(http.StatusNotFound, "not_found", "no client with id %q", id)
	}
	if err != nil {
		return ClientMetadata{}, fmt.Errorf("update client: %w", err)
	}
	if m.ClientID != "" && m.ClientID != old.ID {
		return ClientMetadata{}, metadataError("client_id cannot be changed")
	}
	c, err := m.validate()
	if err != nil {
		return ClientMetadata{}, err
	}
	c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, stamp(now)
	var secret string
	switch {
	case c.TokenEndpointAuthMethod == "none":
		c.SecretHash = nil
	case len(old.SecretHash) == 0:
		secret, c.SecretHash = newClientSecret()
	default:
		c.SecretHash = old.SecretHash
	}
	if err := store.UpdateClient(ctx, c); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return ClientMetadata{}, errorf(http.StatusNotFound, "not_found", "no client with id %q", id)
		}
		return ClientMetadata{}, fmt.Errorf("update client: %w", err)
	}
	return metadataFor(c, secret), nil
}

// ClientMetadataOf renders a stored client without its secret.
func ClientMetadataOf(c *storage.Client) ClientMetadata { return metadataFor(c, "") }

// handleRegister is RFC 7591 dynamic client registration; the admin token
// is the initial access token.
func (p *Provider) handleRegister(w http.ResponseWriter, r *http.Request) {
	if !p.isAdmin(r) {
		p.writeError(w, r, errorf(http.StatusUnauthorized, "invalid_token", "registration needs the admin token as initial access token (Authorization: Bearer)"))
		return
	}
	var m ClientMetadata
	if err := decodeJSON(r, &m, "invalid_client_metadata", jsonLenient); err != nil {
		p.writeError(w, r, err)
		return
	}
	// Self-registered clients are never first-party: consent is the user's.
	m.SkipConsent = false
	// What only an admin decides is refused rather than dropped, so the
	// registrant does not believe it took effect.
	if m.RequirePKCE != nil && !*m.RequirePKCE {
		p.writeError(w, r, metadataError("require_pkce cannot be turned off through registration; an admin can do it for a legacy confidential client at /admin/clients"))
		return
	}
	if len(m.ResourceServers) > 0 {
		p.writeError(w, r, metadataError("resource_servers cannot be set through registration; an admin sets them at /admin/clients"))
		return
	}
	out, err := CreateClient(r.Context(), p.cfg.Store, &m, false, p.cfg.Now())
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), "client registered", "client_id", out.ClientID, "request_id", RequestID(r.Context()))
	writeJSON(w, http.StatusCreated, out)
}

func (p *Provider) adminCreateClient(w http.ResponseWriter, r *http.Request) {
	var m ClientMetadata
	if err := decodeJSON(r, &m, "invalid_client_metadata", jsonStrict); err != nil {
		p.writeError(w, r, err)
		return
	}
	out, err := CreateClient(r.Context(), p.cfg.Store, &m, true, p.cfg.Now())
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), "client created", "client_id", out.ClientID, "request_id", RequestID(r.Context()))
	writeJSON(w, http.StatusCreated, out)
}

func (p *Provider) adminListClients(w http.ResponseWriter, r *http.Request) {
	cs, err := p.cfg.Store.ListClients(r.Context())
	if err != nil {
		p.writeError(w, r, fmt.Errorf("list clients: %w", err))
		return
	}
	out := make([]ClientMetadata, 0, len(cs))
	for i := range cs {
		out = append(out, metadataFor(&cs[i], ""))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Provider) loadClient(r *http.Request) (*storage.Client, error) {
	id := chi.URLParam(r, "id")
	c, err := p.cfg.Store.GetClient(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "not_found", "no client with id %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get client: %w", err)
	}
	return c, nil
}

func (p *Provider) adminGetClient(w http.ResponseWriter, r *http.Request) {
	c, err := p.loadClient(r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, metadataFor(c, ""))
}

func (p *Provider) adminUpdateClient(w http.ResponseWriter, r *http.Request) {
	var m ClientMetadata
	if err := decodeJSON(r, &m, "invalid_client_metadata", jsonStrict); err != nil {
		p.writeError(w, r, err)
		return
	}
	out, err := UpdateClient(r.Context(), p.cfg.Store, chi.URLParam(r, "id"), &m, p.cfg.Now())
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// adminDeleteClient deletes a client and, with it, every token issued to it.
func (p *Provider) adminDeleteClient(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := p.cfg.Store.DeleteClient(r.Context(), id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			p.writeError(w, r, errorf(http.StatusNotFound, "not_found", "no client with id %q", id))
			return
		}
		p.writeError(w, r, fmt.Errorf("delete client: %w", err))
		return
	}
	p.log.InfoContext(r.Context(), "client deleted", "client_id", id, "request_id", RequestID(r.Context()))
	w.WriteHeader(http.StatusNoContent)
}

// RevokeClientTokens ends every grant of a client: access tokens stop
// introspecting as active, refresh tokens and unused codes stop working.
func RevokeClientTokens(ctx context.Context, store storage.Store, id string) error {
	if _, err := store.GetClient(ctx, id); err != nil {
		return storeErr(err, "client", id)
	}
	if err := store.RevokeTokensByClient(ctx, id); err != nil {
		return fmt.Errorf("revoke tokens of client %q: %w", id, err)
	}
	return nil
}

// adminRevokeClientTokens ends every grant of a client, keeping the client.
func (p *Provider) adminRevokeClientTokens(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := RevokeClientTokens(r.Context(), p.cfg.Store, id); err != nil {
		p.writeError(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), "client tokens revoked", "client_id", id, "request_id", RequestID(r.Context()))
	w.WriteHeader(http.StatusNoContent)
}
