package resource

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/hallpass/hallpass/internal/jws"
)

// Sentinel errors. Errors returned by Verify and Introspect wrap one of them
// (or, for a failure to reach hallpass, ErrUnavailable) with details.
var (
	// ErrInvalidToken means the token is not acceptable: malformed, not an
	// RS256 at+jwt, badly signed, signed by an unknown key, expired, for
	// another audience or issuer, or (Introspect) no longer active.
	ErrInvalidToken = errors.New("resource: invalid access token")
	// ErrNoIntrospection means Introspect cannot be used: Config.ClientID is
	// empty, or hallpass's discovery document names no introspection
	// endpoint.
	ErrNoIntrospection = errors.New("resource: introspection is not configured")
	// ErrUnavailable means hallpass could not be asked (network error,
	// timeout, 5xx): the token may well be valid.
	ErrUnavailable = errors.New("resource: authorization server unavailable")
)

// Defaults of Config.
const (
	DefaultTimeout            = 10 * time.Second
	DefaultLeeway             = 30 * time.Second
	DefaultMinRefreshInterval = 10 * time.Second
)

// Bounds on how long the JWKS is cached: hallpass's Cache-Control max-age
// is honoured within them, and DefaultCacheTTL applies without one.
const (
	MinCacheTTL     = time.Minute
	MaxCacheTTL     = time.Hour
	DefaultCacheTTL = 5 * time.Minute
)

// Size limits: a token, and any document fetched from hallpass.
const (
	maxTokenBytes    = 16 << 10
	maxResponseBytes = 1 << 20
)

// Config configures a Verifier. Issuer and Audience are required.
type Config struct {
	// Issuer is hallpass's issuer URL; discovery is fetched from
	// Issuer + "/.well-known/openid-configuration", and tokens' iss must
	// equal it exactly.
	Issuer string
	// Audience is this API's identifier; tokens must list it in aud.
	Audience string
	// HTTPClient fetches discovery and the JWKS and calls introspection;
	// default: a client with a 10s timeout.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed on exp, nbf and iat; default 30s.
	Leeway time.Duration
	// MinRefreshInterval: a token with an unknown kid refetches the JWKS at
	// most this often, so forged kids cannot make the Verifier hammer
	// hallpass; default 10s.
	MinRefreshInterval time.Duration
	// Now is the clock for token times and the refetch throttle; default
	// time.Now.
	Now func() time.Time
	// ClientID and ClientSecret are this resource server's credentials at
	// hallpass, for Introspect (optional).
	ClientID, ClientSecret string
	// Logger receives refresh failures (Warn) and rejected tokens (Debug),
	// never a token; default slog.Default().
	Logger *slog.Logger
	// Realm is the realm of every WWW-Authenticate challenge of the
	// Verifier's middlewares, and of RequireScope, RequireACR and
	// RequireAMR behind them; default Audience.
	Realm string
	// ResourceMetadataURL, when set, is named in every such challenge
	// (resource_metadata, RFC 9728 §5.1), so a client that met a 401 or
	// a 403 can find which authorization server to ask; see MetadataURL
	// and MetadataHandler.
	ResourceMetadataURL string
}

// Claims are the claims of an accepted hallpass access token.
type Claims struct {
	Issuer, Subject, ClientID, Username, JTI string
	Audience                                 []string
	// Scopes are the granted scopes (the scope claim, split on spaces).
	Scopes []string
	// Roles are the user's roles at the time of the grant; empty for
	// client-credentials tokens.
	Roles               []string
	ExpiresAt, IssuedAt time.Time
	// ACR and AMR are how the user signed in: the authentication context
	// class ("urn:hallpass:acr:mfa" with a second factor) and the methods
	// (RFC 8176: "pwd", "otp", "mfa"); AuthTime is when. Empty for
	// client-credentials tokens and tokens from before hallpass set them.
	ACR      string
	AMR      []string
	AuthTime time.Time
}

// HasScope reports whether the token grants scope.
func (c *Claims) HasScope(scope string) bool {
	return c != nil && slices.Contains(c.Scopes, scope)
}

// HasRole reports whether the token's user has role.
func (c *Claims) HasRole(role string) bool {
	return c != nil && slices.Contains(c.Roles, role)
}

// Verifier checks hallpass access tokens for one audience. It is safe for
// concurrent use; Close stops its background JWKS refresh.
type Verifier struct {
	cfg           Config
	log           *slog.Logger
	jwksURI       string
	introspectURL string
	minTTL        time.Duration
	maxTTL        time.Duration
	ch            challenger // writes every challenge of its middlewares

	keys jwksCache

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// ttlBounds are the JWKS cache bounds; tests shorten them.
type ttlBounds struct{ min, max time.Duration }

// NewVerifier fetches hallpass's discovery document and JWKS (failing if
// either cannot be had, or if discovery names another issuer), and starts
// refreshing the JWKS in the background until Close. ctx bounds the
// initial fetches only.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	return newVerifier(ctx, cfg, ttlBounds{MinCacheTTL, MaxCacheTTL})
}

