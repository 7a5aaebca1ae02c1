package sqlstore

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
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
	return s.timeValue(t)
}

// timeValue encodes t, the zero time included (for a NOT NULL column).
// A time outside the years 1 to 9999 is unstorable: PostgreSQL's range
// ends in year 294276 and SQLite's microseconds overflow int64 in year
// 294246, wrapping a time of the far future to one of the far past.
func (s *Store) timeValue(t time.Time) any {
	if why := badTime(t); why != "" {
		return unstorable{why}
	}
	return s.d.EncodeTime(t)
}

// badTime says why t cannot be stored on every backend (timeValue); ""
// when it can.
func badTime(t time.Time) string {
	if y := t.UTC().Year(); y < firstYear || y > lastYear {
		return fmt.Sprintf("time %s is outside the years %d to %d", t.UTC().Format(time.RFC3339), firstYear, lastYear)
	}
	return ""
}

// firstYear and lastYear bound the times a backend stores (timeValue).
const firstYear, lastYear = 1, 9999

// timeBound encodes t, a bound a stored time is compared with (not a time
// to store), NULL for the zero time. A bound outside the years firstYear
// to lastYear is moved to the year just outside them, where it compares
// with every stored time as it would have (a stored time is after the
// far past and before the far future) and both backends can encode it.
func (s *Store) timeBound(t time.Time) any {
	switch {
	case t.IsZero():
		return nil
	case t.UTC().Year() < firstYear:
		t = time.Date(firstYear-1, time.January, 1, 0, 0, 0, 0, time.UTC)
	case t.UTC().Year() > lastYear:
		t = time.Date(lastYear+1, time.December, 31, 0, 0, 0, 0, time.UTC)
	}
	return s.d.EncodeTime(t)
}

// listArg encodes ss, an empty list when it is empty. A list holding text
// no backend can store is unstorable: SQLite's JSON would have replaced
// invalid UTF-8 with U+FFFD before the runner could see it.
func (s *Store) listArg(ss []string) any {
	for _, e := range ss {
		if why := badText(e); why != "" {
			return unstorable{"list element " + why}
		}
	}
	return s.d.EncodeList(ss)
}

// unstorable stands for an argument no backend can store
// (storage.ErrInvalidInput), in place of its encoding; the runner refuses
// a statement given one before the database sees it.
type unstorable struct{ why string }

// errUnstorable marks a statement refused for an argument no backend can
// store: mapErr reports it as storage.ErrInvalidInput, and a read of a
// list (queryAllIn) answers it with an empty one.
var errUnstorable = errors.New("unstorable argument")

// badText says why text cannot be stored in a TEXT column on every
// backend (PostgreSQL refuses invalid UTF-8 and NUL, SQLite keeps them);
// "" when it can. It names where, never the text: the reason goes into
// errors and log lines, and the text is whatever a request sent (up to a
// whole body, or a password typed into the username field).
func badText(text string) string {
	if !utf8.ValidString(text) {
		at := 0
		for at < len(text) {
			r, n := utf8.DecodeRuneInString(text[at:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			at += n
		}
		return fmt.Sprintf("text of %d bytes is not valid UTF-8 (at byte %d)", len(text), at)
	}
	if at := strings.IndexByte(text, 0); at >= 0 {
		return fmt.Sprintf("text of %d bytes contains a NUL character (at byte %d)", len(text), at)
	}
	return ""
}

// checkArgs returns errUnstorable, saying why, if an argument of a
// statement is text (a string, or a list as PostgreSQL's dialect passes
// it) or a time (timeArg, listArg) no backend can store. Byte slices go
// to BYTEA and BLOB columns and may hold anything. Text of a named string
// type (storage.TokenKind) and a time passed as it is (but for a bound,
// a year further either way: timeBound) are checked too: database/sql
// hands both to the driver, which would store them.
func checkArgs(args []any) error {
	for i, a := range args {
		var why string
		switch v := a.(type) {
		case string:
			why = badText(v)
		case nil, int64, int, bool, []byte:
		case []string:
			for _, e := range v {
				if why = badText(e); why != "" {
					break
				}
			}
		case unstorable:
			why = v.why
		case time.Time:
			// PostgreSQL's dialect encodes times as they are: a bound
			// timeBound moved to the year just outside the stored range
			// is one too, and compares as it should on both backends.
			if y := v.UTC().Year(); y < firstYear-1 || y > lastYear+1 {
				why = badTime(v)
			}
		default:
			if rv := reflect.ValueOf(a); rv.Kind() == reflect.String {
				why = badText(rv.String())
			}
		}
		if why != "" {
			return fmt.Errorf("%w $%d: %s", errUnstorable, i+1, why)
		}
	}
	return nil
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
