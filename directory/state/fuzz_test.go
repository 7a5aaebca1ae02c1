package state_test

import (
	"bytes"
	"testing"

	"github.com/hallpass/hallpass/directory/state"
	"github.com/hallpass/hallpass/examples"
)

// FuzzLoad: no file makes Load panic, and what it accepts marshals and
// loads back to the same.
func FuzzLoad(f *testing.F) {
	f.Add(examples.School())
	f.Add([]byte("clients:\n  - client_id: a\n    client_secret_env: X\n"))
	f.Add([]byte("users: [{username: a, roles: [b]}]"))
	f.Add([]byte("scopes: &a [*a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := state.Load(bytes.NewReader(b), "fuzz.yaml")
		if err != nil {
			return
		}
		out, err := state.Marshal(file)
		if err != nil {
			t.Fatalf("Marshal of a loaded file: %v", err)
		}
		if _, err := state.Load(bytes.NewReader(out), "again.yaml"); err != nil {
			t.Fatalf("a marshalled file does not load: %v\n%s", err, out)
		}
	})
}
