// Package backend opens the storage backend a database URL names. It is
// the one place that knows every backend, so commands and tests select
// storage the same way.
package backend
