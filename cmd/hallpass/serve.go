package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/httpserve"
	"github.com/hallpass/hallpass/internal/version"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/backend"
	"github.com/hallpass/hallpass/telemetry"
)

// serveOptions are the flags of `hallpass serve`.
type serveOptions struct {
	addr                 string
	adminAddr            string
	issuer               string
	insecureHTTPIssuer   bool
	noMigrate            bool
	keys                 keySchedule
	refreshTokenLifespan time.Duration
	codeLifespan         time.Duration
	shutdownTimeout      time.Duration
	housekeeping         time.Duration
	sessionIdleTimeout   time.Duration
	sessionLifetime      time.Duration
	dev                  bool
	trustedProxies       []string
	maxPasswordChecks    int
	auditRetention       time.Duration
	auditCheckpoint      time.Duration
	auditCheckpointEvery int
	// tracing is the tracer provider the OTEL_* variables set up; nil
	// when tracing is off.
	tracing          trace.TracerProvider
	consoleAdminRole string
	requirePAR       bool
	parLifespan      time.Duration
	// ready, when set, receives the bound address once serving (tests).
	ready chan<- string
}

func newServeCmd(g *globalOptions) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the identity provider",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tuneGC()
			return serve(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "localhost:8080", "address to listen on")
	f.StringVar(&o.adminAddr, "admin-addr", "", "address of a separate listener for the admin API and /metrics, on a private network; the public listener then answers 404 there (default: both on --addr)")
	f.StringVar(&o.issuer, "issuer", "http://localhost:8080", "issuer URL: the external URL clients reach hallpass at, without a trailing slash; https unless the host is localhost or a loopback address")
	f.BoolVar(&o.insecureHTTPIssuer, "insecure-http-issuer", false, "accept an http issuer on a host that is not loopback (credentials cross the network unencrypted; test networks only)")
	f.BoolVar(&o.noMigrate, "no-migrate", false, "do not apply schema migrations at start (run `hallpass migrate` instead)")
	o.keys.addFlags(f)
	f.DurationVar(&o.refreshTokenLifespan, "refresh-token-lifespan", 30*24*time.Hour, "refresh token lifetime")
	f.DurationVar(&o.codeLifespan, "code-lifespan", 2*time.Minute, "authorization code lifetime")
	f.DurationVar(&o.sessionIdleTimeout, "session-idle-timeout", time.Hour, "browser sign-in session ends after this long unused")
	f.DurationVar(&o.sessionLifetime, "session-lifetime", 12*time.Hour, "browser sign-in session ends this long after login, however active")
	f.StringSliceVar(&o.trustedProxies, "trusted-proxies", nil, "reverse proxies in front of hallpass, as CIDR prefixes or addresses (comma-separated or repeated); only a request from one of them has its client address taken from X-Forwarded-For")
	f.IntVar(&o.maxPasswordChecks, "max-password-checks", runtime.NumCPU(), "how many password checks (argon2id, 19 MiB each) may run at once; more wait up to 2s, then get 503")
	f.StringVar(&o.consoleAdminRole, "console-admin-role", "admin", "the role a user must hold to use the admin console at /console")
	f.BoolVar(&o.dev, "dev", false, "development mode: seed a demo (users, roles, a client) into an empty database and serve /dev/callback; never in production")
	f.DurationVar(&o.housekeeping, "housekeeping-interval", 10*time.Minute, "how often to delete expired codes, tokens, sessions, pending requests and login-limit counts (0 disables)")
	f.DurationVar(&o.auditRetention, "audit-retention", 0, "how long to keep audit entries; older ones a signed checkpoint covers are pruned by housekeeping (0 keeps every entry)")
	f.DurationVar(&o.auditCheckpoint, "audit-checkpoint-interval", time.Minute, "how often to sign a checkpoint of the audit log when entries were added")
	f.IntVar(&o.auditCheckpointEvery, "audit-checkpoint-entries", 100, "sign a checkpoint of the audit log at least every this many entries")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to let in-flight requests finish on SIGTERM")
	f.BoolVar(&o.requirePAR, "require-par", false, "every client must push its authorization requests to the PAR endpoint first (RFC 9126)")
	f.DurationVar(&o.parLifespan, "par-lifespan", time.Minute, "how long a pushed authorization request's request_uri stays usable")
	requirePositive(f, "refresh-token-lifespan", "code-lifespan", "session-idle-timeout", "session-lifetime", "shutdown-timeout", "par-lifespan")
	return cmd
}

// server is a fully wired hallpass: what `serve` runs and what the
// end-to-end tests start.
type server struct {
	store    storage.Store
	keys     *keys.Manager
	provider *provider.Provider
	// adminToken is set only when it was generated by this start.
	adminToken string
}

