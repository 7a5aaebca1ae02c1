package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// jwksBody is a key set of one new ES256 key under kid "k1", as a
// client's jwks_uri serves it.
func jwksBody(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Use: "sig", Algorithm: "ES256"}}})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestJWKSFetchShared checks that assertions needing the same jwks_uri at
// once cost one fetch, whose answer (keys or error) each of them gets,
// and that a waiter whose request ends stops waiting.
func TestJWKSFetchShared(t *testing.T) {
	set := jwksBody(t)
	tests := []struct {
		name    string
		status  int
		wantErr bool
	}{
		{"keys", http.StatusOK, false},
		{"error", http.StatusInternalServerError, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fetches atomic.Int32
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fetches.Add(1)
				<-release
				w.WriteHeader(tt.status)
				_, _ = w.Write(set)
			}))
			t.Cleanup(srv.Close)
			j := newJWKSFetcher(time.Now)

			const n = 8
			var started, done sync.WaitGroup
			kids := make([]string, n)
			errs := make([]error, n)
			for i := range n {
				started.Add(1)
				done.Add(1)
				go func() {
					defer done.Done()
					started.Done()
					got, err := j.Resolve(context.Background(), srv.URL, false)
					errs[i] = err
					if got != nil && len(got.Keys) == 1 {
						kids[i] = got.Keys[0].KeyID
					}
				}()
			}
			started.Wait()
			// Every Resolve that starts before the release finds the fetch
			// under way; one that starts after finds its answer cached.
			time.Sleep(50 * time.Millisecond)

			// A waiter whose request ends stops waiting, with its error.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := j.Resolve(ctx, srv.URL, false); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("a waiter whose request ended: err = %v, want its deadline", err)
			}

			close(release)
			done.Wait()
			if got := fetches.Load(); got != 1 {
				t.Errorf("jwks_uri fetched %d times for %d concurrent assertions, want 1", got, n)
			}
			for i := range n {
				if tt.wantErr {
					if errs[i] == nil {
						t.Errorf("assertion %d: no error from a failing jwks_uri", i)
					}
					continue
				}
				if errs[i] != nil || kids[i] != "k1" {
					t.Errorf("assertion %d: kid %q, err %v; want k1", i, kids[i], errs[i])
				}
			}
		})
	}
}

// TestJWKSFetchOutlivesStarter checks that the request which started a
// shared fetch hanging up neither fails the others waiting for it nor
// caches a failure: the fetch completes and its keys answer everyone.
func TestJWKSFetchOutlivesStarter(t *testing.T) {
	set := jwksBody(t)
	var fetches atomic.Int32
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		arrived <- struct{}{}
		<-release
		_, _ = w.Write(set)
	}))
	t.Cleanup(srv.Close)
	j := newJWKSFetcher(time.Now)

	starterCtx, hangUp := context.WithCancel(context.Background())
	starterErr := make(chan error, 1)
	go func() {
		_, err := j.Resolve(starterCtx, srv.URL, false)
		starterErr <- err
	}()
	<-arrived
	waiterErr := make(chan error, 1)
	go func() {
		got, err := j.Resolve(context.Background(), srv.URL, false)
		if err == nil && (got == nil || len(got.Keys) != 1 || got.Keys[0].KeyID != "k1") {
			err = errors.New("not the published key")
		}
		waiterErr <- err
	}()
	time.Sleep(20 * time.Millisecond)
	hangUp()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-waiterErr; err != nil {
		t.Errorf("waiter, after the starter hung up: %v", err)
	}
	if err := <-starterErr; err != nil {
		t.Errorf("starter, which hung up: %v (its fetch still completes)", err)
	}
	if got, err := j.Resolve(context.Background(), srv.URL, false); err != nil || len(got.Keys) != 1 {
		t.Errorf("after: keys %v, err %v; want the cached key", got, err)
	}
	if got := fetches.Load(); got != 1 {
		t.Errorf("jwks_uri fetched %d times, want 1", got)
	}
}

// panicOnce is a transport whose first round trip panics, once released.
type panicOnce struct {
	arrived, release chan struct{}
	calls            atomic.Int32
}

func (p *panicOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	if p.calls.Add(1) == 1 {
		p.arrived <- struct{}{}
		<-p.release
		panic("transport fault")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestJWKSFetchPanicReleasesLocation checks that a fetch that panics
// (recovered further up, as the server recovers a request's panic) does
// not leave its location taken: its waiters get an error at once, not
// their request's deadline, and the next assertion fetches again.
func TestJWKSFetchPanicReleasesLocation(t *testing.T) {
	set := jwksBody(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(set) }))
	t.Cleanup(srv.Close)
	j := newJWKSFetcher(time.Now)
	rt := &panicOnce{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	j.client.Transport = rt

	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		_, _ = j.Resolve(context.Background(), srv.URL, false)
	}()
	<-rt.arrived
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waiterErr := make(chan error, 1)
	go func() {
		_, err := j.Resolve(ctx, srv.URL, false)
		waiterErr <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(rt.release)
	if p := <-panicked; p == nil {
		t.Fatal("the starter's fetch did not panic")
	}
	if err := <-waiterErr; !errors.Is(err, errJWKSFetchUnfinished) {
		t.Errorf("waiter of the fetch that panicked: err = %v, want errJWKSFetchUnfinished", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	got, err := j.Resolve(ctx2, srv.URL, false)
	if err != nil || len(got.Keys) != 1 || got.Keys[0].KeyID != "k1" {
		t.Errorf("next assertion after the panic: keys %v, err %v; want k1 fetched again", got, err)
	}
}
