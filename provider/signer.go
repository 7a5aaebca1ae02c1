package provider

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ory/fosite/token/jwt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/hallpass/hallpass/internal/jws"
)

// keySource is what the signer needs from keys.Manager: sign with the
// active key, and find any published key by kid.
type keySource interface {
	Sign(payload []byte, typ string) (string, error)
	VerificationKey(kid string) (*rsa.PublicKey, bool)
}

// signer implements fosite's jwt.Signer over hallpass's key manager. fosite's
// DefaultSigner verifies only against the current key, so tokens signed
// before a rotation would stop validating (ory/fosite#786); this one looks
// the kid up among every published key.
type signer struct {
	keys   keySource
	issuer string
	// tracer makes a span per signature.
	tracer trace.Tracer
	// verified remembers the access tokens verifyAccessToken verified;
	// nil remembers none.
	verified *verifiedTokens
}

var _ jwt.Signer = (*signer)(nil)

// Generate signs claims with the active key; only the header's typ is
// honoured, kid comes from the key.
func (s *signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	typ := "JWT"
	if header != nil {
		if t, ok := header.ToMap()["typ"].(string); ok && t != "" {
			typ = t
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", fmt.Errorf("sign token: encode claims: %w", err)
	}
	_, span := tracerOr(s.tracer).Start(ctx, "sign", trace.WithAttributes(attribute.String("jwt.typ", typ)))
	tok, err := s.keys.Sign(payload, typ)
	endSpan(span, err)
	if err != nil {
		return "", "", fmt.Errorf("sign token: %w", err)
	}
	sig, err := s.GetSignature(context.Background(), tok)
	if err != nil {
		return "", "", err
	}
	return tok, sig, nil
}

// Validate verifies token and returns its signature segment.
func (s *signer) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

// Decode verifies token's RS256 signature against the published key its
// kid names, checks it was issued here, and validates its time claims.
// token must be a compact JWS spelt canonically (jws.Parse): fosite's
// go-jose strips whitespace, reads the JSON serialization, decodes
// base64url leniently and honours crit, which would let other spellings
// of a token, or extensions hallpass never uses, through.
func (s *signer) Decode(_ context.Context, token string) (*jwt.Token, error) {
	if _, err := jws.Parse(token); err != nil {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorMalformed, Inner: err}
	}
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, func(t *jwt.Token) (interface{}, error) {
		// Only RS256 is ever issued; anything else (none, HS256 with the
		// public key as secret) is refused before any key is chosen.
		if t.Method != "RS256" {
			return nil, fmt.Errorf("unexpected signing algorithm %q", t.Method)
		}
		// A token with our key but another issuer is not ours to accept.
		if iss, _ := t.Claims["iss"].(string); iss != s.issuer {
			return nil, fmt.Errorf("token issued by %q, not by this issuer", iss)
		}
		kid, _ := t.Header["kid"].(string)
		key, ok := s.keys.VerificationKey(kid)
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return key, nil
	})
}

// Hash is SHA-256, matching RS256 for at_hash and c_hash.
func (s *signer) Hash(_ context.Context, in []byte) ([]byte, error) {
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSignature returns the third segment of a compact JWS.
func (s *signer) GetSignature(_ context.Context, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("token is not a compact JWS")
	}
	return parts[2], nil
}

// GetSigningMethodLength is the SHA-256 size.
func (s *signer) GetSigningMethodLength(context.Context) int { return sha256.Size }

// accessClaims are the claims of an access token that readAccessToken
// reads. Numbers stay json.Number so that claimInt decides, as it does
// for other tokens, which are integers.
type accessClaims struct {
	Iss         string       `json:"iss"`
	Sub         string       `json:"sub"`
	Aud         stringOrList `json:"aud"`
	Exp         numericDate  `json:"exp"`
	Iat         numericDate  `json:"iat"`
	Nbf         numericDate  `json:"nbf"`
	ClientID    string       `json:"client_id"`
	Scope       string       `json:"scope"`
	Username    string       `json:"username"`
	Roles       stringOrList `json:"roles"`
	GrantID     string       `json:"grant_id"`
	ClientEpoch json.Number  `json:"client_epoch"`
	UserEpoch   *json.Number `json:"user_epoch"`
	// ACR and AMR say how the user signed in (Session.GetJWTClaims);
	// introspection answers them (RFC 9470).
	ACR string       `json:"acr"`
	AMR stringOrList `json:"amr"`
}

// numericDate is a time claim (RFC 7519 §2 NumericDate): a JSON number,
// "" when absent or null. A string is refused, even one spelling a
// number, which json.Number alone would take: hallpass never writes one,
// and RFC 9068 §4 has a token whose exp cannot be read refused, not
// taken as never expiring.
type numericDate json.Number

