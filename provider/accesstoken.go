package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/hallpass/hallpass/provider/fositestore"
	"github.com/hallpass/hallpass/storage"
)

// selfContainedStrategy is fosite's JWT strategy, but where fosite asks
// for an access token's signature to look its row up (introspection,
// revocation, userinfo), it hands over the whole token: access tokens
// have no row, and the store reads them (readAccessToken). Anything that
// is not a compact JWS has no signature.
type selfContainedStrategy struct{ oauth2.CoreStrategy }

// AccessTokenSignature returns token itself when it is a compact JWS.
func (s selfContainedStrategy) AccessTokenSignature(_ context.Context, token string) string {
	if strings.Count(token, ".") != 2 {
		return ""
	}
	return token
}

// readAccessToken is the fositestore.AccessTokenReader of hallpass's
// access tokens: it verifies the token and fills session from its claims
// as the stored session of its grant would be. A token without a grant_id
// (one from before access tokens were self-contained) is nil.
func (p *Provider) readAccessToken(_ context.Context, token string, session fosite.Session) (*fositestore.AccessToken, error) {
	c, err := p.jwt.verifyAccessToken(token)
	if err != nil {
		return nil, err
	}
	if c.GrantID == "" {
		return nil, nil
	}
	s, ok := session.(*Session)
	if !ok {
		return nil, fmt.Errorf("read access token into a %T session", session)
	}
	at := &fositestore.AccessToken{GrantID: c.GrantID, ClientID: c.ClientID}
	if at.ClientEpoch, ok = claimInt(c.ClientEpoch); !ok || at.ClientID == "" {
		return nil, errors.New("access token without client_id or client_epoch")
	}
	s.GrantID, s.ClientID, s.ClientEpoch, s.Subject = c.GrantID, at.ClientID, at.ClientEpoch, c.Sub
	if c.UserEpoch != nil {
		if at.UserEpoch, ok = claimInt(*c.UserEpoch); !ok || c.Sub == "" {
			return nil, errors.New("access token with a malformed user_epoch or no sub")
		}
		at.UserID = c.Sub
		s.UserGrant, s.UserEpoch = true, at.UserEpoch
		// username is left out of the token when it equals sub.
		s.Username = c.Sub
	}
	if c.Username != "" {
		s.Username = c.Username
	}
	s.Roles = c.Roles
	s.ACR, s.AMR = c.ACR, c.AMR
	if iat, ok := c.Iat.seconds(); ok {
		at.RequestedAt = time.Unix(iat, 0).UTC()
	}
	if exp, ok := c.Exp.seconds(); ok {
		s.SetExpiresAt(fosite.AccessToken, time.Unix(exp, 0).UTC())
	}
	if c.Scope != "" {
		at.Scopes = strings.Fields(c.Scope)
	}
	at.Audience = c.Aud
	return at, nil
}

// claimInt reads a JSON number claim that holds an integer.
func claimInt(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		if n != float64(int64(n)) {
			return 0, false
		}
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		f, err := n.Float64()
		if err != nil {
			return 0, false
		}
		return claimInt(f)
	}
	return 0, false
}

// claimStrings reads a claim that is a string or a list of strings.
func claimStrings(v any) []string {
	switch l := v.(type) {
	case string:
		return []string{l}
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// markSelfContained sets the claims that make the access token about to be
// issued for ar self-contained: its grant, and the token epochs of its
// client and (for a user's grant) user as read by this request. A sweep
// that advances an epoch after the read ends the token all the same.
func markSelfContained(ar fosite.AccessRequester, user *storage.User) error {
	sess, ok := ar.GetSession().(*Session)
	c := registration(ar.GetClient())
	if !ok || c == nil {
		return fosite.ErrServerError.WithDebugf("unexpected session %T or client %T", ar.GetSession(), ar.GetClient())
	}
	sess.GrantID = ar.GetID()
	sess.ClientEpoch = c.TokenEpoch
	sess.UserGrant = user != nil
	sess.UserEpoch = 0
	if user != nil {
		sess.UserEpoch = user.TokenEpoch
	}
	return nil
}