// newServer checks the settings, opens the database, migrates it and
// has provider.Assemble wire the provider on it.
func newServer(ctx context.Context, g *globalOptions, o *serveOptions, log *slog.Logger) (_ *server, err error) {
	keyOpts, err := o.keys.options(log)
	if err != nil {
		return nil, err
	}
	// Settings are checked before the database is touched.
	if err := provider.CheckIssuer(o.issuer, o.insecureHTTPIssuer); err != nil {
		return nil, fmt.Errorf("--issuer: %w", err)
	}
	proxies, err := provider.ParseTrustedProxies(o.trustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if !directory.ValidName(o.consoleAdminRole, "._:-", 64) {
		return nil, fmt.Errorf("--console-admin-role %q: must be a role name, 1 to 64 letters, digits and . _ : -", o.consoleAdminRole)
	}
	if o.maxPasswordChecks < 1 {
		return nil, fmt.Errorf("--max-password-checks %d: must be at least 1", o.maxPasswordChecks)
	}
	// 0 disables housekeeping; a negative interval is a mistake, not
	// another way to say so.
	if o.housekeeping < 0 {
		return nil, fmt.Errorf("--housekeeping-interval %v must not be negative (0 disables housekeeping)", o.housekeeping)
	}
	if o.auditRetention < 0 || o.auditCheckpoint < 0 || o.auditCheckpointEvery < 1 {
		return nil, fmt.Errorf("--audit-retention %v, --audit-checkpoint-interval %v, --audit-checkpoint-entries %d: durations must not be negative, entries at least 1",
			o.auditRetention, o.auditCheckpoint, o.auditCheckpointEvery)
	}
	if tok := adminTokenFromEnv(); tok != "" {
		if err := provider.CheckAdminToken(tok); err != nil {
			return nil, err
		}
	}
	st, err := g.openStoreLogged(ctx, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if o.noMigrate {
		err = g.checkMigrated(ctx, st)
	} else {
		var applied []int
		applied, err = g.migrated(ctx, st)
		// An upgrade's start said nothing of the schema change it made:
		// one line when there was one, none on every other start.
		if err == nil && len(applied) > 0 {
			log.Info("database schema migrated", "migrations", len(applied), "versions", applied)
		}
	}
	if err != nil {
		return nil, err
	}
	sealer, err := g.sealer(ctx, log, st)
	if err != nil {
		return nil, err
	}
	a, err := provider.Assemble(ctx, provider.Config{
		Issuer:                o.issuer,
		AllowInsecureIssuer:   o.insecureHTTPIssuer,
		Store:                 st,
		AccessTokenLifespan:   o.keys.accessTokenLifespan,
		RefreshTokenLifespan:  o.refreshTokenLifespan,
		IDTokenLifespan:       o.keys.idTokenLifespan,
		AuthorizeCodeLifespan: o.codeLifespan,
		SessionIdleTimeout:    o.sessionIdleTimeout,
		SessionLifetime:       o.sessionLifetime,
		Dev:                   o.dev,
		TrustedProxies:        proxies,
		MaxPasswordChecks:     o.maxPasswordChecks,
		AuditRetention:        o.auditRetention,
		AuditCheckpointEvery:  o.auditCheckpointEvery,
		TracerProvider:        o.tracing,
		ConsoleAdminRole:      o.consoleAdminRole,
		RequirePAR:            o.requirePAR,
		PARLifespan:           o.parLifespan,
		SeparateAdmin:         o.adminAddr != "",
		Version:               version.Read().String(),
		Logger:                log,
	}, provider.Wiring{Sealer: sealer, Keys: keyOpts, AdminToken: adminTokenFromEnv()})
	if err != nil {
		return nil, err
	}
	return &server{store: st, keys: a.Keys, provider: a.Provider, adminToken: a.GeneratedAdminToken}, nil
}

func serve(ctx context.Context, g *globalOptions, o *serveOptions) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	for _, w := range g.warnings {
		log.Warn(w)
	}
	defer ignoreHangups(ctx, log)()
	// An empty address would listen on every interface at a random port:
	// an unset variable in a deployment template (HALLPASS_ADDR=$PORT)
	// must not expose the server where nobody meant it to be, nor hide it
	// where it was meant to be.
	if strings.TrimSpace(o.addr) == "" {
		return fmt.Errorf("--addr is empty (HALLPASS_ADDR, config key addr): give host:port, such as localhost:8080, or 0.0.0.0:8080 for every interface")
	}
	// The ports are bound first: a busy port fails the start before the
	// database is touched or --dev prints passwords for a demo that is
	// not served.
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	var adminLn net.Listener
	if o.adminAddr != "" {
		if adminLn, err = net.Listen("tcp", o.adminAddr); err != nil {
			return fmt.Errorf("listen on --admin-addr: %w", err)
		}
		defer adminLn.Close()
	}
	// What the server does on its own (a scheduled key rotation, pruning)
	// is recorded as hallpass's doing, not as the user who started it.
	ctx = audit.WithActor(ctx, "hallpass")
	tp, stopTracing, err := telemetry.Setup(ctx, os.Getenv)
	if err != nil {
		return err
	}
	defer func() {
		// Sends the spans still batched; bounded, so an unreachable
		// collector cannot hold up the exit.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("tracing: flushing spans at shutdown failed", "err", err)
		}
	}()
	if tp != nil {
		log.Info("tracing on: exporting spans over OTLP/HTTP as the OTEL_* variables say")
	}
	o.tracing = tp
	s, err := newServer(ctx, g, o, log)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			// SIGTERM or SIGINT while starting (waiting for the
			// database, migrating): a stop asked for, as during
			// serving, so exit 0 at once rather than fail.
			log.Info("stopped before serving: signal received while starting", "err", err)
			return nil
		}
		return err
	}
	defer s.store.Close()
	// Stops the back-channel logout worker on every way out, a failed
	// serve or seed included: deferred, it runs once Serve has returned,
	// so after the HTTP servers shut down, and before the store closes.
	defer s.provider.Close()
	if o.dev {
		// In the logs too, where a HALLPASS_DEV left set in production
		// is seen: the demo's users (one an admin of the console) and
		// /dev/callback are on this server.
		log.Warn("development mode (--dev): demo users, roles and clients are seeded into an empty database and /dev/callback is served; never in production", "issuer", o.issuer)
		if err := seedDev(ctx, s.store, o.issuer, o.consoleAdminRole, g.stdout); err != nil {
			return err
		}
	}
	if s.adminToken != "" {
		// Printed once, outside the logs: it is a credential. Lost (a
		// full disk, a closed stdout), the admin API has a token nobody
		// knows: the log says so and how to get one, never the token.
		if _, err := fmt.Fprintf(g.stdout, "Generated admin token (shown only now; set HALLPASS_ADMIN_TOKEN to choose your own):\n\n    %s\n\n", s.adminToken); err != nil {
			log.Error("the generated admin token could not be printed, so nobody knows it: run hallpass admin-token rotate for a new one, or set HALLPASS_ADMIN_TOKEN and restart", "err", err)
		}
	}

	srv := httpserve.NewServer(s.provider.Handler(), log)
	var adminSrv *http.Server
	if adminLn != nil {
		adminSrv = httpserve.NewServer(s.provider.AdminHandler(), log)
	} else if !loopbackIssuer(o.issuer) {
		log.Warn("the admin API and /metrics are served on the public listener with everything else; set --admin-addr (HALLPASS_ADMIN_ADDR) to serve them on a private network only", "issuer", o.issuer)
	}
	if adminLn != nil {
		// Logged first: "hallpass serving" says everything listens.
		log.Info("admin API serving", "admin_addr", adminLn.Addr().String())
	}
	log.Info("hallpass serving", "addr", ln.Addr().String(), "issuer", o.issuer, "database", backend.Redact(g.database), "kid", s.keys.ActiveKeyID(), "version", version.Read().String())
	if o.ready != nil {
		o.ready <- ln.Addr().String()
	}

	refreshCtx, stopRefresh := context.WithCancel(ctx)
	defer stopRefresh()
	go refreshKeys(refreshCtx, s.keys, o.keys.refresh, log)
	// Between Ticks, a cheap read of the key change counter every second
	// makes this server follow another's rotation or revocation at once.
	go s.keys.Watch(refreshCtx, keys.DefaultWatchInterval)
	go s.provider.RunHousekeeping(refreshCtx, o.housekeeping)
	go s.provider.RunAuditCheckpoints(refreshCtx, o.auditCheckpoint)

	bindings := []httpserve.Binding{{Server: srv, Listener: ln}}
	if adminSrv != nil {
		bindings = append(bindings, httpserve.Binding{Server: adminSrv, Listener: adminLn})
	}
	releaseStartupMemory(log)
	if err := httpserve.Serve(ctx, o.shutdownTimeout, log, bindings...); err != nil {
		// Logged as every line since the logger exists: a plain-text
		// line in a JSON log is lost to whatever parses it. Exit 1.
		log.Error("stopped with an error", "err", err)
		return exitError{code: 1}
	}
	return nil
}

