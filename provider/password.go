package provider

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's Password Storage Cheat Sheet minimum
// (m=19 MiB, t=2, p=1). Stored with each hash (PHC string format), so
// they can be raised later without invalidating existing passwords.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
	// maxPasswordLen bounds the work an attacker can make one login cost.
	maxPasswordLen = 1024
	minPasswordLen = 8
)

// HashPassword returns the PHC-format argon2id hash of password.
func HashPassword(password string) (string, error) {
	if len(password) < minPasswordLen || len(password) > maxPasswordLen {
		return "", fmt.Errorf("password must be %d to %d characters", minPasswordLen, maxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// CheckPassword reports whether password matches the PHC hash, comparing
// in constant time.
func CheckPassword(hash, password string) (bool, error) {
	if len(password) > maxPasswordLen {
		return false, nil
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var mem, iter uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil || mem == 0 || iter == 0 || threads == 0 || mem > 1<<20 || iter > 20 {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, iter, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// errPasswordsBusy is returned when no password check could start within
// the wait: the request is answered 503 with Retry-After.
var errPasswordsBusy = errors.New("too many password checks at once")

// passwordGate bounds how many argon2id computations run at once. Each
// takes argonMemoryKiB of memory and a CPU for tens of milliseconds, so
// without a bound a burst of sign-ins (or of guesses) would take the
// process's memory with it: 16 at once are about 450 MB. With it, a
// burst costs about base + n × 19 MiB (BenchmarkLoginPeakRSS in
// cmd/hallpass measures it).
type passwordGate struct {
	slots chan struct{}
	wait  time.Duration
}

func newPasswordGate(n int, wait time.Duration) *passwordGate {
	return &passwordGate{slots: make(chan struct{}, n), wait: wait}
}

// enter waits, at most g.wait and no longer than ctx lasts, until fewer
// than the bound of password checks run, and returns the function that
// ends this one; errPasswordsBusy when none could start.
func (g *passwordGate) enter(ctx context.Context) (leave func(), err error) {
	leave = func() {
		// The check's 19 MiB are garbage now. When every slot is taken
		// (a burst: others wait), collect them before the next check
		// allocates its own, or the pacer (GOGC) lets the heap grow to
		// twice the checks' memory before it does: the bound would
		// limit CPU but only loosely memory. A quiet server skips the
		// cost.
		if len(g.slots) == cap(g.slots) {
			runtime.GC()
		}
		<-g.slots
	}
	select {
	case g.slots <- struct{}{}:
		return leave, nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return leave, nil
	case <-t.C:
		return nil, errPasswordsBusy
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errPasswordsBusy, ctx.Err())
	}
}

// retryAfter is what a refused caller is told to wait: about as long as
// it already waited in vain.
func (g *passwordGate) retryAfter() string { return retryAfter(g.wait) }

// enterPasswordHash takes a password-check slot for an admin request that
// sets password (none is needed when it is empty), so password changes
// share the bound with sign-ins. When none frees up in time it answers
// 503 with Retry-After and returns false.
func (p *Provider) enterPasswordHash(w http.ResponseWriter, r *http.Request, password string) (leave func(), ok bool) {
	if password == "" {
		return func() {}, true
	}
	leave, err := p.passwords.enter(r.Context())
	if err != nil {
		p.log.WarnContext(r.Context(), "admin request refused: too many password checks at once", "request_id", RequestID(r.Context()))
		w.Header().Set("Retry-After", p.passwords.retryAfter())
		p.writeError(w, r, errorf(http.StatusServiceUnavailable, "temporarily_unavailable", "too many passwords are being checked or hashed at once; try again in a few seconds"))
		return nil, false
	}
	return leave, true
}
