package provider

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// OpenID Connect Back-Channel Logout 1.0: when a browser session ends,
// every client that received tokens in it and registered a
// backchannel_logout_uri gets a logout token, POSTed server to server.
// Delivery is best effort, in this process: a bounded queue (a full
// queue drops the notice, logged), a few retries with backoff for a
// client that is down, and nothing survives a restart.

// backchannelEvent is the events member of a logout token (§2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

const (
	backchannelQueueSize = 1024
	backchannelAttempts  = 4
	backchannelTimeout   = 5 * time.Second
	// logoutTokenLifetime is short: the token is delivered at once.
	logoutTokenLifetime = 2 * time.Minute
)

// logoutNotice is one logout token to deliver.
type logoutNotice struct {
	clientID, uri, sub, sid string
	attempt                 int
}

// backchannel delivers logout notices: one worker reads the queue; a
// notice that failed is put back after a backoff, until it has had
// backchannelAttempts tries.
type backchannel struct {
	queue   chan logoutNotice
	client  *http.Client
	backoff time.Duration
	sign    func(n logoutNotice) (string, error)
	log     *slog.Logger

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// newBackchannel starts the worker of a queue of size notices.
func newBackchannel(log *slog.Logger, sign func(logoutNotice) (string, error), size int) *backchannel {
	b := &backchannel{
		queue: make(chan logoutNotice, size),
		client: &http.Client{Timeout: backchannelTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		backoff: time.Second,
		sign:    sign,
		log:     log,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go b.run()
	return b
}

// enqueue adds n without waiting; a full queue or a stopped worker drops
// it, and says so in the log.
func (b *backchannel) enqueue(n logoutNotice) {
	select {
	case <-b.stop:
		b.log.Warn("back-channel logout not sent: shutting down", "client_id", n.clientID)
		return
	default:
	}
	select {
	case b.queue <- n:
	default:
		b.log.Warn("back-channel logout dropped: the queue is full", "client_id", n.clientID, "queue", cap(b.queue))
	}
}

func (b *backchannel) run() {
	defer close(b.done)
	for {
		select {
		case <-b.stop:
			return
		case n := <-b.queue:
			b.deliver(n)
		}
	}
}

// deliver sends one notice; a failure a retry could mend is retried
// after backoff·2^attempt.
func (b *backchannel) deliver(n logoutNotice) {
	n.attempt++
	err := b.send(n)
	if err == nil {
		return
	}
	var permanent *refusedError
	if errors.As(err, &permanent) || n.attempt >= backchannelAttempts {
		b.log.Warn("back-channel logout failed", "client_id", n.clientID, "attempts", n.attempt, "err", err)
		return
	}
	wait := b.backoff << (n.attempt - 1)
	time.AfterFunc(wait, func() { b.enqueue(n) })
}

// refusedError is a client answering 400: it read the token and refused
// it (§2.8), so sending it again would not help.
type refusedError struct{ status int }

func (e *refusedError) Error() string {
	return fmt.Sprintf("client refused the logout token: status %d", e.status)
}

func (b *backchannel) send(n logoutNotice) error {
	tok, err := b.sign(n)
	if err != nil {
		return fmt.Errorf("sign logout token: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), backchannelTimeout)
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.uri, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
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

// close stops the worker; notices still queued or waiting for a retry
// are dropped.
func (b *backchannel) close() {
	b.stopOnce.Do(func() { close(b.stop) })
	<-b.done
}

// Close stops what the provider runs in the background (the back-channel
// logout worker). Call it once the HTTP server has shut down.
func (p *Provider) Close() { p.logouts.close() }

// signLogoutToken makes the logout token of n (§2.4): iss, aud, iat, exp,
// jti, events, sub and sid, never a nonce; typ logout+jwt (§2.4, RFC 8725
// §3.11), signed like the ID tokens.
func (p *Provider) signLogoutToken(n logoutNotice) (string, error) {
	now := p.cfg.Now()
	claims := map[string]any{
		"iss":    p.cfg.Issuer,
		"aud":    n.clientID,
		"iat":    now.Unix(),
		"exp":    now.Add(logoutTokenLifetime).Unix(),
		"jti":    rand.Text(),
		"events": map[string]any{backchannelEvent: map[string]any{}},
		"sub":    n.sub,
	}
	if n.sid != "" {
		claims["sid"] = n.sid
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return p.cfg.Keys.Sign(payload, "logout+jwt")
}

// recordSessionClient remembers that the client of a code exchange got
// tokens in the browser session sid, if it wants to hear when that
// session ends.
func (p *Provider) recordSessionClient(ctx context.Context, client *storage.Client, sid, userID string) error {
	if client == nil || client.BackchannelLogoutURI == "" || sid == "" || userID == "" {
		return nil
	}
	err := p.cfg.Store.PutSessionClient(ctx, &storage.SessionClient{SID: sid, ClientID: client.ID, UserID: userID, ExpiresAt: p.cfg.Now().Add(p.cfg.SessionLifetime).UTC()})
	if err != nil {
		return fmt.Errorf("record the client of a session for back-channel logout: %w", err)
	}
	return nil
}

// sessionsEnded tells the clients of ended sessions (records taken from
// the store by whoever ended them). It never fails the caller: the
// sessions have ended; a client that cannot be told is logged.
func (p *Provider) sessionsEnded(ctx context.Context, ended []storage.SessionClient) {
	for _, sc := range ended {
		c, err := p.cfg.Store.GetClient(ctx, sc.ClientID)
		if err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				p.log.ErrorContext(ctx, "back-channel logout: load client", "client_id", sc.ClientID, "err", err)
			}
			continue
		}
		if c.BackchannelLogoutURI == "" {
			continue
		}
		p.logouts.enqueue(logoutNotice{clientID: c.ID, uri: c.BackchannelLogoutURI, sub: sc.UserID, sid: sc.SID})
	}
}

// endedSession tells the clients of browser session sid that it ended.
func (p *Provider) endedSession(ctx context.Context, sid string) {
	if sid == "" {
		return
	}
	ended, err := p.cfg.Store.TakeSessionClients(ctx, sid, "", "")
	if err != nil {
		p.log.ErrorContext(ctx, "back-channel logout: read the clients of an ended session", "err", err)
		return
	}
	p.sessionsEnded(ctx, ended)
}

// logoutEnded tells the clients of the sessions a logout ended: the
// browser's own (sess) and the one the id_token_hint named, if it ended
// that one.
func (p *Provider) logoutEnded(ctx context.Context, sess *storage.BrowserSession, hint *idTokenHint, namedEnded bool) {
	if sess != nil {
		p.endedSession(ctx, sess.SID)
	}
	if namedEnded && hint != nil && (sess == nil || hint.sid != sess.SID) {
		p.endedSession(ctx, hint.sid)
	}
}
