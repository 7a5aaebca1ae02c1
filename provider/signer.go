package provider

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ory/fosite/token/jwt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
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
func (s *signer) Decode(_ context.Context, token string) (*jwt.Token, error) {
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
