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
// slow costs one fetch per interval, not one per assertion. Assertions
// that need a fetch of a location while one is under way wait for it
// and share its answer, so a burst of them costs one fetch too.
type jwksFetcher struct {
	client *http.Client
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]jwksEntry
	// fetching holds the fetch under way of each location.
	fetching map[string]*jwksFetch
}

// jwksFetch is a fetch under way; set and err are its answer once done
// is closed.
type jwksFetch struct {
	done chan struct{}
	set  *josev3.JSONWebKeySet
	err  error
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
		client:   newCalloutClient(jwksFetchTimeout, errors.New("redirects are not followed")),
		now:      now,
		cache:    map[string]jwksEntry{},
		fetching: map[string]*jwksFetch{},
	}
}

// Resolve returns the key set published at location. A jwks_uri that
// does not serve usable keys is the client's failure (invalid_client); a
// shared fetch that did not finish (errJWKSFetchUnfinished) or the
// request ending while it waits is not: it is answered as a failure of
// ours (server_error).
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
	return j.fetchShared(ctx, location)
}

// fetchShared fetches location and caches the answer, or waits for the
// fetch of it already under way and answers as it does. The fetch runs
// without the cancellation of the request that started it (it is
// bounded by jwksFetchTimeout), since others may wait for it; a waiter
// whose own request ends stops waiting.
func (j *jwksFetcher) fetchShared(ctx context.Context, location string) (*josev3.JSONWebKeySet, error) {
	j.mu.Lock()
	f, waiting := j.fetching[location]
	if !waiting {
		f = &jwksFetch{done: make(chan struct{})}
		j.fetching[location] = f
	}
	j.mu.Unlock()
	if waiting {
		select {
		case <-f.done:
			return f.set, f.err
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the client's jwks_uri: %w", ctx.Err())
		}
	}
	// The fetch is let go of however it ends, a panic included: else
	// the location's entry would stay, and every later assertion needing
	// it would wait for an answer that never comes. Waiters of a fetch
	// that did not finish get errJWKSFetchUnfinished, which is not cached.
	f.err = errJWKSFetchUnfinished
	defer func() {
		j.mu.Lock()
		delete(j.fetching, location)
		j.mu.Unlock()
		close(f.done)
	}()
	set, err := j.fetch(context.WithoutCancel(ctx), location)
	t := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	if err != nil {
		err = fosite.ErrInvalidClient.WithHintf("The client's jwks_uri does not serve a usable JSON Web Key Set: %v.", err)
		// The set fetched before, if any, still answers until it
		// expires; the error answers refetches until the interval passes.
		e := j.cache[location]
		j.storeLocked(location, jwksEntry{set: e.set, fetchedAt: e.fetchedAt, triedAt: t, err: err})
		set = nil
	} else {
		j.storeLocked(location, jwksEntry{set: set, fetchedAt: t, triedAt: t})
	}
	f.set, f.err = set, err
	return set, err
}

// errJWKSFetchUnfinished answers those waiting for a fetch that ended
// without an answer (it panicked): a fault of ours, not the client's.
var errJWKSFetchUnfinished = errors.New("the fetch of the client's jwks_uri did not finish")

// storeLocked caches what is known of location; j.mu is held.
func (j *jwksFetcher) storeLocked(location string, e jwksEntry) {
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
