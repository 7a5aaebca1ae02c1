package provider_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// conflictingCodesStore fails the first conflicts calls of
// PutRecoveryCodesIfNone as a contender that waited for the user's row
// does at REPEATABLE READ or SERIALIZABLE: with storage.ErrTransient (and
// ErrUnavailable), which the store documents as "run the transaction
// again".
type conflictingCodesStore struct {
	storage.Store
	conflicts int32
	calls     atomic.Int32
}

func (s *conflictingCodesStore) PutRecoveryCodesIfNone(ctx context.Context, userID string, digests []string) (bool, error) {
	if s.calls.Add(1) <= s.conflicts {
		return false, fmt.Errorf("put first recovery codes: %w (%w): could not serialize access due to concurrent update", storage.ErrTransient, storage.ErrUnavailable)
	}
	return s.Store.PutRecoveryCodesIfNone(ctx, userID, digests)
}

// An enrolment whose first recovery codes lost a race (the storage's
// ErrTransient at a strict isolation level) is run again by the store's
// InTransaction, not refused: the factor is saved and the codes shown.
// One that keeps losing is our failure, a 503, never the user's (a
// passkey enrolment used to read any conflict as "this passkey is
// registered already"). SQLite never fails a transaction so (it holds
// the write lock from its start) and does not run one again: there even
// one loss is the 503.
func TestEnrolmentRetriesLostCodeRace(t *testing.T) {
	for _, tc := range []struct {
		name       string
		conflicts  int32
		wantStatus int
	}{
		{"lost once", 1, http.StatusOK},
		{"lost every time", 1000, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, dsn string) {
				want := tc.wantStatus
				if strings.HasSuffix(t.Name(), "/sqlite") {
					want = http.StatusServiceUnavailable
				}
				st := &conflictingCodesStore{conflicts: tc.conflicts}
				e := newSSOEnv(t, dsn, func(c *provider.Config) {
					st.Store = c.Store
					c.Store = st
				})
				_, p := e.enrolOnAccountPage(t, e.newBrowser(t), "bob", bobPassword)
				if p.Status != want {
					t.Fatalf("enrolment: %s, want status %d", p, want)
				}
				n, err := e.Store.CountRecoveryCodes(t.Context(), e.BobID)
				if err != nil {
					t.Fatal(err)
				}
				_, totpErr := e.Store.GetTOTP(t.Context(), e.BobID)
				if want == http.StatusOK {
					if shown := recoveryRE.FindAllStringSubmatch(p.Body, -1); len(shown) != 10 || n != 10 || totpErr != nil {
						t.Fatalf("enrolment showed %d codes, stored %d, authenticator: %v; want 10, 10, stored", len(shown), n, totpErr)
					}
				} else if n != 0 || totpErr == nil {
					t.Fatalf("a failed enrolment stored %d codes, authenticator: %v; want nothing", n, totpErr)
				}
			})
		})
	}
}
