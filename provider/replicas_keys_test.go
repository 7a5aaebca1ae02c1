package provider_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/hallpasstest"
	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// keyClock is the key managers' injected clock, shared by the replicas.
type keyClock struct{ ns atomic.Int64 }

func newKeyClock() *keyClock {
	c := &keyClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *keyClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *keyClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *keyClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// replicas starts n providers on one database, sharing the issuer and the
// key clock, as n servers behind one load balancer.
func replicas(t *testing.T, dsn string, n int, clock *keyClock) []*testServer {
	t.Helper()
	var out []*testServer
	for i := range n {
		o := hallpasstest.Options{
			AdminToken: testAdminToken,
			Keys:       func(k *keys.Options) { k.Now = clock.Now },
		}
		if i > 0 {
			issuer := out[0].URL
			o.Config = func(c *provider.Config) { c.Issuer = issuer }
		}
		out = append(out, &testServer{hallpasstest.Start(t, dsn, o)})
	}
	return out
}

// watch runs every replica's change watcher until the test ends.
func watch(t *testing.T, rs []*testServer, every time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { r.Keys.Watch(ctx, every) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// agreeWithin waits up to d for every replica to sign with kid and serve
// the JWKS want (in order), and fails otherwise.
func agreeWithin(t *testing.T, step string, rs []*testServer, d time.Duration, kid string, want []string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		agreed := true
		for _, r := range rs {
			if r.Keys.ActiveKeyID() != kid || !slices.Equal(r.jwksKids(t), want) {
				agreed = false
			}
		}
		if agreed {
			return
		}
		if time.Now().After(deadline) {
			for i, r := range rs {
				t.Errorf("%s: replica %d signs with %q, serves %v; want %q, %v", step, i, r.Keys.ActiveKeyID(), r.jwksKids(t), kid, want)
			}
			t.FailNow()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicasAgreeOnKeys runs three providers on one database and checks,
// right after each rotation and revocation made through one of them, every
// replica's JWKS, signing kid and introspection answers: they agree within
// a second (the change watcher), and a token of the promoted key is active
// on every replica at once (its kid was published before).
func TestReplicasAgreeOnKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		clock := newKeyClock()
		rs := replicas(t, dsn, 3, clock)
		watch(t, rs, 200*time.Millisecond)
		a, b, c := rs[0], rs[1], rs[2]
		svc := a.registerService(t, "client_secret_basic", "results:read")
		cred := oauthtest.Basic(svc.ClientID, svc.ClientSecret)
		tokenFrom := func(r *testServer) string {
			return r.token(t, svc.ClientID, svc.ClientSecret, "results:read").AccessToken
		}
		activeEverywhere := func(step, tok string, want bool) {
			t.Helper()
			for i, r := range rs {
				if got := r.Active(t, cred, tok); got != want {
					t.Errorf("%s: replica %d introspects the token as active=%v, want %v", step, i, got, want)
				}
			}
		}

		k1 := a.Keys.ActiveKeyID()
		n1 := keyInState(t, a, storage.KeyNext)
		agreeWithin(t, "start", rs, time.Second, k1, []string{k1, n1})
		old := tokenFrom(b)

		// An immediate rotation on a: a signs with the published next key;
		// its tokens are active on every replica at once.
		a.rotate(t, map[string]any{"immediate": true})
		fresh := tokenFrom(a)
		if tokenKID(t, fresh) != n1 {
			t.Fatalf("a signs with %q after the rotation, want the next key %s", tokenKID(t, fresh), n1)
		}
		activeEverywhere("right after the rotation", fresh, true)
		n2 := keyInState(t, a, storage.KeyNext)
		agreeWithin(t, "after the rotation", rs, time.Second, n1, a.jwksKids(t))
		if got := a.jwksKids(t); len(got) != 3 || got[0] != n1 || !slices.Contains(got, k1) || !slices.Contains(got, n2) {
			t.Errorf("JWKS after the rotation = %v, want %s first, %s retired, %s next", got, n1, k1, n2)
		}
		for i, r := range rs {
			if kid := tokenKID(t, tokenFrom(r)); kid != n1 {
				t.Errorf("replica %d signs with %q after the rotation, want %s", i, kid, n1)
			}
		}
		activeEverywhere("after the rotation, a token of the retired key", old, true)

		// Revoking the active key on b: the next key takes over everywhere,
		// the revoked key's tokens are inactive everywhere.
		if res := b.admin(t, "POST", "/admin/keys/"+n1+"/revoke", nil); res.Status != 200 {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
		n3 := keyInState(t, b, storage.KeyNext)
		agreeWithin(t, "after revoking the active key", rs, time.Second, n2, b.jwksKids(t))
		if got := b.jwksKids(t); slices.Contains(got, n1) || got[0] != n2 || !slices.Contains(got, n3) {
			t.Errorf("JWKS after revoking %s = %v", n1, got)
		}
		activeEverywhere("after revoking its key", fresh, false)
		activeEverywhere("a token of the promoted key", tokenFrom(c), true)

		// Revoking the retired key on c.
		if res := c.admin(t, "POST", "/admin/keys/"+k1+"/revoke", nil); res.Status != 200 {
			t.Fatalf("revoke retired: %d %s", res.Status, res.Body)
		}
		agreeWithin(t, "after revoking the retired key", rs, time.Second, n2, []string{n2, n3})
		activeEverywhere("after revoking the retired key", old, false)

		// The scheduled promotion happens at the stored activation time on
		// every replica at once, before any of them records it.
		row := keyInfo(t, a, n3)
		clock.set(row.ActivatesAt)
		for i, r := range rs {
			if kid := tokenKID(t, tokenFrom(r)); kid != n3 {
				t.Errorf("replica %d signs with %q at the next key's activation time, want %s", i, kid, n3)
			}
		}
		clock.add(-time.Second)
		for i, r := range rs {
			if kid := r.Keys.ActiveKeyID(); kid != n2 {
				t.Errorf("replica %d signs with %q a second before the activation time, want %s", i, kid, n2)
			}
		}
	})
}

// TestReplicaReloadsOnUnknownKid: with no watcher running, a replica that
// meets a token signed by a key it has not loaded reloads the keys before
// answering the introspection.
func TestReplicaReloadsOnUnknownKid(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		clock := newKeyClock()
		rs := replicas(t, dsn, 2, clock)
		a, b := rs[0], rs[1]
		svc := a.registerService(t, "client_secret_basic", "results:read")
		// No next key (removed behind hallpass's back): the immediate
		// rotation signs with a key b has never seen.
		if err := a.Store.DeleteKey(t.Context(), keyInState(t, a, storage.KeyNext)); err != nil {
			t.Fatal(err)
		}
		rot := a.rotate(t, map[string]any{"immediate": true})
		if !rot.Unpublished {
			t.Fatalf("rotate = %+v, want unpublished_key", rot)
		}
		tok := a.token(t, svc.ClientID, svc.ClientSecret, "results:read").AccessToken
		if slices.Contains(b.jwksKids(t), rot.ID) {
			t.Fatal("b publishes the new key before any reload")
		}
		if !b.Active(t, oauthtest.Basic(svc.ClientID, svc.ClientSecret), tok) {
			t.Error("b answers inactive for a token of a key another replica just created")
		}
		if !slices.Contains(b.jwksKids(t), rot.ID) || b.Keys.ActiveKeyID() != rot.ID {
			t.Errorf("after the reload b serves %v and signs with %q, want %s", b.jwksKids(t), b.Keys.ActiveKeyID(), rot.ID)
		}
	})
}

// keyInfo returns the listed metadata of kid.
func keyInfo(t *testing.T, ts *testServer, kid string) keys.KeyInfo {
	t.Helper()
	for _, k := range ts.listKeys(t) {
		if k.ID == kid {
			return k
		}
	}
	t.Fatalf("key %s not listed", kid)
	return keys.KeyInfo{}
}
