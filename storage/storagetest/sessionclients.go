package storagetest

import (
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// testSessionClients proves the records back-channel logout reads: put
// (and renew), take by session and by user, each record taken once, gone
// with their client, deleted once expired.
func testSessionClients(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, id := range []string{"rp-a", "rp-b", "rp-c"} {
		noErr(t, s.CreateClient(ctx, &storage.Client{ID: id}), "CreateClient("+id+")")
	}
	exp := baseTime().Add(time.Hour)
	put := func(sid, client, user string, at time.Time) {
		t.Helper()
		noErr(t, s.PutSessionClient(ctx, &storage.SessionClient{SID: sid, ClientID: client, UserID: user, ExpiresAt: at}), "PutSessionClient("+sid+", "+client+")")
	}
	put("sid-1", "rp-b", "u1", exp)
	put("sid-1", "rp-a", "u1", exp)
	put("sid-1", "rp-a", "u1", exp.Add(time.Hour)) // renewed, not doubled
	put("sid-2", "rp-a", "u1", exp)
	put("sid-3", "rp-c", "u2", exp)
	put("sid-4", "rp-c", "u3", baseTime().Add(-time.Minute))
	errIs(t, s.PutSessionClient(ctx, &storage.SessionClient{SID: "sid-1", ClientID: "no-such-client", UserID: "u1", ExpiresAt: exp}), storage.ErrInvalidReference, "PutSessionClient(unknown client)")

	got, err := s.TakeSessionClients(ctx, "sid-1", "")
	noErr(t, err, "TakeSessionClients(sid-1)")
	check(t, "TakeSessionClients(sid-1)", []storage.SessionClient{
		{SID: "sid-1", ClientID: "rp-a", UserID: "u1", ExpiresAt: exp.Add(time.Hour)},
		{SID: "sid-1", ClientID: "rp-b", UserID: "u1", ExpiresAt: exp},
	}, got)
	got, err = s.TakeSessionClients(ctx, "sid-1", "")
	noErr(t, err, "TakeSessionClients(sid-1) again")
	if len(got) != 0 {
		t.Errorf("TakeSessionClients(sid-1) again = %v, want none: each record is taken once", got)
	}
	got, err = s.TakeSessionClients(ctx, "", "u1")
	noErr(t, err, "TakeSessionClients(user u1)")
	check(t, "TakeSessionClients(user u1)", []storage.SessionClient{{SID: "sid-2", ClientID: "rp-a", UserID: "u1", ExpiresAt: exp}}, got)
	if _, err := s.TakeSessionClients(ctx, "", ""); err == nil {
		t.Error("TakeSessionClients with neither sid nor user: want an error")
	}
	if _, err := s.TakeSessionClients(ctx, "sid-3", "u2"); err == nil {
		t.Error("TakeSessionClients with both sid and user: want an error")
	}

	// Expired records go with housekeeping.
	n, err := s.DeleteExpired(ctx, baseTime(), 100)
	noErr(t, err, "DeleteExpired")
	if n != 1 {
		t.Errorf("DeleteExpired deleted %d rows, want the one expired record", n)
	}
	got, err = s.TakeSessionClients(ctx, "sid-4", "")
	noErr(t, err, "TakeSessionClients(sid-4)")
	if len(got) != 0 {
		t.Errorf("expired record survived DeleteExpired: %v", got)
	}
	// A deleted client's records go with it.
	noErr(t, s.DeleteClient(ctx, "rp-c"), "DeleteClient(rp-c)")
	got, err = s.TakeSessionClients(ctx, "", "u2")
	noErr(t, err, "TakeSessionClients(user u2)")
	if len(got) != 0 {
		t.Errorf("records of a deleted client survived: %v", got)
	}
}
