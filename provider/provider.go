package provider

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider/fositestore"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/cached"
	"github.com/hallpass/hallpass/telemetry"
	"github.com/hallpass/hallpass/web"
)

// KeyManager is what the provider needs from the signing-key lifecycle
// (keys.Manager): sign with the active key, verify against any published
// key, serve the JWKS, and say which key signs ("" when none is loaded);
// for the admin API, list, rotate and revoke keys; for metrics, report
// its status.
type KeyManager interface {
	keySource
	JWKSHandler() http.Handler
	ActiveKeyID() string
	Keys(ctx context.Context) ([]keys.KeyInfo, error)
	RotateNow(ctx context.Context, immediate bool) (keys.KeyInfo, error)
	Revoke(ctx context.Context, kid string) (active keys.KeyInfo, err error)
	Status() keys.Status
}

// Config configures a Provider. Issuer, Store, Keys, AdminTokenDigest and
// TokenSecret are required; zero durations take the defaults below.
type Config struct {
	// Issuer is the https URL hallpass is reached at, without a trailing
	// slash; every endpoint URL is derived from it. http is accepted for
	// localhost and loopback addresses, elsewhere only with
	// AllowInsecureIssuer.
	Issuer string
	Store  storage.Store
	Keys   KeyManager
	// AdminTokenDigest is the SHA-256 digest of the admin bearer token.
	AdminTokenDigest []byte
	// AdminTokenStored makes the admin token the one whose digest the
	// store holds (generated at first start, replaced by RotateAdminToken),
	// read on every admin request instead of AdminTokenDigest, so that a
	// rotation takes effect at once on every replica. Assemble sets it when
	// no token is configured.
	AdminTokenStored bool
	// TokenSecret is the ≥32-byte secret that HMAC-signs authorization
	// codes and refresh tokens. It must be the same on every replica and
	// across restarts, or issued codes and refresh tokens stop working.
	TokenSecret []byte
	// Sealer seals second-factor secrets at rest, as it seals the signing
	// keys; Assemble sets it. Without it no authenticator can be enrolled.
	Sealer *keys.Sealer

	// AccessTokenLifespan defaults to 10 minutes: resource servers that
	// verify offline cannot see revocation, so access tokens live briefly.
	AccessTokenLifespan time.Duration
	// RefreshTokenLifespan defaults to 30 days.
	RefreshTokenLifespan time.Duration
	// AuthorizeCodeLifespan defaults to 2 minutes.
	AuthorizeCodeLifespan time.Duration
	// IDTokenLifespan defaults to 1 hour.
	IDTokenLifespan time.Duration

	// SessionIdleTimeout ends a browser session unused this long; defaults
	// to 1 hour.
	SessionIdleTimeout time.Duration
	// SessionLifetime ends a browser session this long after login,
	// however active; defaults to 12 hours.
	SessionLifetime time.Duration
	// AuthRequestLifespan is how long a user has to log in and consent;
	// defaults to 15 minutes.
	AuthRequestLifespan time.Duration
	// Dev serves the development pages (/dev/callback). Never in production.
	Dev bool
	// AllowInsecureIssuer accepts an http issuer on a host that is not
	// loopback, where passwords, codes and tokens cross the network in
	// clear text. For a test network only.
	AllowInsecureIssuer bool

	// RequestTimeout bounds the work of one request, database calls
	// included, so a database that stops answering turns into logged 5xx
	// answers instead of requests that hang; defaults to 15 seconds.
	RequestTimeout time.Duration
	// MaxBodyBytes caps every request body; defaults to 64 KiB.
	MaxBodyBytes int64

	// TrustedProxies are the reverse proxies in front of hallpass. When a
	// request's TCP peer is in one of these prefixes, its client address
	// (for login throttling and logs) is read from X-Forwarded-For, right
	// to left, skipping trusted addresses; otherwise the header is
	// ignored and the peer is the client. See ParseTrustedProxies.
	TrustedProxies []netip.Prefix
	// LoginLimits bound password guessing; zero fields take the defaults
	// documented there.
	LoginLimits LoginLimits
	// MaxPasswordChecks bounds the argon2id computations (password checks
	// at login, hashes of passwords set through the admin API) that run
	// at once, each taking 19 MiB and a CPU; defaults to the number of
	// CPUs.
	MaxPasswordChecks int
	// PasswordCheckWait is how long a request waits for its turn at the
	// bound before it is answered 503 with Retry-After; defaults to 2
	// seconds.
	PasswordCheckWait time.Duration
	// ConsoleAdminRole is the role a user must hold to use the admin
	// console (/console); defaults to "admin".
	ConsoleAdminRole string
	// RequirePAR makes every client send its authorization requests
	// through the pushed authorization request endpoint (RFC 9126 §5,
	// require_pushed_authorization_requests); a client can be made to
	// by its own registration too.
	RequirePAR bool
	// PARLifespan is how long a pushed request's request_uri stays
	// usable; defaults to 60 seconds (RFC 9126 §2.2: short-lived).
	PARLifespan time.Duration
	// DirectoryCacheInterval is how often the provider reads the change
	// stamp of clients, scopes and roles, which it keeps in memory
	// (storage/cached): the bound on how long a replica honours one that
	// another replica changed or deleted. Zero takes 1 second; a negative
	// interval reads the stamp on every read of them (tests of database
	// outages use it).
	DirectoryCacheInterval time.Duration
	// BackchannelPollInterval is how often the back-channel logout
	// worker looks for notices it was not woken for: queued by another
	// replica or a CLI command, or due for a retry, or left by a server
	// that stopped. Defaults to 5 seconds.
	BackchannelPollInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Audit is the audit log every security-relevant event is appended
	// to; nil makes one on Store whose checkpoints Keys signs.
	Audit *audit.Log
	// AuditCheckpointEvery is how many audit entries may follow a signed
	// checkpoint before the next; defaults to 100. (A checkpoint is also
	// made every minute by RunAuditCheckpoints.)
	AuditCheckpointEvery int
	// AuditRetention is how long audit entries are kept: housekeeping
	// prunes older ones that a signed checkpoint covers. Zero keeps
	// every entry.
	AuditRetention time.Duration
	// TracerProvider makes the spans of requests, storage statements,
	// password checks and signing (telemetry.Setup); nil traces nothing.
	TracerProvider trace.TracerProvider
	// Registerer receives hallpass's metrics; Gatherer serves /metrics.
	// Both default to a fresh registry with Go and process collectors.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// SeparateAdmin moves the admin API and /metrics off Handler, which
	// then answers 404 there, onto AdminHandler, for a listener on a
	// private network. Registration (RFC 7591) stays on Handler.
	SeparateAdmin bool
	// Version is the build's version line, shown by /healthz; "" shows
	// none.
	Version string
}

