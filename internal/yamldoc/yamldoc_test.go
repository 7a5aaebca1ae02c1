package yamldoc

import (
	"strings"
	"testing"
)

// One reads the one document of a file, allowing empty documents after
// it, and refuses a second one or text after an end marker.
func TestOne(t *testing.T) {
	for _, tc := range []struct {
		name, in, err string
		keys          int // top-level keys of the document read
	}{
		{"empty", "", "", -1},
		{"one document", "a: 1\nb: 2\n", "", 2},
		{"leading marker", "---\na: 1\n", "", 1},
		{"trailing marker", "a: 1\n---\n", "", 1},
		{"trailing comment document", "a: 1\n---\n# nothing\n", "", 1},
		{"second document", "a: 1\n---\nb: 2\n", "line 3: a second YAML document", 0},
		{"second document, a list", "a: 1\n---\n- b\n", "line 3: a second YAML document", 0},
		{"text after the end", "a: 1\n...\nb: [\n", "yaml:", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := One([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("One = %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("One: %v", err)
			}
			if tc.keys < 0 {
				if doc.Kind != 0 {
					t.Errorf("empty input gave a node of kind %d", doc.Kind)
				}
				return
			}
			if len(doc.Content) != 1 || len(doc.Content[0].Content) != 2*tc.keys {
				t.Errorf("document read: %+v, want %d keys", doc, tc.keys)
			}
		})
	}
}
