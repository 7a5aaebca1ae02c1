package main

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// TestUsersPasswordRules: `users create` and `users update` refuse the
// passwords the rules refuse, saying why, and change nothing; a generated
// password passes them; a new password (and nothing else) signs the user
// out everywhere and ends their grants. On every backend.
func TestUsersPasswordRules(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			chdirTemp(t)
			db := migrated(t, b.DSN(t))
			hp := onDatabase(t, db)
			const alicePW, newPW = "violet-otter-harbour-31", "quiet-copper-meadow-64"
			if _, e, code := hp(alicePW+"\n", "users", "create", "--username", "alice", "--name", "Alice Liddell", "--password-stdin"); code != 0 {
				t.Fatalf("users create alice: %s", e)
			}
			st := testdb.Open(t, db)
			ctx := context.Background()

			for _, tc := range []struct{ name, password, want string }{
				{"too short", "vD9#qLm2!xT", "password is too short: use at least 12 characters"},
				{"common password", "password1234", "password is too easy to guess"},
				{"keyboard row", "qwertyuiop12", "password is too easy to guess"},
				{"contains the username", "violet-CAROL-harbour-31", "password must not contain the username"},
				{"the user's name", "xandrelquorvith", "password is too easy to guess"},
			} {
				t.Run("create, "+tc.name, func(t *testing.T) {
					out, e, code := hp(tc.password+"\n", "users", "create", "--username", "carol", "--name", "Xandrel Quorvith", "--password-stdin")
					if code == 0 || !strings.Contains(e, tc.want) {
						t.Errorf("exit %d, stderr %q; want a failure saying %q", code, e, tc.want)
					}
					if strings.Contains(out+e, tc.password) {
						t.Errorf("the output repeats the password: %s%s", out, e)
					}
					if _, err := st.GetUserByUsername(ctx, "carol"); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("carol after a refused create: %v, want not found", err)
					}
				})
			}

			t.Run("generated password", func(t *testing.T) {
				_, e, code := hp("", "users", "create", "--username", "bob", "--email", "bob@example.com")
				m := regexp.MustCompile(`Generated password for bob \(shown only now\): (\S+)`).FindStringSubmatch(e)
				if code != 0 || m == nil {
					t.Fatalf("users create without a password: exit %d: %s", code, e)
				}
				if err := directory.CheckPasswordPolicy(m[1], "bob", "bob@example.com"); err != nil {
					t.Errorf("the generated password breaks the rules: %v", err)
				}
				u, err := st.GetUserByUsername(ctx, "bob")
				if err != nil {
					t.Fatal(err)
				}
				if ok, _ := directory.CheckPassword(u.PasswordHash, m[1]); !ok {
					t.Error("the printed password is not the stored one")
				}
			})

			alice, err := st.GetUserByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.CreateClient(ctx, &storage.Client{ID: "app", CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			// signIn stores what a sign-in of alice leaves: a browser
			// session and a grant's access and refresh tokens.
			n := 0
			signIn := func() (session, access, refresh string) {
				t.Helper()
				n++
				now := time.Now()
				session, access, refresh = "session-"+string(rune('a'+n)), "access-"+string(rune('a'+n)), "refresh-"+string(rune('a'+n))
				if err := st.CreateBrowserSession(ctx, &storage.BrowserSession{ID: session, UserID: alice.ID, AuthTime: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
				for kind, sig := range map[storage.TokenKind]string{storage.KindAccessToken: access, storage.KindRefreshToken: refresh} {
					if err := st.CreateToken(ctx, &storage.Token{Kind: kind, Signature: sig, RequestID: "grant-" + session, RequestedAt: now, ClientID: "app",
						Subject: alice.ID, Session: []byte(`{}`), Active: true, ExpiresAt: now.Add(time.Hour)}); err != nil {
						t.Fatal(err)
					}
				}
				return session, access, refresh
			}
			signedIn := func(session, access, refresh string) bool {
				t.Helper()
				_, errS := st.GetBrowserSession(ctx, session)
				_, errA := st.GetToken(ctx, storage.KindAccessToken, access)
				r, errR := st.GetToken(ctx, storage.KindRefreshToken, refresh)
				return errS == nil && errA == nil && errR == nil && r.Active
			}

			s1, a1, r1 := signIn()
			if _, e, code := hp("", "users", "update", "alice", "--name", "Alice P. Liddell", "--email", "alice@school.example"); code != 0 {
				t.Fatalf("users update --name: %s", e)
			}
			if !signedIn(s1, a1, r1) {
				t.Error("changing the name and email ended alice's session or grant")
			}
			_, e, code := hp("password1234\n", "users", "update", "alice", "--password-stdin")
			if code == 0 || !strings.Contains(e, "password is too easy to guess") {
				t.Errorf("users update with a weak password: exit %d: %s", code, e)
			}
			if after, err := st.GetUser(ctx, alice.ID); err != nil || after.PasswordHash != alice.PasswordHash {
				t.Errorf("a refused password changed the hash (err %v)", err)
			}
			if !signedIn(s1, a1, r1) {
				t.Error("a refused password ended alice's session or grant")
			}

			// An empty first line of stdin (the command that was to print
			// the password printed nothing) is refused, never taken as
			// "no change" with exit 0.
			for _, stdin := range []string{"", "\n", "\r\n"} {
				_, e, code := hp(stdin, "users", "update", "alice", "--password-stdin")
				if code == 0 || !strings.Contains(e, "--password-stdin") {
					t.Errorf("users update --password-stdin with stdin %q: exit %d: %s; want a failure naming --password-stdin", stdin, code, e)
				}
			}
			if after, err := st.GetUser(ctx, alice.ID); err != nil || after.PasswordHash != alice.PasswordHash {
				t.Errorf("an empty --password-stdin changed the hash (err %v)", err)
			}

			s2, a2, r2 := signIn()
			if _, e, code := hp(newPW+"\n", "users", "update", "alice", "--password-stdin"); code != 0 {
				t.Fatalf("users update --password-stdin: %s", e)
			}
			for _, s := range []string{s1, s2} {
				if _, err := st.GetBrowserSession(ctx, s); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("session %s after the password change: %v, want it deleted", s, err)
				}
			}
			for _, a := range []string{a1, a2} {
				if _, err := st.GetToken(ctx, storage.KindAccessToken, a); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("access token %s after the password change: %v, want it deleted", a, err)
				}
			}
			for _, r := range []string{r1, r2} {
				if tok, err := st.GetToken(ctx, storage.KindRefreshToken, r); err != nil || tok.Active {
					t.Errorf("refresh token %s after the password change: %v, want it kept inactive", r, err)
				}
			}
			u, err := st.GetUser(ctx, alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ok, _ := directory.CheckPassword(u.PasswordHash, newPW); !ok || u.Name != "Alice P. Liddell" {
				t.Errorf("after the password change: new password verifies %v, name %q", ok, u.Name)
			}
		})
	}
}

