package keys

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/storage"
)

// scheduleOptions is a one-day schedule: lead 5m + 1m + 1m = 7m, retention
// 1h + 2m + 1m = 63m.
func scheduleOptions(clock *fakeClock, gen func(int) (*rsa.PrivateKey, error)) Options {
	return Options{
		RotationPeriod:   24 * time.Hour,
		MaxTokenLifetime: time.Hour,
		RefreshInterval:  time.Minute,
		JWKSMaxAge:       5 * time.Minute,
		Now:              clock.Now,
		GenerateKey:      gen,
	}
}

func tick(t *testing.T, ms ...*Manager) {
	t.Helper()
	for _, m := range ms {
		if err := m.Tick(t.Context()); err != nil {
			t.Fatalf("Tick: %v", err)
		}
	}
}

// jwksKids returns the kids of m's JWKS in the order served.
func jwksKids(t *testing.T, m *Manager) []string {
	t.Helper()
	body, _ := m.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	return kids(set)
}

// expectKeys checks what m signs with and what it publishes, in order.
func expectKeys(t *testing.T, step string, m *Manager, active string, published ...string) {
	t.Helper()
	if got := m.ActiveKeyID(); got != active {
		t.Errorf("%s: signs with %q, want %q", step, got, active)
	}
	if got := jwksKids(t, m); !slices.Equal(got, published) {
		t.Errorf("%s: JWKS = %v, want %v", step, got, published)
	}
	tok, err := m.Sign([]byte(`{}`), "")
	if err != nil {
		t.Fatalf("%s: Sign: %v", step, err)
	}
	if kid := tokenKID(t, tok); kid != active {
		t.Errorf("%s: token signed with %q, want %q", step, kid, active)
	}
}

func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	kid, _ := protectedHeader(t, tok)["kid"].(string)
	return kid
}

// storedKey returns the stored row of kid; ok is false if there is none.
func storedKey(t *testing.T, store Store, kid string) (storage.Key, bool) {
	t.Helper()
	rows, err := store.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == kid {
			return r, true
		}
	}
	return storage.Key{}, false
}

// keyIn returns the kid of the only stored key in state, failing otherwise.
func keyIn(t *testing.T, store Store, state storage.KeyState) string {
	t.Helper()
	rows, err := store.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		if r.State == state {
			out = append(out, r.ID)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d %s keys stored (%v), want 1", len(out), state, out)
	}
	return out[0]
}

func expectTimes(t *testing.T, store Store, kid string, state storage.KeyState, activates, retires, removes time.Time) {
	t.Helper()
	k, ok := storedKey(t, store, kid)
	if !ok {
		t.Fatalf("key %q not stored", kid)
	}
	if k.State != state || !k.ActivatesAt.Equal(activates) || !k.RetiresAt.Equal(retires) || !k.RemovesAt.Equal(removes) {
		t.Errorf("key %q = %s activates %v retires %v removes %v\nwant %s activates %v retires %v removes %v",
			kid, k.State, k.ActivatesAt, k.RetiresAt, k.RemovesAt, state, activates, retires, removes)
	}
}

