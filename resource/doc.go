// Package resource is what a Go resource server imports to accept hallpass
// access tokens: discovery and remote-JWKS verification, scope and role
// checks, and net/http middleware that answers RFC 6750 challenges. It
// imports nothing of hallpass's server side.
//
// Offline verification ([Verifier.Verify], [Verifier.Middleware]) checks each
// token locally: its form (one compact JWS, spelt exactly as hallpass
// signed it, without whitespace, non-canonical base64url or crit), the
// RS256 signature against the key its kid names in hallpass's JWKS
// (fetched once, cached as hallpass's Cache-Control says,
// refreshed in the background with If-None-Match, and refetched, at most
// once per Config.MinRefreshInterval, when a token names an unknown kid),
// typ at+jwt, iss, aud and the time claims. It costs no round trip and keeps
// working while hallpass is down or far away; the price is that a token
// revoked at hallpass (logout, admin revocation, a disabled user) stays valid
// until it expires, up to the access-token lifetime (10 minutes by default).
//
// Introspection ([Verifier.Introspect], [Verifier.IntrospectMiddleware]) first
// makes the same offline checks, so forged or expired tokens never reach
// hallpass, then asks hallpass's RFC 7662 introspection endpoint, with this
// resource server's own client credentials (Config.ClientID and
// ClientSecret), whether the token is still active. hallpass answers only
// a client an admin registered with resource_servers naming the token's
// audience (or the token's own client); to anyone else every token is
// inactive. Revocation shows at
// once, at the cost of one round trip per check and of depending on hallpass
// being up. Use it on the routes where a revoked token must stop working
// now (publishing results, anything irreversible) and offline verification
// everywhere else.
package resource
