package directory

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// TestRefusals: each rule refuses with the kind of refusal, the object and
// the field a surface needs to answer it, and a message saying why.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	svc := New(testdb.Open(t, testdb.SQLite(t)), Options{})
	const pw = "correct horse battery staple"
	if _, err := svc.Roles().Create(ctx, RoleView{Name: "teacher"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Users().Create(ctx, UserInput{Username: "alice", Password: pw}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		call   func() error
		kind   error
		object Object
		field  string
		says   string
	}{
		{"username with a space", func() error { _, err := svc.Users().Create(ctx, UserInput{Username: "a b", Password: pw}); return err },
			ErrInvalid, ObjectUser, "username", "username must be"},
		{"username shaped like an id", func() error {
			_, err := svc.Users().Create(ctx, UserInput{Username: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Password: pw})
			return err
		}, ErrInvalid, ObjectUser, "username", "a user id"},
		{"weak password", func() error {
			_, err := svc.Users().Create(ctx, UserInput{Username: "bob", Password: "password1234"})
			return err
		},
			ErrInvalid, ObjectUser, "password", "password is too easy to guess"},
		{"no password on create", func() error { _, err := svc.Users().Create(ctx, UserInput{Username: "bob"}); return err },
			ErrInvalid, ObjectUser, "password", "password is too short"},
		{"email without @", func() error {
			_, err := svc.Users().Create(ctx, UserInput{Username: "bob", Password: pw, Email: "bob.example.com"})
			return err
		}, ErrInvalid, ObjectUser, "email", "not an email address"},
		{"name with a line break", func() error {
			_, err := svc.Users().Update(ctx, "alice", UserInput{Username: "alice", Name: "A\nB"})
			return err
		}, ErrInvalid, ObjectUser, "name", "control characters"},
		{"name written backwards by a direction override", func() error {
			_, err := svc.Users().Update(ctx, "alice", UserInput{Username: "alice", Name: "Eve\u202Eecila"})
			return err
		}, ErrInvalid, ObjectUser, "name", "control characters"},
		{"role description in a direction isolate", func() error {
			_, err := svc.Roles().Create(ctx, RoleView{Name: "student", Description: "reads \u2067results\u2069"})
			return err
		}, ErrInvalid, ObjectRole, "description", "control characters"},
		{"role that does not exist", func() error {
			_, err := svc.Users().Update(ctx, "alice", UserInput{Username: "alice", Roles: []string{"headmaster"}})
			return err
		}, ErrInvalid, ObjectUser, "roles", `role "headmaster" does not exist`},
		{"taken username", func() error {
			_, err := svc.Users().Create(ctx, UserInput{Username: "alice", Password: pw})
			return err
		},
			ErrConflict, ObjectUser, "", `user "alice" already exists`},
		{"unknown user", func() error { _, err := svc.Users().Get(ctx, "nobody"); return err },
			ErrNotFound, ObjectUser, "", `no user "nobody"`},
		{"role name with a space", func() error { _, err := svc.Roles().Create(ctx, RoleView{Name: "a b"}); return err },
			ErrInvalid, ObjectRole, "name", "role name must be"},
		{"role renamed", func() error { _, err := svc.Roles().Update(ctx, "teacher", RoleView{Name: "tutor"}); return err },
			ErrInvalid, ObjectRole, "name", "a role cannot be renamed"},
		{"role granting a bad scope", func() error {
			_, err := svc.Roles().Create(ctx, RoleView{Name: "student", Scopes: []string{`a"b`}})
			return err
		}, ErrInvalid, ObjectRole, "scopes", "RFC 6749 §3.3"},
		{"role description too long", func() error {
			_, err := svc.Roles().Create(ctx, RoleView{Name: "student", Description: strings.Repeat("x", 501)})
			return err
		}, ErrInvalid, ObjectRole, "description", "at most 500 characters"},
		{"existing role", func() error { _, err := svc.Roles().Create(ctx, RoleView{Name: "teacher"}); return err },
			ErrConflict, ObjectRole, "", `role "teacher" already exists`},
		{"unknown role", func() error { _, err := svc.Roles().Update(ctx, "nope", RoleView{}); return err },
			ErrNotFound, ObjectRole, "", `no role "nope"`},
		{"scope audience with a space", func() error {
			_, err := svc.Scopes().Create(ctx, ScopeView{Name: "results:read", Audience: "a b"})
			return err
		}, ErrInvalid, ObjectScope, "audience", "without spaces"},
		{"identity scope with an audience", func() error {
			// Every signed-in user is granted openid: the resource server
			// would accept anyone's token.
			_, err := svc.Scopes().Create(ctx, ScopeView{Name: "openid", Audience: "https://results.example"})
			return err
		}, ErrInvalid, ObjectScope, "audience", "every signed-in user"},
		{"identity scope but for case", func() error {
			_, err := svc.Scopes().Create(ctx, ScopeView{Name: "OpenID", Description: "Sign in"})
			return err
		}, ErrInvalid, ObjectScope, "name", "differs only by case from openid"},
		{"identity scope but for case, with an update", func() error {
			_, err := svc.Scopes().Update(ctx, "Offline_Access", ScopeView{Description: "Stay signed in"})
			return err
		}, ErrInvalid, ObjectScope, "name", "differs only by case from offline_access"},
		{"unknown scope", func() error { return svc.Scopes().Delete(ctx, "nope") },
			ErrNotFound, ObjectScope, "", `no scope "nope"`},
		{"client id with a space", func() error {
			_, err := svc.Clients().Create(ctx, ClientMetadata{ClientID: "a b", GrantTypes: []string{"client_credentials"}})
			return err
		}, ErrInvalid, ObjectClient, "client_id", "client_id must be"},
		{"registration turning PKCE off", func() error {
			off := false
			_, err := svc.Clients().Register(ctx, ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, RequirePKCE: &off})
			return err
		}, ErrInvalid, ObjectClient, "require_pkce", "through registration"},
		{"registration of a first-party client", func() error {
			_, err := svc.Clients().Register(ctx, ClientMetadata{RedirectURIs: []string{"https://app.example/cb"}, SkipConsent: true})
			return err
		}, ErrInvalid, ObjectClient, "skip_consent", "through registration"},
		{"unknown client", func() error { return svc.Clients().RevokeTokens(ctx, "nope") },
			ErrNotFound, ObjectClient, "", `no client "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v, want an *Error", err)
			}
			if !errors.Is(err, tc.kind) || de.Object != tc.object || de.Field != tc.field || !strings.Contains(de.Message, tc.says) {
				t.Errorf("got %v %s %q %q; want %v %s %q saying %q", de.Kind, de.Object, de.Field, de.Message, tc.kind, tc.object, tc.field, tc.says)
			}
		})
	}
}

// TestUnreadableTextRefused checks that text which is not valid UTF-8, or
// holds a NUL, is refused by the service itself, naming the field, on
// every backend alike. The HTTP surfaces refuse it before it arrives; the
// CLI on the database does not, and SQLite stored such text as sent while
// PostgreSQL failed the write ("storage: unavailable").
func TestUnreadableTextRefused(t *testing.T) {
	const pw = "correct horse battery staple"
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			svc := New(testdb.Open(t, b.DSN(t)), Options{})
			if _, err := svc.Roles().Create(ctx, RoleView{Name: "teacher"}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Users().Create(ctx, UserInput{Username: "alice", Password: pw}); err != nil {
				t.Fatal(err)
			}
			app := func(m ClientMetadata) ClientMetadata {
				if m.RedirectURIs == nil {
					m.RedirectURIs = []string{"https://app.example/cb"}
				}
				return m
			}
			for _, tc := range []struct {
				name   string
				call   func() error
				object Object
				field  string
			}{
				{"role description", func() error {
					_, err := svc.Roles().Create(ctx, RoleView{Name: "student", Description: "bad\xff"})
					return err
				}, ObjectRole, "description"},
				{"role description on update", func() error {
					_, err := svc.Roles().Update(ctx, "teacher", RoleView{Description: "bad\xff"})
					return err
				}, ObjectRole, "description"},
				{"scope description", func() error {
					_, err := svc.Scopes().Create(ctx, ScopeView{Name: "results:read", Description: "\xc3("})
					return err
				}, ObjectScope, "description"},
				{"scope audience", func() error {
					_, err := svc.Scopes().Create(ctx, ScopeView{Name: "results:read", Audience: "https://api\xff.example"})
					return err
				}, ObjectScope, "audience"},
				{"user name", func() error {
					_, err := svc.Users().Create(ctx, UserInput{Username: "bob", Password: pw, Name: "B\xffb"})
					return err
				}, ObjectUser, "name"},
				{"user email on update", func() error {
					_, err := svc.Users().Update(ctx, "alice", UserInput{Username: "alice", Email: "a\xff@example.com"})
					return err
				}, ObjectUser, "email"},
				{"user password", func() error {
					_, err := svc.Users().Create(ctx, UserInput{Username: "bob", Password: pw + "\xff"})
					return err
				}, ObjectUser, "password"},
				{"client name", func() error {
					_, err := svc.Clients().Create(ctx, app(ClientMetadata{ClientName: "App\xff"}))
					return err
				}, ObjectClient, "client_name"},
				{"redirect URI", func() error {
					_, err := svc.Clients().Create(ctx, app(ClientMetadata{RedirectURIs: []string{"https://app.example/c\xffb"}}))
					return err
				}, ObjectClient, "redirect_uris"},
				{"redirect URI with a NUL", func() error {
					_, err := svc.Clients().Create(ctx, app(ClientMetadata{RedirectURIs: []string{"https://app.example/c\x00b"}}))
					return err
				}, ObjectClient, "redirect_uris"},
				{"client key set", func() error {
					_, err := svc.Clients().Create(ctx, app(ClientMetadata{TokenEndpointAuthMethod: "private_key_jwt", JWKS: []byte(`{"keys":[{"kid":"\xff"}]}`)}))
					return err
				}, ObjectClient, "jwks"},
				{"client audience", func() error {
					_, err := svc.Clients().Create(ctx, app(ClientMetadata{Audience: []string{"https://api.example/\xff"}}))
					return err
				}, ObjectClient, "audience"},
				// Names the CLI passes as typed: the store refuses them
				// (storage.ErrInvalidInput), which was passed on as a
				// failure of the store's.
				{"scope deleted by a name with a NUL", func() error { return svc.Scopes().Delete(ctx, "a\x00b") }, ObjectScope, ""},
				{"scope deleted by a name not UTF-8", func() error { return svc.Scopes().Delete(ctx, "a\xffb") }, ObjectScope, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					err := tc.call()
					var de *Error
					if !errors.As(err, &de) {
						t.Fatalf("error %v, want an *Error", err)
					}
					if !errors.Is(err, ErrInvalid) || de.Object != tc.object || de.Field != tc.field {
						t.Errorf("got %v %s %q %q; want invalid %s %q", de.Kind, de.Object, de.Field, de.Message, tc.object, tc.field)
					}
				})
			}
		})
	}
}

// gate is a Hasher that refuses every request with errFull.
type gate struct{ entered int }

var errFull = errors.New("gate full")

func (g *gate) Enter(context.Context) (func(), error) { g.entered++; return nil, errFull }
func (g *gate) Hash(string) (string, error)           { return "", errors.New("hashed past a full gate") }

// TestHasherEnterFirst: a request that sets a password enters the
// Hasher before any other work, so a server's bound refuses it whatever
// it sent, and the refusal is the Hasher's own; one that sets none never
// waits at the bound.
func TestHasherEnterFirst(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.SQLite(t))
	if _, err := New(st, Options{}).Users().Create(ctx, UserInput{Username: "alice", Password: "correct horse battery staple"}); err != nil {
		t.Fatal(err)
	}
	g := &gate{}
	users := New(st, Options{Hasher: g}).Users()
	if _, err := users.Create(ctx, UserInput{Username: "not valid", Password: "x"}); !errors.Is(err, errFull) {
		t.Errorf("create with a password at a full gate = %v, want the gate's error", err)
	}
	if _, err := users.Update(ctx, "nobody", UserInput{Username: "nobody", Password: "quiet-copper-meadow-64"}); !errors.Is(err, errFull) {
		t.Errorf("update with a password at a full gate = %v, want the gate's error", err)
	}
	if _, err := users.Update(ctx, "alice", UserInput{Username: "alice", Name: "Alice"}); err != nil {
		t.Errorf("update without a password at a full gate = %v, want it done", err)
	}
	if g.entered != 2 {
		t.Errorf("the gate was entered %d times, want 2 (only by the requests that set a password)", g.entered)
	}
}

// TestRightToLeftNamesAccepted: refusing the direction controls
// (DisplayUnsafe) leaves names in right-to-left scripts, and text mixing
// them with Latin, as they are.
func TestRightToLeftNamesAccepted(t *testing.T) {
	for _, name := range []string{"علي حسن", "דוד לוי", "Dana (דנה) Levi", "مريم 2024"} {
		if err := plainText(ObjectUser, "name", name, 200, false); err != nil {
			t.Errorf("name %q refused: %v", name, err)
		}
	}
	for _, r := range []rune{'\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'} {
		if err := plainText(ObjectUser, "name", "a"+string(r)+"b", 200, false); err == nil {
			t.Errorf("name with U+%04X accepted", r)
		}
	}
}

// TestDisplaySafe: names that show as other text are refused; names in
// any script, or mixing scripts word by word, are kept.
func TestDisplaySafe(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"Gradebook", true},
		{"Βαθμολόγιο Gradebook", true},
		{"Москва School", true},
		{"Łódź Café", true},
		{"می\u200cخواهم", true},
		{"Gr\u0430debook", false},  // Cyrillic a
		{"\u0391pple", false},      // Greek Alpha
		{"hall\u200bpass", false},  // zero-width space
		{"Grade\u00adbook", false}, // soft hyphen
		{"Eve\u202eecila", false},  // override
		{"Gradebook\u3164", false}, // Hangul filler
	} {
		if got := DisplaySafe(tc.s); got != tc.want {
			t.Errorf("DisplaySafe(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
