package directory

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// A built-in client (Options.BuiltinClients) is refused to every call
// that would create, change or delete it or its secret, with a conflict
// that names it and changes nothing; it is read and listed like any
// other, and RegisterBuiltin alone writes it.
func TestBuiltinClients(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.SQLite(t))
	svc := New(st, Options{BuiltinClients: []string{"own"}})
	own := ClientMetadata{ClientID: "own", ClientName: "Own", RedirectURIs: []string{"https://id.example/cb"}, TokenEndpointAuthMethod: "none", SkipConsent: true}
	if _, err := svc.Clients().RegisterBuiltin(ctx, own); err != nil {
		t.Fatalf("RegisterBuiltin (create): %v", err)
	}
	own.RedirectURIs = []string{"https://id.example/callback"}
	if _, err := svc.Clients().RegisterBuiltin(ctx, own); err != nil {
		t.Fatalf("RegisterBuiltin (update): %v", err)
	}
	before, err := st.GetClient(ctx, "own")
	if err != nil || !reflect.DeepEqual(before.RedirectURIs, own.RedirectURIs) {
		t.Fatalf("after RegisterBuiltin: %+v, %v", before, err)
	}
	if _, err := svc.Clients().RegisterBuiltin(ctx, ClientMetadata{ClientID: "other", RedirectURIs: own.RedirectURIs}); err == nil {
		t.Error("RegisterBuiltin wrote a client that is not built in")
	}

	hijack := ClientMetadata{ClientID: "own", RedirectURIs: []string{"https://evil.example/cb"}, TokenEndpointAuthMethod: "none"}
	secret := strings.Repeat("s", MinClientSecretLen)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Update", func() error { _, err := svc.Clients().Update(ctx, "own", hijack); return err }},
		{"Delete", func() error { return svc.Clients().Delete(ctx, "own") }},
		{"RotateSecret", func() error { _, err := svc.Clients().RotateSecret(ctx, "own"); return err }},
		{"SetSecret", func() error { return svc.Clients().SetSecret(ctx, "own", secret) }},
		{"Create", func() error { _, err := svc.Clients().Create(ctx, hijack); return err }},
		{"CreateWithSecret", func() error {
			m := hijack
			m.TokenEndpointAuthMethod = "client_secret_basic"
			_, err := svc.Clients().CreateWithSecret(ctx, m, secret)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var de *Error
			if !errors.As(err, &de) || !errors.Is(err, ErrConflict) || de.Object != ObjectClient ||
				de.Message != "own is hallpass's own client; it cannot be changed or deleted" {
				t.Fatalf("error %v, want the conflict naming the built-in client", err)
			}
			after, err := st.GetClient(ctx, "own")
			if err != nil || !reflect.DeepEqual(before, after) {
				t.Errorf("the stored client changed: %+v, %v", after, err)
			}
		})
	}

	if m, err := svc.Clients().Get(ctx, "own"); err != nil || m.ClientID != "own" {
		t.Errorf("Get: %+v, %v", m, err)
	}
	if list, err := svc.Clients().List(ctx); err != nil || len(list) != 1 {
		t.Errorf("List: %+v, %v", list, err)
	}
	if !svc.Clients().IsBuiltin("own") || svc.Clients().IsBuiltin("other") {
		t.Error("IsBuiltin does not tell the built-in client from another")
	}
	// Without the option the id is an ordinary one.
	if _, err := New(st, Options{}).Clients().Update(ctx, "own", hijack); err != nil {
		t.Errorf("a service without built-in clients: Update: %v", err)
	}
}
