package directory

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/storage"
)

// Limits on a registered key set: a real client publishes a handful of
// keys; a JWKS is stored in the client's row and parsed on every
// assertion.
const (
	// MaxJWKSBytes bounds a registered jwks, and a JWKS fetched from a
	// jwks_uri.
	MaxJWKSBytes = 16 << 10
	maxJWKSKeys  = 10
	minRSABits   = 2048
)

// SupportedAssertionAlgs are the JWS algorithms a private_key_jwt
// client may sign its assertions with (token_endpoint_auth_signing_alg).
func SupportedAssertionAlgs() []string { return []string{"RS256", "ES256", "PS256"} }

// validateProtocol checks the metadata of private_key_jwt, PAR and
// back-channel logout and copies it into c.
func (m *ClientMetadata) validateProtocol(c *storage.Client) error {
	keyed := c.TokenEndpointAuthMethod == "private_key_jwt"
	hasJWKS := len(bytes.TrimSpace(m.JWKS)) > 0 && !bytes.Equal(bytes.TrimSpace(m.JWKS), []byte("null"))
	switch {
	case !keyed && (hasJWKS || m.JWKSURI != ""):
		return badMetadata("jwks", "jwks and jwks_uri are used only with token_endpoint_auth_method private_key_jwt")
	case !keyed && m.TokenEndpointAuthSigningAlg != "":
		return badMetadata("token_endpoint_auth_signing_alg", "token_endpoint_auth_signing_alg is used only with token_endpoint_auth_method private_key_jwt")
	case keyed && hasJWKS && m.JWKSURI != "":
		return badMetadata("jwks", "register jwks or jwks_uri, not both (RFC 7591 §2)")
	case keyed && !hasJWKS && m.JWKSURI == "":
		return badMetadata("jwks", "token_endpoint_auth_method private_key_jwt needs the client's public keys: register jwks or jwks_uri")
	}
	if keyed {
		c.TokenEndpointAuthSigningAlg = m.TokenEndpointAuthSigningAlg
		if c.TokenEndpointAuthSigningAlg == "" {
			c.TokenEndpointAuthSigningAlg = "RS256"
		}
		if !slices.Contains(SupportedAssertionAlgs(), c.TokenEndpointAuthSigningAlg) {
			return badMetadata("token_endpoint_auth_signing_alg", "token_endpoint_auth_signing_alg %q is not supported; use one of %s", c.TokenEndpointAuthSigningAlg, strings.Join(SupportedAssertionAlgs(), ", "))
		}
	}
	if hasJWKS {
		set, err := ParseClientJWKS(m.JWKS)
		if err != nil {
			return badMetadata("jwks", "jwks: %v", err)
		}
		if !slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { return KeyFitsAlg(k, c.TokenEndpointAuthSigningAlg) }) {
			return badMetadata("jwks", "jwks holds no key for %s (RS256 and PS256 need an RSA key, ES256 a P-256 key)", c.TokenEndpointAuthSigningAlg)
		}
		enc, err := json.Marshal(set)
		if err != nil {
			return badMetadata("jwks", "jwks cannot be encoded: %v", err)
		}
		c.JWKS = string(enc)
	}
	if m.JWKSURI != "" {
		if err := checkServerURL(m.JWKSURI); err != nil {
			return badMetadata("jwks_uri", "jwks_uri: %v", err)
		}
		c.JWKSURI = m.JWKSURI
	}
	c.RequirePAR = m.RequirePushedAuthorizationRequests
	if m.BackchannelLogoutURI != "" {
		if err := checkServerURL(m.BackchannelLogoutURI); err != nil {
			return badMetadata("backchannel_logout_uri", "backchannel_logout_uri: %v", err)
		}
		c.BackchannelLogoutURI = m.BackchannelLogoutURI
	}
	if m.BackchannelLogoutSessionRequired && c.BackchannelLogoutURI == "" {
		return badMetadata("backchannel_logout_session_required", "backchannel_logout_session_required needs a backchannel_logout_uri")
	}
	c.BackchannelLogoutSessionRequired = m.BackchannelLogoutSessionRequired
	return nil
}

// checkServerURL checks a URL hallpass itself calls (a client's jwks_uri,
// its back-channel logout URI): absolute, https, or http only to a
// loopback host; no user information or fragment (which a server request
// would drop or leak); nor anything uriTextProblem refuses.
func checkServerURL(raw string) error {
	return serverURLProblem(raw, uriTextProblem)
}

// serverURLProblem is checkServerURL with text, the check of the URL's
// text.
func serverURLProblem(raw string, text func(raw, shown string) error) error {
	if len(raw) > maxURILength {
		return fmt.Errorf("longer than %d characters", maxURILength)
	}
	// Errors quote the URL without any password it carries.
	shown := shownURI(raw)
	if err := text(raw, shown); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%q is not an absolute URL", shown)
	case u.User != nil:
		return fmt.Errorf("%q must not carry user information", shown)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not have a fragment", shown)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && IsLoopback(strings.ToLower(u.Hostname())):
		return nil
	}
	return fmt.Errorf("%q must use https (http only to localhost or a loopback address)", shown)
}

// CheckServerURL is checkServerURL for the provider, which checks a
// stored jwks_uri again before it fetches it; but without the rules of
// uriTextProblem that guard what a browser reinterprets or a person
// misreads (a backslash, a host not in ASCII), not what hallpass's own
// HTTP client fetches: a jwks_uri registered before them keeps working.
func CheckServerURL(raw string) error { return serverURLProblem(raw, storedURITextProblem) }

// ParseClientJWKS parses a client's JSON Web Key Set, registered or
// fetched, and keeps what can verify its assertions: at most
// maxJWKSKeys public RSA (≥ 2048 bits) or P-256 keys whose use is sig or
// unset. A private key is refused outright: a client that sends one has
// leaked it. Keys with another use, or of other types, are dropped; a set
// left empty is refused.
func ParseClientJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	if len(raw) > MaxJWKSBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxJWKSBytes)
	}
	// go-jose skips keys it cannot parse; count them first to see them.
	var shape struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &shape); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %v", err)
	}
	if len(shape.Keys) == 0 {
		return nil, fmt.Errorf("holds no keys")
	}
	if len(shape.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("holds %d keys; at most %d", len(shape.Keys), maxJWKSKeys)
	}
	out := &jose.JSONWebKeySet{}
	for i, kraw := range shape.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(kraw); err != nil {
			return nil, fmt.Errorf("key %d: %v", i, err)
		}
		if !k.IsPublic() {
			return nil, fmt.Errorf("key %d is a private key; register only the public half", i)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				return nil, fmt.Errorf("key %d: RSA keys must have at least %d bits", i, minRSABits)
			}
		case *ecdsa.PublicKey:
			if pub.Curve != elliptic.P256() {
				return nil, fmt.Errorf("key %d: only P-256 EC keys are supported", i)
			}
		default:
			continue
		}
		if k.Algorithm != "" && !slices.Contains(SupportedAssertionAlgs(), k.Algorithm) {
			continue
		}
		k.Use = "sig"
		out.Keys = append(out.Keys, k)
	}
	if len(out.Keys) == 0 {
		return nil, fmt.Errorf("holds no RSA or P-256 public signing key")
	}
	return out, nil
}

// KeyFitsAlg reports whether k can verify a signature made with alg.
func KeyFitsAlg(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch k.Key.(type) {
	case *rsa.PublicKey:
		return alg == "RS256" || alg == "PS256"
	case *ecdsa.PublicKey:
		return alg == "ES256"
	}
	return false
}
