package sqlstore

import (
	"errors"
	"strings"
	"testing"
)

// TestUnstorableTextNotEchoed: the reason a statement's text is refused
// says where it fails, never the text: it goes into errors and log lines,
// and the text is a request's (a password typed into the username field,
// a whole body).
func TestUnstorableTextNotEchoed(t *testing.T) {
	const secret = "hunter2-correct-horse"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"invalid UTF-8", secret + "\xff", "text of 22 bytes is not valid UTF-8 (at byte 21)"},
		{"NUL", secret + "\x00", "text of 22 bytes contains a NUL character (at byte 21)"},
		{"invalid UTF-8 in a list", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []any{tc.text}
			if tc.text == "" {
				args = []any{[]string{"ok", secret + "\xc3"}}
			}
			err := checkArgs(args)
			if !errors.Is(err, errUnstorable) {
				t.Fatalf("checkArgs = %v, want errUnstorable", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("checkArgs = %q: it holds the text", err)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("checkArgs = %q, want it to say %q", err, tc.want)
			}
		})
	}
}
