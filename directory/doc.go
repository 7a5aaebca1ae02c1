// Package directory manages hallpass's users, roles, scopes and clients: it
// validates what an admin asks for, applies the password and client
// metadata rules, and writes to storage. The admin API, the CLI and any
// later surface call it rather than storage, and its refusals are domain
// errors (*Error: invalid, not found, conflict) that each surface words
// for itself.
//
// It imports storage and nothing of the provider.
package directory
