package directory

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// RotateSecret replaces a confidential client's secret (returned once,
// stored as a digest) and refuses a public client or an unknown one,
// changing nothing.
func TestRotateSecret(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.SQLite(t))
	svc := New(st, Options{})
	conf, err := svc.Clients().Create(ctx, ClientMetadata{ClientID: "portal", RedirectURIs: []string{"https://portal.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := st.GetClient(ctx, "portal")
	got, err := svc.Clients().RotateSecret(ctx, "portal")
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	after, _ := st.GetClient(ctx, "portal")
	if got.ClientSecret == "" || got.ClientSecret == conf.ClientSecret {
		t.Errorf("new secret %q, old %q: want a new one", got.ClientSecret, conf.ClientSecret)
	}
	if bytes.Equal(before.SecretHash, after.SecretHash) || bytes.Contains(after.SecretHash, []byte(got.ClientSecret)) {
		t.Error("the stored digest did not change, or holds the secret itself")
	}
	if len(after.RedirectURIs) != 1 || after.Name != before.Name {
		t.Errorf("rotation changed other fields: %+v", after)
	}

	if _, err := svc.Clients().Create(ctx, ClientMetadata{ClientID: "app", RedirectURIs: []string{"https://app.example/cb"}, TokenEndpointAuthMethod: "none"}); err != nil {
		t.Fatal(err)
	}
	pub, _ := st.GetClient(ctx, "app")
	var de *Error
	if _, err := svc.Clients().RotateSecret(ctx, "app"); !errors.As(err, &de) || !errors.Is(err, ErrInvalid) {
		t.Errorf("rotate a public client's secret: %v, want a refusal", err)
	}
	if now, _ := st.GetClient(ctx, "app"); len(now.SecretHash) != 0 || !now.UpdatedAt.Equal(pub.UpdatedAt) {
		t.Error("a refused rotation changed the public client")
	}
	if _, err := svc.Clients().RotateSecret(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rotate an unknown client: %v, want not found", err)
	}
}
