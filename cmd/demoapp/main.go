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
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hallpass/hallpass/internal/envflag"
	"github.com/hallpass/hallpass/internal/healthcheck"
	"github.com/hallpass/hallpass/internal/httpserve"
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
	hallpassURL     string
	clientID        string
	clientSecret    string
	redirectURL     string
	publicURL       string
	schoolAPIURL    string
	scopes          string
	startupTimeout  time.Duration
	shutdownTimeout time.Duration
	logLevel        string
	healthcheck     bool
}

// flags defines demoapp's flags and variables on a new FlagSet.
func flags(c *config, output io.Writer) *envflag.FlagSet {
	f := envflag.New("demoapp", "DEMOAPP", output)
	f.String(&c.addr, "addr", "localhost:8082", "address to listen on")
	f.String(&c.issuer, "issuer", "http://localhost:8080", "hallpass's issuer URL (what the browser reaches, and the iss of its tokens)")
	f.String(&c.hallpassURL, "hallpass-url", "", "where this server reaches hallpass when that is not the issuer URL, e.g. http://hallpass:8080 inside docker compose (an origin; default: the issuer)")
	f.String(&c.clientID, "client-id", "hallpass-demoapp", "this app's hallpass client id")
	f.Secret(&c.clientSecret, "client-secret", "this app's client secret; unset: a public client (PKCE protects the code either way)")
	f.String(&c.redirectURL, "redirect-url", "", "the redirect URI registered for this app at hallpass (default: --public-url + /callback)")
	f.String(&c.publicURL, "public-url", "", "the URL the browser reaches this app at; hallpass sends the browser back to it after sign-out (default: http:// + --addr, with localhost for an unspecified host)")
	f.String(&c.schoolAPIURL, "schoolapi-url", "http://localhost:8081", "where this server reaches the school API")
	f.String(&c.scopes, "scopes", "openid profile email offline_access results:read results:write schedule:write", "the scopes to ask for (hallpass grants those the user's roles allow)")
	f.Duration(&c.startupTimeout, "startup-timeout", 60*time.Second, "how long to keep trying to reach hallpass's discovery at start")
	f.Duration(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to let in-flight requests finish on SIGTERM")
	f.String(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.Bool(&c.healthcheck, "healthcheck", false, "probe GET /healthz of the demoapp listening on --addr and exit 0 if it answers 200, 1 otherwise (the container HEALTHCHECK)")
	return f
}

// derive fills in the URLs that default to what the other flags say, so
// that moving the app (--addr) moves its registered URLs with it.
func (c *config) derive() {
	if c.publicURL == "" {
		host, port, err := net.SplitHostPort(c.addr)
		if err != nil {
			host, port = c.addr, ""
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		c.publicURL = "http://" + net.JoinHostPort(host, port)
		if port == "" {
			c.publicURL = "http://" + host
		}
	}
	if c.redirectURL == "" {
		c.redirectURL = strings.TrimSuffix(c.publicURL, "/") + "/callback"
	}
}

// run executes demoapp with args and the environment lookup finds, and
// returns the exit code; main is only the process glue.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	var c config
	if err := flags(&c, stderr).Parse(args, lookup); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "demoapp:", err)
		return 2
	}
	c.derive()
	if c.healthcheck {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := healthcheck.Check(ctx, &http.Client{}, c.addr, "/healthz"); err != nil {
			fmt.Fprintln(stderr, "demoapp:", err)
			return 1
		}
		fmt.Fprintln(stdout, "ok")
		return 0
	}
	if err := serve(ctx, &c, stderr); err != nil {
		fmt.Fprintln(stderr, "demoapp:", err)
		return 1
	}
	return 0
}

// serve runs the app until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, c *config, stderr io.Writer) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", c.logLevel)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	c.publicURL = strings.TrimSuffix(c.publicURL, "/")
	c.schoolAPIURL = strings.TrimSuffix(c.schoolAPIURL, "/")
	a, err := newApp(ctx, c, log, time.Now)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := httpserve.NewServer(a.routes(), log)
	log.Info("demoapp serving", "addr", ln.Addr().String(), "public_url", c.publicURL, "issuer", c.issuer, "client_id", c.clientID, "schoolapi", c.schoolAPIURL)
	return httpserve.Serve(ctx, c.shutdownTimeout, log, httpserve.Binding{Server: srv, Listener: ln})
}
