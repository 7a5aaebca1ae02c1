package provider

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/provider/fositestore"
)

// FillPasswordChecks takes every password-check slot until release is
// called, so tests can see what a request meets when the bound is full.
func (p *Provider) FillPasswordChecks() (release func()) {
	n := cap(p.passwords.slots)
	for range n {
		p.passwords.slots <- struct{}{}
	}
	return func() {
		for range n {
			<-p.passwords.slots
		}
	}
}

// PasswordChecksRunning is how many password checks and hashes hold a
// slot of the bound now.
func (p *Provider) PasswordChecksRunning() int { return len(p.passwords.slots) }

// RowAccessToken returns an access token as hallpass issued them before
// they were self-contained, for the grant of tok, an access token it
// issued: signed without grant_id, the grant kept in a row of its own.
func (p *Provider) RowAccessToken(ctx context.Context, tok string) (string, error) {
	ar, err := p.fstore.GetAccessTokenSession(ctx, tok, NewSession())
	if err != nil {
		return "", err
	}
	c, err := p.jwt.verifyAccessToken(tok)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(map[string]any{
		"iss": c.Iss, "sub": c.Sub, "aud": c.Aud, "exp": c.Exp, "iat": c.Iat,
		"client_id": c.ClientID, "scope": c.Scope, "jti": "row-" + ar.GetID(),
	})
	if err != nil {
		return "", err
	}
	old, err := p.cfg.Keys.Sign(payload, "at+jwt")
	if err != nil {
		return "", err
	}
	sig, err := p.jwt.GetSignature(ctx, old)
	if err != nil {
		return "", err
	}
	// The provider's own store keeps no access token rows any more.
	rows := fositestore.New(p.cfg.Store, func() fosite.Session { return NewSession() }, p.cfg.Now, nil)
	if err := rows.CreateAccessTokenSession(ctx, sig, ar); err != nil {
		return "", err
	}
	return old, nil
}

// BackchannelAttempts is how often a client may fail a back-channel
// logout notice before it is given up.
const BackchannelAttempts = backchannelAttempts

// ShortenBackchannelBackoff makes the back-channel logout worker wait d,
// not backchannelBackoff, after a first failed try, so that a test sees
// many tries in a few seconds.
func (p *Provider) ShortenBackchannelBackoff(d time.Duration) { p.logouts.backoff.Store(int64(d)) }
