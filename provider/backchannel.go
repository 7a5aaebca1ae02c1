package provider

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/storage"
)

// OpenID Connect Back-Channel Logout 1.0: when a browser session ends,
// every client that received tokens in it and registered a
// backchannel_logout_uri gets a logout token, POSTed server to server.
// Delivery is durable: the transaction that ends the sessions queues a
// notice per client in the database (storage.Store.TakeSessionClients),
// and a worker in every running provider drains that outbox. A notice
// outlives a crash or a restart, and one queued by the CLI, which runs no
// worker, is delivered by the next server that polls. A worker leases
// what it claims, so replicas never send one notice at once, and a
// notice whose worker died is claimed again once its lease ended. A
// notice is given up only when its client keeps failing it, never for a
// failure of ours.

// backchannelEvent is the events member of a logout token (§2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

const (
	// backchannelAttempts is how often a client may fail a notice before
	// it is given up: with backchannelBackoff doubling from one second,
	// the last try is about 8½ minutes after the first. Failures of ours
	// spend none (deliver).
	backchannelAttempts = 10
	// backchannelBackoff is the wait after a first failed try; it doubles
	// with every further one, up to backchannelMaxBackoff.
	backchannelBackoff    = time.Second
	backchannelMaxBackoff = 10 * time.Minute
	backchannelTimeout    = 5 * time.Second
	// backchannelPostponements is how many of a notice's claims a send
	// failure that may be ours as much as the client's
	// (localSendFailure's maybe) may postpone without spending an
	// attempt: about 75 minutes with backchannelBackoff doubling up to
	// backchannelMaxBackoff. Past it such failures spend attempts, so a
	// backchannel_logout_uri that always fails so (a host this server has
	// no route to, a zone whose nameservers never answer) is given up
	// after backchannelAttempts more, not retried, each try up to
	// backchannelTimeout of the one worker, until housekeeping drops it a
	// day later.
	backchannelPostponements = 16
	// backchannelBatch is how many notices a worker claims at once.
	backchannelBatch = 4
	// backchannelLease is how long a claimed notice is the claimer's:
	// longer than the sends of a whole batch, one after the other, each
	// up to backchannelTimeout, so that no other replica claims one of
	// them meanwhile, and short, so that the notices of a worker that
	// died are sent soon by another (30 seconds).
	backchannelLease = (backchannelBatch + 2) * backchannelTimeout
	// logoutTokenLifetime is short: the token is signed as it is sent.
	logoutTokenLifetime = 2 * time.Minute
)

// backchannel is the worker that drains the outbox of logout notices: it
// wakes when this process queued some (wake) and otherwise every poll
// interval, claims a batch, sends each, and finishes or retries it.
type backchannel struct {
	store  storage.Store
	client *http.Client
	now    func() time.Time
	sign   func(n storage.LogoutNotice) (string, error)
	log    *slog.Logger
	poll   time.Duration
	// backoff is the wait after a first failed try (backchannelBackoff;
	// tests shorten it), read by the worker only once it runs.
	backoff atomic.Int64

	// wake holds one nudge: queued notices to look for now.
	wake     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	stopOnce sync.Once
	done     chan struct{}
}

// newBackchannel starts the worker of the outbox in store, polling every
// poll.
func newBackchannel(store storage.Store, now func() time.Time, log *slog.Logger, sign func(storage.LogoutNotice) (string, error), poll time.Duration) *backchannel {
	ctx, cancel := context.WithCancel(context.Background())
	b := &backchannel{
		store:  store,
		client: newCalloutClient(backchannelTimeout, http.ErrUseLastResponse),
		now:    now,
		sign:   sign,
		log:    log,
		poll:   poll,
		wake:   make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	b.backoff.Store(int64(backchannelBackoff))
	go b.run()
	return b
}

// nudge tells the worker that notices were queued, without waiting: a
// nudge already pending covers this one.
func (b *backchannel) nudge() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *backchannel) run() {
	defer close(b.done)
	t := time.NewTimer(0)
	defer t.Stop()
	// due is the earliest retry this worker set that no drain has had
	// the chance to claim yet: it sleeps no longer than that.
	var due time.Time
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.wake:
		case <-t.C:
		}
		start := b.now()
		next := b.drain()
		if !due.After(start) {
			due = time.Time{} // due during that drain: claimed then
		}
		if !next.IsZero() && (due.IsZero() || next.Before(due)) {
			due = next
		}
		wait := b.poll
		if !due.IsZero() {
			wait = max(min(wait, due.Sub(b.now())), 0)
		}
		t.Reset(wait)
	}
}

