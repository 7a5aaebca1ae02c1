package provider_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/sqlstore"
	"github.com/hallpass/hallpass/web"
)

// statementLog records, in order, the statements a store runs (through
// sqlstore's QueryObserver) and the transactions begun and ended around
// them (through storage.Store's transaction methods, which the observer
// does not see): on PostgreSQL each is a round trip to the server.
type statementLog struct {
	storage.Store
	mu  sync.Mutex
	log []string
}

// inTxKey marks a context inside a transaction the log saw begin, so that
// a nested InTransaction (which joins it) is not counted.
type inTxKey struct{}

func (l *statementLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, s)
}

// take returns what was recorded since the last call.
func (l *statementLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.log
	l.log = nil
	return r
}

func (l *statementLog) observe(_ context.Context, query string) func(error) {
	l.add(strings.Join(strings.Fields(query), " "))
	return func(error) {}
}

func (l *statementLog) BeginTX(ctx context.Context) (context.Context, error) {
	l.add("BEGIN")
	tx, err := l.Store.BeginTX(ctx)
	return context.WithValue(tx, inTxKey{}, true), err
}

func (l *statementLog) Commit(ctx context.Context) error {
	l.add("COMMIT")
	return l.Store.Commit(ctx)
}

func (l *statementLog) Rollback(ctx context.Context) error {
	l.add("ROLLBACK")
	return l.Store.Rollback(ctx)
}

func (l *statementLog) InTransaction(ctx context.Context, fn func(ctx context.Context) error) error {
	if ctx.Value(inTxKey{}) != nil {
		return l.Store.InTransaction(ctx, fn)
	}
	l.add("BEGIN")
	err := l.Store.InTransaction(ctx, func(ctx context.Context) error {
		return fn(context.WithValue(ctx, inTxKey{}, true))
	})
	if err != nil {
		l.add("ROLLBACK")
	} else {
		l.add("COMMIT")
	}
	return err
}

// TestSignedInFlowStatements guards the round trips of a signed-in
// user's trip through an app's login (BenchmarkSignedInFlow's flow):
// every statement is a round trip to PostgreSQL, whose processes share
// the machine's cores with hallpass, so a statement more is CPU more on
// both sides. Each statement runs alone (no BEGIN or COMMIT around it).
func TestSignedInFlowStatements(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		var skew atomic.Int64 // how far the server's clock is ahead
		l := &statementLog{}
		f := newBenchFlow(t, dsn, func(c *provider.Config) {
			l.Store = c.Store
			c.Store = l
			c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		})
		o, ok := f.ts.Store.(interface{ ObserveQueries(sqlstore.QueryObserver) })
		if !ok {
			t.Fatalf("%T does not report its statements", f.ts.Store)
		}
		o.ObserveQueries(l.observe)
		// A flow first, so that nothing the first one alone does (a cache
		// filled, a statement prepared) is counted.
		f.run(t)
		l.take()

		want := func(t *testing.T, what string, got []string, want ...string) {
			t.Helper()
			for _, s := range got {
				t.Logf("%s: %.160s", what, s)
			}
			ok := len(got) == len(want)
			for i := 0; ok && i < len(want); i++ {
				ok = strings.HasPrefix(got[i], want[i])
			}
			if !ok {
				t.Errorf("%s ran %d statements, want %d: %q", what, len(got), len(want), want)
			}
		}
		// The authorization request reads the session with its user,
		// their second factors and consent (GetSignedIn), then writes
		// the code's one row, then reads the consent again
		// (ConfirmConsent: a withdrawal that committed in between must
		// not leave the app a code); the exchange reads the code's row (and, for
		// a code stored as three rows before, its PKCE and OpenID Connect
		// rows), reads the user (their roles must still cover the code's
		// grant: a role change advances no token epoch; the roles' scopes
		// come from the cache) and spends the code with a conditional
		// update, which checks the user's token epoch too.
		authorize, token := f.measured(t, l)
		want(t, "authorize", authorize, "SELECT s.id", "INSERT INTO tokens", "SELECT scopes FROM consents")
		want(t, "token", token, "SELECT kind, signature", "SELECT users.id", "UPDATE tokens SET active = FALSE")

		// A browser seen more than a minute ago: its session's last-seen
		// time is written too (the idle timeout counts from it), with
		// the code: on PostgreSQL in the INSERT's WITH clause, one round
		// trip; on SQLite in one transaction (one commit), two
		// statements.
		skew.Add(int64(2 * time.Minute))
		authorize, token = f.measured(t, l)
		if strings.HasPrefix(dsn, "postgres") {
			want(t, "authorize after a minute", authorize, "SELECT s.id", "WITH touched AS (UPDATE browser_sessions SET last_seen_at", "SELECT scopes FROM consents")
		} else {
			want(t, "authorize after a minute", authorize, "SELECT s.id", "UPDATE browser_sessions SET last_seen_at", "INSERT INTO tokens", "SELECT scopes FROM consents")
		}
		want(t, "token after a minute", token, "SELECT kind, signature", "SELECT users.id", "UPDATE tokens SET active = FALSE")
		// The touch was written: the session was seen now, on the
		// server's clock.
		var seen time.Time
		for _, c := range f.cookies {
			if strings.HasSuffix(c.Name, web.SessionCookieName) {
				bs, err := l.Store.GetBrowserSession(t.Context(), web.Digest(c.Value))
				if err != nil {
					t.Fatalf("session: %v", err)
				}
				seen = bs.LastSeenAt
			}
		}
		if now := time.Now().Add(time.Duration(skew.Load())); now.Sub(seen) > 10*time.Second {
			t.Errorf("session last seen %v, %v before the request's time: not touched", seen, now.Sub(seen))
		}
	})
}

// measured runs one flow and returns the statements of its authorization
// request and of its code exchange.
func (f *benchFlow) measured(t *testing.T, l *statementLog) (authorize, token []string) {
	t.Helper()
	code, verifier, err := f.authorize()
	if err != nil {
		t.Fatal(err)
	}
	authorize = l.take()
	if err := f.exchange(code, verifier); err != nil {
		t.Fatal(err)
	}
	return authorize, l.take()
}
