// Package keys owns hallpass's token-signing keys: it generates them,
// encrypts their private halves at rest, signs with the active one, and
// publishes the public halves as a JWKS served from memory.
//
// A key moves through the states of storage.KeyState: next (published, not
// yet signing) → active (the one key that signs) → retired (published until
// every token it signed has expired) → deleted. A Manager creates the first
// active key when the database has none. Every replica calls Manager.Tick
// once per refresh interval: it reloads the keys other replicas changed and
// runs the schedule (rotation.go): a next key is published one lead (JWKS
// max-age + refresh interval + clock skew) before the active key retires,
// takes over when it is due, and the retired key is deleted once every token
// it signed has expired. Each change is made by one replica, in a
// transaction under Store.LockKeys that re-reads the keys first; keys are
// generated before the transaction. RotateNow and Revoke act outside the
// schedule; Reencrypt moves everything sealed to a new secret.
//
// Private keys are stored as PKCS#8, sealed by a Sealer (AES-256-GCM under a
// key derived with HKDF-SHA256 from the operator's HALLPASS_SECRET) and bound
// to their kid. CheckSecret and Load refuse to run with a secret that cannot
// open what the database holds (ErrWrongSecret) instead of generating a new
// key, which would make every token issued so far unverifiable.
//
// This package uses go-jose v4 and depends on storage only for its types and
// errors; it must not import provider, web or cmd. fosite speaks go-jose v3,
// so code that hands keys to fosite converts at that boundary (the
// provider's signer, provider/signer.go, signs with v4 and gives fosite
// only compact tokens and public keys).
package keys
