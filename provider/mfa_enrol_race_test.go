package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// gatedStore holds each PutTOTP until two have arrived (or gateWait has
// passed, where the first holds the database's one write lock and the
// second cannot arrive), so that two enrolments meant to race do.
type gatedStore struct {
	storage.Store
	mu      sync.Mutex
	arrived int
	both    chan struct{}
}

// gateWait bounds how long a PutTOTP waits for the other; well under
// SQLite's wait for the write lock, so the other enrolment still goes on.
const gateWait = 500 * time.Millisecond

func (g *gatedStore) PutTOTP(ctx context.Context, t *storage.TOTP) error {
	g.mu.Lock()
	g.arrived++
	if g.arrived == 2 {
		close(g.both)
	}
	g.mu.Unlock()
	select {
	case <-g.both:
	case <-time.After(gateWait):
	case <-ctx.Done():
	}
	return g.Store.PutTOTP(ctx, t)
}

// Two first enrolments at once (an authenticator app set up in two
// tabs): exactly one shows recovery codes, and the codes it shows work.
// Before, both could count no codes, both issue ten, and the second set
// replace the first while both were shown.
//
// At REPEATABLE READ or SERIALIZABLE the second tab's transaction fails
// with a serialization failure once the first commits (its PutTOTP of the
// same row, or its count of the codes); it is run again, whole, and
// succeeds, showing no codes. Before, the failure read as a conflict and
// the second tab got a logged 500.
func TestFirstEnrolmentsAtOnce(t *testing.T) {
	forEachBackend(t, firstEnrolmentsAtOnce)
	for _, isolation := range []string{"repeatable read", "serializable"} {
		t.Run("postgres/"+isolation, func(t *testing.T) {
			firstEnrolmentsAtOnce(t, testdb.Postgres(t)+"&default_transaction_isolation="+url.PathEscape(isolation))
		})
	}
}

func firstEnrolmentsAtOnce(t *testing.T, dsn string) {
	{
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			c.Store = &gatedStore{Store: c.Store, both: make(chan struct{})}
		})
		tabs := make([]*browser, 2)
		forms := make([]page, 2)
		codes := make([]url.Values, 2)
		for i := range tabs {
			tabs[i] = e.newBrowser(t)
			e.consoleSignIn(t, tabs[i], provider.PathAccount, "bob", bobPassword)
			forms[i] = tabs[i].get(t, e.URL+provider.PathAccountSecurity)
			secret := secretRE.FindStringSubmatch(forms[i].Body)
			if secret == nil {
				t.Fatalf("no secret on the enrolment page: %s", forms[i])
			}
			codes[i] = url.Values{"code": {totpAt(t, secret[1], time.Now())}}
		}
		done := make([]page, 2)
		t.Run("enrol", func(t *testing.T) {
			for i := range tabs {
				t.Run("tab", func(t *testing.T) {
					t.Parallel()
					done[i] = tabs[i].submitTo(t, forms[i], "/security/totp", codes[i])
				})
			}
		})
		var shown [][]string
		for i, p := range done {
			if p.Status != http.StatusOK {
				t.Fatalf("tab %d: enrolment: %s", i, p)
			}
			if c := recoveryRE.FindAllStringSubmatch(p.Body, -1); len(c) > 0 {
				shown = append(shown, c...)
				continue
			}
			wantPath(t, p, provider.PathAccount)
		}
		if len(shown) != 10 {
			t.Fatalf("the two enrolments showed %d recovery codes, want 10 (one set)", len(shown))
		}
		if n, err := e.Store.CountRecoveryCodes(t.Context(), e.BobID); err != nil || n != 10 {
			t.Fatalf("bob has %d recovery codes (%v), want 10", n, err)
		}
		// A code shown is one that signs in.
		b := e.newBrowser(t)
		prompt := b.login(t, b.get(t, e.URL+provider.PathAccount), "bob", bobPassword)
		wantPath(t, prompt, provider.PathSecondFactor)
		p := b.submitTo(t, prompt, provider.PathSecondFactor, url.Values{"code": {shown[0][1]}})
		wantAlert(t, p, http.StatusOK, "9 are left")
	}
}
