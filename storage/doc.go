// Package storage is the contract of everything hallpass persists: the
// Store interface, its row types and its error sentinels (ErrNotFound,
// ErrConflict, ErrTransient, ErrUnavailable, ErrInvalidReference). It knows no protocol
// and imports no fosite: token rows are plain data, and turning fosite's
// requests into them, and storage errors into fosite's, is the provider's
// adapter (provider/fositestore).
package storage
