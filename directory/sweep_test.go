package directory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// sessionCallCounter is a store that counts the calls that read or end
// browser sessions and take their clients' records.
type sessionCallCounter struct {
	storage.Store
	calls atomic.Int64
}

func (s *sessionCallCounter) ListUserBrowserSessions(ctx context.Context, userID string) ([]storage.BrowserSession, error) {
	s.calls.Add(1)
	return s.Store.ListUserBrowserSessions(ctx, userID)
}

func (s *sessionCallCounter) DeleteBrowserSession(ctx context.Context, id string) error {
	s.calls.Add(1)
	return s.Store.DeleteBrowserSession(ctx, id)
}

func (s *sessionCallCounter) DeleteUserBrowserSessions(ctx context.Context, userID, keep string) error {
	s.calls.Add(1)
	return s.Store.DeleteUserBrowserSessions(ctx, userID, keep)
}

func (s *sessionCallCounter) TakeSessionClients(ctx context.Context, sid, userID, keep string) ([]storage.SessionClient, error) {
	s.calls.Add(1)
	return s.Store.TakeSessionClients(ctx, sid, userID, keep)
}

// TestSweepKeepingOneIsFixedCost: ending a user's other sessions (a
// passkey removed from the account page) costs the same number of store
// calls, each one statement, whether the user has 2 sessions or 41, and
// every ended session's client is told.
func TestSweepKeepingOneIsFixedCost(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			costs := map[int]int64{}
			for _, others := range []int{1, 40} {
				st := &sessionCallCounter{Store: testdb.Open(t, b.DSN(t))}
				svc, u, told := sweepFixture(t, st, now)
				if err := st.CreatePasskey(ctx, &storage.Passkey{ID: "key", UserID: u.ID, PublicKey: []byte{1}, Name: "key", CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
				for i := range others + 1 {
					id := fmt.Sprintf("session-%d", i) // session-0 is kept
					testdb.SignedIn(t, st, u.ID, id, now, "app")
				}
				st.calls.Store(0)
				if _, err := svc.Users().RemovePasskey(ctx, u.ID, "key", "session-0"); err != nil {
					t.Fatal(err)
				}
				costs[others] = st.calls.Load()
				if len(*told) != others {
					t.Errorf("%d other sessions: %d clients told, want %d", others, len(*told), others)
				}
				for _, sc := range *told {
					if sc.SID == "sid-session-0" {
						t.Errorf("the kept session's client was told: %+v", sc)
					}
				}
				if _, err := st.GetBrowserSession(ctx, "session-0"); err != nil {
					t.Errorf("the kept session after the sweep: %v", err)
				}
				if left, err := st.ListUserBrowserSessions(ctx, u.ID); err != nil || len(left) != 1 {
					t.Errorf("sessions left = %d, %v; want the kept one", len(left), err)
				}
			}
			t.Logf("session calls of the sweep: %v (other sessions: calls)", costs)
			if costs[1] != costs[40] {
				t.Errorf("session calls of the sweep: %d with 1 other session, %d with 40; want the same", costs[1], costs[40])
			}
		})
	}
}

// TestPutTOTPReplacementEndsOtherSessions: a user's first authenticator
// ends nothing; one that replaces it ends every other session of the
// user (their clients told) and keeps the one named, as removing a
// passkey does.
func TestPutTOTPReplacementEndsOtherSessions(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			st := testdb.Open(t, b.DSN(t))
			svc, u, told := sweepFixture(t, st, now)
			for _, id := range []string{"session-0", "session-1"} {
				testdb.SignedIn(t, st, u.ID, id, now, "app")
			}
			for i, want := range []struct {
				replaced bool
				left     int
				told     int
			}{{false, 2, 0}, {true, 1, 1}} {
				replaced, err := svc.Users().PutTOTP(ctx, &storage.TOTP{UserID: u.ID, Secret: []byte{byte(i)}, CreatedAt: now}, "session-0")
				if err != nil {
					t.Fatal(err)
				}
				left, err := st.ListUserBrowserSessions(ctx, u.ID)
				if replaced != want.replaced || err != nil || len(left) != want.left || len(*told) != want.told {
					t.Errorf("authenticator %d: replaced %v, %d sessions left (%v), %d clients told; want %v, %d, %d",
						i+1, replaced, len(left), err, len(*told), want.replaced, want.left, want.told)
				}
			}
			if _, err := st.GetBrowserSession(ctx, "session-0"); err != nil {
				t.Errorf("the kept session after the replacement: %v", err)
			}
		})
	}
}

// slowTOTP is a store whose GetTOTP, once it has read, waits for every
// contender to have read too (or for the rendezvous's wait to pass): the
// widest window between deciding whether an enrolment replaces and
// writing it.
type slowTOTP struct {
	storage.Store
	*rendezvous
}

func (s slowTOTP) GetTOTP(ctx context.Context, userID string) (*storage.TOTP, error) {
	t, err := s.Store.GetTOTP(ctx, userID)
	s.meet()
	return t, err
}

// TestPutTOTPRace: two first enrolments of one user at the same moment
// (two browsers of the account) are one first enrolment and one
// replacement, whichever lands second: the replacement ends the other
// browser's session, so the authenticator the first set up signs nobody
// in once it is gone.
func TestPutTOTPRace(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			st := slowTOTP{Store: testdb.Open(t, b.DSN(t)), rendezvous: newRendezvous(2, 300*time.Millisecond)}
			svc := New(st, Options{Now: func() time.Time { return now }})
			u, err := svc.Users().Create(ctx, UserInput{Username: "alice", Password: "correct horse battery staple"})
			if err != nil {
				t.Fatal(err)
			}
			keep := []string{"session-0", "session-1"}
			for _, id := range keep {
				testdb.SignedIn(t, st.Store, u.ID, id, now)
			}
			replaced := make([]bool, len(keep))
			errs := make([]error, len(keep))
			var wg sync.WaitGroup
			for i := range keep {
				wg.Go(func() {
					replaced[i], errs[i] = svc.Users().PutTOTP(ctx, &storage.TOTP{UserID: u.ID, Secret: []byte{byte(i)}, CreatedAt: now}, keep[i])
				})
			}
			wg.Wait()
			n := 0
			for i, err := range errs {
				if err != nil {
					t.Fatalf("enrolment %d: %v", i, err)
				}
				if replaced[i] {
					n++
				}
			}
			left, err := st.ListUserBrowserSessions(ctx, u.ID)
			if n != 1 || err != nil || len(left) != 1 {
				t.Errorf("two enrolments at once: %d counted as a replacement (%v), %d sessions left (%v); want 1 and 1", n, replaced, len(left), err)
			}
		})
	}
}

// sweepFixture returns a service over st at the time now, whose queued
// logout notices are collected in told, with a client "app" and a user
// alice, for the tests of what ending a credential's sessions tells.
func sweepFixture(t *testing.T, st storage.Store, now time.Time) (svc *Service, alice UserView, told *[]storage.SessionClient) {
	t.Helper()
	ctx := context.Background()
	told = &[]storage.SessionClient{}
	svc = New(st, Options{Now: func() time.Time { return now },
		LogoutsQueued: func(_ context.Context, ended []storage.SessionClient) { *told = append(*told, ended...) }})
	if _, err := svc.Clients().Create(ctx, ClientMetadata{ClientID: "app", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{}}); err != nil {
		t.Fatal(err)
	}
	alice, err := svc.Users().Create(ctx, UserInput{Username: "alice", Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	return svc, alice, told
}
