package state_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/directory/state"
	"github.com/hallpass/hallpass/storage"
)

// TestPlanReportsEveryRefusal: a file with several entries the rules
// refuse (as an export of records stored before those rules holds) is
// refused with every one of them, one line each, not only the first: an
// operator with N such records needed N runs to learn of them. Nothing
// is changed.
func TestPlanReportsEveryRefusal(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
		ctx := context.Background()
		file := "scopes:\n  - name: Offline\n  - name: read\n  - name: OpenID\n" +
			"roles:\n  - name: staff\n    scopes: [read]\n" +
			"clients:\n  - client_id: app\n    token_endpoint_auth_method: none\n    redirect_uris: ['https://app.example/cb\\x']\n" +
			"  - client_id: web\n    token_endpoint_auth_method: none\n    redirect_uris: ['https://web.example/cb']\n" +
			"users:\n  - username: alice\n    roles: [missing]\n"
		want := []string{
			`plan: scope "Offline": `,
			`plan: scope "OpenID": `,
			`plan: client "app": redirect_uris: `,
			`plan: user "alice": role "missing" does not exist`,
		}
		for name, call := range map[string]func() error{
			"Make":  func() error { _, err := state.Make(ctx, dir, load(t, file), state.Options{}); return err },
			"Apply": func() error { _, err := state.Apply(ctx, dir, load(t, file), state.Options{}); return err },
		} {
			err := call()
			if err == nil {
				t.Fatalf("%s accepted the file", name)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(want) {
				t.Errorf("%s = %d line(s), want %d:\n%v", name, len(lines), len(want), err)
				continue
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("%s line %d = %q, want it to begin %q", name, i+1, lines[i], w)
				}
			}
		}
		if scopes, _ := st.ListScopes(ctx); len(scopes) != 0 {
			t.Errorf("the refused file stored %d scope(s)", len(scopes))
		}
	})
}

// TestPlanRefusesClientID: a file creating a client whose client_id the
// service refuses (too long, a character outside A-Z a-z 0-9 - _ . ~, a
// dot segment) is refused by plan as by apply, with the bound in the
// message, and nothing is stored; a client_id past every bound of a
// name is named by its start and length, not repeated whole. Plan took
// such a file for one change (exit 2) that its apply then failed.
func TestPlanRefusesClientID(t *testing.T) {
	const want = `client_id must be 1 to 128 characters of A-Z a-z 0-9 - _ . ~`
	for name, id := range map[string]string{
		"129 characters":    strings.Repeat("a", 129),
		"3000 characters":   incompressible(3000),
		"space and slash":   "a b/c",
		"dot segment":       "..",
		"non-ASCII letter":  "caf\u00e9",
		"percent-escaped /": "a%2Fb",
	} {
		t.Run(name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
				ctx := context.Background()
				before, err := st.ListClients(ctx)
				if err != nil {
					t.Fatal(err)
				}
				file := "clients:\n  - client_id: '" + id + "'\n    grant_types: [client_credentials]\n"
				_, merr := state.Make(ctx, dir, load(t, file), state.Options{})
				_, aerr := state.Apply(ctx, dir, load(t, file), state.Options{})
				for call, err := range map[string]error{"Make": merr, "Apply": aerr} {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("%s = %.300v; want it to say %q", call, err, want)
					}
					// Past every bound of a name, named by its start
					// and length, not repeated whole.
					if err != nil && len(id) > 256 && strings.Contains(err.Error(), id) {
						t.Errorf("%s repeats the client_id whole: %.300v…", call, err)
					}
				}
				if after, err := st.ListClients(ctx); err != nil || len(after) != len(before) {
					t.Errorf("clients: %d before, %d after (%v); want none stored", len(before), len(after), err)
				}
			})
		})
	}
}

// incompressible returns n letters and digits that no compression
// shortens much: PostgreSQL compresses an index entry before measuring
// it against its size limit, so a repeated letter would fit where text
// as long would not.
func incompressible(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	return string(b)
}

