package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// noticeLease is the lease the suite claims logout notices with.
const noticeLease = time.Minute

// testLogoutNotices proves the outbox of back-channel logout: taking a
// session's records queues a notice for each client with a logout URI
// (none for one without), in the caller's transaction (rolled back, none);
// a claim leases a notice (claimed again only once the lease ended) and
// counts the claim, never an attempt; a retry makes it due later and
// counts an attempt if it says so, a postponed notice keeping its
// attempts (one by a claim since claimed again is refused, postponed or
// not); a finish deletes it, and a deleted client's notices go with it.
func testLogoutNotices(t *testing.T, s storage.Store) {
	ctx := t.Context()
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "rp-uri", BackchannelLogoutURI: "https://rp.example/bc"}), "CreateClient(rp-uri)")
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "rp-none"}), "CreateClient(rp-none)")
	exp := time.Now().Add(time.Hour)
	put := func(sid, client, user string) {
		t.Helper()
		noErr(t, s.PutSessionClient(ctx, &storage.SessionClient{SID: sid, ClientID: client, UserID: user, ExpiresAt: exp}), "PutSessionClient("+sid+", "+client+")")
	}
	claim := func(at time.Time, limit int) []storage.LogoutNotice {
		t.Helper()
		ns, err := s.ClaimLogoutNotices(ctx, at, noticeLease, limit)
		noErr(t, err, "ClaimLogoutNotices")
		return ns
	}
	if _, err := s.ClaimLogoutNotices(ctx, time.Now(), noticeLease, 0); err == nil {
		t.Error("ClaimLogoutNotices with limit 0: want an error")
	}

	// Taken on its own: one notice, for the client with a URI only.
	put("sid-1", "rp-uri", "u1")
	put("sid-1", "rp-none", "u1")
	before := time.Now()
	taken, err := s.TakeSessionClients(ctx, "sid-1", "", "")
	noErr(t, err, "TakeSessionClients(sid-1)")
	if len(taken) != 2 {
		t.Fatalf("TakeSessionClients(sid-1) took %d records, want both (it still returns every record)", len(taken))
	}
	after := time.Now()
	now := after.Add(time.Second)
	got := claim(now, 10)
	if len(got) != 1 {
		t.Fatalf("ClaimLogoutNotices after taking sid-1 = %+v, want one notice, for rp-uri only", got)
	}
	n := got[0]
	if n.ID == "" || n.ClientID != "rp-uri" || n.SID != "sid-1" || n.UserID != "u1" || n.Attempts != 0 || n.Claim != 1 {
		t.Errorf("claimed notice = %+v, want client rp-uri, sid-1, u1, claim 1, no attempt yet", n)
	}
	if n.CreatedAt.Before(before.Add(-time.Second)) || n.CreatedAt.After(after.Add(time.Second)) || n.CreatedAt.Location() != time.UTC {
		t.Errorf("claimed notice created at %v, want between %v and %v, in UTC", n.CreatedAt, before, after)
	}
	// wantClaim claims at at and wants notice n back alone, as claim
	// number number, with attempts attempts.
	wantClaim := func(at time.Time, number, attempts int, why string) {
		t.Helper()
		got := claim(at, 10)
		if len(got) != 1 || got[0].ID != n.ID || got[0].Claim != number || got[0].Attempts != attempts {
			t.Fatalf("claim %s = %+v, want notice %s, claim %d, attempts %d", why, got, n.ID, number, attempts)
		}
	}

	// Leased: no second claim until the lease ends; then claim 2, whose
	// attempts the first claim, whose lease ran out, did not count.
	if got := claim(now.Add(noticeLease/2), 10); len(got) != 0 {
		t.Errorf("claim during the lease = %+v, want none", got)
	}
	wantClaim(now.Add(noticeLease), 2, 0, "once the lease ended")
	now = now.Add(noticeLease)

	// A late retry by the first claimer, whose lease ended, neither frees
	// the second claim nor makes the notice due nor counts: the second
	// holds it.
	notFound(t, s.RetryLogoutNotice(ctx, n.ID, 1, true, now), "RetryLogoutNotice by a claim whose lease ended")
	if got := claim(now.Add(noticeLease/2), 10); len(got) != 0 {
		t.Errorf("claim during the second lease, after a late retry by the first claim = %+v, want none", got)
	}

	// Postponed (no attempt): due at next, its attempts kept.
	noErr(t, s.RetryLogoutNotice(ctx, n.ID, 2, false, now.Add(time.Second)), "RetryLogoutNotice postponing claim 2")
	if got := claim(now, 10); len(got) != 0 {
		t.Errorf("claim before the postponed notice is due = %+v, want none", got)
	}
	now = now.Add(time.Second)
	wantClaim(now, 3, 0, "once the postponed notice is due")
	// Claim 3 found the attempts claim 2 left: a late retry of claim 2
	// must still be told from it.
	notFound(t, s.RetryLogoutNotice(ctx, n.ID, 2, false, now), "RetryLogoutNotice by a postponed claim, claimed again since")
	if got := claim(now.Add(noticeLease/2), 10); len(got) != 0 {
		t.Errorf("claim during the third lease, after a late retry by the postponed claim = %+v, want none", got)
	}

	// Retried after an attempt: counted, and due at next only.
	next := now.Add(time.Hour)
	noErr(t, s.RetryLogoutNotice(ctx, n.ID, 3, true, next), "RetryLogoutNotice counting claim 3's attempt")
	if got := claim(now.Add(2*noticeLease), 10); len(got) != 0 {
		t.Errorf("claim before the retry is due = %+v, want none", got)
	}
	wantClaim(next, 4, 1, "once the retry is due")
	// Postponed after an attempt: the attempt stays counted.
	noErr(t, s.RetryLogoutNotice(ctx, n.ID, 4, false, next), "RetryLogoutNotice postponing claim 4")
	wantClaim(next, 5, 1, "after postponing a notice with an attempt")

	// Finished: gone.
	noErr(t, s.FinishLogoutNotice(ctx, n.ID), "FinishLogoutNotice")
	notFound(t, s.FinishLogoutNotice(ctx, n.ID), "FinishLogoutNotice of a finished notice")
	notFound(t, s.RetryLogoutNotice(ctx, n.ID, 5, true, next), "RetryLogoutNotice of a finished notice")
	far := next.Add(24 * time.Hour)
	if got := claim(far, 10); len(got) != 0 {
		t.Errorf("claim after finishing = %+v, want none", got)
	}

	// Taken in a transaction rolled back: nothing queued, the record kept.
	put("sid-2", "rp-uri", "u2")
	tx := beginTX(t, ctx, s)
	taken, err = s.TakeSessionClients(tx, "sid-2", "", "")
	noErr(t, err, "TakeSessionClients(sid-2) in a transaction")
	if len(taken) != 1 {
		t.Errorf("TakeSessionClients(sid-2) in a transaction took %v, want one record", taken)
	}
	noErr(t, s.Rollback(tx), "Rollback")
	if got := claim(far, 10); len(got) != 0 {
		t.Errorf("claim after a rolled-back take = %+v, want none", got)
	}
	// Taken in a transaction that commits, with another change: queued.
	noErr(t, s.InTransaction(ctx, func(ctx context.Context) error {
		if err := s.DeleteUserBrowserSessions(ctx, "u2", ""); err != nil {
			return err
		}
		_, err := s.TakeSessionClients(ctx, "", "u2", "")
		return err
	}), "TakeSessionClients(user u2) in InTransaction")
	got = claim(far, 10)
	if len(got) != 1 || got[0].ClientID != "rp-uri" || got[0].SID != "sid-2" || got[0].UserID != "u2" {
		t.Fatalf("claim after a committed take = %+v, want rp-uri's notice of sid-2", got)
	}
	noErr(t, s.FinishLogoutNotice(ctx, got[0].ID), "FinishLogoutNotice(sid-2)")

	// A claim takes at most limit notices.
	for _, sid := range []string{"sid-a", "sid-b", "sid-c"} {
		put(sid, "rp-uri", "u3")
	}
	_, err = s.TakeSessionClients(ctx, "", "u3", "")
	noErr(t, err, "TakeSessionClients(user u3)")
	first, second := claim(far, 2), claim(far, 2)
	if len(first) != 2 || len(second) != 1 || first[0].ID == second[0].ID || first[1].ID == second[0].ID {
		t.Errorf("claims of 2 of 3 notices = %+v then %+v, want 2 then the third", first, second)
	}

	// A deleted client's notices go with it.
	noErr(t, s.DeleteClient(ctx, "rp-uri"), "DeleteClient(rp-uri)")
	if got := claim(far.Add(time.Hour), 10); len(got) != 0 {
		t.Errorf("claim after the client was deleted = %+v, want none", got)
	}

	// Housekeeping drops a notice undelivered for more than a day.
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "rp-old", BackchannelLogoutURI: "https://rp.example/bc"}), "CreateClient(rp-old)")
	noErr(t, s.PutSessionClient(ctx, &storage.SessionClient{SID: "sid-old", ClientID: "rp-old", UserID: "u4", ExpiresAt: far.Add(48 * time.Hour)}), "PutSessionClient(sid-old)")
	_, err = s.TakeSessionClients(ctx, "sid-old", "", "")
	noErr(t, err, "TakeSessionClients(sid-old)")
	deleted, err := s.DeleteExpired(ctx, time.Now().Add(time.Hour), 100)
	noErr(t, err, "DeleteExpired an hour on")
	if deleted != 0 {
		t.Errorf("DeleteExpired an hour after a notice was queued deleted %d rows, want none", deleted)
	}
	deleted, err = s.DeleteExpired(ctx, time.Now().Add(25*time.Hour), 100)
	noErr(t, err, "DeleteExpired a day on")
	if deleted != 1 {
		t.Errorf("DeleteExpired a day after a notice was queued deleted %d rows, want the notice", deleted)
	}
	if got := claim(far.Add(time.Hour), 10); len(got) != 0 {
		t.Errorf("claim after housekeeping = %+v, want none", got)
	}
}