// users update --password-stdin on the database reads the password before
// the user: a change made while it is being typed (here, another admin's
// update, run as the first read of stdin) is kept, not undone by writing
// back the user as it was read before. On every backend.
func TestUsersUpdateKeepsAChangeMadeWhileThePasswordIsRead(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := migrated(t, b.DSN(t))
			if _, _, errOut := cli(t, "", "--database", db, "users", "create", "--username", "alice", "--name", "Alice"); errOut == "" {
				t.Fatal("users create alice printed no generated password")
			}
			stdin := &typedLater{line: "quiet-copper-meadow-64\n", meanwhile: func() {
				if code, out, errOut := cli(t, "", "--database", db, "users", "update", "alice", "--email", "alice@other.example"); code != 0 {
					t.Errorf("the other admin's update: exit %d\n%s%s", code, out, errOut)
				}
			}}
			var out, errb strings.Builder
			root := newRootCmd(&out, &errb)
			root.SetIn(stdin)
			root.SetArgs([]string{"--database", db, "users", "update", "alice", "--name", "Alice Liddell", "--password-stdin"})
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("users update --password-stdin: %v\n%s", err, errb.String())
			}
			u, err := testdb.Open(t, db).GetUserByUsername(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			if u.Email != "alice@other.example" || u.Name != "Alice Liddell" {
				t.Errorf("alice = email %q, name %q; want the other admin's email kept and the command's name", u.Email, u.Name)
			}
		})
	}
}

// typedLater is stdin on which line arrives after meanwhile has run: a
// person typing while someone else changes things.
type typedLater struct {
	line      string
	meanwhile func()
	done      bool
}

func (r *typedLater) Read(p []byte) (int, error) {
	if !r.done {
		r.done = true
		r.meanwhile()
	}
	if r.line == "" {
		return 0, io.EOF
	}
	n := copy(p, r.line)
	r.line = r.line[n:]
	return n, nil
}
