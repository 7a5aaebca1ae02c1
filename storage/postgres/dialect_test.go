package postgres

import (
	"slices"
	"testing"
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