func newVerifier(ctx context.Context, cfg Config, b ttlBounds) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("resource: Config.Issuer is required")
	}
	if u, err := url.Parse(cfg.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("resource: Config.Issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.Audience == "" {
		return nil, errors.New("resource: Config.Audience is required")
	}
	if cfg.Leeway < 0 || cfg.MinRefreshInterval < 0 {
		return nil, errors.New("resource: Config.Leeway and MinRefreshInterval must not be negative")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Realm == "" {
		cfg.Realm = cfg.Audience
	}
	v := &Verifier{cfg: cfg, log: cfg.Logger, minTTL: b.min, maxTTL: b.max,
		ch: challenger{realm: cfg.Realm, resourceMetadata: cfg.ResourceMetadataURL}}
	v.keys.init()

	if err := v.discover(ctx); err != nil {
		return nil, err
	}
	if err := v.refresh(ctx); err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	v.stop, v.done = stop, make(chan struct{})
	go v.refreshLoop(bg)
	return v, nil
}

// Close stops the background refresh and waits for it to end. The
// Verifier keeps verifying with the keys it holds.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		v.stop()
		<-v.done
	})
}

// discovery is the part of the OpenID Provider Metadata the Verifier uses.
type discovery struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

func (v *Verifier) discover(ctx context.Context) error {
	target := strings.TrimSuffix(v.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("resource: discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: discovery: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return fmt.Errorf("resource: discovery %s: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: discovery %s: status %d", statusErr(resp.StatusCode), target, resp.StatusCode)
	}
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return fmt.Errorf("resource: discovery %s: %w", target, err)
	}
	// OpenID Connect Discovery §4.3: the document must name the issuer it
	// was fetched for, or its keys could vouch for another issuer's tokens.
	if d.Issuer != v.cfg.Issuer {
		return fmt.Errorf("resource: discovery %s names issuer %q, not %q", target, d.Issuer, v.cfg.Issuer)
	}
	if !isHTTPURL(d.JWKSURI) {
		return fmt.Errorf("resource: discovery %s: jwks_uri %q is not an http(s) URL", target, d.JWKSURI)
	}
	v.jwksURI = d.JWKSURI
	if isHTTPURL(d.IntrospectionEndpoint) {
		v.introspectURL = d.IntrospectionEndpoint
	}
	return nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// statusErr classifies an unexpected HTTP status from hallpass: a server
// error or rate limit is ErrUnavailable, anything else a plain failure.
func statusErr(status int) error {
	if status >= 500 || status == http.StatusTooManyRequests {
		return ErrUnavailable
	}
	return errors.New("resource: unexpected response")
}

// readBody reads at most maxResponseBytes of resp's body.
func readBody(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read response: %w", ErrUnavailable, err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("response larger than %d bytes", maxResponseBytes)
	}
	return body, nil
}

