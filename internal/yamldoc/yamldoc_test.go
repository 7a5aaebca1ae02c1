package yamldoc

import (
	"strconv"
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
		{"tag str", "a: !!str 010\n", "", 1},
		{"tag seq and map", "a: !!seq [!!map {b: !!int 1}]\n", "", 1},
		{"tag binary", "a: [x, !!binary aGVsbG8=]\n", "line 1: tag !!binary is not supported", 0},
		{"tag timestamp", "a:\n  b: !!timestamp 2024-01-01\n", "line 2: tag !!timestamp", 0},
		{"tag language", "a: !!python/object:os.system x\n", "tag !!python/object:os.system", 0},
		{"tag local", "a: !env HOME\n", "tag !env", 0},
		{"tag on a key", "!custom a: 1\n", "tag !custom", 0},
		{"tag on an anchored node", "a: &x !binary aGk=\nb: *x\n", "tag !binary", 0},
		// Aliases stand for at most MaxAliasedNodes nodes in all, each
		// counted as what it expands to (the list of 1000 is 1001 nodes).
		{"aliases within the bound", "a: &x [" + list(1000) + "]\nb: [" + strings.Repeat("*x, ", 98) + "*x]\n", "", 2},
		{"aliases past the bound", "a: &x [" + list(1000) + "]\nb: [" + strings.Repeat("*x, ", 99) + "*x]\n", "line 2: the aliases up to this one (*x) stand for more than 100000 values", 0},
		{"nested aliases past the bound", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n", "stand for more than 100000 values", 0},
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

// FuzzOne: no input makes One panic or return a document holding a
// refused tag.
func FuzzOne(f *testing.F) {
	f.Add([]byte("a: 1\n---\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("a: !!binary aGk=\n"))
	f.Add([]byte("\xef\xbb\xbfa: [b, {c: d}]\n...\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := One(b)
		if err != nil {
			return
		}
		if err := checkTags(&doc); err != nil {
			t.Fatalf("One accepted a document checkTags refuses: %v", err)
		}
	})
}

// list is n plain scalars separated by commas: s0, s1…
func list(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = "s" + strconv.Itoa(i)
	}
	return strings.Join(items, ", ")
}
