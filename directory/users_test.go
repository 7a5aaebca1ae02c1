package directory

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// failingRevoke is a store whose RevokeTokensBySubject fails.
type failingRevoke struct{ storage.Store }

func (failingRevoke) RevokeTokensBySubject(context.Context, string) error {
	return errors.New("revoke tokens: the database went away")
}

// TestPasswordChangeIsAtomic: the new password and the end of the old
// sessions are one transaction; if the grants cannot be revoked, the
// password is not changed and no session is ended either.
func TestPasswordChangeIsAtomic(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			now := time.Now()
			clock := func() time.Time { return now }
			alice, err := New(st, Options{Now: clock}).Users().Create(ctx, UserInput{Username: "alice", Password: "correct horse battery staple"})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.CreateBrowserSession(ctx, &storage.BrowserSession{ID: "session", UserID: alice.ID, AuthTime: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			before, err := st.GetUser(ctx, alice.ID)
			if err != nil {
				t.Fatal(err)
			}

			_, err = New(failingRevoke{st}, Options{Now: clock}).Users().Update(ctx, "alice", UserInput{Username: "alice", Password: "quiet-copper-meadow-64", Name: "Alice"})
			if err == nil || !strings.Contains(err.Error(), "revoke") {
				t.Fatalf("Update with a failing revoke = %v, want the revoke error", err)
			}
			after, err := st.GetUser(ctx, alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.PasswordHash != before.PasswordHash || after.Name != before.Name {
				t.Error("the password change was kept although the grants were not revoked")
			}
			if _, err := st.GetBrowserSession(ctx, "session"); err != nil {
				t.Errorf("the session was deleted by a password change that failed: %v", err)
			}
		})
	}
}

// TestResetFactorsEndsSessions: resetting a user's factors ends their
// sessions and grants (the token epoch advances) whatever the factors
// were, as a new password does: an authenticator app alone, with its
// recovery codes, as well as a passkey, which signs in alone. Either way
// the factors are gone.
func TestResetFactorsEndsSessions(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range []struct {
				name    string
				passkey bool
			}{
				{"authenticator only", false},
				{"passkey", true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					st := testdb.Open(t, b.DSN(t))
					now := time.Now()
					users := New(st, Options{Now: func() time.Time { return now }}).Users()
					alice, err := users.Create(ctx, UserInput{Username: "alice", Password: "correct horse battery staple"})
					if err != nil {
						t.Fatal(err)
					}
					if err := st.PutTOTP(ctx, &storage.TOTP{UserID: alice.ID, Secret: []byte("s"), CreatedAt: now}); err != nil {
						t.Fatal(err)
					}
					if _, err := st.PutRecoveryCodesIfNone(ctx, alice.ID, []string{"digest"}); err != nil {
						t.Fatal(err)
					}
					if tc.passkey {
						if err := st.CreatePasskey(ctx, &storage.Passkey{ID: "cred", UserID: alice.ID, PublicKey: []byte{1}, Name: "key", CreatedAt: now}); err != nil {
							t.Fatal(err)
						}
					}
					if err := st.CreateBrowserSession(ctx, &storage.BrowserSession{ID: "session", UserID: alice.ID, AuthTime: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
						t.Fatal(err)
					}
					before, err := st.GetUser(ctx, alice.ID)
					if err != nil {
						t.Fatal(err)
					}

					if err := users.ResetFactors(ctx, "alice"); err != nil {
						t.Fatalf("ResetFactors: %v", err)
					}
					if _, err := st.GetTOTP(ctx, alice.ID); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("the authenticator after a reset: err %v, want not found", err)
					}
					if pks, err := st.ListPasskeys(ctx, alice.ID); err != nil || len(pks) != 0 {
						t.Errorf("the passkeys after a reset: %v, %v", pks, err)
					}
					if n, err := st.CountRecoveryCodes(ctx, alice.ID); err != nil || n != 0 {
						t.Errorf("the recovery codes after a reset: %d, %v", n, err)
					}
					if _, err := st.GetBrowserSession(ctx, "session"); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("session after the reset: err %v, want not found", err)
					}
					after, err := st.GetUser(ctx, alice.ID)
					if err != nil {
						t.Fatal(err)
					}
					if after.TokenEpoch <= before.TokenEpoch {
						t.Errorf("token epoch after the reset = %d, before %d: the grants did not end", after.TokenEpoch, before.TokenEpoch)
					}
				})
			}
		})
	}
}