// Provider is a configured hallpass server. Build it with New and serve
// Handler().
type Provider struct {
	cfg Config
	// statements describes storage statements for their spans.
	statements statementNames
	issuer     *url.URL
	oauth2     fosite.OAuth2Provider
	// core is the token strategy, for the signatures hallpass looks up
	// itself (revocation of a spent refresh token).
	core   oauth2.CoreStrategy
	fstore *fositestore.Store
	// jwt signs and verifies every JWT hallpass issues.
	jwt       *signer
	log       *slog.Logger
	metrics   *metrics
	discovery []byte
	pages     *web.Pages
	cookies   *web.Cookies
	logins    *loginThrottle
	passwords *passwordGate
	// dir is the directory service the admin API and registration call.
	dir *directory.Service
	// audit is the audit log (Config.Audit).
	audit *audit.Log
	// tracer makes spans; a no-op one without Config.TracerProvider.
	tracer trace.Tracer
	router http.Handler
	// logouts delivers back-channel logout tokens (backchannel.go).
	logouts *backchannel
	// origins are the origins of every client's redirect URIs, for
	// CORS preflights (cors.go).
	origins *originSet
	// webauthn is the passkeys' relying party (passkey.go); nil when the
	// issuer's host is an IP address, which WebAuthn does not accept.
	webauthn *webauthn.WebAuthn
}

