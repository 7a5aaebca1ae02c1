package storagetest

import (
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// testSessionClients proves the records back-channel logout reads: put
// (and renew), take by session and by user (but a session kept), each
// record taken once, gone with their client, deleted once expired.
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

	got, err := s.TakeSessionClients(ctx, "sid-1", "", "")
	noErr(t, err, "TakeSessionClients(sid-1)")
	check(t, "TakeSessionClients(sid-1)", []storage.SessionClient{
		{SID: "sid-1", ClientID: "rp-a", UserID: "u1", ExpiresAt: exp.Add(time.Hour)},
		{SID: "sid-1", ClientID: "rp-b", UserID: "u1", ExpiresAt: exp},
	}, got)
	got, err = s.TakeSessionClients(ctx, "sid-1", "", "")
	noErr(t, err, "TakeSessionClients(sid-1) again")
	if len(got) != 0 {
		t.Errorf("TakeSessionClients(sid-1) again = %v, want none: each record is taken once", got)
	}
	got, err = s.TakeSessionClients(ctx, "", "u1", "")
	noErr(t, err, "TakeSessionClients(user u1)")
	check(t, "TakeSessionClients(user u1)", []storage.SessionClient{{SID: "sid-2", ClientID: "rp-a", UserID: "u1", ExpiresAt: exp}}, got)
	if _, err := s.TakeSessionClients(ctx, "", "", ""); err == nil {
		t.Error("TakeSessionClients with neither sid nor user: want an error")
	}
	if _, err := s.TakeSessionClients(ctx, "sid-3", "u2", ""); err == nil {
		t.Error("TakeSessionClients with both sid and user: want an error")
	}

	// Expired records go with housekeeping.
	n, err := s.DeleteExpired(ctx, baseTime(), 100)
	noErr(t, err, "DeleteExpired")
	if n != 1 {
		t.Errorf("DeleteExpired deleted %d rows, want the one expired record", n)
	}
	got, err = s.TakeSessionClients(ctx, "sid-4", "", "")
	noErr(t, err, "TakeSessionClients(sid-4)")
	if len(got) != 0 {
		t.Errorf("expired record survived DeleteExpired: %v", got)
	}
	// A deleted client's records go with it.
	noErr(t, s.DeleteClient(ctx, "rp-c"), "DeleteClient(rp-c)")
	got, err = s.TakeSessionClients(ctx, "", "u2", "")
	noErr(t, err, "TakeSessionClients(user u2)")
	if len(got) != 0 {
		t.Errorf("records of a deleted client survived: %v", got)
	}

	// Taking a user's records but a kept session's (its id, which the
	// records do not hold: they name sessions by sid).
	mustCreateUser(t, ctx, s, "u5")
	mustCreateUser(t, ctx, s, "u6")
	for _, bs := range []storage.BrowserSession{{ID: "bs-5a", SID: "sid-5a", UserID: "u5"}, {ID: "bs-5b", SID: "sid-5b", UserID: "u5"},
		{ID: "bs-5c", UserID: "u5"}, {ID: "bs-6", SID: "sid-6", UserID: "u6"}} {
		bs.CreatedAt = baseTime()
		noErr(t, s.CreateBrowserSession(ctx, &bs), "CreateBrowserSession("+bs.ID+")")
	}
	put("sid-5a", "rp-a", "u5", exp)
	put("sid-5a", "rp-b", "u5", exp)
	put("sid-5b", "rp-a", "u5", exp)
	put("sid-6", "rp-a", "u6", exp)
	if _, err := s.TakeSessionClients(ctx, "sid-5a", "", "bs-5a"); err == nil {
		t.Error("TakeSessionClients with a sid and a session to keep: want an error")
	}
	got, err = s.TakeSessionClients(ctx, "", "u5", "bs-5a")
	noErr(t, err, "TakeSessionClients(user u5, keep bs-5a)")
	check(t, "TakeSessionClients(user u5, keep bs-5a)", []storage.SessionClient{{SID: "sid-5b", ClientID: "rp-a", UserID: "u5", ExpiresAt: exp}}, got)
	got, err = s.TakeSessionClients(ctx, "", "u5", "bs-5c")
	noErr(t, err, "TakeSessionClients(user u5, keep a session without a sid)")
	check(t, "TakeSessionClients(user u5, keep a session without a sid)", []storage.SessionClient{
		{SID: "sid-5a", ClientID: "rp-a", UserID: "u5", ExpiresAt: exp},
		{SID: "sid-5a", ClientID: "rp-b", UserID: "u5", ExpiresAt: exp},
	}, got)
	put("sid-5a", "rp-a", "u5", exp)
	got, err = s.TakeSessionClients(ctx, "", "u5", "bs-6")
	noErr(t, err, "TakeSessionClients(user u5, keep another user's session)")
	check(t, "TakeSessionClients(user u5, keep another user's session)", []storage.SessionClient{{SID: "sid-5a", ClientID: "rp-a", UserID: "u5", ExpiresAt: exp}}, got)
	got, err = s.TakeSessionClients(ctx, "", "u6", "")
	noErr(t, err, "TakeSessionClients(user u6, keep none)")
	check(t, "TakeSessionClients(user u6, keep none)", []storage.SessionClient{{SID: "sid-6", ClientID: "rp-a", UserID: "u6", ExpiresAt: exp}}, got)
}

