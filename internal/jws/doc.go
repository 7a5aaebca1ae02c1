// Package jws reads a JWS in compact serialization (RFC 7515 §7.1) in its
// one canonical spelling, and refuses every other spelling of it.
//
// JOSE libraries are lenient in ways that give one signed token many
// spellings: go-jose drops whitespace (v3, under fosite: all of it, and
// "=" padding, and it reads the JSON serialization too; v4's
// jwt.ParseSigned: line breaks, which encoding/base64 skips), decodes
// base64url without insisting that the unused bits of a segment's last
// character are zero, and rebuilds the signing input from the decoded
// bytes, so every such spelling verifies. A check that names a token by
// its text (a revocation record, a replay cache, a log line) then misses
// the other spellings. It also honours "crit" extensions hallpass never
// uses, b64=false (RFC 7797) among them, which changes what the signature
// covers.
//
// Parse is the check, for every JWT hallpass reads and for the resource
// library. It imports only the standard library: resource servers import
// the resource package, which must stay light.
package jws
