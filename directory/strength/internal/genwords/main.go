// Command genwords writes zxcvbn's frequency lists, as
// github.com/trustelem/zxcvbn/frequency holds them, to words/NAME.txt:
// one word per line, most frequent first. The strength package embeds
// those files instead of importing the library's package, whose map of
// 94,000 words is built when the program starts and then scanned by
// every garbage collection. Run it through `go generate
// ./directory/strength` after upgrading the library;
// TestWordListsMatchLibrary fails until then.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/trustelem/zxcvbn/frequency"
)

func main() {
	if err := write("words"); err != nil {
		fmt.Fprintln(os.Stderr, "genwords:", err)
		os.Exit(1)
	}
}

// write writes each list to dir/NAME.txt. A word that is empty or holds
// a line break could not be read back as it was: it is an error.
func write(dir string) error {
	for name, words := range frequency.FrequencyLists {
		var b strings.Builder
		for _, w := range words {
			if w == "" || strings.ContainsAny(w, "\r\n") {
				return fmt.Errorf("list %s: word %q cannot be written one per line", name, w)
			}
			b.WriteString(w)
			b.WriteByte('\n')
		}
		path := filepath.Join(dir, name+".txt")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write list %s: %w", name, err)
		}
	}
	return nil
}