// ignoreHangups keeps SIGHUP from ending the server until the returned
// stop is called. Go's default for SIGHUP is to exit at once, dropping
// the requests in flight without the SIGTERM drain; operators and process
// managers send it expecting a reload, and a closed terminal sends it too.
// hallpass reads its settings only at start, so it says so and serves on.
func ignoreHangups(ctx context.Context, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Warn("received SIGHUP: ignored, settings are read only at start; restart hallpass (SIGTERM drains requests in flight) to change them")
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// loopbackIssuer reports whether the issuer names this machine only
// (localhost or a loopback address): a development setup.
func loopbackIssuer(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && directory.IsLoopback(strings.ToLower(u.Hostname()))
}

// refreshKeys runs the key schedule every interval: each Tick reloads the
// keys (so this replica follows what others changed within one interval)
// and makes whatever rotation step is due, which exactly one replica
// performs. A failed Tick keeps the keys already loaded; after two failed
// intervals the manager stops signing (keys.ErrStale) and /readyz fails.
func refreshKeys(ctx context.Context, km *keys.Manager, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		log.Warn("--key-refresh is 0: signing keys are not rotated on schedule while serving (changes made elsewhere are still followed within a second)")
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := km.Tick(ctx); err != nil && ctx.Err() == nil {
				log.Error("signing-key refresh failed", "err", err)
			}
		}
	}
}
