package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
)

// LoginLimits bound password guessing at the login form. Two limits
// apply to every attempt, and an attempt is counted before its password
// is checked, so parallel guesses cannot outrun either:
//
//   - per account: wrong passwords for one username, in whatever case it
//     is typed (a sign-in finds its user without case), from anywhere. After
//     AccountFreeFailures of them in a row the username is locked for
//     AccountLock; every further wrong password (one each time a lock has
//     ended) doubles the lock, up to AccountMaxLock. A correct password
//     forgets the failures counted before it (unless a case variant of
//     the username, from an older database, shares them), not those
//     counted while it was checked; during a lock even the correct
//     password is refused. Unknown usernames are counted and locked the
//     same way, so a lock says nothing about whether the user exists.
//   - per client address: wrong passwords from one address (IPv6: one
//     /64), across usernames. After AddressFailures within AddressWindow
//     the address is refused until that window ends.
//
// Zero fields take the defaults.
type LoginLimits struct {
	// AccountFreeFailures is how many wrong passwords in a row a username
	// gets before its first lock; default 5.
	AccountFreeFailures int
	// AccountLock is the first lock; default 1 minute.
	AccountLock time.Duration
	// AccountMaxLock caps the doubling lock; default 15 minutes.
	AccountMaxLock time.Duration
	// AccountMemory is how long a username's failures are remembered
	// after its last lock ends (or its last failure, when it was not
	// locked); default 1 hour. Shorter would hand a patient guesser a
	// fresh set of free attempts sooner than the locks let them through.
	AccountMemory time.Duration
	// AddressFailures is how many wrong passwords one client address may
	// send, across usernames, within AddressWindow; default 20.
	AddressFailures int
	// AddressWindow defaults to 15 minutes.
	AddressWindow time.Duration
}

// withDefaults fills the zero fields.
func (l LoginLimits) withDefaults() LoginLimits {
	if l.AccountFreeFailures <= 0 {
		l.AccountFreeFailures = 5
	}
	setDefault(&l.AccountLock, time.Minute)
	setDefault(&l.AccountMaxLock, 15*time.Minute)
	l.AccountMaxLock = max(l.AccountMaxLock, l.AccountLock)
	setDefault(&l.AccountMemory, time.Hour)
	if l.AddressFailures <= 0 {
		l.AddressFailures = 20
	}
	setDefault(&l.AddressWindow, 15*time.Minute)
	return l
}

// loginVerdict says whether an attempt may go on and, if not, which
// limit refused it and for how long.
type loginVerdict struct {
	allowed          bool
	account, address bool
	retryAfter       time.Duration
}

// limit names the limits that refused, for logs and metrics.
func (v loginVerdict) limit() string {
	switch {
	case v.account && v.address:
		return "account+address"
	case v.account:
		return "account"
	case v.address:
		return "address"
	}
	return ""
}

// live reports whether an entry still counts at now; an expired one is
// as good as none.
func live(e storage.ThrottleEntry, now time.Time) bool { return now.Before(e.ExpiresAt) }

// judge says whether an attempt at now may go on, given the account's and
// the address's entries.
func (l LoginLimits) judge(account, address storage.ThrottleEntry, now time.Time) loginVerdict {
	v := loginVerdict{allowed: true}
	if live(account, now) && now.Before(account.LockedUntil) {
		v.allowed, v.account = false, true
		v.retryAfter = account.LockedUntil.Sub(now)
	}
	if live(address, now) && address.Attempts >= l.AddressFailures {
		v.allowed, v.address = false, true
		v.retryAfter = max(v.retryAfter, address.ExpiresAt.Sub(now))
	}
	return v
}

// count returns the entries with one more attempt counted at now. The
// attempt that reaches AccountFreeFailures locks the account at once,
// before its password is checked: attempts racing it find the lock, and
// if its password is right, success lifts the lock again.
//
// The times it sets are as the store keeps them (storedTime), so that the
// entries it returns equal those read back later: uncount and succeeded
// tell by equality whether an entry is still the one this attempt counted.
func (l LoginLimits) count(account, address storage.ThrottleEntry, now time.Time) (storage.ThrottleEntry, storage.ThrottleEntry) {
	if !live(account, now) {
		account = storage.ThrottleEntry{ID: account.ID}
	}
	account.Attempts++
	if account.Attempts >= l.AccountFreeFailures {
		account.LockedUntil = storedTime(now.Add(l.lockFor(account.Attempts)))
	}
	account.ExpiresAt = storedTime(now.Add(l.AccountMemory))
	if account.LockedUntil.After(now) {
		account.ExpiresAt = storedTime(account.LockedUntil.Add(l.AccountMemory))
	}
	if !live(address, now) {
		address = storage.ThrottleEntry{ID: address.ID, ExpiresAt: storedTime(now.Add(l.AddressWindow))}
	}
	address.Attempts++
	if address.Attempts >= l.AddressFailures {
		address.LockedUntil = address.ExpiresAt
	}
	return account, address
}

