package storagetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// What the account page reads and changes: a user's sessions (with the
// device they were started from), consents, and the grants of one app.

func testUserBrowserSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, "user-1")
	mustCreateUser(t, ctx, s, "user-2")
	got, err := s.ListUserBrowserSessions(ctx, "user-1")
	noErr(t, err, "ListUserBrowserSessions without sessions")
	if len(got) != 0 {
		t.Fatalf("ListUserBrowserSessions without sessions = %v", got)
	}
	mk := func(id, user, sid string, seen time.Duration, ua, addr string) *storage.BrowserSession {
		bs := &storage.BrowserSession{ID: id, UserID: user, SID: sid, AuthTime: baseTime(), LastSeenAt: baseTime().Add(seen),
			ExpiresAt: baseTime().Add(12 * time.Hour), CreatedAt: baseTime(), UserAgent: ua, Address: addr}
		noErr(t, s.CreateBrowserSession(ctx, bs), "CreateBrowserSession("+id+")")
		return bs
	}
	old := mk("s-old", "user-1", "sid-old", time.Minute, "Mozilla/5.0 (X11; Linux) \"quoted\" ✓", "192.0.2.7")
	recent := mk("s-recent", "user-1", "sid-recent", time.Hour, "", "")
	expired := mk("s-expired", "user-1", "", 0, "curl/8", "2001:db8::1")
	expired.ExpiresAt = baseTime().Add(-time.Hour)
	noErr(t, s.DeleteBrowserSession(ctx, expired.ID), "DeleteBrowserSession")
	noErr(t, s.CreateBrowserSession(ctx, expired), "CreateBrowserSession(expired)")
	mk("s-other", "user-2", "sid-other", 2*time.Hour, "other", "198.51.100.1")

	// Device and address round-trip through every read.
	check(t, "GetBrowserSession with device", old, mustGet(t, func() (*storage.BrowserSession, error) { return s.GetBrowserSession(ctx, old.ID) }))
	check(t, "GetBrowserSessionBySID with device", old, mustGet(t, func() (*storage.BrowserSession, error) { return s.GetBrowserSessionBySID(ctx, "sid-old") }))

	got, err = s.ListUserBrowserSessions(ctx, "user-1")
	noErr(t, err, "ListUserBrowserSessions")
	check(t, "ListUserBrowserSessions (most recently seen first, expired included)", []storage.BrowserSession{*recent, *old, *expired}, got)

	// Inside a transaction, a session created there is listed.
	tx := beginTX(t, ctx, s)
	mk2 := &storage.BrowserSession{ID: "s-tx", UserID: "user-1", LastSeenAt: baseTime().Add(3 * time.Hour), CreatedAt: baseTime()}
	noErr(t, s.CreateBrowserSession(tx, mk2), "CreateBrowserSession in a transaction")
	got, err = s.ListUserBrowserSessions(tx, "user-1")
	noErr(t, err, "ListUserBrowserSessions in a transaction")
	if len(got) != 4 || got[0].ID != "s-tx" {
		t.Errorf("ListUserBrowserSessions in a transaction: %v", got)
	}
	noErr(t, s.Rollback(tx), "Rollback")
	got, err = s.ListUserBrowserSessions(ctx, "nobody")
	noErr(t, err, "ListUserBrowserSessions of an unknown user")
	if len(got) != 0 {
		t.Errorf("ListUserBrowserSessions of an unknown user = %v", got)
	}
}

func mustGet[T any](t *testing.T, get func() (*T, error)) *T {
	t.Helper()
	v, err := get()
	noErr(t, err, "get")
	return v
}

func testUserConsents(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, "user-1")
	mustCreateUser(t, ctx, s, "user-2")
	for _, c := range []string{"client-b", "client-a"} {
		noErr(t, s.CreateClient(ctx, &storage.Client{ID: c}), "CreateClient("+c+")")
	}
	got, err := s.ListUserConsents(ctx, "user-1")
	noErr(t, err, "ListUserConsents without consents")
	if len(got) != 0 {
		t.Fatalf("ListUserConsents without consents = %v", got)
	}
	b := &storage.Consent{UserID: "user-1", ClientID: "client-b", Scopes: []string{"openid", "results:read"}, GrantedAt: baseTime()}
	a := &storage.Consent{UserID: "user-1", ClientID: "client-a", Scopes: []string{}, GrantedAt: baseTime().Add(time.Hour)}
	other := &storage.Consent{UserID: "user-2", ClientID: "client-a", Scopes: []string{"email"}, GrantedAt: baseTime()}
	for _, c := range []*storage.Consent{b, a, other} {
		noErr(t, s.PutConsent(ctx, c), "PutConsent("+c.UserID+", "+c.ClientID+")")
	}
	got, err = s.ListUserConsents(ctx, "user-1")
	noErr(t, err, "ListUserConsents")
	check(t, "ListUserConsents (by client id)", []storage.Consent{*a, *b}, got)

	// DeleteConsent deletes that pair only, once.
	tx := beginTX(t, ctx, s)
	noErr(t, s.DeleteConsent(tx, "user-1", "client-a"), "DeleteConsent in a transaction")
	noErr(t, s.Rollback(tx), "Rollback")
	check(t, "GetConsent after a rolled-back DeleteConsent", a, mustGetConsent(t, ctx, s, "user-1", "client-a"))
	noErr(t, s.DeleteConsent(ctx, "user-1", "client-a"), "DeleteConsent")
	errIs(t, s.DeleteConsent(ctx, "user-1", "client-a"), storage.ErrNotFound, "DeleteConsent twice")
	errIs(t, s.DeleteConsent(ctx, "user-2", "client-b"), storage.ErrNotFound, "DeleteConsent of a pair that never consented")
	_, err = s.GetConsent(ctx, "user-1", "client-a")
	errIs(t, err, storage.ErrNotFound, "GetConsent after DeleteConsent")
	check(t, "the same client's consent of another user", other, mustGetConsent(t, ctx, s, "user-2", "client-a"))
	check(t, "the same user's consent to another client", b, mustGetConsent(t, ctx, s, "user-1", "client-b"))
}

func testRevokeByClientSubject(t *testing.T, s storage.Store) {
	testRevoke(t, s, "RevokeTokensByClientSubject", "app|alice",
		func(ctx context.Context, key string) error {
			client, subject, _ := strings.Cut(key, "|")
			return s.RevokeTokensByClientSubject(ctx, client, subject)
		},
		func(tok *storage.Token) string { return tok.ClientID + "|" + tok.Subject })
}