// drain claims and sends due notices until none is left, and returns the
// earliest retry it set (zero if none).
func (b *backchannel) drain() (next time.Time) {
	for b.ctx.Err() == nil {
		ns, err := b.store.ClaimLogoutNotices(b.ctx, b.now(), backchannelLease, backchannelBatch)
		if err != nil {
			if b.ctx.Err() == nil {
				b.log.Error("back-channel logout: claim notices", "err", err)
			}
			return next
		}
		for _, n := range ns {
			if at := b.deliverOrRecover(n); !at.IsZero() && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
		if len(ns) < backchannelBatch {
			break
		}
	}
	return next
}

// deliver sends one claimed notice and finishes it (sent, refused, given
// up, or no longer wanted) or retries it; it returns when the retry is
// due, zero when it set none.
//
// Only the client's failures (no answer, a timeout, a status other than
// 200, 204 or 400) spend one of the notice's backchannelAttempts; ours —
// the store failing to load the client, the key failing to sign, a send
// that failed on this side (ourSendFailure; one the client's URI can
// cause too only up to backchannelPostponements), shutting down —
// postpone it with its attempts kept (logged at error), however long
// they last: giving a notice up on our own failures would leave the
// client with a session the user ended. The store tells the two apart
// (storage.LogoutNotice's Attempts, counted by RetryLogoutNotice, and
// Claim, which it fences on): a claim counts no attempt, so a notice
// that a failure of the store left leased, or whose sender died, is
// claimed again once its lease ends with its attempts as they were.
// A notice whose send shutting down cut short, or met before it began,
// is handed back at once, for the next start or another replica.
func (b *backchannel) deliver(n storage.LogoutNotice) time.Time {
	if b.ctx.Err() != nil {
		b.release(n)
		return time.Time{}
	}
	c, err := b.store.GetClient(b.ctx, n.ClientID)
	switch {
	case b.ctx.Err() != nil:
		b.release(n)
		return time.Time{}
	case errors.Is(err, storage.ErrNotFound):
		b.finish(n) // deleted meanwhile: nobody to tell
		return time.Time{}
	case err != nil:
		return b.postpone(n, "load client", err)
	case c.BackchannelLogoutURI == "":
		b.finish(n) // the client no longer wants to hear
		return time.Time{}
	}
	tok, err := b.sign(n)
	if err != nil {
		return b.postpone(n, "sign the logout token", err)
	}
	err = b.send(c.BackchannelLogoutURI, tok)
	var refused *refusedError
	switch {
	case err == nil:
		b.finish(n)
		return time.Time{}
	case b.ctx.Err() != nil:
		b.release(n)
		return time.Time{}
	case ourSendFailure(err, n):
		return b.postpone(n, "send the logout token", err)
	case errors.As(err, &refused) || n.Attempts+1 >= backchannelAttempts:
		b.finish(n)
		b.log.Warn("back-channel logout failed", "client_id", n.ClientID, "attempts", n.Attempts+1, "err", err)
		return time.Time{}
	}
	at := b.now().Add(b.wait(n.Attempts))
	b.retry(n, true, at)
	return at
}

// deliverOrRecover is deliver, with a panic of it (a bug of ours, in the
// store, the signer or the HTTP client) caught and counted as one of the
// notice's backchannelAttempts. Uncaught, it ended the process, not just
// this goroutine; the notice, leased but never booked, was claimed again
// once its lease ended, by this server restarted or another replica,
// and ended that one too, for as long as the outbox keeps a notice (a
// day). Counted, a notice that always panics is given up after
// backchannelAttempts, as one its client always fails.
func (b *backchannel) deliverOrRecover(n storage.LogoutNotice) (at time.Time) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		b.log.Error("back-channel logout: sending a notice panicked", "client_id", n.ClientID, "attempts", n.Attempts+1, "panic", v, "stack", string(debug.Stack()))
		if n.Attempts+1 >= backchannelAttempts {
			b.finish(n)
			at = time.Time{}
			return
		}
		at = b.now().Add(b.wait(n.Attempts))
		b.retry(n, true, at)
	}()
	return b.deliver(n)
}

// wait is how long to wait after a try that failed with k failed before
// it: backoff·2^k, capped.
func (b *backchannel) wait(k int) time.Duration {
	return min(time.Duration(b.backoff.Load())<<min(k, 20), backchannelMaxBackoff)
}

// postpone logs a failure of ours (what, err) that kept notice n from
// being sent, and makes it due again without spending an attempt; the
// wait grows with the notice's claims, which only grow, so a long outage
// of ours retries every backchannelMaxBackoff. It returns when it is due.
func (b *backchannel) postpone(n storage.LogoutNotice, what string, err error) time.Time {
	b.log.Error("back-channel logout: "+what+"; the notice is kept for a retry", "client_id", n.ClientID, "claim", n.Claim, "err", err)
	at := b.now().Add(b.wait(n.Claim - 1))
	b.retry(n, false, at)
	return at
}