// storedTime is t as the store keeps it (UTC, whole microseconds: both
// backends' precision), as directory's stamp. An entry read back from the
// store carries its times so; one compared with it must too, or a time of
// the clock's nanoseconds never equals its stored self.
func storedTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// uncount returns the account entry cur with one attempt taken back,
// given the entry before and after that attempt was counted: the entry
// as it was before (none, if that was no longer live) when nothing has
// counted since, and otherwise cur with one attempt fewer, its lock kept
// (a later attempt may have set it).
func (l LoginLimits) uncount(cur, before, counted storage.ThrottleEntry, now time.Time) storage.ThrottleEntry {
	if cur.Attempts == counted.Attempts && cur.LockedUntil.Equal(counted.LockedUntil) && cur.ExpiresAt.Equal(counted.ExpiresAt) {
		if !live(before, now) {
			return storage.ThrottleEntry{ID: cur.ID} // a zero ExpiresAt deletes
		}
		return before
	}
	if live(cur, now) && cur.Attempts > 0 {
		cur.Attempts--
	}
	return cur
}

// forget returns the account entry cur once a correct password, whose
// attempt was counted as counted, has forgotten the failures before it:
// none left (the entry deleted) when nothing counted since, and otherwise
// only the attempts counted while that password was checked, as the
// first of a new run, locked only if they alone reach a lock. Deleting
// the entry whatever it held forgot those too, and any lock they had
// set: guesses sent while the owner's password was checked came on top
// of the free failures the success gave back. An entry holding fewer
// attempts than counted was restarted since (another success, or its
// expiry), and holds only later attempts: it is kept as it is.
func (l LoginLimits) forget(cur, counted storage.ThrottleEntry, now time.Time) storage.ThrottleEntry {
	gone := storage.ThrottleEntry{ID: cur.ID} // a zero ExpiresAt deletes
	if !live(cur, now) {
		return gone
	}
	if cur.Attempts < counted.Attempts {
		return cur
	}
	since := cur.Attempts - counted.Attempts
	if since == 0 {
		return gone
	}
	cur.Attempts = since
	if since < l.AccountFreeFailures {
		cur.LockedUntil = time.Time{}
	}
	return cur
}

// lockFor is the lock that the attempts-th attempt in a row sets.
func (l LoginLimits) lockFor(attempts int) time.Duration {
	d := l.AccountLock
	for i := l.AccountFreeFailures; i < attempts && d < l.AccountMaxLock; i++ {
		d *= 2
	}
	return min(d, l.AccountMaxLock)
}

// succeeded returns the entries after a correct password whose attempt
// was counted as counted (the account entry count returned) and reserved
// (the address entry): the account's failures up to that attempt are
// forgotten (forget), and the address gets its attempt back, if the
// window it was counted in is still the current one.
func (l LoginLimits) succeeded(account, counted, address, reserved storage.ThrottleEntry, now time.Time) []storage.ThrottleEntry {
	out := []storage.ThrottleEntry{l.forget(account, counted, now)}
	if live(address, now) && address.ExpiresAt.Equal(reserved.ExpiresAt) && address.Attempts > 0 {
		address.Attempts--
		if address.Attempts < l.AddressFailures {
			address.LockedUntil = time.Time{}
		}
		out = append(out, address)
	}
	return out
}

// loginThrottle applies LoginLimits with the counts kept in the database,
// so every replica shares them and they survive restarts.
type loginThrottle struct {
	store  storage.Store
	limits LoginLimits
	// key makes the entry ids keyed digests: whoever reads the table
	// cannot test usernames or addresses against them.
	key []byte
}

func newLoginThrottle(store storage.Store, limits LoginLimits, tokenSecret []byte) *loginThrottle {
	mac := hmac.New(sha256.New, tokenSecret)
	mac.Write([]byte("hallpass login throttle v1"))
	return &loginThrottle{store: store, limits: limits.withDefaults(), key: mac.Sum(nil)}
}

// loginAttempt is one submission of the login form, as the throttle
// counts it.
type loginAttempt struct {
	account, address string
	client           netip.Addr
	// reserved is the address entry as reserve counted this attempt;
	// accountBefore and accountCounted are the account entry before and
	// after it counted it.
	reserved, accountBefore, accountCounted storage.ThrottleEntry
	// sharedAccount is set when the user whose password was checked has
	// case variants, which share the account entry (succeeded).
	sharedAccount bool
}

func (t *loginThrottle) digest(label, value string) string {
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte(label + "\x00" + value))
	return hex.EncodeToString(mac.Sum(nil))
}

// attempt names the entries an attempt for username from client counts
// against. An IPv6 client counts as its /64, which one subscriber
// usually holds whole.
func (t *loginThrottle) attempt(username string, client netip.Addr) *loginAttempt {
	return &loginAttempt{
		account: t.digest("account", accountKey(username)),
		address: t.digest("addr", addressKey(client)),
		client:  client,
	}
}

