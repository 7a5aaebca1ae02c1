package directory

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
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

// A client whose method uses no secret gets none, whichever call would
// give it one: a public client, and a private_key_jwt client, which
// proves itself with its keys (a secret given it would be shown as
// working, never authenticate, and vanish at its next update). Each
// call is refused naming the field and changes nothing.
func TestNoSecretForSecretlessMethods(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.SQLite(t))
	svc := New(st, Options{})
	secret := strings.Repeat("s", MinClientSecretLen)
	keyed := ClientMetadata{ClientID: "signer", GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{},
		TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "https://signer.example/jwks"}
	public := ClientMetadata{ClientID: "app", RedirectURIs: []string{"https://app.example/cb"}, TokenEndpointAuthMethod: "none"}
	for _, m := range []ClientMetadata{keyed, public} {
		if _, err := svc.Clients().Create(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, id string
		call     func() error
	}{
		{"RotateSecret keyed", "signer", func() error { _, err := svc.Clients().RotateSecret(ctx, "signer"); return err }},
		{"RotateSecret public", "app", func() error { _, err := svc.Clients().RotateSecret(ctx, "app"); return err }},
		{"SetSecret keyed", "signer", func() error { return svc.Clients().SetSecret(ctx, "signer", secret) }},
		{"SetSecret public", "app", func() error { return svc.Clients().SetSecret(ctx, "app", secret) }},
		{"CreateWithSecret keyed", "signer-2", func() error {
			m := keyed
			m.ClientID = "signer-2"
			_, err := svc.Clients().CreateWithSecret(ctx, m, secret)
			return err
		}},
		{"UpdateWithSecret keyed", "signer", func() error { _, err := svc.Clients().UpdateWithSecret(ctx, "signer", keyed, secret); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := st.GetClient(ctx, tc.id)
			err := tc.call()
			var de *Error
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalid) || de.Field == "" {
				t.Errorf("error %v, want a refusal naming a field", err)
			}
			after, _ := st.GetClient(ctx, tc.id)
			if (before == nil) != (after == nil) || after != nil && (len(after.SecretHash) != 0 || !after.UpdatedAt.Equal(before.UpdatedAt)) {
				t.Errorf("the refused call changed the client: %+v", after)
			}
		})
	}
}

// auditLog keeps the events recorded, for a test to read.
type auditLog struct{ events []audit.Event }

func (l *auditLog) Record(_ context.Context, ev audit.Event) { l.events = append(l.events, ev) }

// TestClientMadePublicLosesItsGrants: a client switched to
// token_endpoint_auth_method none loses the refresh tokens and unused
// codes it got while it authenticated (they would work with no secret
// from anywhere), with the update, and the revocation is audited
// (client.tokens_revoked). Any other change of method keeps them, and a
// refused update revokes nothing.
func TestClientMadePublicLosesItsGrants(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range []struct {
				from, to string
				revoked  bool
			}{
				{"client_secret_basic", "none", true},
				{"client_secret_post", "none", true},
				{"private_key_jwt", "none", true},
				{"client_secret_basic", "client_secret_post", false},
				{"none", "none", false},
				{"none", "client_secret_basic", false},
			} {
				t.Run(tc.from+" to "+tc.to, func(t *testing.T) {
					ctx := context.Background()
					st := testdb.Open(t, b.DSN(t))
					log := &auditLog{}
					svc := New(st, Options{Audit: log})
					m := ClientMetadata{ClientID: "app", RedirectURIs: []string{"https://app.example/cb"}, TokenEndpointAuthMethod: tc.from,
						GrantTypes: []string{"authorization_code", "refresh_token"}}
					if tc.from == "private_key_jwt" {
						m.JWKSURI = "https://app.example/jwks"
					}
					if _, err := svc.Clients().Create(ctx, m); err != nil {
						t.Fatal(err)
					}
					now := time.Now().UTC().Truncate(time.Second)
					for _, kind := range []storage.TokenKind{storage.KindRefreshToken, storage.KindAuthorizeCode} {
						if err := st.CreateToken(ctx, &storage.Token{Kind: kind, Signature: "sig-" + string(kind), RequestID: "req", RequestedAt: now,
							ClientID: "app", Subject: "alice", Form: "", Session: []byte(`{}`), Active: true, ExpiresAt: now.Add(time.Hour)}); err != nil {
							t.Fatal(err)
						}
					}
					m.TokenEndpointAuthMethod, m.JWKSURI = tc.to, ""
					// A refused update (an unusable redirect URI) first.
					bad := m
					bad.RedirectURIs = []string{"not a uri"}
					if _, err := svc.Clients().Update(ctx, "app", bad); err == nil {
						t.Fatal("an update with a bad redirect URI was accepted")
					}
					for _, kind := range []storage.TokenKind{storage.KindRefreshToken, storage.KindAuthorizeCode} {
						if tok, err := st.GetToken(ctx, kind, "sig-"+string(kind)); err != nil || !tok.Active {
							t.Fatalf("%s after a refused update: %+v, %v; want active", kind, tok, err)
						}
					}
					log.events = nil
					if _, err := svc.Clients().Update(ctx, "app", m); err != nil {
						t.Fatalf("update: %v", err)
					}
					for _, kind := range []storage.TokenKind{storage.KindRefreshToken, storage.KindAuthorizeCode} {
						tok, err := st.GetToken(ctx, kind, "sig-"+string(kind))
						if kind == storage.KindAuthorizeCode && tc.revoked {
							// An unused code of an ended grant is gone
							// (its exchange is then no replay).
							if !errors.Is(err, storage.ErrNotFound) {
								t.Errorf("unused code after the update: %+v, %v; want it deleted", tok, err)
							}
							continue
						}
						if err != nil {
							t.Fatal(err)
						}
						if tok.Active == tc.revoked {
							t.Errorf("%s active %v after the update; want %v", kind, tok.Active, !tc.revoked)
						}
					}
					recorded := false
					for _, ev := range log.events {
						if ev.Action == "client.tokens_revoked" && ev.ClientID == "app" {
							recorded = true
						}
					}
					if recorded != tc.revoked {
						t.Errorf("client.tokens_revoked recorded %v, want %v (events %+v)", recorded, tc.revoked, log.events)
					}
				})
			}
		})
	}
}
