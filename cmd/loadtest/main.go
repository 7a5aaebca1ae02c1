// Command loadtest drives a running hallpass with one scenario at a time
// (client credentials, introspection, JWKS, discovery, signed-in and fresh
// login flows) and prints throughput, latency percentiles, errors and,
// given the server's pid, the server's CPU per request. It sets up what it
// needs through the admin API, under names of its own, so it can run
// against any hallpass whose admin token it has.
//
//	HALLPASS_ADMIN_TOKEN=... loadtest -url http://localhost:8080 -c 16 -duration 5s -pid $(pidof hallpass)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"
)

// allScenarios lists every scenario in the order they run by default.
var allScenarios = []string{"client-credentials", "introspection", "jwks", "discovery", "signed-in", "fresh-login"}

// config is what the flags say.
type config struct {
	BaseURL    string
	AdminToken string
	Scenarios  []string
	C          int
	Duration   time.Duration
	N          int
	PID        int
	Timeout    time.Duration
	// Reference is how long each reference measurement runs (0: none).
	Reference time.Duration
	Argon2    argon2Params
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// parseFlags reads args; getenv supplies HALLPASS_ADMIN_TOKEN.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var scenarios string
	fs.StringVar(&cfg.BaseURL, "url", "http://localhost:8080", "base URL of the running hallpass (its issuer)")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "admin token (default $HALLPASS_ADMIN_TOKEN; prefer the variable: command lines are visible to every user)")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run: "+strings.Join(allScenarios, ", "))
	fs.IntVar(&cfg.C, "c", 16, "concurrency: workers sending at once")
	fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "how long each scenario runs (ignored when -n is set)")
	fs.IntVar(&cfg.N, "n", 0, "requests (flows) per scenario; 0 runs for -duration instead")
	fs.IntVar(&cfg.PID, "pid", 0, "pid of the hallpass server on this machine: report its CPU per request from /proc/PID/stat")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "timeout of each HTTP request")
	fs.DurationVar(&cfg.Reference, "reference", time.Second, "before each scenario with a limit, measure it on this machine for this long (0: don't): one bare RS256-2048 signature's CPU (needs -pid), or the argon2id ceiling (fresh-login)")
	var mem, iter, threads uint
	fs.UintVar(&mem, "argon2-memory", 19456, "argon2id memory (KiB) of the server's password hashes, for the ceiling")
	fs.UintVar(&iter, "argon2-time", 2, "argon2id iterations of the server's password hashes")
	fs.UintVar(&threads, "argon2-threads", 1, "argon2id parallelism of the server's password hashes")
	fs.IntVar(&cfg.Argon2.Concurrent, "password-checks", runtime.NumCPU(), "the server's --max-password-checks: argon2id hashes at once for the ceiling")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: loadtest [flags]\n\nRuns load scenarios against a running hallpass and prints req/s, p50/p99 latency,\nerrors and (with -pid) the server's CPU per request.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if mem == 0 || mem > 1<<22 || iter == 0 || iter > 100 || threads == 0 || threads > 255 || cfg.Argon2.Concurrent < 1 {
		return config{}, errors.New("-argon2-memory, -argon2-time, -argon2-threads and -password-checks must be positive (and sane)")
	}
	cfg.Argon2.MemoryKiB, cfg.Argon2.Time, cfg.Argon2.Threads = uint32(mem), uint32(iter), uint8(threads)
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = getenv("HALLPASS_ADMIN_TOKEN")
	}
	if cfg.AdminToken == "" {
		return config{}, errors.New("no admin token: set HALLPASS_ADMIN_TOKEN (or -admin-token)")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.C < 1 {
		return config{}, fmt.Errorf("-c %d: want at least 1", cfg.C)
	}
	if cfg.N < 0 {
		return config{}, fmt.Errorf("-n %d: want 0 or more", cfg.N)
	}
	if cfg.N == 0 && cfg.Duration <= 0 {
		return config{}, errors.New("-duration must be positive when -n is 0")
	}
	for _, s := range strings.Split(scenarios, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return config{}, fmt.Errorf("unknown scenario %q (known: %s)", s, strings.Join(allScenarios, ", "))
		}
		cfg.Scenarios = append(cfg.Scenarios, s)
	}
	if len(cfg.Scenarios) == 0 {
		return config{}, errors.New("no scenario given")
	}
	return cfg, nil
}

// run parses args, sets up, runs each scenario and prints its result.
// It fails if setup fails or any scenario saw an error, so a script (or
// CI) can rely on its exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	results, err := runAll(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		if r.Errors > 0 {
			failed = append(failed, r.Scenario)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("errors in %s", strings.Join(failed, ", "))
	}
	return nil
}

// runAll sets up the server for cfg's scenarios and runs them in turn,
// printing a header and one line per scenario to out.
func runAll(ctx context.Context, cfg config, out io.Writer) ([]result, error) {
	env, err := setup(ctx, cfg)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("%s each", cfg.Duration)
	if cfg.N > 0 {
		what = fmt.Sprintf("%d each", cfg.N)
	}
	fmt.Fprintf(out, "hallpass %s, c=%d, %s\n", cfg.BaseURL, cfg.C, what)
	fmt.Fprintln(out, header())
	var results []result
	for _, name := range cfg.Scenarios {
		ref, err := measureReference(ctx, cfg, name)
		if err != nil {
			return results, fmt.Errorf("scenario %s: %w", name, err)
		}
		r, err := runScenario(ctx, env, name)
		if err != nil {
			return results, fmt.Errorf("scenario %s: %w", name, err)
		}
		if ref != (references{}) {
			// Once more after the run, and the mean: other work on the
			// machine changes what a signature or a hash costs within
			// seconds.
			after, err := measureReference(ctx, cfg, name)
			if err != nil {
				return results, fmt.Errorf("scenario %s: %w", name, err)
			}
			ref.SignCPU = (ref.SignCPU + after.SignCPU) / 2
			ref.Argon2Rate = (ref.Argon2Rate + after.Argon2Rate) / 2
			ref.Argon2CPU = (ref.Argon2CPU + after.Argon2CPU) / 2
		}
		r.Ref = ref
		fmt.Fprintln(out, r.line())
		for _, e := range r.Samples {
			fmt.Fprintf(out, "  error: %s\n", e)
		}
		if r.Shed > 0 {
			fmt.Fprintf(out, "  note: %d logins refused with 503 (every password check busy) were sent again after Retry-After\n", r.Shed)
		}
		results = append(results, r)
	}
	return results, nil
}