// jsonContent reports whether a Content-Type is JSON (or absent).
func jsonContent(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// tokenError is an ErrInvalidToken with a fixed, public description (safe
// for a WWW-Authenticate header) and private detail.
type tokenError struct {
	desc string
	err  error
}

func (e *tokenError) Error() string {
	if e.err == nil {
		return ErrInvalidToken.Error() + ": " + e.desc
	}
	return ErrInvalidToken.Error() + ": " + e.desc + ": " + e.err.Error()
}

func (e *tokenError) Is(target error) bool { return target == ErrInvalidToken }
func (e *tokenError) Unwrap() error        { return e.err }

func invalid(desc string, err error) error { return &tokenError{desc: desc, err: err} }

// Public descriptions of rejected tokens.
const (
	descMalformed    = "The access token is malformed"
	descAlgorithm    = "The access token is not an RS256 JWS"
	descType         = "The token is not an access token (typ at+jwt)"
	descUnknownKey   = "The access token is signed by an unknown key"
	descSignature    = "The access token signature is invalid"
	descIssuer       = "The access token was issued by another issuer"
	descAudience     = "The access token is not meant for this resource"
	descExpired      = "The access token expired"
	descNoExpiry     = "The access token has no expiry"
	descNotYetValid  = "The access token is not valid yet"
	descInactive     = "The access token is not active"
	descTooLarge     = "The access token is too large"
	descTokenMissing = "No access token"
)

// accessClaims are the claims of a hallpass access token beyond RFC 7519's.
type accessClaims struct {
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	Roles    []string `json:"roles"`
	Username string   `json:"username"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"auth_time"`
}

// Verify checks token offline and returns its claims; every failure wraps
// ErrInvalidToken. token must be spelt exactly as hallpass signed it: a
// compact JWS of three canonical base64url segments, without whitespace,
// padding or a crit header; any other spelling is malformed. It calls
// hallpass only when the token names a kid the cached JWKS lacks, at most
// once per Config.MinRefreshInterval.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, invalid(descTokenMissing, nil)
	}
	if len(token) > maxTokenBytes {
		return nil, invalid(descTooLarge, nil)
	}
	// One token, one spelling: go-jose would accept others of the same
	// signed token (line breaks, non-canonical base64url) and honour crit
	// extensions hallpass never sets. Refused here, before any key is
	// looked up or fetched.
	if _, err := jws.Parse(token); err != nil {
		return nil, invalid(descMalformed, err)
	}
	// Only RS256 parses: "none", HS256 (with the public key as HMAC secret
	// or otherwise) and every other algorithm fail here, before any key is
	// looked at.
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		if _, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, invalid(descAlgorithm, err)
		}
		return nil, invalid(descMalformed, err)
	}
	if len(tok.Headers) != 1 {
		return nil, invalid(descMalformed, errors.New("not exactly one signature"))
	}
	h := tok.Headers[0]
	if h.Algorithm != string(jose.RS256) {
		return nil, invalid(descAlgorithm, fmt.Errorf("alg %q", h.Algorithm))
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isAccessTokenType(typ) {
		return nil, invalid(descType, fmt.Errorf("typ %.40q", typ))
	}
	if h.KeyID == "" {
		return nil, invalid(descUnknownKey, errors.New("no kid"))
	}
	key, err := v.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	var std jwt.Claims
	var ext accessClaims
	if err := tok.Claims(key, &std, &ext); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, invalid(descSignature, err)
		}
		return nil, invalid(descMalformed, err)
	}
	c := &Claims{
		Issuer:    std.Issuer,
		Subject:   std.Subject,
		ClientID:  ext.ClientID,
		Username:  ext.Username,
		JTI:       std.ID,
		Audience:  []string(std.Audience),
		Scopes:    strings.Fields(ext.Scope),
		Roles:     ext.Roles,
		ExpiresAt: std.Expiry.Time(),
		IssuedAt:  std.IssuedAt.Time(),
		ACR:       ext.ACR,
		AMR:       ext.AMR,
	}
	if ext.AuthTime > 0 {
		c.AuthTime = time.Unix(ext.AuthTime, 0)
	}
	if err := v.checkClaims(c.Issuer, c.Audience, std.Expiry, std.NotBefore, std.IssuedAt); err != nil {
		return nil, err
	}
	return c, nil
}

// isAccessTokenType accepts RFC 9068's typ, in either of its spellings, in
// any case (media types are case-insensitive).
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

// checkClaims checks iss, aud and the time claims (nil when absent; exp is
// required).
func (v *Verifier) checkClaims(iss string, aud []string, exp, nbf, iat *jwt.NumericDate) error {
	if iss != v.cfg.Issuer {
		return invalid(descIssuer, fmt.Errorf("iss %.80q", iss))
	}
	if !slices.Contains(aud, v.cfg.Audience) {
		return invalid(descAudience, fmt.Errorf("aud %.200q", aud))
	}
	now := v.cfg.Now()
	if exp == nil {
		return invalid(descNoExpiry, nil)
	}
	if !now.Before(exp.Time().Add(v.cfg.Leeway)) {
		return invalid(descExpired, fmt.Errorf("expired at %s", exp.Time().UTC().Format(time.RFC3339)))
	}
	if nbf != nil && nbf.Time().After(now.Add(v.cfg.Leeway)) {
		return invalid(descNotYetValid, fmt.Errorf("nbf %s", nbf.Time().UTC().Format(time.RFC3339)))
	}
	if iat != nil && iat.Time().After(now.Add(v.cfg.Leeway)) {
		return invalid(descNotYetValid, fmt.Errorf("iat %s", iat.Time().UTC().Format(time.RFC3339)))
	}
	return nil
}

// key returns the public key kid names, refetching the JWKS for an unknown
// kid unless another unknown kid did so within MinRefreshInterval.
func (v *Verifier) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if k, ok := v.keys.lookup(kid); ok {
		return k, nil
	}
	if err := v.keys.acquire(ctx); err != nil {
		return nil, invalid(descUnknownKey, err)
	}
	defer v.keys.release()
	// Another request may have fetched the key while this one waited.
	if k, ok := v.keys.lookup(kid); ok {
		return k, nil
	}
	now := v.cfg.Now()
	if last := v.keys.lastKidFetch; !last.IsZero() && now.Sub(last) < v.cfg.MinRefreshInterval {
		return nil, invalid(descUnknownKey, fmt.Errorf("kid %.64q (JWKS refetch throttled)", kid))
	}
	v.keys.lastKidFetch = now
	if err := v.fetchLocked(ctx); err != nil {
		v.log.WarnContext(ctx, "resource: JWKS refetch for an unknown kid failed; keeping the cached keys", "err", err)
		return nil, invalid(descUnknownKey, fmt.Errorf("kid %.64q (JWKS refetch failed: %w)", kid, err))
	}
	if k, ok := v.keys.lookup(kid); ok {
		return k, nil
	}
	return nil, invalid(descUnknownKey, fmt.Errorf("kid %.64q", kid))
}