// testClaimLogoutNoticesRace has contenders, spread over stores (replicas
// on one database), claim the same queued notices at once, finishing what
// they claimed, until none is left: every notice must be claimed exactly
// once.
func testClaimLogoutNoticesRace(t *testing.T, stores []storage.Store) {
	ctx := t.Context()
	s := stores[0]
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "rp", BackchannelLogoutURI: "https://rp.example/bc"}), "CreateClient(rp)")
	const notices, contenders = 12, 4
	for round := range concurrencyRounds {
		user := fmt.Sprintf("u-%d", round)
		for i := range notices {
			noErr(t, s.PutSessionClient(ctx, &storage.SessionClient{SID: fmt.Sprintf("sid-%d-%d", round, i), ClientID: "rp", UserID: user,
				ExpiresAt: time.Now().Add(time.Hour)}), "PutSessionClient")
		}
		_, err := s.TakeSessionClients(ctx, "", user, "")
		noErr(t, err, "TakeSessionClients")
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		var mu sync.Mutex
		claimed := map[string]int{}
		errs := race(contenders, func(i int) error {
			st := stores[i%len(stores)]
			for {
				ns, err := st.ClaimLogoutNotices(rctx, time.Now().Add(time.Second), time.Hour, 2)
				if err != nil || len(ns) == 0 {
					return err
				}
				for _, n := range ns {
					mu.Lock()
					claimed[n.ID]++
					mu.Unlock()
					if err := st.FinishLogoutNotice(rctx, n.ID); err != nil {
						return errors.Join(fmt.Errorf("finish %s", n.ID), err)
					}
				}
			}
		})
		cancel()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: contender %d: %v", round, i, err)
			}
		}
		if !ClaimedOnce(t, round, claimed, notices) {
			return
		}
	}
}

// ClaimedOnce checks a round of concurrent ClaimLogoutNotices: claimed
// counts the claims of each notice id, and each of the round's notices
// must have been claimed exactly once. It reports false once the test
// has failed, so that a caller stops its rounds.
func ClaimedOnce(t *testing.T, round int, claimed map[string]int, notices int) bool {
	t.Helper()
	if len(claimed) != notices {
		t.Errorf("round %d: %d notices claimed, want %d", round, len(claimed), notices)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("round %d: notice %s claimed %d times, want once", round, id, n)
		}
	}
	return !t.Failed()
}
