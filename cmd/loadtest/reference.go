package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/argon2"
)

// references are the two limits the scenarios are measured against,
// taken on this machine in the same run (README "Sizing"): the CPU of one
// bare RS256-2048 signature (what an access token must cost), and how many
// argon2id password hashes per second the machine does at hallpass's
// parameters with the server's number of concurrent checks (what bounds
// fresh logins).
type references struct {
	SignCPU    time.Duration // 0: not measured
	Argon2Rate float64       // hashes per second; 0: not measured
	Argon2CPU  time.Duration // CPU of one hash
}

// argon2Params are hallpass's argon2id parameters (OWASP's m=19 MiB,
// t=2, p=1), which its stored hashes name; -argon2-* flags follow a
// server configured otherwise.
type argon2Params struct {
	MemoryKiB  uint32
	Time       uint32
	Threads    uint8
	Concurrent int // the server's --max-password-checks
}

// measureReference measures the limit of scenario name, if it has one:
// the bare signature for those counted in signatures (with -pid), the
// argon2id ceiling for fresh logins.
func measureReference(ctx context.Context, cfg config, name string) (references, error) {
	if cfg.Reference <= 0 {
		return references{}, nil
	}
	switch name {
	case "client-credentials", "introspection", "signed-in":
		if cfg.PID <= 0 {
			return references{}, nil
		}
		d, err := measureSign(ctx, cfg.Reference)
		return references{SignCPU: d}, err
	case "fresh-login":
		rate, cpu, err := measureArgon2(ctx, cfg.Argon2, cfg.Reference)
		return references{Argon2Rate: rate, Argon2CPU: cpu}, err
	}
	return references{}, nil
}

// measureSign signs with a fresh 2048-bit key on one goroutine for about
// d and returns the process CPU (user + system, getrusage) per signature:
// the same CPU measure as the server's, without HTTP or anything else.
func measureSign(ctx context.Context, d time.Duration) (time.Duration, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0, fmt.Errorf("reference signature: %w", err)
	}
	digest := sha256.Sum256([]byte(`{"iss":"https://id.example","sub":"service","aud":["api"],"scope":"read","exp":1900000000}`))
	// Warm up (first use builds the key's precomputed values).
	if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
		return 0, fmt.Errorf("reference signature: %w", err)
	}
	before, err := processCPU()
	if err != nil {
		return 0, err
	}
	n := 0
	for end := time.Now().Add(d); n < 20 || time.Now().Before(end); n++ {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			return 0, fmt.Errorf("reference signature: %w", err)
		}
	}
	after, err := processCPU()
	if err != nil {
		return 0, err
	}
	return (after - before) / time.Duration(n), nil
}

// measureArgon2 hashes with p.Concurrent goroutines for about d and
// returns hashes per second: the ceiling of fresh logins, each of which
// checks one password, when the server runs p.Concurrent checks at once.
// It also returns the CPU of one hash, a figure that other work on the
// machine disturbs less than the rate.
func measureArgon2(ctx context.Context, p argon2Params, d time.Duration) (float64, time.Duration, error) {
	before, err := processCPU()
	if err != nil {
		return 0, 0, err
	}
	var done atomic.Int64
	salt := []byte("loadtest-salt-16")
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for range p.Concurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(end) {
				argon2.IDKey([]byte("correct horse battery staple"), salt, p.Time, p.MemoryKiB, p.Threads, 32)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	after, err := processCPU()
	if err != nil {
		return 0, 0, err
	}
	n := done.Load()
	if n == 0 {
		return 0, 0, ctx.Err()
	}
	return float64(n) / elapsed.Seconds(), (after - before) / time.Duration(n), ctx.Err()
}

// processCPU is this process's user + system CPU so far.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