// Endpoint paths, relative to the issuer. Discovery publishes them.
const (
	PathDiscovery    = "/.well-known/openid-configuration"
	PathJWKS         = "/.well-known/jwks.json"
	PathAuthorize    = "/oauth2/authorize"
	PathToken        = "/oauth2/token"
	PathUserinfo     = "/userinfo"
	PathIntrospect   = "/oauth2/introspect"
	PathRevoke       = "/oauth2/revoke"
	PathEndSession   = "/oauth2/logout"
	PathRegistration = "/oauth2/register"
	PathDevCallback  = "/dev/callback"
)

// New validates cfg and composes the fosite provider.
func New(cfg Config) (*Provider, error) {
	iss, err := checkIssuer(cfg.Issuer, cfg.AllowInsecureIssuer)
	if err != nil {
		return nil, fmt.Errorf("new provider: %w", err)
	}
	switch {
	case cfg.Store == nil:
		return nil, errors.New("new provider: no store")
	case cfg.Keys == nil:
		return nil, errors.New("new provider: no key manager")
	case len(cfg.AdminTokenDigest) != sha256.Size:
		return nil, errors.New("new provider: admin token digest must be a SHA-256 digest")
	case len(cfg.TokenSecret) < 32:
		return nil, errors.New("new provider: token secret must be at least 32 bytes")
	}
	setDefault(&cfg.AccessTokenLifespan, 10*time.Minute)
	setDefault(&cfg.RefreshTokenLifespan, 30*24*time.Hour)
	setDefault(&cfg.AuthorizeCodeLifespan, 2*time.Minute)
	setDefault(&cfg.IDTokenLifespan, time.Hour)
	setDefault(&cfg.SessionIdleTimeout, time.Hour)
	setDefault(&cfg.SessionLifetime, 12*time.Hour)
	setDefault(&cfg.AuthRequestLifespan, 15*time.Minute)
	setDefault(&cfg.RequestTimeout, 15*time.Second)
	setDefault(&cfg.PasswordCheckWait, 2*time.Second)
	setDefault(&cfg.PARLifespan, time.Minute)
	setDefault(&cfg.BackchannelPollInterval, 5*time.Second)
	if cfg.MaxPasswordChecks <= 0 {
		cfg.MaxPasswordChecks = runtime.NumCPU()
	}
	cfg.LoginLimits = cfg.LoginLimits.withDefaults()
	// A retired key is kept published only as long as the key manager
	// was told tokens live; a longer-lived token would outlive its key.
	if signed, kept := max(cfg.AccessTokenLifespan, cfg.IDTokenLifespan), cfg.Keys.Status().Schedule.MaxTokenLifetime; signed > kept {
		return nil, fmt.Errorf("new provider: tokens live up to %v, but the key manager keeps retired keys for tokens of at most %v (keys.Options.MaxTokenLifetime)", signed, kept)
	}
	if cfg.ConsoleAdminRole == "" {
		cfg.ConsoleAdminRole = "admin"
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Log lines of a traced request carry its trace and span ids, and
	// every line logged with a request's context its request id.
	cfg.Logger = observedLogger(cfg.Logger)
	if iss.Scheme == "http" && !directory.IsLoopback(strings.ToLower(iss.Hostname())) {
		cfg.Logger.Warn("the issuer uses http on a network address (--insecure-http-issuer): passwords, codes and tokens cross the network unencrypted; use https outside a test network", "issuer", cfg.Issuer)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Registerer == nil || cfg.Gatherer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer, cfg.Gatherer = reg, reg
		registerRuntimeCollectors(reg)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new provider: %w", err)
	}
	if err := registerKeyMetrics(cfg.Registerer, cfg.Keys, cfg.Now); err != nil {
		return nil, fmt.Errorf("new provider: %w", err)
	}

	// Clients, scopes and roles are read on nearly every request and
	// rarely change: they are kept in memory, every change made anywhere
	// honoured within DirectoryCacheInterval.
	// The database's own store is kept for what only it offers (observing
	// its statements and failures).
	raw := cfg.Store
	cache := cached.New(cfg.Store, cfg.DirectoryCacheInterval)
	cfg.Store = cache
	pages, err := web.NewPages(web.PagesOptions{Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("new provider: %w", err)
	}
	p := &Provider{cfg: cfg, issuer: iss, log: cfg.Logger, metrics: m, pages: pages, cookies: web.NewCookies(iss),
		logins: newLoginThrottle(cfg.Store, cfg.LoginLimits, cfg.TokenSecret), passwords: newPasswordGate(cfg.MaxPasswordChecks, cfg.PasswordCheckWait)}
	if cfg.Audit == nil {
		cfg.Audit = audit.New(cfg.Store, audit.Options{Logger: cfg.Logger, Now: cfg.Now, Signer: cfg.Keys, CheckpointEvery: cfg.AuditCheckpointEvery})
	}
	p.audit = cfg.Audit
	p.origins = &originSet{store: cache}
	p.tracer = telemetry.Noop(cfg.TracerProvider).Tracer("github.com/hallpass/hallpass/provider")
	if o, ok := raw.(queryObserver); ok && cfg.TracerProvider != nil {
		o.ObserveQueries(p.storageSpan)
	}
	if err := registerAuditMetrics(cfg.Registerer, p.audit.Failures); err != nil {
		return nil, fmt.Errorf("new provider: %w", err)
	}
	p.passwords.observe = func(d time.Duration) { m.passwordWait.Observe(d.Seconds()) }
	if o, ok := raw.(failureObserver); ok {
		o.ObserveFailures(func(op string) { m.storageErrors.WithLabelValues(op).Inc() })
	}
	p.webauthn = newRelyingParty(iss, cfg.Logger)
	// The outbox is scheduled in the database's time: the store stamps
	// the notices it queues with the wall clock, not with Config.Now.
	p.logouts = newBackchannel(cfg.Store, time.Now, cfg.Logger, p.signLogoutToken, cfg.BackchannelPollInterval)
	p.dir = directory.New(cfg.Store, directory.Options{Hasher: gatedHasher{p.passwords}, Now: cfg.Now, LogoutsQueued: p.logoutsQueued,
		AccessTokenLifespan: cfg.AccessTokenLifespan, Audit: p.audit, BuiltinClients: BuiltinClients(), BuiltinHTTPOrigin: p.insecureOrigin()})
	p.fstore = fositestore.New(cfg.Store, func() fosite.Session { return NewSession() }, cfg.Now, p.clientAudience)
	p.jwt = &signer{keys: cfg.Keys, issuer: cfg.Issuer, tracer: p.tracer, verified: &verifiedTokens{}}
	p.fstore.SelfContainedAccessTokens(p.readAccessToken, cfg.AccessTokenLifespan)
	p.oauth2 = p.compose()
	// A code is one row, with its PKCE challenge and OIDC request.
	p.fstore.CodeSignatures(p.core.AuthorizeCodeSignature)
	if p.discovery, err = p.discoveryDocument(); err != nil {
		p.logouts.close() // no provider to Close: stop its worker here
		return nil, fmt.Errorf("new provider: %w", err)
	}
	p.router = p.routes()
	return p, nil
}

// CheckIssuer refuses what New would refuse as Config.Issuer (with
// Config.AllowInsecureIssuer allowInsecure), so a command can check its
// settings before it opens the database.
func CheckIssuer(issuer string, allowInsecure bool) error {
	_, err := checkIssuer(issuer, allowInsecure)
	return err
}

// checkIssuer parses the issuer and refuses one that clients could not
// match exactly or that would expose credentials on the network.
func checkIssuer(issuer string, allowInsecure bool) (*url.URL, error) {
	iss, err := url.Parse(issuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" || iss.User != nil || iss.RawQuery != "" || iss.Fragment != "" || strings.HasSuffix(issuer, "?") || strings.HasSuffix(issuer, "#") {
		return nil, fmt.Errorf("issuer %q must be an absolute https URL without user, query or fragment, e.g. https://id.example.com", issuer)
	}
	// Clients compare iss byte for byte (OpenID Connect Discovery §4.3),
	// so hallpass must not publish another string than it was given.
	if strings.HasSuffix(issuer, "/") {
		return nil, fmt.Errorf("issuer %q ends with a slash: set it without, as %q", issuer, strings.TrimRight(issuer, "/"))
	}
	// hallpass's own client redirects to the issuer (selfClient): an
	// issuer its URIs could not be registered with would start a server
	// whose console and account page nobody can sign in to.
	if err := directory.CheckIssuerURL(issuer); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if iss.Scheme == "http" && !directory.IsLoopback(strings.ToLower(iss.Hostname())) && !allowInsecure {
		return nil, fmt.Errorf("issuer %q uses http on a host that is not localhost or a loopback address, so passwords, codes and tokens would cross the network unencrypted: use https (TLS may end at a proxy in front of hallpass), or, on a test network only, pass --insecure-http-issuer (HALLPASS_INSECURE_HTTP_ISSUER=true)", issuer)
	}
	return iss, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// url returns the absolute URL of an endpoint path.
func (p *Provider) url(path string) string { return p.cfg.Issuer + path }

// compose builds fosite from an explicit list of handlers. ComposeAllEnabled
// would also switch on implicit, hybrid, password and JWT-bearer grants.
func (p *Provider) compose() fosite.OAuth2Provider {
	// A fresh Config per provider: Compose mutates it, and handler lists
	// dedupe by type, so a reused Config would keep another store's handlers.
	fc := &fosite.Config{
		AccessTokenLifespan:      p.cfg.AccessTokenLifespan,
		RefreshTokenLifespan:     p.cfg.RefreshTokenLifespan,
		AuthorizeCodeLifespan:    p.cfg.AuthorizeCodeLifespan,
		IDTokenLifespan:          p.cfg.IDTokenLifespan,
		IDTokenIssuer:            p.cfg.Issuer,
		AccessTokenIssuer:        p.cfg.Issuer,
		TokenURL:                 p.url(PathToken),
		GlobalSecret:             p.cfg.TokenSecret,
		ScopeStrategy:            fosite.ExactScopeStrategy,
		AudienceMatchingStrategy: audienceStrategy,
		// PKCE is required of every client (RFC 9700 §2.1.1) but a
		// confidential one an admin exempted, so fosite's switch covers
		// public clients and checkAuthorizeParams and requirePKCEAtToken
		// the rest (fosite's EnforcePKCE would allow no exemption). When
		// sent, it is S256 only, and a verifier without a challenge is
		// refused (downgrade protection, in fosite's PKCE handler).
		EnforcePKCEForPublicClients: true,
		JWTScopeClaimKey:            jwt.JWTScopeFieldString,
		ClientSecretsHasher:         secretHasher{},
		SendDebugMessagesToClients:  false,
		MinParameterEntropy:         fosite.MinParameterEntropy,
		RedirectSecureChecker:       p.redirectSecure,
		JWKSFetcherStrategy:         newJWKSFetcher(p.cfg.Now),
		// PAR (RFC 9126). Whether a client must use it is decided by
		// handleAuthorize (requirePAR): fosite's switch would also refuse
		// the requests the browser flow resumes after login.
		PushedAuthorizeRequestURIPrefix: parRequestURIPrefix,
		PushedAuthorizeContextLifespan:  p.cfg.PARLifespan,
	}
	sig := p.jwt
	strategy := &compose.CommonStrategy{
		// Access tokens are RS256 JWTs, self-contained (no row each);
		// codes and refresh tokens stay opaque HMAC tokens.
		CoreStrategy: selfContainedStrategy{&oauth2.DefaultJWTStrategy{
			Signer:          sig,
			HMACSHAStrategy: compose.NewOAuth2HMACStrategy(fc),
			Config:          fc,
		}},
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{
			Signer: sig,
			Config: fc,
		},
		Signer: sig,
	}
	p.core = strategy.CoreStrategy
	// Order matters: OAuth2 handlers first, then OIDC (needs the access
	// token for at_hash), then PKCE (needs the issued code).
	f := compose.Compose(fc, p.fstore, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
		compose.PushedAuthorizeHandlerFactory,
	)
	quietTokenHandlers(fc)
	p.protocolExtensions(f, fc)
	return f
}

// registration returns the stored registration of a client fosite loaded
// through the adapter (its name, PKCE exemption, registered audiences,
// resource servers); nil for any other fosite.Client.
func registration(c fosite.Client) *storage.Client {
	if fc, ok := c.(fositestore.Client); ok {
		return fc.Client
	}
	return nil
}
