package postgres

import (
	"slices"
	"testing"
)

// TestByteOrderCollation checks that the columns that lists are ordered by
// use the "C" collation, so that ORDER BY is byte order whatever the database's
// default collation (the suite's ordering checks cannot tell on a database
// created with a C collation).
func TestByteOrderCollation(t *testing.T) {
	s := newStore(t).(*Store)
	ctx := t.Context()
	for _, c := range [][2]string{
		{"users", "username"},
		{"user_roles", "role"},
		{"roles", "name"},
		{"scopes", "name"},
		{"clients", "id"},
	} {
		var collation *string
		err := s.db.QueryRowContext(ctx, `SELECT collation_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`,
			c[0], c[1]).Scan(&collation)
		if err != nil {
			t.Fatalf("collation of %s.%s: %v", c[0], c[1], err)
		}
		if collation == nil || *collation != "C" {
			t.Errorf("collation of %s.%s = %v, want C", c[0], c[1], collation)
		}
	}
}

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
