package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
)

// TestLockingReadsLetReferencesIn checks that a locking read
// (storage.LockingReads) of a client or a user, held by a transaction
// that checks an If-Match, does not hold up the rows that merely refer
// to it: a sign-in's browser session, a consent, a token's session
// record are written meanwhile, as they were while a plain UPDATE of the
// record was under way. A SELECT ... FOR UPDATE would make their foreign
// key checks (FOR KEY SHARE) wait for the admin's transaction to end.
func TestLockingReadsLetReferencesIn(t *testing.T) {
	s := newStore(t).(*postgres.Store)
	ctx := t.Context()
	if err := s.CreateClient(ctx, &storage.Client{ID: "rp", Name: "v0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice", Name: "v0"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, c := range []struct {
		read   string
		lock   func(ctx context.Context) error
		writes map[string]func(ctx context.Context) error
	}{
		{"GetClient", func(ctx context.Context) error { _, err := s.GetClient(ctx, "rp"); return err }, map[string]func(ctx context.Context) error{
			"PutConsent": func(ctx context.Context) error {
				return s.PutConsent(ctx, &storage.Consent{UserID: "u1", ClientID: "rp", Scopes: []string{"openid"}, GrantedAt: now})
			},
			"PutSessionClient": func(ctx context.Context) error {
				return s.PutSessionClient(ctx, &storage.SessionClient{SID: "sid-1", ClientID: "rp", UserID: "u1", ExpiresAt: now.Add(time.Hour)})
			},
		}},
		{"GetUser", func(ctx context.Context) error { _, err := s.GetUser(ctx, "u1"); return err }, map[string]func(ctx context.Context) error{
			"CreateBrowserSession": func(ctx context.Context) error {
				return s.CreateBrowserSession(ctx, &storage.BrowserSession{ID: "bs-1", UserID: "u1", SID: "sid-bs-1", AuthTime: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
			},
		}},
	} {
		for name, write := range c.writes {
			t.Run(c.read+"/"+name, func(t *testing.T) {
				tx, err := s.BeginTX(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Rollback(tx)
				if err := c.lock(storage.LockingReads(tx)); err != nil {
					t.Fatalf("%s under LockingReads: %v", c.read, err)
				}
				wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				if err := write(wctx); err != nil {
					t.Fatalf("%s while a transaction holds a locking %s of the record it refers to: %v (want it written at once)", name, c.read, err)
				}
			})
		}
	}
}
