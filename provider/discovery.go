package provider

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hallpass/hallpass/directory"
)

// PathOAuthMetadata is RFC 8414's well-known path. It serves the same
// document as PathDiscovery: plain OAuth 2.0 clients look here first, and
// the two registries agree on every field hallpass publishes. (For an
// issuer with a path, RFC 8414 §3.1 puts the well-known segment before
// the path; hallpass serves it under the issuer, as OpenID Discovery
// does, so such deployments route host/.well-known/... to it.)
const PathOAuthMetadata = "/.well-known/oauth-authorization-server"

// supportedGrantTypes are the grant types the token endpoint serves: those
// a client may register.
var supportedGrantTypes = directory.SupportedGrantTypes()

// discoveryDocument renders OpenID Connect Discovery 1.0 metadata (also
// RFC 8414) once; it only changes with the configuration.
func (p *Provider) discoveryDocument() ([]byte, error) {
	doc := map[string]any{
		"issuer":                                        p.cfg.Issuer,
		"authorization_endpoint":                        p.url(PathAuthorize),
		"token_endpoint":                                p.url(PathToken),
		"userinfo_endpoint":                             p.url(PathUserinfo),
		"jwks_uri":                                      p.url(PathJWKS),
		"registration_endpoint":                         p.url(PathRegistration),
		"introspection_endpoint":                        p.url(PathIntrospect),
		"revocation_endpoint":                           p.url(PathRevoke),
		"end_session_endpoint":                          p.url(PathEndSession),
		"scopes_supported":                              []string{"openid", "profile", "email", "offline_access"},
		"response_types_supported":                      []string{"code"},
		"response_modes_supported":                      []string{"query"},
		"grant_types_supported":                         supportedGrantTypes,
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         []string{"RS256"},
		"token_endpoint_auth_methods_supported":         directory.SupportedAuthMethods(),
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"revocation_endpoint_auth_methods_supported":    directory.SupportedAuthMethods(),
		"code_challenge_methods_supported":              []string{"S256"},
		// private_key_jwt (RFC 7523 §2.2, OIDC Core §9) at every endpoint
		// where clients authenticate.
		"token_endpoint_auth_signing_alg_values_supported":         directory.SupportedAssertionAlgs(),
		"introspection_endpoint_auth_signing_alg_values_supported": directory.SupportedAssertionAlgs(),
		"revocation_endpoint_auth_signing_alg_values_supported":    directory.SupportedAssertionAlgs(),
		"claims_supported": []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
			"email", "email_verified", "name", "preferred_username", "roles", "acr", "amr",
		},
		// acr_values=urn:hallpass:acr:mfa asks for a second factor (mfa.go).
		"acr_values_supported":                           []string{ACRPassword, ACRMFA},
		"authorization_response_iss_parameter_supported": true,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"claims_parameter_supported":                     false,
		// RFC 9126 §5.
		"pushed_authorization_request_endpoint": p.url(PathPAR),
		"require_pushed_authorization_requests": p.cfg.RequirePAR,
		// OpenID Connect Back-Channel Logout 1.0 §2.1.
		"backchannel_logout_supported":         true,
		"backchannel_logout_session_supported": true,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("render discovery document: %w", err)
	}
	return b, nil
}

func (p *Provider) handleDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(p.discovery)
}
