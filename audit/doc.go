// Package audit keeps hallpass's tamper-evident audit log: who did what to
// which object, from where, as entries of a SHA-256 hash chain in the
// store, with checkpoints signed by the active signing key. Verify walks
// the chain and the checkpoints and names the first entry that was
// altered, removed or reordered.
//
// The directory service, the key manager and the provider record events
// through a Log; the actor and the request's client address and user
// agent travel in the context (WithActor, WithRequest). audit imports
// storage and go-jose only: nothing of provider, directory or keys.
package audit
