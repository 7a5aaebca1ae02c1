package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// backchannelEvent is the event a logout token carries (OpenID Connect
// Back-Channel Logout 1.0 §2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// backchannelLogout is the app's back-channel logout endpoint: hallpass
// POSTs a logout token here when a session in which this app signed
// someone in ends (a sign-out elsewhere, a password change, an admin
// disabling the user), and the app ends its own sessions of it. The token
// is validated as §2.6 says: signed by hallpass (the ID token verifier:
// JWKS, iss, aud, exp), typ logout+jwt, the back-channel event, sid or
// sub, and no nonce. 200 when it was valid, 400 otherwise (§2.8).
func (a *app) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	raw := r.PostFormValue("logout_token")
	claims, reason := a.verifyLogoutToken(r, raw)
	if reason != "" {
		a.log.WarnContext(r.Context(), "back-channel logout refused", "reason", reason)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": reason})
		return
	}
	n := a.sessions.removeIf(func(s *session) bool {
		if claims.SID != "" {
			return s.sid == claims.SID
		}
		return s.user.Subject == claims.Sub
	})
	a.log.InfoContext(r.Context(), "signed out by hallpass (back-channel)", "sub", claims.Sub, "sessions", n)
	w.WriteHeader(http.StatusOK)
}

// logoutClaims are the claims of a logout token the app acts on.
type logoutClaims struct {
	Sub    string                     `json:"sub"`
	SID    string                     `json:"sid"`
	Nonce  *string                    `json:"nonce"`
	Events map[string]json.RawMessage `json:"events"`
}

// verifyLogoutToken returns the claims of a valid logout token, or why it
// is not one.
func (a *app) verifyLogoutToken(r *http.Request, raw string) (*logoutClaims, string) {
	if raw == "" {
		return nil, "logout_token is missing"
	}
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return nil, "logout_token is not a JWT"
	}
	hb, err := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		Typ string `json:"typ"`
	}
	if err != nil || json.Unmarshal(hb, &h) != nil || h.Typ != "logout+jwt" {
		return nil, "logout_token's typ is not logout+jwt"
	}
	idt, err := a.verifier.Verify(a.hallpassContext(r.Context()), raw)
	if err != nil {
		return nil, "logout_token does not verify: " + err.Error()
	}
	var c logoutClaims
	if err := idt.Claims(&c); err != nil {
		return nil, "logout_token's claims cannot be read"
	}
	if ev, ok := c.Events[backchannelEvent]; !ok || strings.TrimSpace(string(ev)) != "{}" {
		return nil, "logout_token lacks the back-channel logout event"
	}
	if c.Nonce != nil {
		return nil, "logout_token carries a nonce"
	}
	if c.SID == "" && c.Sub == "" {
		return nil, "logout_token names neither a session nor a user"
	}
	return &c, ""
}
