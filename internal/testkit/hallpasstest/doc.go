// Package hallpasstest runs a real hallpass in process for tests: wired by
// provider.Assemble as `hallpass serve` wires it, on a fresh database,
// behind an httptest.Server whose URL is the issuer.
package hallpasstest
