// Package hashwatch lets a test see whether a password was hashed while
// a transaction was open: a directory whose store is a Store and whose
// Hasher is a Hasher on it counts such hashes. Hashing in a transaction
// holds its locks (SQLite's one write lock) for argon2id's tens of
// milliseconds, every other write waiting.
package hashwatch

import (
	"context"
	"sync/atomic"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
)

// Store is a storage.Store that counts its transactions open.
type Store struct {
	storage.Store
	open atomic.Int32
}

// New wraps st.
func New(st storage.Store) *Store { return &Store{Store: st} }

// InTransaction counts the transaction open while fn runs (a nested
// call, which joins the caller's, counts again: still open).
func (s *Store) InTransaction(ctx context.Context, fn func(ctx context.Context) error) error {
	s.open.Add(1)
	defer s.open.Add(-1)
	return s.Store.InTransaction(ctx, fn)
}

// Hasher is a directory.Hasher (argon2id, unbounded) that counts the
// hashes it makes, and those made while Store had a transaction open.
type Hasher struct {
	Store        *Store
	hashes, inTx atomic.Int32
	directory.Argon2id
}

// Hash counts and returns directory.HashPassword(password).
func (h *Hasher) Hash(password string) (string, error) {
	h.hashes.Add(1)
	if h.Store.open.Load() > 0 {
		h.inTx.Add(1)
	}
	return h.Argon2id.Hash(password)
}

// Hashes is how many hashes were made.
func (h *Hasher) Hashes() int { return int(h.hashes.Load()) }

// InTransaction is how many hashes were made while a transaction of
// Store was open.
func (h *Hasher) InTransaction() int { return int(h.inTx.Load()) }
