package provider_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// signedInCounter counts the reads of what the authorization endpoint
// needs to know about a signed-in browser.
type signedInCounter struct {
	storage.Store
	mu    sync.Mutex
	reads map[string]int
}

func (s *signedInCounter) count(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[name]++
}

func (s *signedInCounter) take() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reads
	s.reads = map[string]int{}
	return r
}

func (s *signedInCounter) GetSignedIn(ctx context.Context, id, clientID string) (*storage.SignedIn, error) {
	s.count("GetSignedIn")
	return s.Store.GetSignedIn(ctx, id, clientID)
}

func (s *signedInCounter) GetBrowserSession(ctx context.Context, id string) (*storage.BrowserSession, error) {
	s.count("GetBrowserSession")
	return s.Store.GetBrowserSession(ctx, id)
}

func (s *signedInCounter) GetUser(ctx context.Context, id string) (*storage.User, error) {
	s.count("GetUser")
	return s.Store.GetUser(ctx, id)
}

func (s *signedInCounter) GetTOTP(ctx context.Context, userID string) (*storage.TOTP, error) {
	s.count("GetTOTP")
	return s.Store.GetTOTP(ctx, userID)
}

func (s *signedInCounter) ListPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error) {
	s.count("ListPasskeys")
	return s.Store.ListPasskeys(ctx, userID)
}

func (s *signedInCounter) GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	s.count("GetConsent")
	return s.Store.GetConsent(ctx, userID, clientID)
}

// TestSignedInAuthorizeReadsOnce checks that an authorization request
// from a signed-in browser with remembered consent reads the session, its
// user, the user's second factors and consent in one statement
// (GetSignedIn), not one by one, and still issues the code without a page.
func TestSignedInAuthorizeReadsOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		sc := &signedInCounter{reads: map[string]int{}}
		e := newSSOEnv(t, dsn, func(c *provider.Config) {
			sc.Store = c.Store
			c.Store = sc
		})
		c := e.Confidential
		b := e.newBrowser(t)
		if _, tr := b.signIn(t, c.request("openid results:read"), "alice", alicePassword); !tr.Login || !tr.Consent {
			t.Fatalf("first sign-in: login %v consent %v", tr.Login, tr.Consent)
		}
		sc.take()
		ar := c.request("openid results:read")
		cb, tr := b.signIn(t, ar, "alice", alicePassword)
		if tr.Login || tr.Consent {
			t.Fatalf("signed-in request: login %v consent %v; want neither", tr.Login, tr.Consent)
		}
		got := sc.take()
		t.Logf("reads: %v", got)
		if got["GetSignedIn"] != 1 || len(got) != 1 {
			t.Errorf("signed-in authorization request read %v; want GetSignedIn once and nothing else", got)
		}
		e.exchange(t, ar, cb)
	})
}

// TestSignedInSessionAskedForNewFactor checks what the one read at the
// authorization endpoint says about second factors: a browser signed in
// with a password alone, whose user gets an authenticator app or a
// passkey afterwards, is asked for it at its next authorization request
// instead of given a code; another user's factor changes nothing.
func TestSignedInSessionAskedForNewFactor(t *testing.T) {
	for _, factor := range []string{"totp", "passkey"} {
		t.Run(factor, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, dsn string) {
				e := newSSOEnv(t, dsn)
				c := e.Confidential
				b := e.newBrowser(t)
				b.signIn(t, c.request("openid results:read"), "alice", alicePassword)
				// bob's factor is not alice's.
				if err := e.Store.PutTOTP(e.ctx(), &storage.TOTP{UserID: e.BobID, Secret: []byte("bob's secret")}); err != nil {
					t.Fatal(err)
				}
				if _, tr := b.signIn(t, c.request("openid results:read"), "alice", alicePassword); tr.Login || tr.Consent {
					t.Fatalf("before alice has a factor: login %v consent %v; want a code at once", tr.Login, tr.Consent)
				}
				var err error
				switch factor {
				case "totp":
					err = e.Store.PutTOTP(e.ctx(), &storage.TOTP{UserID: e.AliceID, Secret: []byte("alice's secret")})
				case "passkey":
					err = e.Store.CreatePasskey(e.ctx(), &storage.Passkey{ID: "alice-key", UserID: e.AliceID, PublicKey: []byte{1}, Name: "key", CreatedAt: time.Now()})
				}
				if err != nil {
					t.Fatal(err)
				}
				p := b.get(t, c.request("openid results:read").URL)
				if p.Redirect != nil {
					t.Fatalf("a password-only session of a user with a %s got %s, not the second-factor step", factor, p.Redirect)
				}
				wantPath(t, p, provider.PathSecondFactor)
			})
		})
	}
}