// TestPlanRefusesLongLists: a file whose role lists more than 1000
// scopes, whose client more than 1000 (repeats included), or whose user
// holds more than 1000 roles, is refused by plan and apply stating the
// bound, and nothing is stored. A role's scopes and a user's roles had
// no bound, a client's only once its repeats were gone, and each entry
// was compared with the others first: a role or client of 200,000
// scopes, a 1.5 MB file, took a plan minutes.
func TestPlanRefusesLongLists(t *testing.T) {
	list := func(prefix string, n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = prefix + strconv.Itoa(i)
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	for name, tc := range map[string]struct{ file, want string }{
		"role of 1001 scopes": {"roles:\n  - name: staff\n    scopes: " + list("s", 1001) + "\n",
			`role "staff": scopes may list at most 1000 entries (it lists 1001)`},
		"client of 1001 scopes": {"clients:\n  - client_id: app\n    grant_types: [client_credentials]\n    scope: '" + strings.TrimSpace(strings.Repeat("read ", 1001)) + "'\n",
			`client "app": scope may list at most 1000 entries (it lists 1001)`},
		"user of 1001 roles": {"roles:\n  - name: staff\nusers:\n  - username: alice\n    roles: [" + strings.TrimSuffix(strings.Repeat("staff, ", 1001), ", ") + "]\n",
			`user "alice": roles may list at most 1000 entries (it lists 1001)`},
	} {
		t.Run(name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, st storage.Store, dir *directory.Service) {
				ctx := context.Background()
				_, merr := state.Make(ctx, dir, load(t, tc.file), state.Options{})
				_, aerr := state.Apply(ctx, dir, load(t, tc.file), state.Options{})
				for call, err := range map[string]error{"Make": merr, "Apply": aerr} {
					if err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("%s = %v; want it to say %q", call, err, tc.want)
					}
				}
				roles, err := st.ListRoles(ctx)
				if err != nil || len(roles) != 0 {
					t.Errorf("roles stored: %d (%v); want none", len(roles), err)
				}
				users, err := st.ListUsers(ctx)
				if err != nil || len(users) != 0 {
					t.Errorf("users stored: %d (%v); want none", len(users), err)
				}
				clients, err := st.ListClients(ctx)
				if err != nil || len(clients) != 0 {
					t.Errorf("clients stored: %d (%v); want none", len(clients), err)
				}
			})
		})
	}
}

// TestLoadRefusesAliasExpansion: a file whose aliases stand for more
// than yamldoc.MaxAliasedNodes values in all is refused by Load, naming
// the alias's line, though each list it makes is below the directory's
// bound of 1000 entries. Each entry is decoded on its own, so yaml's
// guard never weighed them together: roles each listing "scopes: *s"
// (990 scopes) made of a 400 kB file 13 million strings (12 s, 1.4 GB),
// and of a 4 MiB one ten times that, before any bound was checked.
func TestLoadRefusesAliasExpansion(t *testing.T) {
	scopes := make([]string, 990)
	for i := range scopes {
		scopes[i] = "s" + strconv.Itoa(i)
	}
	file := func(roles int) string {
		var b strings.Builder
		b.WriteString("roles:\n  - name: r\n    scopes: &s [" + strings.Join(scopes, ", ") + "]\n")
		for i := range roles {
			b.WriteString("  - {name: r" + strconv.Itoa(i) + ", scopes: *s}\n")
		}
		return b.String()
	}
	// 100 aliases of 991 nodes: within the bound, read as written.
	if f, err := state.Load(strings.NewReader(file(100)), "test.yaml"); err != nil || len(f.Roles) != 101 || len(f.Roles[100].Scopes) != 990 {
		t.Fatalf("Load of 100 aliases: %v", err)
	}
	_, err := state.Load(strings.NewReader(file(1000)), "test.yaml")
	if want := "test.yaml: line 104: the aliases up to this one (*s) stand for more than 100000 values"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load of 1000 aliases = %v; want it to say %q", err, want)
	}
}
