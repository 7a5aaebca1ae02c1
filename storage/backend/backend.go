package backend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
	"github.com/hallpass/hallpass/storage/sqlite"
)

// DefaultTimeout is how long Open waits for the database to answer.
const DefaultTimeout = 10 * time.Second

// Open opens, without migrating, the database named by dsn: "sqlite:PATH"
// for an SQLite file or a postgres:// (postgresql://) URL. It gives up
// after DefaultTimeout; see OpenTimeout.
func Open(ctx context.Context, dsn string) (storage.Store, error) {
	return OpenTimeout(ctx, dsn, DefaultTimeout)
}

// OpenTimeout is Open giving up after timeout on a database that does not
// answer, whether nothing listens or something accepts the connection and
// never speaks. For PostgreSQL the timeout also bounds every later
// connection attempt of the pool, unless the URL sets connect_timeout
// itself. Errors name the database with Redact, never with its password.
func OpenTimeout(ctx context.Context, dsn string, timeout time.Duration) (storage.Store, error) {
	return OpenWaiting(ctx, dsn, timeout, nil)
}

// OpenWaiting is OpenTimeout logging to log, when not nil, each attempt
// to reach a PostgreSQL server that is not accepting connections yet (one
// line per attempt, a second or more apart, naming the database with
// Redact), and the connection that follows: a server waiting for its
// database says so instead of staying silent for the whole timeout.
func OpenWaiting(ctx context.Context, dsn string, timeout time.Duration, log *slog.Logger) (storage.Store, error) {
	return openWaiting(ctx, dsn, timeout, log, false)
}

// OpenBounded is OpenWaiting for a program that has no request timeout of
// its own to end a wait (the CLI's commands): on PostgreSQL each of its
// statements also waits at most timeout for a lock another transaction
// holds (lock_timeout, unless the URL, its options or PGOPTIONS set one),
// as SQLite's writers wait at most their busy timeout. A row left locked
// (another admin's transaction, a stuck session) would otherwise hang
// the program until it was killed.
func OpenBounded(ctx context.Context, dsn string, timeout time.Duration, log *slog.Logger) (storage.Store, error) {
	return openWaiting(ctx, dsn, timeout, log, true)
}

func openWaiting(ctx context.Context, dsn string, timeout time.Duration, log *slog.Logger, boundLocks bool) (storage.Store, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("open database: timeout %v: it must be more than 0", timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		st  storage.Store
		err error
	)
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("open database: sqlite: needs a file path, e.g. sqlite:hallpass.db")
		}
		st, err = sqlite.Open(ctx, path)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		st, err = openPostgres(ctx, dsn, timeout, log, boundLocks)
	default:
		return nil, fmt.Errorf("open database %q: use sqlite:PATH or a postgres:// URL", Redact(dsn))
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("open database %s: no answer within %v: %w", Redact(dsn), timeout, err)
		}
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
	}
	return st, nil
}

func openPostgres(ctx context.Context, dsn string, timeout time.Duration, log *slog.Logger, boundLocks bool) (storage.Store, error) {
	cfg, err := postgres.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if boundLocks {
		boundLockWait(cfg.ConnConfig.RuntimeParams, timeout)
	}
	// Without it, a connection the pool opens later to a silent server
	// would wait as long as the request that needs it.
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = timeout
	}
	// A server that refuses connections, drops them or says it is starting
	// up or not accepting connections yet (a database started alongside
	// hallpass, restarting, failing over) is tried again until ctx ends:
	// the timeout is how long to wait for the database, not for the first
	// attempt. What retrying cannot mend (a wrong password, a database
	// that does not exist, a parameter the server does not know) is
	// returned at once: see worthRetrying.
	var last error
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		st, err := postgres.OpenConfig(ctx, cfg)
		if err == nil {
			if last != nil && log != nil {
				log.InfoContext(ctx, "database accepting connections", "database", Redact(dsn), "attempts", attempt)
			}
			return st, nil
		}
		if ctx.Err() != nil {
			if last != nil {
				return nil, fmt.Errorf("%w (before that: %v)", err, last)
			}
			return nil, err
		}
		if !worthRetrying(err) {
			return nil, fmt.Errorf("%w (not retried: waiting cannot change this answer; check the database URL, its login and the server's settings)", err)
		}
		last = err
		if log != nil {
			log.WarnContext(ctx, "database not accepting connections yet; trying again", "database", Redact(dsn),
				"attempt", attempt, "retry_in", wait.String(), "err", err.Error())
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				// Stopped (a signal), not out of time.
				return nil, fmt.Errorf("stopped while waiting: %w (before that: %v)", ctx.Err(), last)
			}
			return nil, fmt.Errorf("still failing after trying for %v: %w", timeout, last)
		case <-time.After(wait):
		}
		// Bounded: at most one attempt, and one line, a second.
		wait = min(2*wait, time.Second)
	}
}

