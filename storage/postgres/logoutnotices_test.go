package postgres_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
	"github.com/hallpass/hallpass/storage/storagetest"
)

// TestClaimLogoutNoticesStrictIsolation checks that replicas claiming
// back-channel logout notices at once, with transactions at REPEATABLE
// READ or SERIALIZABLE, claim each notice exactly once and do not fail:
// a claim that meets a row a concurrent one claimed is retried.
func TestClaimLogoutNoticesStrictIsolation(t *testing.T) {
	eachStrictIsolation(t, 4, func(t *testing.T, stores []*postgres.Store) {
		ctx := t.Context()
		if err := stores[0].CreateClient(ctx, &storage.Client{ID: "rp", BackchannelLogoutURI: "https://rp.example/bc"}); err != nil {
			t.Fatal(err)
		}
		const rounds, notices = 5, 24
		for round := range rounds {
			user := fmt.Sprintf("u-%d", round)
			for i := range notices {
				if err := stores[0].PutSessionClient(ctx, &storage.SessionClient{SID: fmt.Sprintf("sid-%d-%d", round, i), ClientID: "rp",
					UserID: user, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := stores[0].TakeSessionClients(ctx, "", user, ""); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			claimed := map[string]int{}
			errs := contend(len(stores), 1, func(i, _ int) error {
				for {
					ns, err := stores[i].ClaimLogoutNotices(ctx, time.Now().Add(time.Second), time.Hour, 2)
					if err != nil || len(ns) == 0 {
						return err
					}
					mu.Lock()
					for _, n := range ns {
						claimed[n.ID]++
					}
					mu.Unlock()
				}
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d: replica %d: ClaimLogoutNotices: %v", round, i, err)
				}
			}
			if !storagetest.ClaimedOnce(t, round, claimed, notices) {
				return
			}
		}
	})
}
