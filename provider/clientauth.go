package provider

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/internal/jws"
	"github.com/hallpass/hallpass/provider/fositestore"
)

// clientAssertionType is RFC 7523 §2.2's client_assertion_type.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Bounds on a private_key_jwt client assertion (RFC 7523 §3, OIDC Core
// §9). An assertion is meant for one request: it may live a few minutes
// at most, and its jti is remembered until it expires, so a long-lived
// one would be a replayable credential and a row kept for years.
const (
	maxAssertionLifetime = 5 * time.Minute
	// assertionClockSkew tolerates a client clock slightly ahead.
	assertionClockSkew = 30 * time.Second
	maxAssertionBytes  = 8 << 10
)

// tokenURLConfig is fosite's configuration as its client authentication
// reads it: the audiences an assertion may name are the token endpoint
// and the issuer, exactly (RFC 7523 §3 allows either; fosite's Config
// knows only the token endpoint).
type tokenURLConfig struct {
	*fosite.Config
	issuer string
}

// GetTokenURLs returns the token endpoint and the issuer.
func (c tokenURLConfig) GetTokenURLs(ctx context.Context) []string {
	return []string{c.TokenURL, c.issuer}
}

// authenticateClient wraps fosite's client authentication (Basic, post,
// private_key_jwt, none per the client's registration), which the token,
// PAR, introspection and revocation endpoints share. Before fosite looks
// at an assertion, it must be spelt canonically and expire within
// maxAssertionLifetime; after,
// fosite's unregistered jti_known error for a replayed assertion becomes
// invalid_client (RFC 7523 §3.1, RFC 6749 §5.2), and a failure of the
// database met checking or recording the jti, which fosite reports as
// that very replay, is answered as the failure of ours it is.
func (p *Provider) authenticateClient(f *fosite.Fosite) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		var sub string
		if form.Get("client_assertion_type") == clientAssertionType {
			var err error
			sub, err = p.checkAssertion(form.Get("client_assertion"))
			if err != nil {
				return nil, err
			}
			// fosite authenticates the assertion as sub's (it refuses
			// one whose iss or sub is not the client's id) and then
			// hands the store its jti alone: the store records the jti
			// as sub's, for a jti is unique per client only.
			ctx = fositestore.WithAssertionClient(ctx, sub)
		}
		c, err := f.DefaultClientAuthenticationStrategy(ctx, r, form)
		if cause := fositestore.AssertionFailure(ctx); err != nil && cause != nil {
			// fosite answers any failure to look the jti up as the
			// client's replay (invalid_client, "jti already used"):
			// the database's failure is ours, answered and logged as
			// such by the endpoint (a 5xx, never invalid_client). A
			// failed look-up recorded nothing: the client may send the
			// same assertion again.
			return nil, fmt.Errorf("authenticate client %q by assertion: %w", capLog(sub), cause)
		}
		var rfc *fosite.RFC6749Error
		switch {
		case err == nil:
			// The request is this client's: its answer, whatever it
			// is, may be readable from the client's origins (cors.go).
			allowClientOrigin(ctx, c)
			if n, ok := ctx.Value(callerNoteKey{}).(*callerNote); ok {
				n.client = c
			}
			return c, nil
		case errors.Is(err, fosite.ErrJTIKnown):
			return nil, fosite.ErrInvalidClient.WithHint("This client assertion was already used; sign a new one, with a new jti, for every request.")
		case storeFailed(err):
			return nil, err
		case errors.As(err, &rfc) && rfc.CodeField >= http.StatusInternalServerError:
			return nil, err
		case rfc != nil && form.Get("client_assertion_type") == clientAssertionType:
			// fosite answers an assertion signed with a key the client
			// does not have (an unknown kid, a key of the wrong type)
			// invalid_request; it is a failed client authentication
			// (RFC 6749 §5.2).
			return nil, fosite.ErrInvalidClient.WithHint(rfc.HintField).WithWrap(err).WithDebug(rfc.DebugField)
		case rfc != nil:
			return nil, err
		}
		// fosite hands on the JWT library's own claim errors (an expired
		// or not yet valid assertion) unwrapped; they are the client's.
		return nil, fosite.ErrInvalidClient.WithHint("The client_assertion is not valid (expired, not yet valid, or malformed).").WithWrap(err).WithDebug(err.Error())
	}
}

