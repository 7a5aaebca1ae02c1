package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hallpass/hallpass/internal/backchannel"
	"github.com/hallpass/hallpass/internal/envflag"
	"github.com/hallpass/hallpass/internal/healthcheck"
	"github.com/hallpass/hallpass/internal/httpserve"
	"github.com/hallpass/hallpass/resource"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// config is what the command line and the environment say.
type config struct {
	addr            string
	issuer          string
	audience        string
	hallpassURL     string
	clientID        string
	clientSecret    string
	startupTimeout  time.Duration
	shutdownTimeout time.Duration
	logLevel        string
	healthcheck     bool
}

// flags defines schoolapi's flags and variables on a new FlagSet.
func flags(c *config, output io.Writer) *envflag.FlagSet {
	f := envflag.New("schoolapi", "SCHOOLAPI", output)
	f.String(&c.addr, "addr", "localhost:8081", "address to listen on")
	f.String(&c.issuer, "issuer", "http://localhost:8080", "hallpass's issuer URL, exactly as the iss claim of its tokens says")
	f.String(&c.audience, "audience", "http://localhost:8081", "this API's audience: tokens whose aud does not name it are refused")
	f.String(&c.hallpassURL, "hallpass-url", "", "where this server reaches hallpass when that is not the issuer URL, e.g. http://hallpass:8080 inside docker compose (an origin; default: the issuer)")
	f.String(&c.clientID, "client-id", "", "this API's hallpass client id, registered with resource_servers naming --audience; with SCHOOLAPI_CLIENT_SECRET, the write routes introspect tokens so that revocation shows at once")
	f.Secret(&c.clientSecret, "client-secret", "the secret of --client-id")
	f.Duration(&c.startupTimeout, "startup-timeout", 60*time.Second, "how long to keep trying to reach hallpass's discovery at start")
	f.Duration(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to let in-flight requests finish on SIGTERM")
	f.String(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.Bool(&c.healthcheck, "healthcheck", false, "probe GET /healthz of the schoolapi listening on --addr and exit 0 if it answers 200, 1 otherwise (the container HEALTHCHECK)")
	return f
}

// run executes schoolapi with args and the environment lookup finds, and
// returns the exit code; main is only the process glue.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	var c config
	if err := flags(&c, stderr).Parse(args, lookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "schoolapi:", err)
		return 2
	}
	if c.healthcheck {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := healthcheck.Check(ctx, &http.Client{}, c.addr, "/healthz"); err != nil {
			fmt.Fprintln(stderr, "schoolapi:", err)
			return 1
		}
		fmt.Fprintln(stdout, "ok")
		return 0
	}
	if err := serve(ctx, &c, stderr); err != nil {
		fmt.Fprintln(stderr, "schoolapi:", err)
		return 1
	}
	return 0
}

// newLogger returns a JSON logger on w at the level named.
func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

// newVerifier builds the token verifier, retrying while hallpass cannot be
// reached (it may still be starting) for at most c.startupTimeout.
func newVerifier(ctx context.Context, c *config, log *slog.Logger) (*resource.Verifier, error) {
	hc, err := backchannel.Client(c.issuer, c.hallpassURL, 10*time.Second)
	if err != nil {
		return nil, err
	}
	rc := resource.Config{
		Issuer:       c.issuer,
		Audience:     c.audience,
		HTTPClient:   hc,
		ClientID:     c.clientID,
		ClientSecret: c.clientSecret,
		Logger:       log,
	}
	// Challenges point clients at the API's RFC 9728 metadata.
	if u, err := resource.MetadataURL(c.audience); err == nil {
		rc.ResourceMetadataURL = u
	}
	ctx, cancel := context.WithTimeout(ctx, c.startupTimeout)
	defer cancel()
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		v, err := resource.NewVerifier(ctx, rc)
		if err == nil {
			return v, nil
		}
		log.Warn("hallpass not reachable yet; retrying", "issuer", c.issuer, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reach hallpass at %s: %w", c.issuer, err)
		case <-retry.C:
		}
	}
}

// metadata is the API's protected resource metadata (RFC 9728) and the
// path it is served at: its identifier (the audience), hallpass as the
// authorization server, the scopes the API checks. An audience that is not
// an https (or loopback http) URL cannot have metadata: an error.
func metadata(c *config) (http.Handler, string, error) {
	u, err := resource.MetadataURL(c.audience)
	if err != nil {
		return nil, "", err
	}
	h, err := resource.MetadataHandler(resource.Metadata{
		Resource:             c.audience,
		AuthorizationServers: []string{c.issuer},
		ScopesSupported:      []string{scopeResultsRead, scopeResultsWrite, scopeScheduleWrite},
		ResourceName:         schoolName + " API",
	})
	if err != nil {
		return nil, "", err
	}
	pu, err := url.Parse(u)
	if err != nil {
		return nil, "", err
	}
	return h, pu.Path, nil
}

// serve runs the API until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, c *config, stderr io.Writer) error {
	log, err := newLogger(c.logLevel, stderr)
	if err != nil {
		return err
	}
	if (c.clientID == "") != (c.clientSecret == "") {
		return errors.New("set both SCHOOLAPI_CLIENT_ID and SCHOOLAPI_CLIENT_SECRET, or neither")
	}
	v, err := newVerifier(ctx, c, log)
	if err != nil {
		return err
	}
	defer v.Close()
	write := v.Middleware
	if c.clientID != "" {
		write = v.IntrospectMiddleware
	}
	md, mdPath, err := metadata(c)
	if err != nil {
		log.Warn("no protected resource metadata (RFC 9728) served", "err", err)
	}
	h := newServer(serverConfig{Read: v.Middleware, Write: write, Logger: log, Now: time.Now, Metadata: md, MetadataPath: mdPath})

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := httpserve.NewServer(h, log)
	log.Info("schoolapi serving", "addr", ln.Addr().String(), "issuer", c.issuer, "audience", c.audience, "introspect_writes", c.clientID != "")
	return httpserve.Serve(ctx, c.shutdownTimeout, log, httpserve.Binding{Server: srv, Listener: ln})
}