// TestRotationSchedule walks two replicas through two scheduled rotations
// on a fake clock, checking at each step which key signs and what each
// replica publishes.
func TestRotationSchedule(t *testing.T) {
	clock := newFakeClock(testNow)
	store := newFakeStore()
	supply := newKeySupply(t, 4)
	opts := scheduleOptions(clock, supply.generate)
	a := newTestManager(t, store, 1, opts)
	b := newTestManager(t, store, 1, opts)
	sched := a.Schedule()
	lead, retention, day := sched.PublishLead, sched.Retention, sched.RotationPeriod
	if lead != 7*time.Minute || retention != 63*time.Minute {
		t.Fatalf("lead %v, retention %v; want 7m and 63m", lead, retention)
	}
	if lead < sched.JWKSMaxAge+sched.RefreshInterval {
		t.Fatalf("lead %v is shorter than JWKS max-age + refresh interval", lead)
	}
	t0 := testNow
	at := func(d time.Duration) { clock.set(t0.Add(d)) }
	commits := func() int { store.mu.Lock(); defer store.mu.Unlock(); return store.commits }

	// First start publishes the active key and the next key together; the
	// next key takes over one rotation period later.
	at(0)
	tick(t, a, b)
	k1 := a.ActiveKeyID()
	k2 := keyIn(t, store, storage.KeyNext)
	expectKeys(t, "start, a", a, k1, k1, k2)
	expectKeys(t, "start, b", b, k1, k1, k2)
	expectTimes(t, store, k1, storage.KeyActive, t0, t0.Add(day), t0.Add(day+retention))
	expectTimes(t, store, k2, storage.KeyNext, t0.Add(day), t0.Add(2*day), t0.Add(2*day+retention))
	if c := commits(); c != 1 {
		t.Errorf("%d key transactions for the first start, want 1", c)
	}
	publishedEverywhere := clock.Now()

	at(day - lead - time.Second)
	tick(t, a, b)
	expectKeys(t, "one lead before retirement", a, k1, k1, k2)
	at(day - time.Second)
	tick(t, a, b)
	expectKeys(t, "a second before rotation", b, k1, k1, k2)
	if c := commits(); c != 1 {
		t.Errorf("%d key transactions before anything was due", c)
	}
	old, err := b.Sign([]byte(`{}`), "")
	if err != nil || tokenKID(t, old) != k1 {
		t.Fatalf("last token of the old key: %v", err)
	}
	oldExpires := clock.Now().Add(opts.MaxTokenLifetime)

	// At retirement the next key takes over; it has been in every
	// replica's JWKS for longer than a client may cache the JWKS. The
	// following next key is published in the same step.
	at(day)
	if published := clock.Now().Sub(publishedEverywhere); published < sched.JWKSMaxAge {
		t.Fatalf("next key published %v before it signs, less than the JWKS max-age", published)
	}
	tick(t, a)
	k3 := keyIn(t, store, storage.KeyNext)
	expectKeys(t, "rotated, a", a, k2, k2, k1, k3)
	// b has not reloaded, yet it switches at the same instant: the
	// promotion is decided by K2's stored activation time.
	expectKeys(t, "rotated, b before its tick (signs with K2 at its activation time)", b, k2, k1, k2)
	expectTimes(t, store, k1, storage.KeyRetired, t0, t0.Add(day), t0.Add(day+retention))
	expectTimes(t, store, k2, storage.KeyActive, t0.Add(day), t0.Add(2*day), t0.Add(2*day+retention))
	expectTimes(t, store, k3, storage.KeyNext, t0.Add(2*day), t0.Add(3*day), t0.Add(3*day+retention))
	tick(t, b)
	expectKeys(t, "rotated, b", b, k2, k2, k1, k3)
	if c := commits(); c != 2 {
		t.Errorf("%d key transactions after one rotation, want 2", c)
	}

	// The old key's tokens verify everywhere until they expire.
	clock.set(oldExpires.Add(-time.Second))
	tick(t, a, b)
	for _, m := range []*Manager{a, b} {
		if _, err := verifyWithJWKS(m, old); err != nil {
			t.Errorf("token of the retired key, a second before it expires: %v", err)
		}
	}

	at(day + retention - time.Second)
	tick(t, a, b)
	expectKeys(t, "just before removal", a, k2, k2, k1, k3)

	at(day + retention)
	tick(t, a)
	expectKeys(t, "old key removed, a", a, k2, k2, k3)
	if _, ok := storedKey(t, store, k1); ok {
		t.Error("retired key still stored after its removal time")
	}
	tick(t, b)
	expectKeys(t, "old key removed, b", b, k2, k2, k3)

	// The second rotation, b first this time.
	at(2 * day)
	tick(t, b, a)
	k4 := keyIn(t, store, storage.KeyNext)
	expectKeys(t, "second rotation", a, k3, k3, k2, k4)
	expectKeys(t, "second rotation, b", b, k3, k3, k2, k4)
	at(2*day + retention)
	tick(t, b, a)
	expectKeys(t, "second removal", a, k3, k3, k4)
	if rows, _ := store.ListKeys(t.Context()); len(rows) != 2 {
		t.Errorf("%d keys stored after two rotations and removals, want 2 (active and next)", len(rows))
	}
	if c := commits(); c != 5 {
		t.Errorf("%d key transactions for first start and two rotations (promote, remove each), want 5", c)
	}
}