// bookTimeout bounds the write that records how a send ended.
const bookTimeout = 5 * time.Second

// bookCtx is the context of that write: not cut short by close, which
// waits for it, so that a notice sent is finished and one handed back is
// free at once.
func (b *backchannel) bookCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(b.ctx), bookTimeout)
}

// finish deletes notice n from the outbox; one already gone (its client
// deleted) is no error.
func (b *backchannel) finish(n storage.LogoutNotice) {
	ctx, cancel := b.bookCtx()
	defer cancel()
	if err := b.store.FinishLogoutNotice(ctx, n.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		b.log.Error("back-channel logout: finish a notice", "client_id", n.ClientID, "err", err)
	}
}

// retry makes notice n due again at at, counting the attempt it made if
// attempted, and frees it, unless its lease ended and another sender
// claimed it meanwhile (then it is that sender's: not found). A retry
// that fails leaves n leased, claimed again once the lease ends.
func (b *backchannel) retry(n storage.LogoutNotice, attempted bool, at time.Time) {
	ctx, cancel := b.bookCtx()
	defer cancel()
	if err := b.store.RetryLogoutNotice(ctx, n.ID, n.Claim, attempted, at); err != nil && !errors.Is(err, storage.ErrNotFound) {
		b.log.Error("back-channel logout: schedule a retry", "client_id", n.ClientID, "err", err)
	}
}

// release hands notice n back, due now, on shutting down: its send, if
// it began, spends no attempt.
func (b *backchannel) release(n storage.LogoutNotice) { b.retry(n, false, b.now()) }

// refusedError is a client answering 400: it read the token and refused
// it (§2.8), so sending it again would not help.
type refusedError struct{ status int }

func (e *refusedError) Error() string {
	return fmt.Sprintf("client refused the logout token: status %d", e.status)
}

// sendFailure classifies a failed send (localSendFailure).
type sendFailure int

const (
	// sendFailureClients is a failure only the client can be behind: no
	// answer, a refused or reset connection, a timeout, a name that does
	// not exist, a bad status.
	sendFailureClients sendFailure = iota
	// sendFailureOurs is one only this host can be behind: it is out of
	// file descriptors, buffers or memory, or our proxy is unreachable.
	// Nothing in a backchannel_logout_uri causes it.
	sendFailureOurs
	// sendFailureMaybeOurs is one an outage of ours causes, but so can
	// the client's URI: no route to the network (our network down, or a
	// host that resolves to an address this host has no route to, such
	// as an IPv6 one on a server without IPv6), an address not available
	// (our ephemeral ports used up, or an address no connection can be
	// made to), the resolver failing other than with "no such host" (our
	// resolver down, or the client's zone whose nameservers time out or
	// answer SERVFAIL). Counted as ours without bound, a client could
	// keep its notices retried for a day; see backchannelPostponements.
	sendFailureMaybeOurs
)

// ourSendFailure reports whether err, a failed send of notice n, is to
// be postponed as a failure of ours: always when only this host can be
// behind it, and, when the client's URI can be as well, only while n's
// claims that spent no attempt (claims before this one, less its
// attempts) are fewer than backchannelPostponements.
func ourSendFailure(err error, n storage.LogoutNotice) bool {
	switch localSendFailure(err) {
	case sendFailureOurs:
		return true
	case sendFailureMaybeOurs:
		return n.Claim-1-n.Attempts < backchannelPostponements
	}
	return false
}

// localSendFailure tells who a send's failure is on. Counted against
// the client, an outage of ours long enough to spend backchannelAttempts
// (about 8½ minutes) gave up every notice queued meanwhile, leaving each
// client with a session its user had ended.
func localSendFailure(err error) sendFailure {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, errno) {
			return sendFailureOurs
		}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "proxyconnect" {
		return sendFailureOurs
	}
	for _, errno := range []syscall.Errno{syscall.EADDRNOTAVAIL, syscall.ENETUNREACH} {
		if errors.Is(err, errno) {
			return sendFailureMaybeOurs
		}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && !dnsErr.IsNotFound {
		return sendFailureMaybeOurs
	}
	return sendFailureClients
}

