package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// RunOrdering runs the cases whose answers depend on how the database
// orders text and NULL, for a backend whose order can differ from the
// byte order the Store promises: PostgreSQL on a database whose default
// collation is a language's (en-US sorts "b" before "B"). Run runs them
// too.
func RunOrdering(t *testing.T, newStore func(t *testing.T) storage.Store) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s storage.Store)
	}{
		{"ClientCRUD", testClientCRUD},
		{"UserCRUD", testUserCRUD},
		{"UsernameFold", testUsernameFold},
		{"UserConsents", testUserConsents},
		{"UnknownTimesOrder", testUnknownTimesOrder},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

// testUnknownTimesOrder: a list ordered by a time puts the rows whose
// time is unknown (the zero time, stored as NULL) in the same place on
// every backend, where PostgreSQL and SQLite sort NULL at opposite ends
// by default: first among passkeys oldest first (unknown is taken as
// oldest), last among sessions most recently seen first (unknown as
// least recently seen); ties in the time go by id in byte order, and
// TOTP authenticators by user id in byte order, whatever the database's
// collation.
func testUnknownTimesOrder(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, "user")
	for _, id := range []string{"b-user", "B-user", "a-user"} {
		mustCreateUser(t, ctx, s, id)
		noErr(t, s.PutTOTP(ctx, &storage.TOTP{UserID: id, Secret: []byte{1}, CreatedAt: baseTime()}), "PutTOTP("+id+")")
	}
	totps, err := s.ListTOTP(ctx)
	noErr(t, err, "ListTOTP")
	var users []string
	for _, tt := range totps {
		users = append(users, tt.UserID)
	}
	if want := []string{"B-user", "a-user", "b-user"}; !slices.Equal(users, want) {
		t.Errorf("ListTOTP (by user id, byte order): got %q, want %q", users, want)
	}

	for _, pk := range []*storage.Passkey{
		{ID: "p-new", CreatedAt: baseTime().Add(time.Hour)},
		{ID: "p-unknown-b"},
		{ID: "p-old", CreatedAt: baseTime()},
		{ID: "p-unknown-a"},
		{ID: "P-old", CreatedAt: baseTime()},
	} {
		pk.UserID, pk.PublicKey, pk.Name = "user", []byte{1}, "key"
		noErr(t, s.CreatePasskey(ctx, pk), "CreatePasskey("+pk.ID+")")
	}
	pks, err := s.ListPasskeys(ctx, "user")
	noErr(t, err, "ListPasskeys")
	var ids []string
	for _, pk := range pks {
		ids = append(ids, pk.ID)
	}
	if want := []string{"p-unknown-a", "p-unknown-b", "P-old", "p-old", "p-new"}; !slices.Equal(ids, want) {
		t.Errorf("ListPasskeys (oldest first, unknown oldest): got %q, want %q", ids, want)
	}

	for _, bs := range []*storage.BrowserSession{
		{ID: "s-unknown-b"},
		{ID: "s-old", LastSeenAt: baseTime()},
		{ID: "s-unknown-a"},
		{ID: "s-new", LastSeenAt: baseTime().Add(time.Hour)},
		{ID: "S-old", LastSeenAt: baseTime()},
	} {
		bs.UserID, bs.ExpiresAt = "user", baseTime().Add(24*time.Hour)
		noErr(t, s.CreateBrowserSession(ctx, bs), "CreateBrowserSession("+bs.ID+")")
	}
	sessions, err := s.ListUserBrowserSessions(ctx, "user")
	noErr(t, err, "ListUserBrowserSessions")
	ids = nil
	for _, bs := range sessions {
		ids = append(ids, bs.ID)
	}
	if want := []string{"s-new", "S-old", "s-old", "s-unknown-a", "s-unknown-b"}; !slices.Equal(ids, want) {
		t.Errorf("ListUserBrowserSessions (most recently seen first, unknown last): got %q, want %q", ids, want)
	}
}