// boundLockWait sets lock_timeout d in params, a connection's run-time
// parameters as pgx parsed them from the URL and the environment, unless
// they set one already, as a parameter or in options (where PostgreSQL
// reads a dash in a name as an underscore).
func boundLockWait(params map[string]string, d time.Duration) {
	if _, set := params["lock_timeout"]; set ||
		strings.Contains(strings.ReplaceAll(params["options"], "-", "_"), "lock_timeout") {
		return
	}
	// In milliseconds, PostgreSQL's unit; 0 would mean no bound, and
	// more than 2^31-1 (24.8 days) is refused at connection, which the
	// opening would take for a server not ready yet and try again for d.
	params["lock_timeout"] = strconv.FormatInt(min(max(d.Milliseconds(), 1), math.MaxInt32), 10)
}

// worthRetrying reports whether opening the database may succeed if tried
// again, deciding once for every caller (serve, the CLI's commands) what
// --database-timeout is spent waiting for: an outage, not a mistake.
//
// Retried: no answer from the server (refused, dropped, reset, a silent
// or unresolvable host; a server that is not the primary or standby the
// URL asks for, as during a failover), and the server's errors of a state
// that passes: class 08 (connection exception), 53 (insufficient
// resources: too many connections, out of memory, disk full), 57P01 to
// 57P03 (shut down by an administrator or a crash, starting up, shutting
// down, in recovery), 58 (the server's own I/O) and XX (internal error:
// the server's own failure, and what a pooler in front of it answers for
// its passing states; Supavisor, Supabase's pooler, says XX000 for "max
// client connections reached", a checkout timeout and the database
// behind it restarting, which failed at once as a misconfiguration).
//
// Not retried, any other error the server answers the connection with:
// it refused what it was asked for, and asking again asks the same thing.
// Among them a run-time parameter it does not know or a value it refuses
// (42704, 22023: "?bogus_param=1", "?lock_timeout=abc" in the URL, which
// pgx sends unchecked), a refused login or pg_hba.conf entry (class 28),
// a role without CONNECT (42501) and a database that does not exist
// (3D000). A database an operator is creating at that moment could argue
// for waiting on 3D000, but the official image creates POSTGRES_DB before
// it listens on TCP (so the wait is for a refused connection, retried),
// pgx itself stops trying a URL's other hosts on 3D000, and a misspelt
// database name is far likelier than a race with its creation: failing at
// once says which it is. Nor is a server certificate that fails
// verification (sslmode=verify-ca or verify-full) retried.
//
// With several hosts in the URL, err joins one error per host; it is
// worth retrying when any of them is.
func worthRetrying(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		if hosts, ok := ce.Unwrap().(interface{ Unwrap() []error }); ok {
			for _, err := range hosts.Unwrap() {
				if hostWorthRetrying(err) {
					return true
				}
			}
			return false
		}
	}
	return hostWorthRetrying(err)
}

// hostWorthRetrying is worthRetrying for the error of one host.
func hostWorthRetrying(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return transientCode(pe.Code)
	}
	var (
		unverified *tls.CertificateVerificationError
		authority  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
	)
	if errors.As(err, &unverified) || errors.As(err, &authority) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return false
	}
	return true // no answer from the server: refused, dropped, reset, silent
}

// transientCode reports whether a PostgreSQL server refusing a connection
// with SQLSTATE code describes a state that passes; see worthRetrying.
func transientCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"), // insufficient resources
		strings.HasPrefix(code, "58"), // system error (the server's I/O)
		strings.HasPrefix(code, "XX"), // internal error (the server's, a pooler's)
		code == "57P01",               // admin_shutdown
		code == "57P02",               // crash_shutdown
		code == "57P03":               // cannot_connect_now: starting up, shutting down, recovery
		return true
	}
	return false
}
