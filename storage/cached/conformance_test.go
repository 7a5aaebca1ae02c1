package cached

import (
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/storagetest"
)

// TestConformance runs the conformance suite through the cache on every
// backend: what the cache serves from memory (clients, roles, scopes)
// must answer every call as the store behind it does, case, errors and
// changes included.
func TestConformance(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store { return New(testdb.Open(t, b.DSN(t)), 0) })
		})
	}
}
