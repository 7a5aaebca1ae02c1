package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// concurrencyRounds is how often each race is repeated on the same store.
const concurrencyRounds = 20

// roundTimeout bounds one round of a race, so that a backend that deadlocks
// (e.g. a method that ignores the ctx transaction and waits for a second
// pooled connection) fails instead of hanging.
const roundTimeout = 30 * time.Second

// RunConcurrency runs races between goroutines sharing one store and checks
// that exactly one contender wins each: conditional token deactivation,
// creation of an active signing key, transactions that read then deactivate
// a token, and creation of users with one username; losers must fail with
// storage.ErrConflict. Deletion of one pending authorization request must
// succeed once, its losers failing with storage.ErrNotFound; concurrent
// PutConsent calls for one (user, client) must all succeed, and a user
// created with a role being deleted must end up without it (or not be
// created, with storage.ErrInvalidReference). Transactions that take
// LockKeys, then create a next signing key unless one exists, must create
// exactly one, and DeleteExpired run at once on the same expired rows must
// delete each exactly once without an error, and UpdateThrottle run at
// once on shared ids must lose no count and let exactly the limit of
// reservations through (RunReplicas runs these three across several
// stores on one database). Of concurrent PutRecoveryCodesIfNone calls for
// one user, some in transactions that first stored a passkey, exactly one
// must store its codes. Contenders claiming queued logout notices at once
// must claim each exactly once. Of concurrent SetClientAssertionJTI calls
// for one jti, unknown or with an expired record, exactly one must record
// it. Each race is repeated
// concurrencyRounds times. newStore has the same contract as for Run.
func RunConcurrency(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("DeactivateTokenRace", func(t *testing.T) {
		testDeactivateTokenRace(t, newStore(t))
	})
	t.Run("CreateActiveKeyRace", func(t *testing.T) {
		testCreateActiveKeyRace(t, newStore(t))
	})
	t.Run("TxDeactivateTokenRace", func(t *testing.T) {
		testTxDeactivateTokenRace(t, newStore(t))
	})
	t.Run("DeleteAuthRequestRace", func(t *testing.T) {
		testDeleteAuthRequestRace(t, newStore(t))
	})
	t.Run("CreateUserRace", func(t *testing.T) {
		testCreateUserRace(t, newStore(t))
	})
	t.Run("PutConsentRace", func(t *testing.T) {
		testPutConsentRace(t, newStore(t))
	})
	t.Run("CreateUserDeleteRoleRace", func(t *testing.T) {
		testCreateUserDeleteRoleRace(t, newStore(t))
	})
	t.Run("LockKeysRace", func(t *testing.T) {
		testLockKeysRace(t, []storage.Store{newStore(t)})
	})
	t.Run("DeleteExpiredRace", func(t *testing.T) {
		testDeleteExpiredRace(t, []storage.Store{newStore(t)})
	})
	t.Run("ThrottleRace", func(t *testing.T) {
		testThrottleRace(t, []storage.Store{newStore(t)})
	})
	t.Run("UsePasskeyRace", func(t *testing.T) {
		testUsePasskeyRace(t, newStore(t))
	})
	t.Run("FirstRecoveryCodesRace", func(t *testing.T) {
		testFirstRecoveryCodesRace(t, newStore(t))
	})
	t.Run("ClaimLogoutNoticesRace", func(t *testing.T) {
		testClaimLogoutNoticesRace(t, []storage.Store{newStore(t)})
	})
	t.Run("ClientAssertionJTIRace", func(t *testing.T) {
		testClientAssertionJTIRace(t, newStore(t))
	})
}

