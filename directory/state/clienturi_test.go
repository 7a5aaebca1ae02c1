package state_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/directory/state"
	"github.com/hallpass/hallpass/storage"
)

// TestApplyRefusesClientURI: plan and apply refuse a file whose client
// registers a URI with a backslash or a host not in ASCII, naming the
// client, the field and, for the host, the A-label form to write instead,
// and change nothing. A client stored with such a URI before the rule
// (past the service) is left alone by a file that does not name it.
func TestApplyRefusesClientURI(t *testing.T) {
	for name, tc := range map[string]struct{ fields, want string }{
		"redirect URI, look-alike host": {"redirect_uris: ['https://\u0430pple.example/cb']",
			"client \"app\": redirect_uris: \"https://\u0430pple.example/cb\" must name its host in ASCII, so that no look-alike of another host passes for it: register \"https://xn--pple-43d.example/cb\""},
		"redirect URI, backslash":     {`redirect_uris: ['https://app.example/cb\..\admin']`, `client "app": redirect_uris: "https://app.example/cb\\..\\admin" must not contain a backslash`},
		"redirect URI, bad A-label":   {"redirect_uris: ['https://xn--zz.example/cb']", `client "app": redirect_uris: "https://xn--zz.example/cb" has the host label "xn--zz"`},
		"sign-out URI, IDN host":      {"redirect_uris: ['https://app.example/cb']\n    post_logout_redirect_uris: ['https://bücher.example/bye']", `post_logout_redirect_uris: "https://bücher.example/bye" must name its host in ASCII`},
		"back-channel URI, backslash": {"redirect_uris: ['https://app.example/cb']\n    backchannel_logout_uri: 'https://app.example/b\\c'", `client "app": backchannel_logout_uri: "https://app.example/b\\c" must not contain a backslash`},
	} {
		t.Run(name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
				ctx := context.Background()
				if err := st.CreateClient(ctx, &storage.Client{ID: "legacy", RedirectURIs: []string{"https://bücher.example/cb"}, GrantTypes: []string{"authorization_code"},
					ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", CreatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
				file := "clients:\n  - client_id: app\n    token_endpoint_auth_method: none\n    " + tc.fields + "\n"
				_, err := state.Make(ctx, dir, load(t, file), state.Options{})
				_, aerr := state.Apply(ctx, dir, load(t, file), state.Options{})
				if err == nil || !strings.Contains(err.Error(), tc.want) || aerr == nil || !strings.Contains(aerr.Error(), tc.want) {
					t.Fatalf("Make = %v, Apply = %v; want both to say %q", err, aerr, tc.want)
				}
				if _, err := dir.Clients().Get(ctx, "app"); err == nil {
					t.Error("the client was created")
				}
				mustApply(t, dir, load(t, "clients:\n  - client_id: app\n    token_endpoint_auth_method: none\n    redirect_uris: ['https://xn--pple-43d.example/cb']\n"), state.Options{})
				if c, err := st.GetClient(ctx, "legacy"); err != nil || c.RedirectURIs[0] != "https://bücher.example/cb" {
					t.Errorf("the stored client = %+v, %v; want it as it was", c, err)
				}
			})
		})
	}
}
