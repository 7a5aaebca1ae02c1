package directory

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
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

// An id that differs from a built-in one only by case, or by spaces
// around it, is refused to every call that creates a client, with a
// conflict, and nothing is stored: people would take it for hallpass's
// own client. An unrelated id is created as usual.
func TestReservedClientIDs(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.SQLite(t))
	svc := New(st, Options{BuiltinClients: []string{"hallpass-console"}})
	secret := strings.Repeat("s", MinClientSecretLen)
	for _, id := range []string{"Hallpass-Console", "HALLPASS-CONSOLE", "hallpass-Console", " hallpass-console", "hallpass-console\t"} {
		for _, tc := range []struct {
			name string
			call func(m ClientMetadata) error
		}{
			{"Create", func(m ClientMetadata) error { _, err := svc.Clients().Create(ctx, m); return err }},
			{"CreateWithSecret", func(m ClientMetadata) error { _, err := svc.Clients().CreateWithSecret(ctx, m, secret); return err }},
		} {
			t.Run(tc.name+" "+id, func(t *testing.T) {
				m := ClientMetadata{ClientID: id, RedirectURIs: []string{"https://evil.example/cb"}}
				if err := tc.call(m); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "hallpass-console") {
					t.Errorf("error %v, want a conflict naming hallpass-console", err)
				}
				if !svc.Clients().IsReserved(id) {
					t.Errorf("IsReserved(%q) = false", id)
				}
			})
		}
	}
	if list, err := st.ListClients(ctx); err != nil || len(list) != 0 {
		t.Errorf("stored clients after the refusals: %+v, %v", list, err)
	}
	if svc.Clients().IsReserved("hallpass-console-2") {
		t.Error("IsReserved(hallpass-console-2) = true")
	}
	if _, err := svc.Clients().Create(ctx, ClientMetadata{ClientID: "hallpass-console-2", RedirectURIs: []string{"https://app.example/cb"}}); err != nil {
		t.Errorf("Create hallpass-console-2: %v", err)
	}
}

// recordedActions is a Recorder that keeps the action of every event.
type recordedActions struct {
	mu      sync.Mutex
	actions []string
}

func (r *recordedActions) Record(_ context.Context, ev audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, ev.Action)
}

func (r *recordedActions) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.actions)
}

// RegisterBuiltin puts back every field of a built-in client that was
// edited behind the service's back, not only some (the console's client
// with a post-logout redirect, a back-channel URI or PKCE made optional
// would serve whoever edited it), and writes nothing, audit included,
// when the client is stored as it must be: every start of every replica
// calls it.
func TestRegisterBuiltinRestoresEveryField(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			rec := &recordedActions{}
			clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			svc := New(st, Options{BuiltinClients: []string{"own"}, Audit: rec, Now: func() time.Time { return clock }})
			own := ClientMetadata{ClientID: "own", ClientName: "Own", RedirectURIs: []string{"https://id.example/cb"},
				GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none",
				Scope: "openid profile", SkipConsent: true}
			if _, err := svc.Clients().RegisterBuiltin(ctx, own); err != nil {
				t.Fatalf("RegisterBuiltin (create): %v", err)
			}
			want, err := st.GetClient(ctx, "own")
			if err != nil {
				t.Fatal(err)
			}

			clock = clock.Add(time.Hour)
			writes := rec.count()
			if _, err := svc.Clients().RegisterBuiltin(ctx, own); err != nil {
				t.Fatalf("RegisterBuiltin (unchanged): %v", err)
			}
			if got, err := st.GetClient(ctx, "own"); err != nil || !got.UpdatedAt.Equal(want.UpdatedAt) || rec.count() != writes {
				t.Errorf("RegisterBuiltin of a client stored as it must be wrote it: updated %v (was %v), %d audit events more, %v",
					got.UpdatedAt, want.UpdatedAt, rec.count()-writes, err)
			}

			for _, tc := range []struct {
				field  string
				tamper func(c *storage.Client)
			}{
				{"post_logout_redirect_uris", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{"https://evil.example/bye"} }},
				{"response_types", func(c *storage.Client) { c.ResponseTypes = []string{"code", "token"} }},
				{"require_pkce", func(c *storage.Client) { c.PKCEOptional = true }},
				{"backchannel_logout_uri", func(c *storage.Client) { c.BackchannelLogoutURI = "https://evil.example/bc" }},
				{"require_pushed_authorization_requests", func(c *storage.Client) { c.RequirePAR = true }},
				{"jwks_uri", func(c *storage.Client) { c.JWKSURI = "https://evil.example/jwks" }},
				{"audience", func(c *storage.Client) { c.Audience = []string{"https://api.example"} }},
				{"client_secret", func(c *storage.Client) { c.SecretHash = []byte("0123456789abcdef0123456789abcdef") }},
			} {
				t.Run(tc.field, func(t *testing.T) {
					c, err := st.GetClient(ctx, "own")
					if err != nil {
						t.Fatal(err)
					}
					tc.tamper(c)
					if err := st.UpdateClient(ctx, c); err != nil {
						t.Fatal(err)
					}
					if _, err := svc.Clients().RegisterBuiltin(ctx, own); err != nil {
						t.Fatalf("RegisterBuiltin: %v", err)
					}
					got, err := st.GetClient(ctx, "own")
					if err != nil {
						t.Fatal(err)
					}
					if diff := changedFields(viewClient(want), viewClient(got)); len(diff) != 0 || len(got.SecretHash) != 0 {
						t.Errorf("after RegisterBuiltin, fields %v differ from the registration (secret hash %x)", diff, got.SecretHash)
					}
				})
			}
		})
	}
}

// Options.BuiltinHTTPOrigin lets a built-in client register plain-http
// redirect URIs on that origin alone: not on another host or port, and
// never for a client that is not built in.
func TestBuiltinHTTPOrigin(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.SQLite(t))
	svc := New(st, Options{BuiltinClients: []string{"own"}, BuiltinHTTPOrigin: "http://id.internal:8080"})
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"http://id.internal:8080/console/callback", true},
		{"HTTP://ID.Internal:8080/account/callback", true},
		{"http://id.internal:8081/console/callback", false},
		{"http://id.internal/console/callback", false},
		{"http://evil.internal:8080/console/callback", false},
	} {
		_, err := svc.Clients().RegisterBuiltin(ctx, ClientMetadata{ClientID: "own", RedirectURIs: []string{tc.uri}, TokenEndpointAuthMethod: "none", SkipConsent: true})
		if (err == nil) != tc.ok {
			t.Errorf("RegisterBuiltin with %s: %v, want accepted %v", tc.uri, err, tc.ok)
		}
		if _, err := svc.Clients().Create(ctx, ClientMetadata{RedirectURIs: []string{tc.uri}, TokenEndpointAuthMethod: "none"}); err == nil {
			t.Errorf("Create accepted a client with %s", tc.uri)
		}
	}
}