// UnmarshalJSON reads a JSON number or null.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return errors.New("a NumericDate is a JSON number, not a string")
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*d = numericDate(n)
	return nil
}

// MarshalJSON writes the number as read (null when absent).
func (d numericDate) MarshalJSON() ([]byte, error) {
	if d == "" {
		return []byte("null"), nil
	}
	return []byte(d), nil
}

// seconds returns the claim in whole seconds; ok is false when it is
// absent or not an integer of int64's range (a fraction, 1e300).
func (d numericDate) seconds() (int64, bool) {
	if d == "" {
		return 0, false
	}
	return claimInt(json.Number(d))
}

// stringOrList is a claim that is a string or a list of strings (aud,
// RFC 7519 §4.1.3); anything else in a list is skipped, as claimStrings
// does.
type stringOrList []string

// UnmarshalJSON reads a string or a list of strings.
func (l *stringOrList) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*l = claimStrings(v)
	return nil
}

// verifyAccessToken checks an access token as Decode checks any JWT
// (RS256 only, a published key by kid, this issuer, exp, iat and nbf
// against fosite's clock) and that it is typed at+jwt (RFC 9068 §2.1),
// and returns its claims. It is Decode without fosite's generic path,
// which parses the token with go-jose and decodes its claims twice into
// maps: introspection runs it on every request, and those were most of
// what introspection cost beside the RSA verification.
func (s *signer) verifyAccessToken(token string) (*accessClaims, error) {
	c, ok := s.verified.get(token, s.keys)
	if !ok {
		var err error
		if c, err = s.verifyAccessTokenSignature(token); err != nil {
			return nil, err
		}
	}
	// exp is required (RFC 9068 §2.2) and must be an integer: fosite's
	// rule (jwt.MapClaims.Valid), that a claim absent, 0 or unreadable is
	// not checked, would take a token without a readable exp as one that
	// never expires. iat and nbf are optional, but one that is there and
	// cannot be read is refused too.
	now := jwt.TimeFunc().Unix()
	exp, ok := c.Exp.seconds()
	if !ok {
		return nil, fmt.Errorf("access token without an integer exp (%.24q)", string(c.Exp))
	}
	if now > exp {
		return nil, errors.New("token is expired")
	}
	for _, t := range []struct {
		name, err string
		d         numericDate
	}{{"iat", "token used before issued", c.Iat}, {"nbf", "token is not valid yet", c.Nbf}} {
		if t.d == "" {
			continue
		}
		v, ok := t.d.seconds()
		if !ok {
			return nil, fmt.Errorf("access token whose %s is not an integer (%.24q)", t.name, string(t.d))
		}
		if now < v {
			return nil, errors.New(t.err)
		}
	}
	return c, nil
}

// verifyAccessTokenSignature is verifyAccessToken but for the time
// claims: header, signature, type and issuer. A token that passes is
// remembered in s.verified.
func (s *signer) verifyAccessTokenSignature(token string) (*accessClaims, error) {
	// One spelling per token, and no crit (hallpass marks no header
	// critical, RFC 7515 §4.1.11): a revocation record names a token by
	// its signature segment as written (fositestore's tokenRevocation),
	// so another spelling of the same signature must not verify.
	t, err := jws.Parse(token)
	if err != nil {
		return nil, fmt.Errorf("access token: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(t.Header, &h); err != nil {
		return nil, fmt.Errorf("token header: %w", err)
	}
	// Only RS256 is ever issued; anything else (none, HS256 with the
	// public key as secret) is refused before any key is chosen.
	if h.Alg != "RS256" {
		return nil, fmt.Errorf("unexpected signing algorithm %q", h.Alg)
	}
	key, ok := s.keys.VerificationKey(h.Kid)
	if !ok {
		return nil, fmt.Errorf("unknown key id %q", h.Kid)
	}
	digest := sha256.Sum256([]byte(t.SigningInput))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], t.Signature); err != nil {
		return nil, fmt.Errorf("token signature: %w", err)
	}
	if h.Typ != "at+jwt" {
		return nil, fmt.Errorf("a JWT of type %q is no access token", h.Typ)
	}
	var c accessClaims
	if err := json.Unmarshal(t.Payload, &c); err != nil {
		return nil, fmt.Errorf("token claims: %w", err)
	}
	if c.Iss != s.issuer {
		return nil, fmt.Errorf("token issued by %q, not by this issuer", c.Iss)
	}
	s.verified.put(token, h.Kid, key, &c)
	return &c, nil
}
