package backend

import (
	"context"
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
	// that does not exist) is returned at once.
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
			return nil, err
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
// again: anything but the server refusing the login or the database.
func worthRetrying(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true // no answer from the server: refused, dropped, reset
	}
	switch {
	case strings.HasPrefix(pe.Code, "28"): // invalid authorization
		return false
	case pe.Code == "3D000": // invalid catalog name: no such database
		return false
	}
	return true
}
