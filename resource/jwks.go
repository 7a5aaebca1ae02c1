package resource

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// minRSABits is the smallest RSA modulus accepted from the JWKS.
const minRSABits = 2048

// keySet is one fetched JWKS.
type keySet struct {
	keys map[string]*rsa.PublicKey
	etag string
	ttl  time.Duration // how long it may be cached, from Cache-Control
	// refreshAt is when the background refresh fetches it again: about
	// three quarters into its lifetime from when it was fetched or last
	// confirmed by a 304, less a random tenth so replicas spread out. It is
	// on the monotonic clock: the schedule is real time, whatever
	// Config.Now says.
	refreshAt time.Time
}

// schedule sets s's refresh time for a fetch that happened now.
func (s *keySet) schedule() {
	due := s.ttl * 3 / 4
	if j := int64(s.ttl / 10); j > 0 {
		due -= time.Duration(rand.Int64N(j))
	}
	s.refreshAt = time.Now().Add(due)
}

// jwksCache holds the current key set. Readers never block; fetches are
// serialized by sem, which also guards lastKidFetch.
type jwksCache struct {
	set          atomic.Pointer[keySet]
	sem          chan struct{}
	lastKidFetch time.Time // Config.Now of the last unknown-kid refetch
}

func (c *jwksCache) init() { c.sem = make(chan struct{}, 1) }

func (c *jwksCache) lookup(kid string) (*rsa.PublicKey, bool) {
	s := c.set.Load()
	if s == nil {
		return nil, false
	}
	k, ok := s.keys[kid]
	return k, ok
}

func (c *jwksCache) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *jwksCache) release() { <-c.sem }

// Refresh fetches the JWKS now (conditionally, with the cached ETag),
// whatever the cache lifetime and MinRefreshInterval say. On failure the
// cached keys stay in use. The background refresh makes calling it
// unnecessary; it is for operators who know the keys just changed.
func (v *Verifier) Refresh(ctx context.Context) error {
	return v.refresh(ctx)
}

// refresh fetches the JWKS under the fetch lock, waiting for it as long as
// ctx allows.
func (v *Verifier) refresh(ctx context.Context) error {
	if err := v.keys.acquire(ctx); err != nil {
		return err
	}
	defer v.keys.release()
	return v.fetchLocked(ctx)
}

// fetchLocked fetches the JWKS, with If-None-Match when a set is cached,
// and installs the result. A 304 keeps the cached keys and renews their
// lifetime. Any failure leaves the cached set in place. The caller holds
// the fetch lock.
func (v *Verifier) fetchLocked(ctx context.Context) error {
	old := v.keys.set.Load()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURI, nil)
	if err != nil {
		return fmt.Errorf("resource: JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if old != nil && old.etag != "" {
		req.Header.Set("If-None-Match", old.etag)
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: JWKS: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return fmt.Errorf("resource: JWKS %s: %w", v.jwksURI, err)
	}
	ttl := v.cacheTTL(resp.Header)
	switch {
	case resp.StatusCode == http.StatusNotModified && old != nil:
		next := *old
		next.ttl = ttl
		next.schedule()
		if et := resp.Header.Get("ETag"); et != "" {
			next.etag = et
		}
		v.keys.set.Store(&next)
		return nil
	case resp.StatusCode == http.StatusOK:
	default:
		return fmt.Errorf("%w: JWKS %s: status %d", statusErr(resp.StatusCode), v.jwksURI, resp.StatusCode)
	}
	if !jsonContent(resp.Header.Get("Content-Type")) {
		return fmt.Errorf("resource: JWKS %s: Content-Type %q is not JSON", v.jwksURI, resp.Header.Get("Content-Type"))
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return fmt.Errorf("resource: JWKS %s: %w", v.jwksURI, err)
	}
	next := &keySet{keys: keys, etag: resp.Header.Get("ETag"), ttl: ttl}
	next.schedule()
	v.keys.set.Store(next)
	return nil
}

// parseJWKS returns the RS256 signing keys of a JWKS by kid. Keys of other
// types or uses are skipped, so that hallpass may publish them one day;
// an RSA key under 2048 bits is skipped too. A set with a duplicate kid,
// or with no usable key, is refused.
func parseJWKS(body []byte) (map[string]*rsa.PublicKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	out := make(map[string]*rsa.PublicKey, len(raw.Keys))
	seen := map[string]bool{}
	for _, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			continue // an unsupported key type
		}
		if k.KeyID == "" {
			continue
		}
		if seen[k.KeyID] {
			return nil, fmt.Errorf("duplicate kid %.64q", k.KeyID)
		}
		seen[k.KeyID] = true
		if k.Use != "" && k.Use != "sig" || k.Algorithm != "" && k.Algorithm != string(jose.RS256) {
			continue
		}
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() < minRSABits {
			continue
		}
		out[k.KeyID] = pub
	}
	if len(out) == 0 {
		return nil, errors.New("no usable RS256 signing key")
	}
	return out, nil
}

// cacheTTL is how long a JWKS response may be cached: its Cache-Control
// max-age less its Age, within [minTTL, maxTTL]; DefaultCacheTTL without
// max-age; minTTL under no-cache or no-store (polling more often than that
// would only load hallpass).
func (v *Verifier) cacheTTL(h http.Header) time.Duration {
	ttl, noCache := DefaultCacheTTL, false
	for _, cc := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(cc, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && n >= 0 {
					ttl = time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
				}
			case "no-cache", "no-store":
				noCache = true
			}
		}
	}
	if noCache {
		ttl = 0
	}
	if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
		ttl -= time.Duration(min(age, int64(24*time.Hour/time.Second))) * time.Second
	}
	return min(max(ttl, v.minTTL), v.maxTTL)
}

// refreshLoop refreshes the JWKS before the cached set expires (see
// keySet.refreshAt), and after a failure retries with exponential backoff
// (from an eighth of the cache lifetime up to all of it) while the old set
// stays in use.
func (v *Verifier) refreshLoop(ctx context.Context) {
	defer close(v.done)
	failures := 0
	for {
		var wait time.Duration
		if failures > 0 {
			// An eighth of the cache lifetime, doubling up to all of it.
			ttl := v.keys.set.Load().ttl
			wait = min(ttl/8<<min(failures-1, 3), ttl)
		} else {
			// A refetch for an unknown kid reschedules the set: wait
			// until the current set's time, whichever fetch installed it.
			wait = time.Until(v.keys.set.Load().refreshAt)
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if failures == 0 && time.Now().Before(v.keys.set.Load().refreshAt) {
				continue // renewed meanwhile
			}
		}
		if err := v.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			v.log.WarnContext(ctx, "resource: JWKS refresh failed; keeping the cached keys", "err", err, "failures", failures)
			continue
		}
		failures = 0
	}
}
