package directory

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// TestSetPasswordNormalised: every way the service sets a password
// (Create, Update, ChangePassword; the admin API, console, account page,
// CLI and configuration as code all come through them) stores the hash
// of its NFKC form, which another spelling of it then matches.
func TestSetPasswordNormalised(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			users := New(st, Options{}).Users()
			for _, tc := range []struct {
				name         string
				via          func(username, password string) (UserView, error)
				set, attempt string
			}{
				{"create, NFD set, NFC typed", func(username, password string) (UserView, error) {
					return users.Create(ctx, UserInput{Username: username, Password: password})
				}, accentedNFD, accentedNFC},
				{"update, NFC set, NFD typed", func(username, password string) (UserView, error) {
					if _, err := users.Create(ctx, UserInput{Username: username, Password: "quiet-copper-meadow-64"}); err != nil {
						return UserView{}, err
					}
					return users.Update(ctx, username, UserInput{Username: username, Password: password})
				}, accentedNFC, accentedNFD},
				{"change, full-width set, ASCII typed", func(username, password string) (UserView, error) {
					if _, err := users.Create(ctx, UserInput{Username: username, Password: "quiet-copper-meadow-64"}); err != nil {
						return UserView{}, err
					}
					return users.ChangePassword(ctx, username, password)
				}, "ｑｕｉｅｔ ｃｏｐｐｅｒ ｍｅａｄｏｗ ７", "quiet copper meadow 7"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					username := strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", ""), ",", ".")
					v, err := tc.via(username, tc.set)
					if err != nil {
						t.Fatal(err)
					}
					u, err := st.GetUser(ctx, v.ID)
					if err != nil {
						t.Fatal(err)
					}
					for _, pw := range []string{tc.set, tc.attempt} {
						if ok, err := CheckPassword(u.PasswordHash, pw); !ok || err != nil {
							t.Errorf("CheckPassword(stored hash, %+q) = %v, %v; want true", pw, ok, err)
						}
					}
				})
			}
		})
	}
}

// TestSetPasswordRefusesControlCharacters: a new password holding a
// control character is refused by every way the service sets one, as
// invalid input naming the password field and never quoting it, and
// nothing is stored: no user is created, no password changed.
func TestSetPasswordRefusesControlCharacters(t *testing.T) {
	const good = "quiet-copper-meadow-64"
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			users := New(st, Options{}).Users()
			alice, err := users.Create(ctx, UserInput{Username: "alice", Password: good})
			if err != nil {
				t.Fatal(err)
			}
			before, err := st.GetUser(ctx, alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			// NUL and invalid UTF-8 are refused first, in every text field
			// alike (unreadable).
			for pw, says := range map[string]string{
				"quiet-copper\tmeadow-64":     "password must be text without control characters",
				"quiet-copper\nmeadow-64":     "password must be text without control characters",
				"quiet-copper\u0085meadow-64": "password must be text without control characters",
				"quiet-copper\x00meadow-64":   "password must be valid UTF-8 without NUL characters",
				"quiet-copper\xffmeadow-64":   "password must be valid UTF-8 without NUL characters",
			} {
				for name, set := range map[string]func() error{
					"create": func() error { _, err := users.Create(ctx, UserInput{Username: "bob", Password: pw}); return err },
					"update": func() error {
						_, err := users.Update(ctx, "alice", UserInput{Username: "alice", Password: pw})
						return err
					},
					"change": func() error { _, err := users.ChangePassword(ctx, "alice", pw); return err },
					"check":  func() error { return CheckUser(UserInput{Username: "bob", Password: pw}) },
				} {
					err := set()
					var de *Error
					if !errors.As(err, &de) || !errors.Is(err, ErrInvalid) || de.Field != "password" ||
						!strings.Contains(de.Message, says) || strings.Contains(de.Message, "meadow") {
						t.Errorf("%s with %+q: %v; want invalid input naming the password and the problem, not quoting it", name, pw, err)
					}
				}
			}
			if _, err := users.Get(ctx, "bob"); !errors.Is(err, ErrNotFound) {
				t.Errorf("bob after refused creations: %v, want not found", err)
			}
			after, err := st.GetUser(ctx, alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.PasswordHash != before.PasswordHash {
				t.Error("a refused password changed alice's")
			}
		})
	}
}