type callerNoteKey struct{}

// callerNote is where authenticateClient leaves the client it
// authenticated, for a handler that needs it after fosite has let it go
// (withCallerNote). Authenticating again is no way to find it: a
// private_key_jwt assertion's jti is spent by the first authentication.
type callerNote struct{ client fosite.Client }

// withCallerNote returns ctx with an empty callerNote, which the client
// authentication of a request made with that ctx fills in.
func withCallerNote(ctx context.Context) (context.Context, *callerNote) {
	n := &callerNote{}
	return context.WithValue(ctx, callerNoteKey{}, n), n
}

// checkAssertion refuses an assertion that is not spelt canonically
// (jws.Parse), whose claims are not one JSON object with distinct member
// names, that has no string sub, no numeric exp, has expired, or expires
// more than maxAssertionLifetime from now; else it returns the sub, the
// client the assertion is for (fosite refuses it unless sub is the
// authenticated client's id), under which its jti is recorded. It reads
// the claims before the signature
// is checked, which is safe: it only refuses, and fosite then verifies
// the very same claims.
//
// It is the one check of exp that holds, for fosite's does not: fosite
// takes an exp of 0 (or any number below 1) for no exp, so such an
// assertion would be accepted with its jti remembered only until 1970,
// that is not at all, and could be replayed for ever. And the claims are
// read as fosite's go-jose reads them, member names compared exactly:
// encoding/json would match "EXP" to exp as well, and pass an assertion
// whose exp (the one fosite reads) is years ahead, and so with sub: the
// client whose jti is spent must be the one fosite authenticated.
func (p *Provider) checkAssertion(assertion string) (sub string, err error) {
	bad := func(hint string) error { return fosite.ErrInvalidClient.WithHint(hint) }
	if len(assertion) > maxAssertionBytes {
		return "", bad("The client_assertion is too large.")
	}
	// fosite's go-jose would strip whitespace, decode base64url
	// leniently and honour crit (b64 among them): one spelling only.
	jwt, err := jws.Parse(assertion)
	if err != nil {
		return "", fosite.ErrInvalidClient.WithHint("The client_assertion is not a signed JWT in canonical JWS compact serialization: three base64url segments without padding or whitespace, each the one encoding of its bytes, and no crit header.").WithDebug(err.Error())
	}
	// json (v2) matches member names exactly and refuses an object
	// naming one twice, where two parsers could each read another value.
	var claims struct {
		Sub *string  `json:"sub"`
		Exp *float64 `json:"exp"`
	}
	if err := jsonv2.Unmarshal(jwt.Payload, &claims); err != nil {
		return "", bad("The client_assertion's claims are not a JSON object with distinct member names, or its sub is not a string, or its exp not a number.")
	}
	if claims.Sub == nil || *claims.Sub == "" {
		return "", bad("The client_assertion has no sub claim; sub and iss must both be the client_id.")
	}
	if claims.Exp == nil {
		return "", bad("The client_assertion has no exp claim.")
	}
	// fosite reads exp in whole seconds and accepts it while the current
	// second is not past it; the jti is remembered until that second
	// starts. Past it, or at it, the assertion has expired: a replay
	// within the second of its exp would find the jti forgotten.
	now := p.cfg.Now()
	if math.Floor(*claims.Exp) <= float64(now.Unix()) {
		return "", bad("The client_assertion has expired.")
	}
	limit := now.Add(maxAssertionLifetime + assertionClockSkew)
	if *claims.Exp > float64(limit.Unix()) {
		return "", bad("The client_assertion expires too far ahead; exp may be at most 5 minutes from now.")
	}
	return *claims.Sub, nil
}

// protocolExtensions finishes the composed fosite provider for private_key_jwt:
// fosite reads the assertion audiences from its own Config, and hallpass's
// wrapper around its client authentication from the Config it was built with.
func (p *Provider) protocolExtensions(op fosite.OAuth2Provider, fc *fosite.Config) {
	f, ok := op.(*fosite.Fosite)
	if !ok {
		return
	}
	f.Config = tokenURLConfig{Config: fc, issuer: p.cfg.Issuer}
	fc.ClientAuthenticationStrategy = p.authenticateClient(f)
}