// simToken is a token the simulation signed.
type simToken struct {
	tok      string
	kid      string
	signedAt time.Time
	expires  time.Time
	by       int
}

// published is one replica's JWKS from a time on.
type published struct {
	at   time.Time
	kids map[string]bool
}

// TestRotationSimulation runs two replicas through several rotation
// periods, each ticking once a minute half a minute apart, both signing
// at every step, and checks the schedule's promises: no token is signed
// with a key that any replica had not published for at least the JWKS
// max-age, every token verifies on every replica until it expires, and
// retired keys are removed on time.
func TestRotationSimulation(t *testing.T) {
	clock := newFakeClock(testNow)
	store := newFakeStore()
	supply := newKeySupply(t, 12)
	opts := Options{
		RotationPeriod:   20 * time.Minute,
		MaxTokenLifetime: 10 * time.Minute,
		RefreshInterval:  time.Minute,
		JWKSMaxAge:       5 * time.Minute,
		Now:              clock.Now,
		GenerateKey:      supply.generate,
		Logger:           discardLogger(),
	}
	replicas := []*Manager{newTestManager(t, store, 1, opts), newTestManager(t, store, 1, opts)}
	sched := replicas[0].Schedule()
	history := make([][]published, len(replicas))
	var (
		tokens      []simToken // unexpired
		activations []time.Time
		seen        = map[string]bool{}
		firstKey    string
	)

	// publishedThroughout reports whether replica r published kid at every
	// moment of [from, to].
	publishedThroughout := func(r int, kid string, from, to time.Time) bool {
		h := history[r]
		if len(h) == 0 || h[0].at.After(from) {
			return false
		}
		for i, p := range h {
			end := to.Add(time.Nanosecond)
			if i+1 < len(h) {
				end = h[i+1].at
			}
			if end.After(from) && !p.at.After(to) && !p.kids[kid] {
				return false
			}
		}
		return true
	}

	const steps = 100 * 2 // 100 minutes in half minutes: five rotation periods
	for step := range steps {
		r := step % 2
		if err := replicas[r].Tick(t.Context()); err != nil {
			t.Fatalf("step %d: Tick: %v", step, err)
		}
		now := clock.Now()
		kidsNow := map[string]bool{}
		for _, k := range jwksKids(t, replicas[r]) {
			kidsNow[k] = true
		}
		history[r] = append(history[r], published{at: now, kids: kidsNow})
		if firstKey == "" {
			firstKey = replicas[r].ActiveKeyID()
		}

		for i, m := range replicas {
			if len(history[i]) == 0 {
				continue
			}
			exp := now.Add(opts.MaxTokenLifetime)
			tok, err := m.Sign(fmt.Appendf(nil, `{"exp":%d}`, exp.Unix()), "")
			if err != nil {
				t.Fatalf("step %d: replica %d: Sign: %v", step, i, err)
			}
			st := simToken{tok: tok, kid: tokenKID(t, tok), signedAt: now, expires: exp, by: i}
			if !seen[st.kid] {
				seen[st.kid] = true
				activations = append(activations, now)
			}
			// The signature is checked once, against both replicas' keys;
			// what can change later is only whether the kid is published.
			for other, o := range replicas {
				if len(history[other]) == 0 {
					continue
				}
				if _, err := verifyWithJWKS(o, tok); err != nil {
					t.Fatalf("step %d: token of replica %d fails on replica %d: %v", step, i, other, err)
				}
			}
			tokens = append(tokens, st)
			if st.kid == firstKey {
				continue // the very first key had nobody to be published to
			}
			for other := range replicas {
				if !publishedThroughout(other, st.kid, now.Add(-sched.JWKSMaxAge), now) {
					t.Fatalf("step %d: replica %d signed with %q, which replica %d had not published since %v",
						step, i, st.kid, other, now.Add(-sched.JWKSMaxAge))
				}
			}
		}

		// Every unexpired token's key is still published everywhere.
		tokens = slices.DeleteFunc(tokens, func(tk simToken) bool { return !now.Before(tk.expires) })
		for _, tk := range tokens {
			for i, h := range history {
				if len(h) > 0 && !h[len(h)-1].kids[tk.kid] {
					t.Fatalf("step %d: token signed at %v by replica %d with %q, unexpired, has no key on replica %d",
						step, tk.signedAt, tk.by, tk.kid, i)
				}
			}
		}

		rows, _ := store.ListKeys(t.Context())
		for _, k := range rows {
			if k.State != storage.KeyRetired {
				continue
			}
			if want := k.RetiresAt.Add(sched.Retention); !k.RemovesAt.Equal(want) {
				t.Fatalf("step %d: retired key %q removes at %v, want %v", step, k.ID, k.RemovesAt, want)
			}
			if now.Sub(k.RemovesAt) > sched.RefreshInterval {
				t.Fatalf("step %d: retired key %q still stored %v after its removal time", step, k.ID, now.Sub(k.RemovesAt))
			}
		}
		clock.add(30 * time.Second)
	}

	// Every key signed for one rotation period, give or take a refresh.
	if len(activations) != 5 {
		t.Errorf("%d keys signed in five rotation periods, want 5", len(activations))
	}
	for i := 1; i < len(activations); i++ {
		if d := activations[i].Sub(activations[i-1]); d < sched.RotationPeriod || d > sched.RotationPeriod+sched.RefreshInterval {
			t.Errorf("key %d signed %v after key %d, want one rotation period", i, d, i-1)
		}
	}
}

