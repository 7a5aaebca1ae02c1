package resource

import (
	"context"
	"net/http"
	"time"
)

// NewVerifierWithCacheBounds is NewVerifier with the JWKS cache lifetime
// bounded by [minTTL, maxTTL] instead of [MinCacheTTL, MaxCacheTTL], so
// tests can watch background refreshes in seconds.
func NewVerifierWithCacheBounds(ctx context.Context, cfg Config, minTTL, maxTTL time.Duration) (*Verifier, error) {
	return newVerifier(ctx, cfg, ttlBounds{minTTL, maxTTL})
}

// CacheTTL is how long v caches a JWKS response with headers h.
func CacheTTL(v *Verifier, h http.Header) time.Duration { return v.cacheTTL(h) }