// secondFactorAttempt names the entries a second-factor code for userID
// from client counts against: the user's own entry for codes, apart from
// the password failures of their username, and the client address, shared
// with password attempts. The limits are the login limits.
func (t *loginThrottle) secondFactorAttempt(userID string, client netip.Addr) *loginAttempt {
	return &loginAttempt{
		account: t.digest("second-factor", userID),
		address: t.digest("addr", addressKey(client)),
		client:  client,
	}
}

// accountKey is what the usernames typed for one account count as. A
// sign-in finds its user without case (directory.Users.SignInUser), so
// every spelling that can name the same user must share one limit, or
// each would bring its own free failures: the key is the directory's
// (directory.UsernameKey), under which two usernames are one exactly when
// strings.EqualFold says so ("ALICE" is "alice"; "ſam", with a LONG S,
// is "sam"). Lowered, it is for an ASCII username what the key was before
// (the username in lower case), so failures counted before an upgrade
// still count after it; lowering never parts what the key joined, and
// joins only a few non-ASCII spellings that no username holds.
func accountKey(username string) string {
	return strings.ToLower(directory.UsernameKey(username))
}

// addressKey is what one client address counts as.
func addressKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is6():
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// usernameDigest stands for the username in logs: enough to tell the
// attempts on one account apart from others, without naming it.
func (a *loginAttempt) usernameDigest() string { return a.account[:16] }

func (a *loginAttempt) ids() []string { return []string{a.account, a.address} }

// peek says whether the attempt would be refused, without counting it:
// a refused attempt is answered before it waits for a password check.
func (t *loginThrottle) peek(ctx context.Context, a *loginAttempt, now time.Time) (loginVerdict, error) {
	es, err := t.store.GetThrottle(ctx, a.ids())
	if err != nil {
		return loginVerdict{}, fmt.Errorf("read login throttle: %w", err)
	}
	return t.limits.judge(es[0], es[1], now), nil
}

// reserve counts the attempt, atomically with the check that it is
// allowed, before its password is checked.
func (t *loginThrottle) reserve(ctx context.Context, a *loginAttempt, now time.Time) (loginVerdict, error) {
	var v loginVerdict
	err := t.store.UpdateThrottle(ctx, a.ids(), func(es []storage.ThrottleEntry) []storage.ThrottleEntry {
		if v = t.limits.judge(es[0], es[1], now); !v.allowed {
			return nil
		}
		account, address := t.limits.count(es[0], es[1], now)
		a.reserved, a.accountBefore, a.accountCounted = address, es[0], account
		return []storage.ThrottleEntry{account, address}
	})
	if err != nil {
		return loginVerdict{}, fmt.Errorf("count login attempt: %w", err)
	}
	return v, nil
}

// succeeded records that the reserved attempt was right (a password, a
// second factor): the address gets its attempt back (LoginLimits.succeeded)
// and the account's failures are forgotten, unless the account entry is
// shared (a.sharedAccount: the user's username has case variants, stored
// before the directory refused them; each signs in by its exact
// spelling). Then its failures may be guesses at another variant's
// password, and forgetting them would give whoever knows one variant's
// password the other's free failures again and again; only this
// attempt's count is taken back (LoginLimits.uncount), so that a
// variant's own sign-ins never add up to a lock. A second factor's entry
// is the user's own, never shared.
func (t *loginThrottle) succeeded(ctx context.Context, a *loginAttempt, now time.Time) error {
	err := t.store.UpdateThrottle(ctx, a.ids(), func(es []storage.ThrottleEntry) []storage.ThrottleEntry {
		out := t.limits.succeeded(es[0], a.accountCounted, es[1], a.reserved, now)
		if a.sharedAccount {
			i := slices.IndexFunc(out, func(e storage.ThrottleEntry) bool { return e.ID == a.account })
			out[i] = t.limits.uncount(es[0], a.accountBefore, a.accountCounted, now)
		}
		return out
	})
	if err != nil {
		return fmt.Errorf("reset login throttle: %w", err)
	}
	return nil
}

// resetAfterPassword is succeeded for a page that knows its user rather
// than a typed username (the account page's password change): it first
// reads whether username has case variants.
func (p *Provider) resetAfterPassword(ctx context.Context, a *loginAttempt, username string) error {
	_, shared, err := p.dir.Users().SignInUser(ctx, username)
	if err != nil {
		return fmt.Errorf("reset login throttle: %w", err)
	}
	a.sharedAccount = shared
	return p.logins.succeeded(ctx, a, p.cfg.Now())
}

// retryAfter is the Retry-After value for a wait of d: whole seconds,
// rounded up, at least 1.
func retryAfter(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(max(s, 1)), 10)
}
