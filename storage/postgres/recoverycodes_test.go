package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
)

// TestFirstRecoveryCodesStrictIsolation checks that PutRecoveryCodesIfNone
// still issues one set of codes when transactions run at REPEATABLE READ
// or SERIALIZABLE: a contender that waited for the user's row must not
// count the codes through a snapshot taken before the winner committed,
// but fail with storage.ErrTransient, so that InTransaction runs it again
// and it then finds the winner's codes: no contender fails.
func TestFirstRecoveryCodesStrictIsolation(t *testing.T) {
	eachStrictIsolation(t, 2, func(t *testing.T, stores []*postgres.Store) {
		ctx := t.Context()
		const (
			rounds     = 10
			contenders = 4
			// InTransaction runs a loser again; the test does not.
			attempts = 1
		)
		for round := range rounds {
			user := fmt.Sprintf("user-%d", round)
			if err := stores[0].CreateUser(ctx, &storage.User{ID: user, Username: user}); err != nil {
				t.Fatal(err)
			}
			put := make([]bool, contenders)
			errs := contend(contenders, attempts, func(i, a int) error {
				s := stores[i%len(stores)]
				digests := []string{fmt.Sprintf("d-%d-a", i), fmt.Sprintf("d-%d-b", i)}
				return s.InTransaction(ctx, func(tx context.Context) error {
					if err := s.CreatePasskey(tx, &storage.Passkey{ID: fmt.Sprintf("cred-%d-%d-%d", round, i, a), UserID: user, PublicKey: []byte{1}}); err != nil {
						return err
					}
					var err error
					put[i], err = s.PutRecoveryCodesIfNone(tx, user, digests)
					return err
				})
			})
			n := 0
			for i := range contenders {
				if errs[i] != nil {
					t.Errorf("round %d: contender %d: %v", round, i, errs[i])
				}
				if put[i] && errs[i] == nil {
					n++
				}
			}
			left, err := stores[0].CountRecoveryCodes(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 || left != 2 {
				t.Fatalf("round %d: %d contenders stored codes, %d codes stored; want exactly one set of 2", round, n, left)
			}
		}
	})
}
