package provider

import (
	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is the one fosite session type hallpass uses everywhere: it is
// persisted with every token row and decoded back into this type.
type Session struct {
	*openid.DefaultSession
	// ClientID is the client the grant belongs to; it goes into the access
	// token's client_id claim (RFC 9068), which fosite does not add itself.
	ClientID string `json:"client_id"`
	// Roles are the user's roles at the time of the grant.
	Roles []string `json:"roles,omitempty"`
	// GrantID, ClientEpoch and UserEpoch make the access token
	// self-contained (fositestore.AccessToken): the grant it belongs to,
	// and the token epochs of its client and, when UserGrant, its user
	// when it was issued. exchange sets them for every token it issues.
	GrantID     string `json:"grant_id,omitempty"`
	ClientEpoch int64  `json:"client_epoch,omitempty"`
	UserGrant   bool   `json:"user_grant,omitempty"`
	UserEpoch   int64  `json:"user_epoch,omitempty"`
	// AMR and ACR are what the user's sign-in proved (mfa.go), for the
	// access token's amr and acr claims, so a resource server can demand
	// a second factor (RFC 9470).
	AMR []string `json:"amr,omitempty"`
	ACR string   `json:"acr,omitempty"`
}

// Claims of the access token that make it self-contained; see
// Session.GrantID.
const (
	claimGrantID     = "grant_id"
	claimClientEpoch = "client_epoch"
	claimUserEpoch   = "user_epoch"
)

var _ oauth2.JWTSessionContainer = (*Session)(nil)

// NewSession returns an empty session, as fosite needs for decoding.
func NewSession() *Session {
	return &Session{DefaultSession: &openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{},
		Headers: &jwt.Headers{},
	}}
}

// GetJWTClaims builds the access token's claims afresh on every call.
// Keeping a claims value in the session would persist iat and jti and reuse
// them on refresh (ory/fosite#774).
func (s *Session) GetJWTClaims() jwt.JWTClaimsContainer {
	extra := map[string]interface{}{"client_id": s.ClientID}
	if len(s.Roles) > 0 {
		extra["roles"] = s.Roles
	}
	// username lets a resource server match a user to its own records
	// (a student's results) without a userinfo call.
	if s.Username != "" && s.Username != s.Subject {
		extra["username"] = s.Username
	}
	if s.ACR != "" {
		extra["acr"] = s.ACR
	}
	if len(s.AMR) > 0 {
		extra["amr"] = s.AMR
	}
	if s.DefaultSession != nil && s.Claims != nil && !s.Claims.AuthTime.IsZero() {
		extra["auth_time"] = s.Claims.AuthTime.Unix()
	}
	if s.GrantID != "" {
		extra[claimGrantID] = s.GrantID
		extra[claimClientEpoch] = s.ClientEpoch
		if s.UserGrant {
			extra[claimUserEpoch] = s.UserEpoch
		}
	}
	return &jwt.JWTClaims{Subject: s.Subject, Extra: extra}
}

// GetJWTHeader sets typ at+jwt (RFC 9068 §2.1). kid is left to the signer:
// a kid stored in the session would outlive a key rotation (ory/hydra#3573).
func (s *Session) GetJWTHeader() *jwt.Headers {
	return &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt"}}
}

// Clone returns a deep copy, as fosite requires before it changes a
// session it also stores.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	return deepcopy.Copy(s).(*Session)
}