// RemovePasskey ends the user's other sessions and every grant, telling
// the clients of the ended sessions only, and keeps the session that
// removed it; another user's passkey is not found and ends nothing.
func TestRemovePasskeyEndsOtherSessions(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range []struct {
				name    string
				passkey string
				// removed: the passkey goes, alice's other session ends
				// and its client is told; otherwise nothing changes.
				removed bool
			}{
				{"her own passkey", "alices", true},
				{"another user's passkey", "bobs", false},
				{"no such passkey", "nobodys", false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					st := testdb.Open(t, b.DSN(t))
					now := time.Now()
					var told []storage.SessionClient
					svc := New(st, Options{Now: func() time.Time { return now },
						LogoutsQueued: func(_ context.Context, ended []storage.SessionClient) { told = append(told, ended...) }})
					users := svc.Users()
					if _, err := svc.Clients().Create(ctx, ClientMetadata{ClientID: "app", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{}}); err != nil {
						t.Fatal(err)
					}
					ids := map[string]string{}
					for _, name := range []string{"alice", "bob"} {
						u, err := users.Create(ctx, UserInput{Username: name, Password: "correct horse battery staple"})
						if err != nil {
							t.Fatal(err)
						}
						ids[name] = u.ID
						if err := st.CreatePasskey(ctx, &storage.Passkey{ID: map[string]string{"alice": "alices", "bob": "bobs"}[name], UserID: u.ID, PublicKey: []byte{1}, Name: "key", CreatedAt: now}); err != nil {
							t.Fatal(err)
						}
					}
					for _, s := range []struct{ id, user string }{{"here", "alice"}, {"there", "alice"}, {"bobs-session", "bob"}} {
						testdb.SignedIn(t, st, ids[s.user], s.id, now, "app")
					}

					pk, err := users.RemovePasskey(ctx, ids["alice"], tc.passkey, "here")
					if !tc.removed {
						if !errors.Is(err, ErrNotFound) {
							t.Fatalf("RemovePasskey: err %v, want not found", err)
						}
					} else if err != nil || pk.ID != tc.passkey {
						t.Fatalf("RemovePasskey = %+v, %v", pk, err)
					}
					for _, id := range []string{"alices", "bobs"} {
						_, err := st.GetPasskey(ctx, id)
						if gone := errors.Is(err, storage.ErrNotFound); gone != (tc.removed && id == tc.passkey) {
							t.Errorf("passkey %s after the removal: err %v", id, err)
						}
					}
					for _, s := range []string{"here", "there", "bobs-session"} {
						_, err := st.GetBrowserSession(ctx, s)
						if gone := errors.Is(err, storage.ErrNotFound); gone != (tc.removed && s == "there") {
							t.Errorf("session %s after the removal: err %v", s, err)
						}
					}
					var wantTold []storage.SessionClient
					if tc.removed {
						wantTold = []storage.SessionClient{{SID: "sid-there", ClientID: "app", UserID: ids["alice"]}}
					}
					for i := range told {
						told[i].ExpiresAt = time.Time{}
					}
					if len(told) != len(wantTold) || (len(told) == 1 && told[0] != wantTold[0]) {
						t.Errorf("clients told = %+v, want %+v", told, wantTold)
					}
					u, err := st.GetUser(ctx, ids["alice"])
					if err != nil {
						t.Fatal(err)
					}
					if ended := u.TokenEpoch > 0; ended != tc.removed {
						t.Errorf("alice's token epoch after the removal = %d, want grants ended = %v", u.TokenEpoch, tc.removed)
					}
				})
			}
		})
	}
}
