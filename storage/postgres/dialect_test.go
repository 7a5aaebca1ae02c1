package postgres

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hallpass/hallpass/storage/sqlstore"
)

// TestListDecoder checks the reading of TEXT[] columns in the text form
// pgx's stdlib driver returns them in, quoting and escapes included.
func TestListDecoder(t *testing.T) {
	decode := listDecoder()
	for _, tc := range []struct {
		text string
		want []string
	}{
		{`{}`, []string{}},
		{`{openid,profile}`, []string{"openid", "profile"}},
		{`{"a,b","say \"hi\"","back\\slash"," spaced "}`, []string{"a,b", `say "hi"`, `back\slash`, " spaced "}},
		{`{"NULL",ümlaut}`, []string{"NULL", "ümlaut"}},
	} {
		got, err := decode([]byte(tc.text))
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("decode(%s) = %q, %v; want %q", tc.text, got, err, tc.want)
		}
	}
	if _, err := decode([]byte(`not an array`)); err == nil {
		t.Error("decode(not an array) succeeded, want an error")
	}
}

// TestClassify checks what each PostgreSQL error code means for the
// store: a unique violation is a conflict (a row exists), a serialization
// failure or a deadlock is transient (the transaction may be run again,
// and must never read as "already exists"), a lock timeout and anything
// else the database failing.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		code string
		want sqlstore.ErrorClass
	}{
		{"23505", sqlstore.Conflict},         // unique_violation
		{"40001", sqlstore.Transient},        // serialization_failure
		{"40P01", sqlstore.Transient},        // deadlock_detected
		{"23503", sqlstore.InvalidReference}, // foreign_key_violation
		{"42P07", sqlstore.DuplicateObject},  // duplicate_table
		{"42710", sqlstore.DuplicateObject},  // duplicate_object
		{"55P03", sqlstore.Other},            // lock_not_available (lock_timeout)
		{"57014", sqlstore.Other},            // query_canceled (statement_timeout)
		{"53300", sqlstore.Other},            // too_many_connections
		{"23502", sqlstore.Other},            // not_null_violation: a bug of ours
	} {
		err := fmt.Errorf("exec: %w", &pgconn.PgError{Code: tc.code})
		if got := classify(err); got != tc.want {
			t.Errorf("classify(%s) = %v, want %v", tc.code, got, tc.want)
		}
	}
	if got := classify(errors.New("conn closed")); got != sqlstore.Other {
		t.Errorf("classify(a non-PostgreSQL error) = %v, want Other", got)
	}
}