// testPutLiveSessionClient proves the conditional record of a code
// exchange's client (PutLiveSessionClient): written, or renewed, only
// while its browser session exists, is the record's user's, has not
// expired and has not been idle since seenSince; ErrNotFound, and
// nothing written, otherwise.
func testPutLiveSessionClient(t *testing.T, s storage.Store) {
	ctx := t.Context()
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "rp", BackchannelLogoutURI: "https://rp.example/bc"}), "CreateClient(rp)")
	mustCreateUser(t, ctx, s, "u1")
	mustCreateUser(t, ctx, s, "u2")
	now := baseTime()
	seenSince := now.Add(-30 * time.Minute)
	for _, bs := range []storage.BrowserSession{
		{ID: "bs-live", SID: "sid-live", UserID: "u1", LastSeenAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)},
		{ID: "bs-edge", SID: "sid-edge", UserID: "u1", LastSeenAt: seenSince, ExpiresAt: now.Add(time.Second)},
		{ID: "bs-expired", SID: "sid-expired", UserID: "u1", LastSeenAt: now, ExpiresAt: now},
		{ID: "bs-idle", SID: "sid-idle", UserID: "u1", LastSeenAt: seenSince.Add(-time.Second), ExpiresAt: now.Add(time.Hour)},
	} {
		bs.AuthTime, bs.CreatedAt = now.Add(-2*time.Hour), now.Add(-2*time.Hour)
		noErr(t, s.CreateBrowserSession(ctx, &bs), "CreateBrowserSession("+bs.ID+")")
	}
	exp := now.Add(time.Hour)
	for _, tc := range []struct {
		name, sid, user string
		live            bool
	}{
		{"live", "sid-live", "u1", true},
		{"renewed", "sid-live", "u1", true},
		{"seen at seenSince, expiring after now", "sid-edge", "u1", true},
		{"another user's session", "sid-live", "u2", false},
		{"no such session", "sid-gone", "u1", false},
		{"expired at now", "sid-expired", "u1", false},
		{"idle since before seenSince", "sid-idle", "u1", false},
	} {
		err := s.PutLiveSessionClient(ctx, &storage.SessionClient{SID: tc.sid, ClientID: "rp", UserID: tc.user, ExpiresAt: exp}, now, seenSince)
		if tc.live {
			noErr(t, err, "PutLiveSessionClient("+tc.name+")")
		} else {
			errIs(t, err, storage.ErrNotFound, "PutLiveSessionClient("+tc.name+")")
		}
	}
	errIs(t, s.PutLiveSessionClient(ctx, &storage.SessionClient{SID: "sid-live", ClientID: "no-such-client", UserID: "u1", ExpiresAt: exp}, now, seenSince),
		storage.ErrInvalidReference, "PutLiveSessionClient(unknown client)")
	got, err := s.TakeSessionClients(ctx, "", "u1", "")
	noErr(t, err, "TakeSessionClients(user u1)")
	check(t, "TakeSessionClients(user u1) after PutLiveSessionClient", []storage.SessionClient{
		{SID: "sid-edge", ClientID: "rp", UserID: "u1", ExpiresAt: exp},
		{SID: "sid-live", ClientID: "rp", UserID: "u1", ExpiresAt: exp},
	}, got)
	got, err = s.TakeSessionClients(ctx, "", "u2", "")
	noErr(t, err, "TakeSessionClients(user u2)")
	if len(got) != 0 {
		t.Errorf("PutLiveSessionClient recorded a client in another user's session: %v", got)
	}
}