// testClientAssertionJTIRace records one jti from many goroutines at once,
// as replicas do with one client assertion sent to each: in odd rounds
// over an expired record of the jti, which a set replaces rather than
// waits for a sweep of. Exactly one contender records it, the others
// find it used (storage.ErrConflict), and the record is the winner's.
func testClientAssertionJTIRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 10
	// The backends compare expiries with their own clock: real time.
	now := time.Now()
	for round := range concurrencyRounds {
		jti := fmt.Sprintf("race-jti-%d", round)
		if round%2 == 1 {
			noErr(t, s.SetClientAssertionJTI(ctx, jti, now.Add(-time.Minute)), "SetClientAssertionJTI(expired)")
		}
		exp := func(i int) time.Time { return now.Add(time.Hour + time.Duration(i)*time.Second) }
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(i int) error {
			return s.SetClientAssertionJTI(rctx, jti, exp(i))
		})
		cancel()
		winner := oneWinner(t, fmt.Sprintf("round %d: SetClientAssertionJTI", round), errs)
		got, err := s.GetClientAssertionJTI(ctx, jti)
		noErr(t, err, fmt.Sprintf("round %d: GetClientAssertionJTI after the race", round))
		check(t, fmt.Sprintf("round %d: expiry recorded", round), exp(winner), got)
	}
}

// testFirstRecoveryCodesRace enrols second factors of one user at once, as
// two browser tabs may: each contender stores a passkey and then its own
// first recovery codes, in one transaction (or, for every other contender,
// stores the codes alone). Exactly one stores its codes; the others report
// that they did not, without an error, and only the winner's codes work.
func testFirstRecoveryCodesRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 6
	for round := range concurrencyRounds {
		user := fmt.Sprintf("user-%d", round)
		mustCreateUser(t, ctx, s, user)
		digests := func(i int) []string { return []string{fmt.Sprintf("d-%d-a", i), fmt.Sprintf("d-%d-b", i)} }
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		put := make([]bool, contenders)
		errs := race(contenders, func(i int) error {
			if i%2 == 1 {
				var err error
				put[i], err = s.PutRecoveryCodesIfNone(rctx, user, digests(i))
				return err
			}
			return s.InTransaction(rctx, func(tx context.Context) error {
				if err := s.CreatePasskey(tx, &storage.Passkey{ID: fmt.Sprintf("cred-%d-%d", round, i), UserID: user,
					PublicKey: []byte{1}, Name: "key", CreatedAt: baseTime()}); err != nil {
					return err
				}
				var err error
				put[i], err = s.PutRecoveryCodesIfNone(tx, user, digests(i))
				return err
			})
		})
		cancel()
		winner, wins := -1, 0
		for i, err := range errs {
			noErr(t, err, fmt.Sprintf("round %d: contender %d", round, i))
			if put[i] {
				winner, wins = i, wins+1
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d of %d contenders stored their codes, want exactly 1", round, wins, contenders)
		}
		countIs(t, ctx, s, user, 2)
		for i := range contenders {
			err := s.UseRecoveryCode(ctx, user, digests(i)[0])
			if i == winner {
				noErr(t, err, fmt.Sprintf("round %d: UseRecoveryCode of the winner's code", round))
			} else {
				notFound(t, err, fmt.Sprintf("round %d: UseRecoveryCode of contender %d's code", round, i))
			}
		}
	}
}

// testUsePasskeyRace replays one passkey answer (one signature counter)
// concurrently: exactly one use is recorded, the others see the counter
// that did not advance.
func testUsePasskeyRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 10
	mustCreateUser(t, ctx, s, "user")
	noErr(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "cred", UserID: "user", PublicKey: []byte{1}, Name: "key", CreatedAt: baseTime()}), "CreatePasskey")
	for round := range concurrencyRounds {
		count := uint32(round + 1)
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(int) error {
			return s.UsePasskey(rctx, "cred", count, false, baseTime())
		})
		cancel()
		oneWinner(t, fmt.Sprintf("round %d: UsePasskey with one counter", round), errs)
		pk, err := s.GetPasskey(ctx, "cred")
		noErr(t, err, fmt.Sprintf("round %d: GetPasskey after the race", round))
		if pk.SignCount != count {
			t.Fatalf("round %d: SignCount = %d, want %d", round, pk.SignCount, count)
		}
	}
}

// race runs fn(0) … fn(n-1) in n goroutines released together and returns
// their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner fails the test unless exactly one error is nil and every other
// one matches storage.ErrConflict. It returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	return oneWinnerLosing(t, what, errs, storage.ErrConflict)
}

