// Package provider is hallpass's OAuth 2.0 / OpenID Connect server: the
// fosite composition and its configuration, the protocol endpoints
// (discovery, token, registration), the admin API and the operational
// endpoints (health, metrics). Every route is listed in routes.go.
//
// It depends on storage and keys, never on cmd.
package provider
