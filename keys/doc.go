// Package keys owns hallpass's token-signing keys: it generates them,
// encrypts their private halves at rest, signs with the active one, and
// publishes the public halves as a JWKS served from memory.
//
// A key moves through the states of storage.KeyState: next (published, not
// yet signing) → active (the one key that signs) → retired (published until
// every token it signed has expired) → deleted. A Manager creates the first
// active key when the database has none; scheduled rotation will build on
// Load, which already picks up keys other replicas changed and promotes a
// next key when no key is active.
//
// Private keys are stored as PKCS#8, sealed by a Sealer (AES-256-GCM under a
// key derived with HKDF-SHA256 from the operator's HALLPASS_SECRET) and bound
// to their kid. CheckSecret and Load refuse to run with a secret that cannot
// open what the database holds (ErrWrongSecret) instead of generating a new
// key, which would make every token issued so far unverifiable.
//
// This package uses go-jose v4 and depends on storage only for its types and
// errors; it must not import provider, web or cmd. fosite speaks go-jose v3,
// so code that hands keys to fosite converts at that boundary (see
// FOSITE_NOTES.md §0 and §4).
package keys
