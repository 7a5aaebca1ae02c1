package sqlstore

import (
	"bytes"
	"fmt"
	"time"
)

// Value conversions between Go and the database. The representation of
// times and lists is the dialect's; the rules are the Store's: the zero
// time is NULL and comes back zero, times come back in UTC, and an empty
// list, byte slice or optional string comes back nil or "".

// timeArg encodes t, NULL for the zero time.
func (s *Store) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.d.EncodeTime(t)
}

// listArg encodes ss, an empty list when it is empty.
func (s *Store) listArg(ss []string) any {
	return s.d.EncodeList(ss)
}

// blobArg encodes b, NULL when empty.
func blobArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// textArg encodes an optional string, NULL when empty.
func textArg(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// timeCol scans what timeArg encoded into dst.
type timeCol struct {
	dst    *time.Time
	decode func(any) (time.Time, error)
}

func (s *Store) timeCol(dst *time.Time) timeCol { return timeCol{dst, s.d.DecodeTime} }

func (c timeCol) Scan(src any) error {
	if src == nil {
		*c.dst = time.Time{}
		return nil
	}
	t, err := c.decode(src)
	if err != nil {
		return fmt.Errorf("scan time: %w", err)
	}
	*c.dst = t.UTC()
	return nil
}

// listCol scans what listArg encoded into dst: nil when empty.
type listCol struct {
	dst    *[]string
	decode func([]byte) ([]string, error)
}

func (s *Store) listCol(dst *[]string) listCol { return listCol{dst, s.d.DecodeList} }

func (c listCol) Scan(src any) (err error) {
	var ss []string
	switch v := src.(type) {
	case nil:
	case string:
		ss, err = c.decode([]byte(v))
	case []byte:
		ss, err = c.decode(v)
	default:
		err = fmt.Errorf("unexpected %T", src)
	}
	if err != nil {
		return fmt.Errorf("scan string list: %w", err)
	}
	if len(ss) == 0 {
		ss = nil
	}
	*c.dst = ss
	return nil
}

// blobCol scans what blobArg encoded into dst: nil when empty.
type blobCol struct{ dst *[]byte }

func (c blobCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
	case []byte:
		// The driver may reuse v once Scan returns.
		b = bytes.Clone(v)
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("scan bytes: unexpected %T", src)
	}
	if len(b) == 0 {
		b = nil
	}
	*c.dst = b
	return nil
}

// textCol scans what textArg encoded into dst: "" for NULL.
type textCol struct{ dst *string }

func (c textCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = ""
	case string:
		*c.dst = v
	case []byte:
		*c.dst = string(v)
	default:
		return fmt.Errorf("scan text: unexpected %T", src)
	}
	return nil
}