// oneWinnerLosing fails the test unless exactly one error is nil and every
// other one matches loss. It returns the winner's index.
func oneWinnerLosing(t *testing.T, what string, errs []error, loss error) int {
	t.Helper()
	winner, wins := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			wins++
		case errors.Is(err, loss):
		default:
			t.Errorf("%s: contender %d: unexpected error: %v", what, i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%s: %d of %d contenders won, want exactly 1", what, wins, len(errs))
	}
	return winner
}

func testDeactivateTokenRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 20
	for round := range concurrencyRounds {
		sig := fmt.Sprintf("race-%d", round)
		noErr(t, s.CreateToken(ctx, fullToken(storage.KindAuthorizeCode, sig, "req", "client")), "CreateToken")
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(int) error {
			return s.DeactivateToken(rctx, storage.KindAuthorizeCode, sig)
		})
		cancel()
		oneWinner(t, fmt.Sprintf("round %d: DeactivateToken", round), errs)
		if mustGetToken(t, ctx, s, storage.KindAuthorizeCode, sig).Active {
			t.Fatalf("round %d: token still active after the race", round)
		}
	}
}

func testCreateActiveKeyRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 10
	for round := range concurrencyRounds {
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(i int) error {
			return s.CreateKey(rctx, &storage.Key{
				ID:        fmt.Sprintf("kid-%d-%d", round, i),
				Algorithm: "RS256",
				State:     storage.KeyActive,
				CreatedAt: baseTime(),
			})
		})
		cancel()
		w := oneWinner(t, fmt.Sprintf("round %d: CreateKey(active)", round), errs)
		var active []string
		for _, k := range mustListKeys(t, s) {
			if k.State == storage.KeyActive {
				active = append(active, k.ID)
			}
		}
		if want := fmt.Sprintf("kid-%d-%d", round, w); len(active) != 1 || active[0] != want {
			t.Fatalf("round %d: active keys %q, want [%q]", round, active, want)
		}
		// Retire the winner so that the next round can race again.
		noErr(t, s.UpdateKey(ctx, &storage.Key{ID: active[0], State: storage.KeyRetired}), "UpdateKey(retire)")
	}
}

func testTxDeactivateTokenRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 10
	for round := range concurrencyRounds {
		sig := fmt.Sprintf("tx-race-%d", round)
		noErr(t, s.CreateToken(ctx, fullToken(storage.KindRefreshToken, sig, "req", "client")), "CreateToken")
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(int) error {
			tx, err := s.BeginTX(rctx)
			if err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			err = func() error {
				tok, err := s.GetToken(tx, storage.KindRefreshToken, sig)
				if err != nil {
					return err
				}
				if !tok.Active {
					return fmt.Errorf("read an inactive token: %w", storage.ErrConflict)
				}
				return s.DeactivateToken(tx, storage.KindRefreshToken, sig)
			}()
			if err != nil {
				if rbErr := s.Rollback(tx); rbErr != nil {
					// Not wrapped: a failing rollback is never a clean loss.
					return fmt.Errorf("rollback after %v: %v", err, rbErr)
				}
				return err
			}
			return s.Commit(tx)
		})
		cancel()
		oneWinner(t, fmt.Sprintf("round %d: BeginTX+GetToken+DeactivateToken+Commit", round), errs)
		if mustGetToken(t, ctx, s, storage.KindRefreshToken, sig).Active {
			t.Fatalf("round %d: token still active after the race", round)
		}
	}
}

func testDeleteAuthRequestRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 10
	mustCreateUser(t, ctx, s, "user")
	for round := range concurrencyRounds {
		id := fmt.Sprintf("request-%d", round)
		noErr(t, s.CreateAuthRequest(ctx, &storage.AuthRequest{
			ID: id, Query: "client_id=app", RequestedAt: baseTime(), BrowserBinding: []byte{1, 2, 3},
			UserID: "user", AuthTime: baseTime(), ExpiresAt: baseTime().Add(10 * time.Minute),
		}), "CreateAuthRequest")
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(int) error {
			return s.DeleteAuthRequest(rctx, id)
		})
		cancel()
		oneWinnerLosing(t, fmt.Sprintf("round %d: DeleteAuthRequest", round), errs, storage.ErrNotFound)
		_, err := s.GetAuthRequest(ctx, id)
		errIs(t, err, storage.ErrNotFound, fmt.Sprintf("round %d: GetAuthRequest after the race", round))
	}
}

func testCreateUserRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 10
	mustCreateRoles(t, ctx, s, "student", "teacher")
	for round := range concurrencyRounds {
		username := fmt.Sprintf("user-%d", round)
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(i int) error {
			return s.CreateUser(rctx, &storage.User{
				ID:        fmt.Sprintf("id-%d-%d", round, i),
				Username:  username,
				Roles:     []string{"teacher", "student"},
				CreatedAt: baseTime(),
			})
		})
		cancel()
		w := oneWinner(t, fmt.Sprintf("round %d: CreateUser with one username", round), errs)
		got, err := s.GetUserByUsername(ctx, username)
		noErr(t, err, fmt.Sprintf("round %d: GetUserByUsername after the race", round))
		check(t, fmt.Sprintf("round %d: the winner", round), &storage.User{
			ID: fmt.Sprintf("id-%d-%d", round, w), Username: username,
			Roles: []string{"student", "teacher"}, CreatedAt: baseTime(),
		}, got)
		for i := range contenders {
			if i == w {
				continue
			}
			_, err := s.GetUser(ctx, fmt.Sprintf("id-%d-%d", round, i))
			errIs(t, err, storage.ErrNotFound, fmt.Sprintf("round %d: GetUser of a loser", round))
		}
	}
	if us := mustListUsers(t, ctx, s); len(us) != concurrencyRounds {
		t.Fatalf("ListUsers after the races: got %d users %q, want %d", len(us), userIDs(us), concurrencyRounds)
	}
}

func testPutConsentRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const contenders = 10
	mustCreateUser(t, ctx, s, "user")
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "client"}), "CreateClient")
	for round := range concurrencyRounds {
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(i int) error {
			return s.PutConsent(rctx, &storage.Consent{
				UserID: "user", ClientID: "client",
				Scopes: []string{"openid", fmt.Sprintf("scope-%d-%d", round, i)}, GrantedAt: baseTime(),
			})
		})
		cancel()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: PutConsent %d: %v", round, i, err)
			}
		}
		got := mustGetConsent(t, ctx, s, "user", "client")
		if len(got.Scopes) != 2 || got.Scopes[0] != "openid" || !strings.HasPrefix(got.Scopes[1], fmt.Sprintf("scope-%d-", round)) {
			t.Fatalf("round %d: GetConsent after the race: scopes %q, want one contender's", round, got.Scopes)
		}
	}
}

func testCreateUserDeleteRoleRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const users = 5
	for round := range concurrencyRounds {
		role := fmt.Sprintf("role-%d", round)
		mustCreateRoles(t, ctx, s, "keep-"+role, role)
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(users+1, func(i int) error {
			if i == users {
				return s.DeleteRole(rctx, role)
			}
			return s.CreateUser(rctx, &storage.User{
				ID:       fmt.Sprintf("user-%d-%d", round, i),
				Username: fmt.Sprintf("user-%d-%d", round, i),
				Roles:    []string{role, "keep-" + role},
			})
		})
		cancel()
		noErr(t, errs[users], fmt.Sprintf("round %d: DeleteRole", round))
		for i, err := range errs[:users] {
			id := fmt.Sprintf("user-%d-%d", round, i)
			if err != nil {
				errIs(t, err, storage.ErrInvalidReference, fmt.Sprintf("round %d: CreateUser(%s) racing DeleteRole", round, id))
				_, err := s.GetUser(ctx, id)
				errIs(t, err, storage.ErrNotFound, fmt.Sprintf("round %d: GetUser(%s) after a failed CreateUser", round, id))
				continue
			}
			u := mustGetUser(t, ctx, s, id)
			if len(u.Roles) != 1 || u.Roles[0] != "keep-"+role {
				t.Fatalf("round %d: %s has roles %q after its role was deleted, want [%q]", round, id, u.Roles, "keep-"+role)
			}
		}
	}
}
