package directory_test

import (
	"encoding/json"
	"testing"

	"github.com/hallpass/hallpass/directory"
)

// FuzzParseClientJWKS feeds arbitrary bytes to the parser of key sets that
// clients register or publish at their jwks_uri: it must never panic, and
// whatever it accepts is a non-empty set of public signing keys that
// encodes back to JSON.
func FuzzParseClientJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","use":"sig"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		set, err := directory.ParseClientJWKS(raw)
		if err != nil {
			return
		}
		if len(set.Keys) == 0 {
			t.Fatal("accepted an empty set")
		}
		for _, k := range set.Keys {
			if !k.IsPublic() || k.Use != "sig" {
				t.Fatalf("accepted key %+v", k)
			}
		}
		if _, err := json.Marshal(set); err != nil {
			t.Fatalf("accepted set does not encode: %v", err)
		}
	})
}
