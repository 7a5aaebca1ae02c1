package storagetest

import (
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// testAccessRevocations checks what decides whether a self-contained
// access token stands: revocation records (kept until their expiry, the
// later one when recorded twice, undone with their transaction) and the
// token epochs of users and clients, which only the revocation of all
// their grants advances.
func testAccessRevocations(t *testing.T, s storage.Store) {
	ctx := t.Context()
	state := func(ids []string, user string) storage.AccessTokenState {
		t.Helper()
		st, err := s.AccessTokenState(ctx, ids, user)
		noErr(t, err, "AccessTokenState")
		return st
	}
	if st := state([]string{"grant:a", "token:x"}, "u1"); st != (storage.AccessTokenState{}) {
		t.Fatalf("AccessTokenState on an empty store: %+v, want nothing revoked and no user", st)
	}
	if st := state(nil, ""); st != (storage.AccessTokenState{}) {
		t.Fatalf("AccessTokenState of nothing: %+v", st)
	}

	exp := baseTime().Add(10 * time.Minute)
	noErr(t, s.RevokeAccess(ctx, []string{"grant:a"}, exp), "RevokeAccess")
	if !state([]string{"grant:a", "token:x"}, "").Revoked {
		t.Fatal("a recorded grant is not revoked")
	}
	if !state([]string{"token:x", "grant:a"}, "").Revoked {
		t.Fatal("a recorded grant is not revoked when named second")
	}
	if state([]string{"grant:b", "token:x"}, "").Revoked {
		t.Fatal("an unrecorded grant is revoked")
	}
	// Recorded again with an earlier expiry, the later one is kept.
	noErr(t, s.RevokeAccess(ctx, []string{"grant:a", "token:y"}, exp.Add(-5*time.Minute)), "RevokeAccess again")
	n, err := s.DeleteExpired(ctx, exp.Add(-time.Second), 100)
	noErr(t, err, "DeleteExpired before the later expiry")
	if n != 1 || !state([]string{"grant:a"}, "").Revoked || state([]string{"token:y"}, "").Revoked {
		t.Fatalf("DeleteExpired before the later expiry deleted %d records; want only token:y gone", n)
	}
	n, err = s.DeleteExpired(ctx, exp.Add(time.Second), 100)
	noErr(t, err, "DeleteExpired after the expiry")
	if n != 1 || state([]string{"grant:a"}, "").Revoked {
		t.Fatalf("DeleteExpired after the expiry deleted %d records; want grant:a gone", n)
	}

	// A record made in a transaction that rolls back is not kept.
	tx := beginTX(t, ctx, s)
	noErr(t, s.RevokeAccess(tx, []string{"grant:c"}, exp), "RevokeAccess in a transaction")
	noErr(t, s.Rollback(tx), "Rollback")
	if state([]string{"grant:c"}, "").Revoked {
		t.Fatal("a revocation recorded in a rolled-back transaction is kept")
	}

	// Token epochs: advanced by ending every grant, untouched by updates.
	u := mustCreateUser(t, ctx, s, "u1")
	if st := state(nil, "u1"); !st.UserFound || st.UserEpoch != 0 {
		t.Fatalf("AccessTokenState of a new user: %+v, want found with epoch 0", st)
	}
	noErr(t, s.RevokeTokensBySubject(ctx, "u1"), "RevokeTokensBySubject")
	noErr(t, s.RevokeTokensBySubject(ctx, "u1"), "RevokeTokensBySubject again")
	u.Name = "renamed"
	noErr(t, s.UpdateUser(ctx, u), "UpdateUser with a stale epoch")
	if st := state(nil, "u1"); !st.UserFound || st.UserEpoch != 2 {
		t.Fatalf("AccessTokenState after two revocations: %+v, want epoch 2", st)
	}
	if got := mustGetUser(t, ctx, s, "u1").TokenEpoch; got != 2 {
		t.Fatalf("GetUser: TokenEpoch %d, want 2", got)
	}
	noErr(t, s.RevokeTokensBySubject(ctx, "some-client"), "RevokeTokensBySubject of a subject that is no user")

	c := &storage.Client{ID: "c1", TokenEndpointAuthMethod: "none", CreatedAt: baseTime(), UpdatedAt: baseTime()}
	noErr(t, s.CreateClient(ctx, c), "CreateClient")
	first := mustGetClient(t, ctx, s, "c1").TokenEpoch
	noErr(t, s.RevokeTokensByClient(ctx, "c1"), "RevokeTokensByClient")
	c.Name = "renamed"
	noErr(t, s.UpdateClient(ctx, c), "UpdateClient with a stale epoch")
	if got := mustGetClient(t, ctx, s, "c1").TokenEpoch; got != first+1 {
		t.Fatalf("GetClient: TokenEpoch %d after one revocation, want %d", got, first+1)
	}
	cs, err := s.ListClients(ctx)
	noErr(t, err, "ListClients")
	if len(cs) != 1 || cs[0].TokenEpoch != first+1 {
		t.Fatalf("ListClients: %+v, want c1 with TokenEpoch %d", cs, first+1)
	}
	// Registered again under the same id, a client starts elsewhere, so
	// the deleted one's tokens stay ended.
	noErr(t, s.DeleteClient(ctx, "c1"), "DeleteClient")
	noErr(t, s.CreateClient(ctx, c), "CreateClient again")
	if got := mustGetClient(t, ctx, s, "c1").TokenEpoch; got == first || got == first+1 {
		t.Fatalf("a client registered again under a deleted one's id got the epoch %d the old one had", got)
	}
}

// testTokenDeactivateAtEpoch checks that a code is spent at its user's
// token epoch only: one written after a change that advanced the epoch
// (the race of a code's issue with a disable or a new password) is not
// spent with the epoch it was issued with, nor is the code of a user who
// no longer exists. Either is of a grant that has ended, so the refusal
// is ErrNotFound, as for the codes the change deleted, never the
// ErrConflict of a code spent by another exchange.
func testTokenDeactivateAtEpoch(t *testing.T, s storage.Store) {
	ctx := t.Context()
	kind := storage.KindAuthorizeCode
	mustCreateUser(t, ctx, s, "u-epoch")
	// The change commits (epoch 0 → 1), then the code read at epoch 0 is
	// written.
	noErr(t, s.RevokeTokensBySubject(ctx, "u-epoch"), "RevokeTokensBySubject")
	stale := fullToken(kind, "stale", "req-stale", "client")
	stale.Subject = "u-epoch"
	noErr(t, s.CreateToken(ctx, stale), "CreateToken")

	errIs(t, s.DeactivateTokenAtEpoch(ctx, kind, "stale", 0), storage.ErrNotFound, "DeactivateTokenAtEpoch with the epoch before the change")
	if !mustGetToken(t, ctx, s, kind, "stale").Active {
		t.Fatal("a refused DeactivateTokenAtEpoch changed the row")
	}
	noErr(t, s.DeactivateTokenAtEpoch(ctx, kind, "stale", 1), "DeactivateTokenAtEpoch with the current epoch")
	if mustGetToken(t, ctx, s, kind, "stale").Active {
		t.Fatal("DeactivateTokenAtEpoch with the current epoch left the row active")
	}
	errIs(t, s.DeactivateTokenAtEpoch(ctx, kind, "stale", 1), storage.ErrConflict, "DeactivateTokenAtEpoch twice")
	errIs(t, s.DeactivateTokenAtEpoch(ctx, kind, "no-such-signature", 1), storage.ErrNotFound, "DeactivateTokenAtEpoch(unknown)")

	orphan := fullToken(kind, "orphan", "req-orphan", "client")
	orphan.Subject = "no-such-user"
	noErr(t, s.CreateToken(ctx, orphan), "CreateToken of a deleted user's code")
	errIs(t, s.DeactivateTokenAtEpoch(ctx, kind, "orphan", 0), storage.ErrNotFound, "DeactivateTokenAtEpoch of a deleted user's code")
	if !mustGetToken(t, ctx, s, kind, "orphan").Active {
		t.Fatal("DeactivateTokenAtEpoch of a deleted user's code changed the row")
	}
}