// TestTickRace makes two replicas decide to promote the next key (and so
// publish the following one) at the same moment, each generating a key
// before either takes the lock (the generator waits for both), and checks
// that exactly one active and one next key result.
func TestTickRace(t *testing.T) {
	clock := newFakeClock(testNow)
	store := newFakeStore()
	supply := newKeySupply(t, 4)
	opts := scheduleOptions(clock, supply.generate)
	first := newTestManager(t, store, 1, opts)
	tick(t, first)

	var arrived sync.WaitGroup
	arrived.Add(2)
	both := make(chan struct{})
	go func() { arrived.Wait(); close(both) }()
	barrier := func(bits int) (*rsa.PrivateKey, error) {
		arrived.Done()
		select {
		case <-both:
		case <-time.After(10 * time.Second):
			return nil, errors.New("the other replica never generated a key outside the lock")
		}
		return supply.generate(bits)
	}
	opts.GenerateKey = barrier
	replicas := []*Manager{newTestManager(t, store, 1, opts), newTestManager(t, store, 1, opts)}
	tick(t, replicas...)
	clock.set(testNow.Add(opts.RotationPeriod))

	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, m := range replicas {
		wg.Go(func() { errs[i] = m.Tick(t.Context()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	rows, _ := store.ListKeys(t.Context())
	if len(rows) != 3 {
		t.Fatalf("%d keys stored, want the retired, the active and one next key", len(rows))
	}
	keyIn(t, store, storage.KeyActive)
	next := keyIn(t, store, storage.KeyNext)
	for i, m := range replicas {
		if got := jwksKids(t, m); !slices.Contains(got, next) {
			t.Errorf("replica %d publishes %v, without the next key %q", i, got, next)
		}
	}
	if store.lockKeys < 2 {
		t.Errorf("LockKeys called %d times, want both replicas to take the lock", store.lockKeys)
	}
}

func TestRotateNow(t *testing.T) {
	// setup leaves k1 active and n1, published an hour ago, next.
	setup := func(t *testing.T) (m *Manager, store *fakeStore, clock *fakeClock, k1, n1 string) {
		clock = newFakeClock(testNow)
		store = newFakeStore()
		m = newTestManager(t, store, 1, scheduleOptions(clock, newKeySupply(t, 4).generate))
		tick(t, m)
		k1 = m.ActiveKeyID()
		n1 = keyIn(t, store, storage.KeyNext)
		clock.add(time.Hour)
		tick(t, m)
		return m, store, clock, k1, n1
	}
	signsWith := func(t *testing.T, step string, m *Manager, active string, published ...string) {
		t.Helper()
		if got := m.ActiveKeyID(); got != active {
			t.Errorf("%s: signs with %q, want %q", step, got, active)
		}
		got := jwksKids(t, m)
		for _, k := range published {
			if !slices.Contains(got, k) {
				t.Errorf("%s: JWKS %v lacks %q", step, got, k)
			}
		}
	}

	t.Run("plans a freshly published next key one lead ahead", func(t *testing.T) {
		m, store, clock, k1, n1 := setup(t)
		if _, err := m.RotateNow(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		n2 := keyIn(t, store, storage.KeyNext)
		lead := m.Schedule().PublishLead
		info, err := m.RotateNow(t.Context(), false)
		if err != nil {
			t.Fatal(err)
		}
		now := clock.Now()
		if info.ID != n2 || info.State != storage.KeyNext || !info.ActivatesAt.Equal(now.Add(lead)) {
			t.Fatalf("RotateNow = %+v, want the next key %q activating at %v", info, n2, now.Add(lead))
		}
		signsWith(t, "after RotateNow", m, n1, n1, k1, n2)
		if k, _ := storedKey(t, store, n1); !k.RetiresAt.Equal(now) {
			t.Errorf("active key retires at %v, want now (%v)", k.RetiresAt, now)
		}
		// The listing shows when the active key really hands over, never
		// a retirement in the past while it still signs.
		infos, err := m.Keys(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range infos {
			if k.State == storage.KeyActive && (!k.RetiresAt.Equal(info.ActivatesAt) || k.RetiresAt.Before(now) || !k.DeletedAt.Equal(k.RemovesAt)) {
				t.Errorf("listed active key %+v, want it to retire when %s activates (%v)", k, n2, info.ActivatesAt)
			}
			if k.State == storage.KeyNext && (!k.NotBefore.Equal(info.ActivatesAt) || k.NotBefore.IsZero()) {
				t.Errorf("listed next key %+v, want not_before %v", k, info.ActivatesAt)
			}
		}
		clock.add(time.Minute)
		tick(t, m)
		for _, k := range mustKeys(t, m) {
			if k.State == storage.KeyActive && k.RetiresAt.Before(clock.Now()) {
				t.Errorf("a minute later, the active key is listed retiring in the past: %+v", k)
			}
		}

		again, err := m.RotateNow(t.Context(), false)
		if err != nil || again.ID != info.ID {
			t.Fatalf("second RotateNow = %+v, %v; want the same next key", again, err)
		}
		if rows, _ := store.ListKeys(t.Context()); len(rows) != 3 {
			t.Errorf("%d keys after two RotateNow calls, want 3", len(rows))
		}

		clock.set(info.ActivatesAt.Add(-time.Second))
		tick(t, m)
		signsWith(t, "a second before the lead has passed", m, n1, n1, n2)
		clock.set(info.ActivatesAt)
		tick(t, m)
		signsWith(t, "lead passed", m, n2, n2, n1, keyIn(t, store, storage.KeyNext))
	})

	t.Run("promotes a published next key at once", func(t *testing.T) {
		m, store, clock, k1, n1 := setup(t)
		info, err := m.RotateNow(t.Context(), false)
		if err != nil {
			t.Fatal(err)
		}
		if info.ID != n1 || info.State != storage.KeyActive || !info.ActivatesAt.Equal(clock.Now()) || info.Unpublished {
			t.Fatalf("RotateNow = %+v, want %q active now", info, n1)
		}
		n2 := keyIn(t, store, storage.KeyNext)
		expectKeys(t, "promoted", m, n1, n1, k1, n2)
	})

	t.Run("immediate promotes the published next key", func(t *testing.T) {
		m, store, clock, k1, n1 := setup(t)
		jwksBefore := jwksKids(t, m)
		info, err := m.RotateNow(t.Context(), true)
		if err != nil {
			t.Fatal(err)
		}
		now := clock.Now()
		if info.ID != n1 || info.State != storage.KeyActive || !info.ActivatesAt.Equal(now) || info.Unpublished {
			t.Fatalf("RotateNow(immediate) = %+v, want the next key %q promoted", info, n1)
		}
		tok, err := m.Sign([]byte(`{}`), "")
		if err != nil {
			t.Fatal(err)
		}
		if kid := tokenKID(t, tok); !slices.Contains(jwksBefore, kid) {
			t.Errorf("new tokens carry kid %q, not in the JWKS before the rotation %v", kid, jwksBefore)
		}
		expectKeys(t, "immediate", m, n1, n1, k1, keyIn(t, store, storage.KeyNext))
		expectTimes(t, store, k1, storage.KeyRetired, testNow, now, now.Add(m.Schedule().Retention))
	})

	t.Run("immediate without a next key signs with an unpublished key", func(t *testing.T) {
		m, store, _, k1, n1 := setup(t)
		if err := store.DeleteKey(t.Context(), n1); err != nil {
			t.Fatal(err)
		}
		info, err := m.RotateNow(t.Context(), true)
		if err != nil {
			t.Fatal(err)
		}
		if info.ID == k1 || info.ID == n1 || info.State != storage.KeyActive || !info.Unpublished {
			t.Fatalf("RotateNow(immediate) = %+v, want a new key flagged unpublished", info)
		}
		expectKeys(t, "immediate, no next key", m, info.ID, info.ID, k1, keyIn(t, store, storage.KeyNext))
	})
}

func mustKeys(t *testing.T, m *Manager) []KeyInfo {
	t.Helper()
	infos, err := m.Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

func TestRevoke(t *testing.T) {
	clock := newFakeClock(testNow)
	store := newFakeStore()
	opts := scheduleOptions(clock, newKeySupply(t, 10).generate)
	m := newTestManager(t, store, 1, opts)
	other := newTestManager(t, store, 1, opts)
	tick(t, m, other)
	k1 := m.ActiveKeyID()
	before, err := m.Sign([]byte(`{}`), "")
	if err != nil {
		t.Fatal(err)
	}
	// A minute apart, so that creation order (the JWKS order) is certain.
	clock.add(time.Minute)
	k2, err := m.RotateNow(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	clock.add(time.Minute)
	k3, err := m.RotateNow(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	tick(t, other)
	expectKeys(t, "before revocation", m, k2.ID, k2.ID, k1, k3.ID)

	active, err := m.Revoke(t.Context(), k1)
	if err != nil || active.ID != k2.ID || active.Unpublished {
		t.Fatalf("Revoke(retired) = %+v, %v", active, err)
	}
	expectKeys(t, "retired key revoked", m, k2.ID, k2.ID, k3.ID)
	if _, err := verifyWithJWKS(m, before); err == nil {
		t.Error("a token of the revoked key still verifies")
	}
	expectKeys(t, "other replica before its refresh", other, k2.ID, k2.ID, k1, k3.ID)
	tick(t, other)
	expectKeys(t, "other replica after its refresh", other, k2.ID, k2.ID, k3.ID)

	if _, err := m.Revoke(t.Context(), k1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Revoke(revoked) = %v, want ErrNotFound", err)
	}

	// Revoking the active key promotes the published next key and
	// publishes a new next key.
	signedByK2, _ := m.Sign([]byte(`{}`), "")
	active, err = m.Revoke(t.Context(), k2.ID)
	if err != nil || active.ID != k3.ID || active.State != storage.KeyActive || active.Unpublished {
		t.Fatalf("Revoke(active) = %+v, %v; want the next key %q promoted", active, err, k3.ID)
	}
	k4 := keyIn(t, store, storage.KeyNext)
	expectKeys(t, "active key revoked", m, k3.ID, k3.ID, k4)
	if _, err := verifyWithJWKS(m, signedByK2); err == nil {
		t.Error("a token of the revoked active key still verifies")
	}
	// The new next key follows the promoted key.
	k, _ := storedKey(t, store, k3.ID)
	expectTimes(t, store, k4, storage.KeyNext, k.RetiresAt, k.RetiresAt.Add(opts.RotationPeriod),
		k.RetiresAt.Add(opts.RotationPeriod+m.Schedule().Retention))

	// Revoking the next key publishes another one.
	if active, err = m.Revoke(t.Context(), k4); err != nil || active.ID != k3.ID {
		t.Fatalf("Revoke(next) = %+v, %v", active, err)
	}
	k5 := keyIn(t, store, storage.KeyNext)
	if k5 == k4 {
		t.Fatal("the revoked next key is still the next key")
	}
	expectKeys(t, "next key revoked", m, k3.ID, k3.ID, k5)

	// With no next key at all (deleted behind hallpass's back), revoking
	// the active key has to sign with a key nobody has cached, and says so.
	if err := store.DeleteKey(t.Context(), k5); err != nil {
		t.Fatal(err)
	}
	active, err = m.Revoke(t.Context(), k3.ID)
	if err != nil || !active.Unpublished || active.ID == k3.ID || active.ID == k5 {
		t.Fatalf("Revoke(active, no next key) = %+v, %v; want a new unpublished key", active, err)
	}
	expectKeys(t, "active key revoked without a next key", m, active.ID, active.ID, keyIn(t, store, storage.KeyNext))
}

func TestSignStale(t *testing.T) {
	clock := newFakeClock(testNow)
	store := newFakeStore()
	m := newTestManager(t, store, 1, scheduleOptions(clock, newKeySupply(t, 2).generate))
	tick(t, m)
	kid := m.ActiveKeyID()

	clock.add(2 * time.Minute)
	if _, err := m.Sign([]byte(`{}`), ""); err != nil {
		t.Fatalf("Sign two refresh intervals after Load: %v", err)
	}
	clock.add(time.Second)
	if _, err := m.Sign([]byte(`{}`), ""); !errors.Is(err, ErrStale) {
		t.Fatalf("Sign after missing two refreshes = %v, want ErrStale", err)
	}
	if id := m.ActiveKeyID(); id != "" {
		t.Errorf("ActiveKeyID of stale keys = %q, want \"\" (not ready)", id)
	}
	if body, _ := m.JWKS(); len(body) == 0 {
		t.Error("stale keys stopped being published; verification should go on")
	}
	tick(t, m)
	if m.ActiveKeyID() != kid {
		t.Error("a successful reload did not end the staleness")
	}

	// A replica left on the old secret cannot reload, so it goes stale.
	if _, err := Reencrypt(t.Context(), store, testSealer(t, 1), testSealer(t, 2), nil); err != nil {
		t.Fatal(err)
	}
	clock.add(time.Minute)
	if err := m.Tick(t.Context()); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("Tick with the old secret after re-encryption = %v, want ErrWrongSecret", err)
	}
	clock.add(2 * time.Minute)
	if _, err := m.Sign([]byte(`{}`), ""); !errors.Is(err, ErrStale) {
		t.Errorf("Sign on the old secret = %v, want ErrStale", err)
	}
}

func TestNoStalenessWithoutRefresh(t *testing.T) {
	clock := newFakeClock(testNow)
	m := newTestManager(t, newFakeStore(), 1, Options{Now: clock.Now})
	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	clock.add(365 * 24 * time.Hour)
	if _, err := m.Sign([]byte(`{}`), ""); err != nil {
		t.Errorf("Sign without a refresh interval: %v", err)
	}
}

func TestReencrypt(t *testing.T) {
	clock := newFakeClock(testNow)
	store := newFakeStore()
	opts := scheduleOptions(clock, newKeySupply(t, 4).generate)
	m := newTestManager(t, store, 1, opts)
	tick(t, m)
	if _, err := m.RotateNow(t.Context(), false); err != nil { // a next key too
		t.Fatal(err)
	}
	oldSealer, newSealer := testSealer(t, 1), testSealer(t, 2)
	other := SealedSetting{Name: "token_hmac_secret", AD: []byte("token_hmac_secret")}
	sealed, _ := oldSealer.Seal([]byte("the token secret"), other.AD)
	if err := store.CreateSetting(t.Context(), other.Name, sealed); err != nil {
		t.Fatal(err)
	}
	settings := []SealedSetting{other, {Name: "never_stored", AD: []byte("x")}}
	keysBefore, settingsBefore := store.dump()

	if _, err := Reencrypt(t.Context(), store, testSealer(t, 3), newSealer, settings); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("Reencrypt from a wrong secret = %v, want ErrWrongSecret", err)
	}
	if k, s := store.dump(); !equalDump(keysBefore, k) || !equalSettings(settingsBefore, s) {
		t.Fatal("a failed Reencrypt changed the store")
	}

	res, err := Reencrypt(t.Context(), store, oldSealer, newSealer, settings)
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys != 2 || res.Settings != 2 {
		t.Errorf("Reencrypt = %+v, want 2 keys and 2 settings (secret_check, token_hmac_secret)", res)
	}
	if err := newTestManager(t, store, 1, opts).Load(t.Context()); !errors.Is(err, ErrWrongSecret) {
		t.Errorf("Load with the old secret after Reencrypt = %v, want ErrWrongSecret", err)
	}
	fresh := newTestManager(t, store, 2, Options{Now: clock.Now, GenerateKey: noGenerator(t)})
	if err := fresh.Load(t.Context()); err != nil {
		t.Fatalf("Load with the new secret: %v", err)
	}
	if fresh.ActiveKeyID() != m.ActiveKeyID() || !slices.Equal(jwksKids(t, fresh), jwksKids(t, m)) {
		t.Error("the keys changed identity in re-encryption")
	}
	v, _ := store.GetSetting(t.Context(), other.Name)
	if pt, err := newSealer.Open(v, other.AD); err != nil || string(pt) != "the token secret" {
		t.Errorf("token secret after Reencrypt: %q, %v", pt, err)
	}
}

func equalDump(a, b map[string]storage.Key) bool {
	if len(a) != len(b) {
		return false
	}
	for id, k := range a {
		o, ok := b[id]
		if !ok || string(o.PrivateEncrypted) != string(k.PrivateEncrypted) || o.State != k.State {
			return false
		}
	}
	return true
}

func equalSettings(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for n, v := range a {
		if string(b[n]) != string(v) {
			return false
		}
	}
	return true
}

func TestStatus(t *testing.T) {
	clock := newFakeClock(testNow)
	store := newFakeStore()
	opts := scheduleOptions(clock, newKeySupply(t, 4).generate)
	m := newTestManager(t, store, 1, opts)
	if st := m.Status(); st.ActiveKeyID != "" || st.Schedule.RotationPeriod != 24*time.Hour {
		t.Errorf("Status before Load = %+v", st)
	}
	tick(t, m)
	st := m.Status()
	if st.ActiveKeyID != m.ActiveKeyID() || !st.ActivatedAt.Equal(testNow) || !st.RotatesAt.Equal(testNow.Add(24*time.Hour)) ||
		st.Published[storage.KeyActive] != 1 || st.Published[storage.KeyNext] != 1 || !st.LoadedAt.Equal(testNow) {
		t.Errorf("Status = %+v", st)
	}
	clock.add(time.Hour)
	// An immediate rotation publishes a fresh next key, which a safe
	// rotation then plans one lead ahead.
	if _, err := m.RotateNow(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	planned, err := m.RotateNow(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	st = m.Status()
	if !st.RotatesAt.Equal(planned.ActivatesAt) || st.Published[storage.KeyNext] != 1 {
		t.Errorf("Status after RotateNow = %+v, want rotation at %v", st, planned.ActivatesAt)
	}
}

// TestTickGivesOldDatabaseANextKey: a database written before next keys
// existed holds only an active key. The first Tick after the upgrade keeps
// that key signing and publishes a next key, planned no sooner than one
// lead after it was created.
func TestTickGivesOldDatabaseANextKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		times bool // whether the old row records its activation and retirement
	}{{"with times", true}, {"without times", false}} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock(testNow)
			store := newFakeStore()
			m := newTestManager(t, store, 1, scheduleOptions(clock, poolGenerator(t)))
			old := addKey(t, m, store, storage.KeyActive, testNow.Add(-23*time.Hour))
			if tc.times {
				m.activate(old, old.CreatedAt)
				if err := store.UpdateKey(t.Context(), old); err != nil {
					t.Fatal(err)
				}
			}
			tick(t, m)
			next := keyIn(t, store, storage.KeyNext)
			expectKeys(t, "after the upgrade", m, old.ID, old.ID, next)
			n, _ := storedKey(t, store, next)
			if earliest := testNow.Add(m.Schedule().PublishLead); n.ActivatesAt.Before(earliest) {
				t.Errorf("next key activates at %v, before it has been published for the lead (%v)", n.ActivatesAt, earliest)
			}
		})
	}
}