// send POSTs the logout token tok to the client's backchannel_logout_uri
// uri; the errors it returns are the client's, but for those
// localSendFailure tells apart.
func (b *backchannel) send(uri, tok string) error {
	ctx, cancel := context.WithTimeout(b.ctx, backchannelTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return &refusedError{}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("post logout token: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode == http.StatusBadRequest:
		return &refusedError{status: resp.StatusCode}
	}
	return fmt.Errorf("post logout token: status %d", resp.StatusCode)
}

// close stops the worker, cutting a send short; the notices it held or
// had not claimed stay in the outbox, for the next start or another
// replica once their lease ends. It may be called more than once.
func (b *backchannel) close() {
	b.stopOnce.Do(b.cancel)
	<-b.done
}

// Close stops what the provider runs in the background (the back-channel
// logout worker). Call it once the HTTP server has shut down.
func (p *Provider) Close() { p.logouts.close() }

// signLogoutToken makes the logout token of n (§2.4): iss, aud, iat, exp,
// jti, events, sub and sid, never a nonce; typ logout+jwt (§2.4, RFC 8725
// §3.11), signed like the ID tokens.
func (p *Provider) signLogoutToken(n storage.LogoutNotice) (string, error) {
	now := p.cfg.Now()
	claims := map[string]any{
		"iss":    p.cfg.Issuer,
		"aud":    n.ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(logoutTokenLifetime).Unix(),
		"jti":    rand.Text(),
		"events": map[string]any{backchannelEvent: map[string]any{}},
		"sub":    n.UserID,
	}
	if n.SID != "" {
		claims["sid"] = n.SID
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return p.cfg.Keys.Sign(payload, "logout+jwt")
}

// codeSessionLive records, for a client that wants back-channel logout
// notices, that the client of a code exchange got tokens in the browser
// session sid the code was issued in, and refuses the exchange
// (invalid_grant) if that session has ended meanwhile: a logout, or a new
// sign-in that replaced it, between the code's issue and its exchange
// took the session's clients before this one was among them, so the
// client would get tokens, a refresh token included, for a session that
// is over and never be told of its end. The record is written only while
// the session is live and the user's, judged in the same statement
// (storage.Store.PutLiveSessionClient), which on PostgreSQL waits for an
// end of the session under way: a record written and a session judged
// live apart let an end that took the clients before the record's commit,
// and committed after the judgement, leave the client untold. The
// refusal spends nothing: the code stays unspent, and is refused again,
// since its session cannot come back. A client without a
// backchannel_logout_uri is promised no notice and is not checked (two
// tabs signing in at once in one browser both get their tokens), nor is
// a code without sid (from before sessions had one).
func (p *Provider) codeSessionLive(ctx context.Context, client *storage.Client, sid, userID string) error {
	if client == nil || client.BackchannelLogoutURI == "" || sid == "" || userID == "" {
		return nil
	}
	now := p.cfg.Now()
	err := p.cfg.Store.PutLiveSessionClient(ctx, &storage.SessionClient{SID: sid, ClientID: client.ID, UserID: userID, ExpiresAt: now.Add(p.cfg.SessionLifetime).UTC()},
		now.UTC(), now.Add(-p.cfg.SessionIdleTimeout).UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrInvalidGrant.WithHint("The sign-in this authorization code came from has ended (the user signed out, or signed in again); sign in again.")
	}
	if err != nil {
		return fmt.Errorf("record the client of a session for back-channel logout: %w", err)
	}
	return nil
}

// logoutsQueued wakes the back-channel logout worker: a change that has
// committed queued notices for the clients of the sessions it ended
// (directory.Options.LogoutsQueued, queueSessionLogouts).
func (p *Provider) logoutsQueued(context.Context, []storage.SessionClient) { p.logouts.nudge() }

// queueSessionLogouts takes the back-channel records of browser session
// sid, which queues a logout notice for each of its clients that wants
// one, in ctx's transaction (the one that ends the session); the worker
// is woken once that has committed.
func (p *Provider) queueSessionLogouts(ctx context.Context, sid string) error {
	if sid == "" {
		return nil
	}
	ended, err := p.cfg.Store.TakeSessionClients(ctx, sid, "", "")
	if err != nil {
		return fmt.Errorf("back-channel logout: queue the notices of an ended session: %w", err)
	}
	if len(ended) > 0 {
		p.cfg.Store.AfterCommit(ctx, func(ctx context.Context) { p.logoutsQueued(ctx, ended) })
	}
	return nil
}

// queueEndSessionLogouts queues the notices of the clients of the
// sessions a logout at the end_session endpoint ends, in its
// transaction: the browser's own (sess) and the one the id_token_hint
// named, if it ended that one.
func (p *Provider) queueEndSessionLogouts(ctx context.Context, sess *storage.BrowserSession, hint *idTokenHint, namedEnded bool) error {
	if sess != nil {
		if err := p.queueSessionLogouts(ctx, sess.SID); err != nil {
			return err
		}
	}
	if namedEnded && hint != nil && (sess == nil || hint.sid != sess.SID) {
		return p.queueSessionLogouts(ctx, hint.sid)
	}
	return nil
}
