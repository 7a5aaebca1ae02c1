package keys

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// generationSetting names the settings row that counts key changes. Every
// change bumps it in the transaction that makes the change, so a replica
// learns of another's change by reading one small row (Poll) instead of
// reloading and decrypting every key.
const generationSetting = "signing_keys_generation"

// DefaultWatchInterval is how often Watch polls the change counter: the
// bound on how long replicas disagree about the keys.
const DefaultWatchInterval = time.Second

// unknownKidReloadEvery throttles the reloads a token with an unknown kid
// triggers, so that forged kids cannot make a replica reload in a loop.
const unknownKidReloadEvery = time.Second

// unknownKidReloadTimeout bounds the reload a verification waits for.
const unknownKidReloadTimeout = 5 * time.Second

// readGeneration returns the change counter; 0 before the first change.
func readGeneration(ctx context.Context, store Store) (uint64, error) {
	v, err := store.GetSetting(ctx, generationSetting)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("keys: read change counter: %w", err)
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("keys: change counter %q is not a number: %w", v, err)
	}
	return n, nil
}

// bumpGeneration increments the change counter inside the key transaction
// tx, which holds Store.LockKeys, so increments never race.
func bumpGeneration(tx context.Context, store Store) error {
	n, err := readGeneration(tx, store)
	if err != nil {
		return err
	}
	if err := store.PutSetting(tx, generationSetting, []byte(strconv.FormatUint(n+1, 10))); err != nil {
		return fmt.Errorf("keys: bump change counter: %w", err)
	}
	return nil
}

// Poll reloads the keys if another process changed them since the last
// Load: it reads only the change counter otherwise. It reports whether it
// reloaded. Before the first Load it does nothing.
func (m *Manager) Poll(ctx context.Context) (bool, error) {
	s := m.snap.Load()
	if s == nil {
		return false, nil
	}
	gen, err := readGeneration(ctx, m.store)
	if err != nil {
		return false, err
	}
	if gen == s.generation {
		return false, nil
	}
	if err := m.Load(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// Watch calls Poll every interval (DefaultWatchInterval if zero) until ctx
// ends, so that a rotation, promotion or revocation made by any replica is
// served by this one within about an interval, rather than at its next
// Tick. A run of failures is logged when it starts and when it ends (not
// every interval: an outage would flood the log); Tick's staleness rule
// still applies.
func (m *Manager) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, err := m.Poll(ctx)
			switch {
			case ctx.Err() != nil:
			case err != nil:
				if failing == 0 {
					m.log.WarnContext(ctx, "signing-key change check failed; retrying every interval", "err", err, "interval", interval)
				}
				failing++
			case failing > 0:
				m.log.InfoContext(ctx, "signing-key change check works again", "failed_checks", failing)
				failing = 0
			}
		}
	}
}

// VerificationKey returns the public key published under kid: the active key
// and every next and retired key. It is false for an unknown kid and before
// Load. A kid this process does not know may be one another replica just
// created, so it first reloads the keys from the database, at most once per
// second; callers arriving while a reload runs wait for it.
func (m *Manager) VerificationKey(kid string) (*rsa.PublicKey, bool) {
	s := m.snap.Load()
	if s == nil {
		return nil, false
	}
	if pub, ok := s.public[kid]; ok {
		return pub, true
	}
	if !couldBeKID(kid) {
		// Not a kid hallpass makes: no reload, and nothing of the
		// token's (the sender's to write) goes into a log line.
		return nil, false
	}
	m.reloadForUnknownKid(kid)
	pub, ok := m.snap.Load().public[kid]
	return pub, ok
}

// couldBeKID reports whether kid is spelt as the kids hallpass makes
// (RFC 7638 thumbprints: 43 characters of base64url) could be, within a
// margin: at most 64 characters of base64url's alphabet.
func couldBeKID(kid string) bool {
	if kid == "" || len(kid) > 64 {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (m *Manager) reloadForUnknownKid(kid string) {
	now := m.now().UnixNano()
	last := m.unknownKidAt.Load()
	if now-last < int64(unknownKidReloadEvery) || !m.unknownKidAt.CompareAndSwap(last, now) {
		// A reload ran recently or runs now: wait for one in progress.
		m.loadMu.Lock()
		//nolint:staticcheck // an empty critical section: waiting is the point
		m.loadMu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), unknownKidReloadTimeout)
	defer cancel()
	if err := m.Load(ctx); err != nil {
		m.log.Warn("reload of signing keys for an unknown kid failed", "kid", kid, "err", err)
	}
}
