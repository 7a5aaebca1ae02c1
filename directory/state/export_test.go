package state_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/directory/state"
	"github.com/hallpass/hallpass/storage"
)

// A client's stored key set is exported as a (flow) mapping, or, when it is not
// JSON, the export fails naming the client: written without it, the file,
// applied, would remove the client's keys.
func TestExportStoredJWKS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	// The same key set as PHP's json_encode writes it: "\/" is valid JSON
	// that the YAML parser does not read.
	escaped := strings.Replace(string(valid), `"kid":"k1"`, `"kid":"k1\/a"`, 1)
	tests := []struct {
		name   string
		stored string
		// want is in the exported file; wantErr in the error, when the
		// export must fail.
		want, wantErr string
	}{
		{name: "key set", stored: string(valid), want: `    jwks: {"keys": [{`},
		{name: "key set with JSON escapes YAML lacks", stored: escaped, want: `"kid": "k1/a"`},
		{name: "truncated JSON", stored: string(valid[:len(valid)/2]), wantErr: `client "signer"`},
		{name: "not JSON", stored: "keys: [not json", wantErr: `client "signer"`},
		{name: "blank", stored: " \n", wantErr: `client "signer"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
				ctx := context.Background()
				if _, err := dir.Clients().Create(ctx, directory.ClientMetadata{ClientID: "signer", GrantTypes: []string{"client_credentials"},
					ResponseTypes: []string{}, TokenEndpointAuthMethod: "private_key_jwt", JWKS: valid}); err != nil {
					t.Fatal(err)
				}
				// What the directory would refuse, written to the store
				// directly: a row an older version, or a hand, left.
				c, err := st.GetClient(ctx, "signer")
				if err != nil {
					t.Fatal(err)
				}
				c.JWKS = tt.stored
				if err := st.UpdateClient(ctx, c); err != nil {
					t.Fatal(err)
				}
				exported, err := state.Export(ctx, dir)
				if err != nil {
					t.Fatalf("Export: %v", err)
				}
				out, err := state.Marshal(exported)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("Marshal: error %v, want one naming %s; file:\n%s", err, tt.wantErr, out)
					}
					return
				}
				if err != nil {
					t.Fatalf("Marshal: %v", err)
				}
				if !strings.Contains(string(out), tt.want) {
					t.Fatalf("exported file lacks %q:\n%s", tt.want, out)
				}
				// Applied back, the file keeps the key set as it is.
				wantEmpty(t, "plan of the export", mustPlan(t, dir, load(t, string(out)), state.Options{}))
			})
		})
	}
}
