// Package backchannel lets a service reach hallpass at an internal address
// while the issuer stays the public URL that browsers use and that tokens
// name.
//
// Inside docker compose the issuer is http://localhost:8080 (what the
// browser on the host reaches, and the iss claim of every token), but from
// another container hallpass is http://hallpass:8080. A Transport sends the
// requests a service makes to the issuer's origin (discovery, JWKS, token,
// introspection) to the internal origin instead, and leaves the URLs the
// service hands to browsers, and every check of the issuer, unchanged.
package backchannel
