// Package fositestore is the adapter between storage.Store and the storage
// interfaces of fosite's handlers: it turns fosite requests into
// storage.Token rows and back, keys rows by digests of token signatures,
// and maps storage errors to the fosite errors its handlers test for.
//
// It is protocol code, so it sits on the provider's side of the storage
// boundary: storage and its backends know nothing of OAuth or fosite, and
// only what links fosite links fosite's dependencies. It is a package of
// its own, not part of provider, because it is a self-contained mapping
// with its own conformance tests (store_test.go, run on every backend)
// that needs none of the provider's endpoints or policy. Imports run
// cmd → provider → provider/fositestore → storage; this package imports
// no other hallpass package.
//
// It holds no policy. What fosite lets a client request as audience is
// the provider's decision, passed in as an AudienceFunc and asked only when
// fosite loads the client making a request (GetClient), never for the
// clients of stored tokens.
package fositestore
