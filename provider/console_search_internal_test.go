package provider

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// searchQuery cuts a long query at a character boundary, never inside
// one: the query is echoed into the page's search box, which must stay
// valid UTF-8.
func TestSearchQuery(t *testing.T) {
	for _, tc := range []struct{ name, q, want string }{
		{"short", "  portal ", "portal"},
		{"ASCII at the limit", strings.Repeat("a", maxSearchLen+5), strings.Repeat("a", maxSearchLen)},
		{"two-byte character across the limit", strings.Repeat("a", maxSearchLen-1) + "é" + "zz", strings.Repeat("a", maxSearchLen-1)},
		{"four-byte character across the limit", strings.Repeat("a", maxSearchLen-2) + "😀", strings.Repeat("a", maxSearchLen-2)},
		{"character ending at the limit", strings.Repeat("a", maxSearchLen-2) + "é" + "z", strings.Repeat("a", maxSearchLen-2) + "é"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/console/clients?q="+url.QueryEscape(tc.q), nil)
			got := searchQuery(r)
			if got != tc.want || !utf8.ValidString(got) || len(got) > maxSearchLen {
				t.Errorf("searchQuery = %q (%d bytes, valid %v), want %q", got, len(got), utf8.ValidString(got), tc.want)
			}
		})
	}
}
