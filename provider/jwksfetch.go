package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/directory"
)

// jwksFetcher fetches the key sets private_key_jwt clients publish at
// their jwks_uri (fosite's JWKSFetcherStrategy), in place of fosite's
// default, which follows redirects, reads any size, retries and caches
// without bound. A fetch is bounded in time and size, goes only to https
// (or http on loopback), follows no redirect, and its keys pass the same
// checks as a registered jwks. A set is cached for jwksCacheTTL; fosite
// asks again, ignoring the cache, when no cached key matches the
// assertion's kid (a client rotated its keys), which refetches at most
// once per jwksMinRefetch, so a client sending unknown kids cannot make
// hallpass hammer a URL. A failed fetch counts too: its error answers
// until jwksMinRefetch has passed, so a client whose jwks_uri is broken or
// slow costs one fetch per interval, not one per assertion.
type jwksFetcher struct {
	client *http.Client
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]jwksEntry
}

// jwksEntry is what is known of one jwks_uri: the set last fetched (nil
// when no fetch succeeded), when, and the last attempt, with its error
// when it failed.
type jwksEntry struct {
	set       *josev3.JSONWebKeySet
	fetchedAt time.Time
	triedAt   time.Time
	err       error
}

const (
	jwksFetchTimeout = 5 * time.Second
	jwksCacheTTL     = 5 * time.Minute
	jwksMinRefetch   = 10 * time.Second
	// jwksCacheMax bounds the cache; past it, the cache is emptied.
	jwksCacheMax = 1000
)

var _ fosite.JWKSFetcherStrategy = (*jwksFetcher)(nil)

func newJWKSFetcher(now func() time.Time) *jwksFetcher {
	return &jwksFetcher{
		client: &http.Client{
			Timeout: jwksFetchTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return errors.New("redirects are not followed")
			},
		},
		now:   now,
		cache: map[string]jwksEntry{},
	}
}

// Resolve returns the key set published at location. Failures are the
// client's (invalid_client): its jwks_uri does not serve usable keys.
func (j *jwksFetcher) Resolve(ctx context.Context, location string, ignoreCache bool) (*josev3.JSONWebKeySet, error) {
	j.mu.Lock()
	e, ok := j.cache[location]
	j.mu.Unlock()
	now := j.now()
	fresh := ok && e.set != nil && now.Sub(e.fetchedAt) < jwksCacheTTL
	if fresh && (!ignoreCache || now.Sub(e.fetchedAt) < jwksMinRefetch) {
		return e.set, nil
	}
	if ok && e.err != nil && now.Sub(e.triedAt) < jwksMinRefetch {
		return nil, e.err
	}
	set, err := j.fetch(ctx, location)
	if err != nil {
		err = fosite.ErrInvalidClient.WithHintf("The client's jwks_uri does not serve a usable JSON Web Key Set: %v.", err)
		// The set fetched before, if any, still answers until it
		// expires; the error answers refetches until the interval passes.
		j.store(location, jwksEntry{set: e.set, fetchedAt: e.fetchedAt, triedAt: j.now(), err: err})
		return nil, err
	}
	t := j.now()
	j.store(location, jwksEntry{set: set, fetchedAt: t, triedAt: t})
	return set, nil
}

// store caches what is known of location.
func (j *jwksFetcher) store(location string, e jwksEntry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.cache) >= jwksCacheMax {
		clear(j.cache)
	}
	j.cache[location] = e
}

func (j *jwksFetcher) fetch(ctx context.Context, location string) (*josev3.JSONWebKeySet, error) {
	if err := directory.CheckServerURL(location); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, fmt.Errorf("bad URL")
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch failed")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, directory.MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read failed")
	}
	set, err := directory.ParseClientJWKS(body)
	if err != nil {
		return nil, err
	}
	// fosite verifies with go-jose v3: cross over through JSON.
	enc, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode keys: %w", err)
	}
	var out josev3.JSONWebKeySet
	if err := json.Unmarshal(enc, &out); err != nil {
		return nil, fmt.Errorf("decode keys: %w", err)
	}
	return &out, nil
}
