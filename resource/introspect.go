package resource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// introspection is the part of an RFC 7662 answer the Verifier checks.
type introspection struct {
	Active    bool        `json:"active"`
	TokenType string      `json:"token_type"`
	Issuer    string      `json:"iss"`
	Audience  stringList  `json:"aud"`
	Subject   string      `json:"sub"`
	ClientID  string      `json:"client_id"`
	Expiry    json.Number `json:"exp"`
	NotBefore json.Number `json:"nbf"`
}

// stringList is a JSON string or array of strings (RFC 7662's aud).
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*s = many
	return nil
}

// Introspect checks token as Verify does, then asks hallpass's introspection
// endpoint (RFC 7662, authenticated with Config.ClientID and ClientSecret)
// whether it is still active, so that a revoked token fails at once. An
// inactive token, a refresh token, or an answer naming another issuer or
// audience is ErrInvalidToken; a failure to reach hallpass wraps
// ErrUnavailable; without ClientID, or without an introspection endpoint in
// discovery, it returns ErrNoIntrospection. The offline check first means
// a forged or expired token costs hallpass nothing.
func (v *Verifier) Introspect(ctx context.Context, token string) (*Claims, error) {
	if v.cfg.ClientID == "" {
		return nil, fmt.Errorf("%w: Config.ClientID is empty", ErrNoIntrospection)
	}
	if v.introspectURL == "" {
		return nil, fmt.Errorf("%w: discovery names no introspection_endpoint", ErrNoIntrospection)
	}
	c, err := v.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	a, err := v.introspect(ctx, token)
	if err != nil {
		return nil, err
	}
	if !a.Active {
		return nil, invalid(descInactive, errors.New("introspection: active false"))
	}
	// hallpass answers token_type refresh_token for a refresh token; only
	// an access token may be presented as a bearer token.
	if a.TokenType != "" && !strings.EqualFold(a.TokenType, "bearer") && !strings.EqualFold(a.TokenType, "access_token") {
		return nil, invalid(descInactive, fmt.Errorf("introspection: token_type %.40q", a.TokenType))
	}
	iss := a.Issuer
	if iss == "" {
		iss = v.cfg.Issuer // the answer comes from the issuer's own endpoint
	}
	// The answer must agree with the token it is about.
	if (a.Subject != "" && a.Subject != c.Subject) || (a.ClientID != "" && a.ClientID != c.ClientID) {
		return nil, invalid(descInactive, errors.New("introspection: sub or client_id differs from the token's"))
	}
	exp, err := numericDate(a.Expiry)
	if err != nil {
		return nil, fmt.Errorf("resource: introspection: exp: %w", err)
	}
	nbf, err := numericDate(a.NotBefore)
	if err != nil {
		return nil, fmt.Errorf("resource: introspection: nbf: %w", err)
	}
	if exp == nil {
		// Not every server sends exp; the token's own was checked.
		exp = jwt.NewNumericDate(c.ExpiresAt)
	}
	if err := v.checkClaims(iss, a.Audience, exp, nbf, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// introspect posts token to the introspection endpoint.
func (v *Verifier) introspect(ctx context.Context, token string) (*introspection, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.introspectURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("resource: introspection: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic.
	cred := url.QueryEscape(v.cfg.ClientID) + ":" + url.QueryEscape(v.cfg.ClientSecret)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		// The URL in a *url.Error carries no token (it is in the body).
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return nil, fmt.Errorf("resource: introspection: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return nil, fmt.Errorf("%w: introspection: status %d %.40q", statusErr(resp.StatusCode), resp.StatusCode, e.Error)
	}
	if !jsonContent(resp.Header.Get("Content-Type")) {
		return nil, fmt.Errorf("resource: introspection: Content-Type %q is not JSON", resp.Header.Get("Content-Type"))
	}
	var a introspection
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("resource: introspection: %w", err)
	}
	return &a, nil
}

// numericDate parses an optional JSON NumericDate.
func numericDate(n json.Number) (*jwt.NumericDate, error) {
	if n == "" {
		return nil, nil
	}
	f, err := n.Float64()
	if err != nil {
		return nil, err
	}
	if f < 0 || f > 1e11 {
		return nil, fmt.Errorf("%v is out of range", f)
	}
	return jwt.NewNumericDate(time.Unix(int64(f), 0)), nil
}

// HasAudience reports whether the token lists aud.
func (c *Claims) HasAudience(aud string) bool {
	return c != nil && slices.Contains(c.Audience, aud)
}
