package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

func testUserCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()

	us, err := s.ListUsers(ctx)
	noErr(t, err, "ListUsers on an empty store")
	if len(us) != 0 {
		t.Fatalf("ListUsers on an empty store: got %q", userIDs(us))
	}
	mustCreateRoles(t, ctx, s, "teacher", "student", "Admin", "_staff")

	// Roles are given out of order and come back ordered by name, in byte
	// order.
	full := &storage.User{
		ID:            "8b0f7c1e-3a5d-4f0e-9c57-2d1b6e0a4f11",
		Username:      "alice",
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		Email:         "alice@example.com",
		EmailVerified: true,
		Name:          "Alice Müller ✓ \"quoted\"",
		Roles:         []string{"teacher", "student", "_staff", "Admin"},
		Disabled:      true,
		CreatedAt:     baseTime(),
		UpdatedAt:     baseTime().Add(90 * time.Minute),
	}
	wantFull := *full
	wantFull.Roles = []string{"Admin", "_staff", "student", "teacher"}
	// A user with zero times and no roles: zero comes back zero, no roles
	// as nil or empty.
	minimal := &storage.User{ID: "user-minimal", Username: "bob"}
	noErr(t, s.CreateUser(ctx, full), "CreateUser(full)")
	noErr(t, s.CreateUser(ctx, minimal), "CreateUser(minimal)")
	check(t, "GetUser(full)", &wantFull, mustGetUser(t, ctx, s, full.ID))
	check(t, "GetUser(minimal)", minimal, mustGetUser(t, ctx, s, minimal.ID))

	// A role named twice is held once.
	twice := &storage.User{ID: "user-twice", Username: "carol", Roles: []string{"student", "teacher", "student"}}
	noErr(t, s.CreateUser(ctx, twice), "CreateUser with a role named twice")
	check(t, "GetUser after CreateUser with a role named twice",
		&storage.User{ID: twice.ID, Username: twice.Username, Roles: []string{"student", "teacher"}},
		mustGetUser(t, ctx, s, twice.ID))

	got, err := s.GetUserByUsername(ctx, "alice")
	noErr(t, err, "GetUserByUsername(alice)")
	check(t, "GetUserByUsername(alice)", &wantFull, got)
	got, err = s.GetUserByUsername(ctx, "bob")
	noErr(t, err, "GetUserByUsername(bob)")
	check(t, "GetUserByUsername(bob)", minimal, got)
	_, err = s.GetUser(ctx, "no-such-user")
	errIs(t, err, storage.ErrNotFound, "GetUser(unknown)")
	_, err = s.GetUserByUsername(ctx, "no-such-username")
	errIs(t, err, storage.ErrNotFound, "GetUserByUsername(unknown)")
	_, err = s.GetUserByUsername(ctx, full.ID)
	errIs(t, err, storage.ErrNotFound, "GetUserByUsername(an id)")
	_, err = s.GetUser(ctx, "alice")
	errIs(t, err, storage.ErrNotFound, "GetUser(a username)")

	// Duplicates: an existing id, an existing username. Nothing changes.
	dupID := *minimal
	dupID.Username = "bob-2"
	dupID.Name = "overwritten?"
	errIs(t, s.CreateUser(ctx, &dupID), storage.ErrConflict, "CreateUser with an existing id")
	dupName := &storage.User{ID: "user-dup-name", Username: "alice", Roles: []string{"student"}}
	errIs(t, s.CreateUser(ctx, dupName), storage.ErrConflict, "CreateUser with an existing username")
	_, err = s.GetUser(ctx, dupName.ID)
	errIs(t, err, storage.ErrNotFound, "GetUser after CreateUser with an existing username")
	_, err = s.GetUserByUsername(ctx, "bob-2")
	errIs(t, err, storage.ErrNotFound, "GetUserByUsername after CreateUser with an existing id")
	check(t, "GetUser(minimal) after rejected duplicates", minimal, mustGetUser(t, ctx, s, minimal.ID))
	check(t, "GetUser(full) after rejected duplicates", &wantFull, mustGetUser(t, ctx, s, full.ID))

	// An unknown role: ErrInvalidReference naming it, and nothing written.
	ghost := &storage.User{ID: "user-ghost", Username: "ghost", Roles: []string{"teacher", "no-such-role"}}
	err = s.CreateUser(ctx, ghost)
	errIs(t, err, storage.ErrInvalidReference, "CreateUser with an unknown role")
	if !strings.Contains(err.Error(), "no-such-role") {
		t.Errorf("CreateUser with an unknown role: error %q does not name the role", err)
	}
	_, err = s.GetUser(ctx, ghost.ID)
	errIs(t, err, storage.ErrNotFound, "GetUser after CreateUser with an unknown role")
	_, err = s.GetUserByUsername(ctx, ghost.Username)
	errIs(t, err, storage.ErrNotFound, "GetUserByUsername after CreateUser with an unknown role")
	_, err = s.GetRole(ctx, "no-such-role")
	errIs(t, err, storage.ErrNotFound, "GetRole of the unknown role after CreateUser")
	// The id and username are still free, and no role row was left behind.
	ghost.Roles = []string{"student"}
	noErr(t, s.CreateUser(ctx, ghost), "CreateUser after a rejected CreateUser")
	check(t, "GetUser after a rejected then accepted CreateUser", ghost, mustGetUser(t, ctx, s, ghost.ID))

	// ListUsers orders by username in byte order.
	for _, name := range []string{"b", "Zed", "_x", "amy", "a-1", "B9"} {
		noErr(t, s.CreateUser(ctx, &storage.User{ID: "id-" + name, Username: name}), "CreateUser("+name+")")
	}
	us = mustListUsers(t, ctx, s)
	wantNames := []string{"b", "Zed", "_x", "amy", "a-1", "B9", "alice", "bob", "carol", "ghost"}
	slices.Sort(wantNames)
	if names := usernames(us); !slices.Equal(names, wantNames) {
		t.Fatalf("ListUsers usernames: got %q, want %q", names, wantNames)
	}
	for i := range us {
		switch us[i].ID {
		case full.ID:
			check(t, "ListUsers[full]", &wantFull, &us[i])
		case minimal.ID:
			check(t, "ListUsers[minimal]", minimal, &us[i])
		case ghost.ID:
			check(t, "ListUsers[ghost]", ghost, &us[i])
		}
	}

	// UpdateUser replaces every field but ID and CreatedAt, roles included.
	upd := &storage.User{
		ID:            full.ID,
		Username:      "alice.m",
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$bmV3c2FsdA$bmV3aGFzaA",
		Email:         "",
		EmailVerified: false,
		Name:          "Alice M.",
		Roles:         []string{"teacher", "Admin"},
		Disabled:      false,
		CreatedAt:     baseTime().Add(-24 * time.Hour), // must be ignored
		UpdatedAt:     baseTime().Add(48 * time.Hour),
	}
	noErr(t, s.UpdateUser(ctx, upd), "UpdateUser")
	want := *upd
	want.CreatedAt = full.CreatedAt
	want.Roles = []string{"Admin", "teacher"}
	check(t, "GetUser after UpdateUser", &want, mustGetUser(t, ctx, s, full.ID))
	got, err = s.GetUserByUsername(ctx, "alice.m")
	noErr(t, err, "GetUserByUsername(new name)")
	check(t, "GetUserByUsername(new name)", &want, got)
	_, err = s.GetUserByUsername(ctx, "alice")
	errIs(t, err, storage.ErrNotFound, "GetUserByUsername(old name) after a rename")

	// An update that takes every role away, then gives one back.
	want.Roles = nil
	noErr(t, s.UpdateUser(ctx, &want), "UpdateUser clearing the roles")
	check(t, "GetUser after clearing the roles", &want, mustGetUser(t, ctx, s, full.ID))
	want.Roles = []string{"student"}
	noErr(t, s.UpdateUser(ctx, &want), "UpdateUser giving a role back")
	check(t, "GetUser after giving a role back", &want, mustGetUser(t, ctx, s, full.ID))

	// Renaming to a taken username, or giving an unknown role: the error,
	// and nothing changes.
	taken := want
	taken.Username = "bob"
	taken.Name = "should not stick"
	taken.Roles = []string{"teacher"}
	errIs(t, s.UpdateUser(ctx, &taken), storage.ErrConflict, "UpdateUser to a taken username")
	check(t, "GetUser after UpdateUser to a taken username", &want, mustGetUser(t, ctx, s, full.ID))
	check(t, "GetUser(bob) after another user tried to take the name", minimal, mustGetUser(t, ctx, s, minimal.ID))
	badRole := want
	badRole.Name = "should not stick"
	badRole.Roles = []string{"teacher", "no-such-role"}
	err = s.UpdateUser(ctx, &badRole)
	errIs(t, err, storage.ErrInvalidReference, "UpdateUser with an unknown role")
	if !strings.Contains(err.Error(), "no-such-role") {
		t.Errorf("UpdateUser with an unknown role: error %q does not name the role", err)
	}
	check(t, "GetUser after UpdateUser with an unknown role", &want, mustGetUser(t, ctx, s, full.ID))
	// Keeping one's own username is not a conflict.
	same := want
	same.Name = "Alice Again"
	noErr(t, s.UpdateUser(ctx, &same), "UpdateUser keeping the username")
	check(t, "GetUser after UpdateUser keeping the username", &same, mustGetUser(t, ctx, s, full.ID))
	// The username of a user who was renamed away is free again.
	noErr(t, s.CreateUser(ctx, &storage.User{ID: "user-new-alice", Username: "alice"}), "CreateUser with a released username")

	errIs(t, s.UpdateUser(ctx, &storage.User{ID: "no-such-user", Username: "nobody"}), storage.ErrNotFound, "UpdateUser(unknown)")
	_, err = s.GetUser(ctx, "no-such-user")
	errIs(t, err, storage.ErrNotFound, "GetUser after UpdateUser(unknown)")
	_, err = s.GetUserByUsername(ctx, "nobody")
	errIs(t, err, storage.ErrNotFound, "GetUserByUsername after UpdateUser(unknown)")

	// DeleteUser.
	before := len(mustListUsers(t, ctx, s))
	noErr(t, s.DeleteUser(ctx, minimal.ID), "DeleteUser")
	_, err = s.GetUser(ctx, minimal.ID)
	errIs(t, err, storage.ErrNotFound, "GetUser after DeleteUser")
	_, err = s.GetUserByUsername(ctx, minimal.Username)
	errIs(t, err, storage.ErrNotFound, "GetUserByUsername after DeleteUser")
	errIs(t, s.DeleteUser(ctx, minimal.ID), storage.ErrNotFound, "DeleteUser twice")
	errIs(t, s.DeleteUser(ctx, "no-such-user"), storage.ErrNotFound, "DeleteUser(unknown)")
	us = mustListUsers(t, ctx, s)
	if len(us) != before-1 || slices.Contains(userIDs(us), minimal.ID) {
		t.Fatalf("ListUsers after DeleteUser: got %q", userIDs(us))
	}
	// Deleting a user deletes no role.
	for _, r := range []string{"teacher", "student", "Admin", "_staff"} {
		mustGetRole(t, ctx, s, r)
	}
	// A deleted user's username can be used again.
	noErr(t, s.CreateUser(ctx, &storage.User{ID: "user-new-bob", Username: "bob"}), "CreateUser with a deleted user's username")
}

func testUserDeleteCascades(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateRoles(t, ctx, s, "student")
	for _, c := range []string{"client-a", "client-b"} {
		noErr(t, s.CreateClient(ctx, &storage.Client{ID: c}), "CreateClient("+c+")")
	}
	users := []string{"doomed", "survivor"}
	for _, u := range users {
		mustCreateUser(t, ctx, s, u, "student")
	}

	session := func(u string, i int) *storage.BrowserSession {
		return &storage.BrowserSession{
			ID: fmt.Sprintf("session-%s-%d", u, i), UserID: u,
			AuthTime: baseTime(), LastSeenAt: baseTime().Add(time.Minute),
			ExpiresAt: baseTime().Add(8 * time.Hour), CreatedAt: baseTime(),
		}
	}
	consent := func(u, c string) *storage.Consent {
		return &storage.Consent{UserID: u, ClientID: c, Scopes: []string{"openid", "results:read"}, GrantedAt: baseTime()}
	}
	request := func(u string, i int) *storage.AuthRequest {
		return &storage.AuthRequest{
			ID: fmt.Sprintf("request-%s-%d", u, i), Query: "client_id=client-a&scope=openid",
			RequestedAt: baseTime(), BrowserBinding: []byte{0x01, byte(i)}, ExpiresAt: baseTime().Add(10 * time.Minute),
		}
	}
	token := func(kind storage.TokenKind, u string) *storage.Token {
		tok := fullToken(kind, "token-"+u, "req-"+u, "client-b")
		tok.Subject = u
		return tok
	}
	// A request nobody has logged in for yet.
	anonymous := request("anonymous", 0)
	noErr(t, s.CreateAuthRequest(ctx, anonymous), "CreateAuthRequest(anonymous)")
	for _, u := range users {
		for i := range 2 {
			noErr(t, s.CreateBrowserSession(ctx, session(u, i)), "CreateBrowserSession")
		}
		for _, c := range []string{"client-a", "client-b"} {
			noErr(t, s.PutConsent(ctx, consent(u, c)), "PutConsent")
		}
		// One request created logged in, one logged in afterwards.
		r0 := request(u, 0)
		r0.UserID, r0.AuthTime = u, baseTime()
		noErr(t, s.CreateAuthRequest(ctx, r0), "CreateAuthRequest(logged in)")
		noErr(t, s.CreateAuthRequest(ctx, request(u, 1)), "CreateAuthRequest")
		noErr(t, s.SetAuthRequestLogin(ctx, request(u, 1).ID, u, baseTime(), nil), "SetAuthRequestLogin")
		for _, kind := range allKinds() {
			noErr(t, s.CreateToken(ctx, token(kind, u)), "CreateToken")
		}
	}
	// A token issued to a client whose id is not the user's, and a token
	// whose client id (not subject) is the user's id: neither belongs to the
	// user.
	other := fullToken(storage.KindAccessToken, "token-other", "req-other", "client-a")
	other.Subject = "client-a"
	noErr(t, s.CreateToken(ctx, other), "CreateToken(other)")
	clientNamedLikeUser := fullToken(storage.KindAccessToken, "token-client-doomed", "req-cd", "doomed")
	clientNamedLikeUser.Subject = "someone-else"
	noErr(t, s.CreateToken(ctx, clientNamedLikeUser), "CreateToken(client named like the user)")

	noErr(t, s.DeleteUser(ctx, "doomed"), "DeleteUser(doomed)")

	_, err := s.GetUser(ctx, "doomed")
	errIs(t, err, storage.ErrNotFound, "GetUser(doomed)")
	for i := range 2 {
		_, err := s.GetBrowserSession(ctx, session("doomed", i).ID)
		notFound(t, err, "GetBrowserSession of a deleted user")
		check(t, "GetBrowserSession of another user", session("survivor", i),
			mustGetBrowserSession(t, ctx, s, session("survivor", i).ID))
	}
	for _, c := range []string{"client-a", "client-b"} {
		_, err := s.GetConsent(ctx, "doomed", c)
		notFound(t, err, "GetConsent of a deleted user")
		check(t, "GetConsent of another user", consent("survivor", c), mustGetConsent(t, ctx, s, "survivor", c))
	}
	for i := range 2 {
		_, err := s.GetAuthRequest(ctx, request("doomed", i).ID)
		notFound(t, err, "GetAuthRequest logged in by a deleted user")
		want := request("survivor", i)
		want.UserID, want.AuthTime = "survivor", baseTime()
		check(t, "GetAuthRequest of another user", want, mustGetAuthRequest(t, ctx, s, want.ID))
	}
	check(t, "GetAuthRequest(anonymous)", anonymous, mustGetAuthRequest(t, ctx, s, anonymous.ID))
	for _, kind := range allKinds() {
		_, err := s.GetToken(ctx, kind, "token-doomed")
		notFound(t, err, fmt.Sprintf("GetToken(%s) of a deleted user", kind))
		check(t, fmt.Sprintf("GetToken(%s) of another user", kind), token(kind, "survivor"),
			mustGetToken(t, ctx, s, kind, "token-survivor"))
	}
	check(t, "GetToken(other)", other, mustGetToken(t, ctx, s, other.Kind, other.Signature))
	check(t, "GetToken(client named like the user)", clientNamedLikeUser,
		mustGetToken(t, ctx, s, clientNamedLikeUser.Kind, clientNamedLikeUser.Signature))
	check(t, "GetUser(survivor)", &storage.User{ID: "survivor", Username: "name-survivor", Roles: []string{"student"}},
		mustGetUser(t, ctx, s, "survivor"))
	mustGetRole(t, ctx, s, "student")
	mustGetClient(t, ctx, s, "client-a")
	mustGetClient(t, ctx, s, "client-b")

	// The id can be registered again, and nothing of the old user comes
	// back with it.
	mustCreateUser(t, ctx, s, "doomed")
	check(t, "GetUser of a re-created user", &storage.User{ID: "doomed", Username: "name-doomed"},
		mustGetUser(t, ctx, s, "doomed"))
	_, err = s.GetConsent(ctx, "doomed", "client-a")
	errIs(t, err, storage.ErrNotFound, "GetConsent of a re-created user")
	_, err = s.GetBrowserSession(ctx, session("doomed", 0).ID)
	errIs(t, err, storage.ErrNotFound, "GetBrowserSession of a re-created user")
}

func testRoleCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()

	rs, err := s.ListRoles(ctx)
	noErr(t, err, "ListRoles on an empty store")
	if len(rs) != 0 {
		t.Fatalf("ListRoles on an empty store: got %q", roleNames(rs))
	}

	// Scopes keep their order and may name unregistered scopes.
	full := &storage.Role{
		Name:        "teacher",
		Description: "Lehrkräfte ✓ \"publish\" results",
		Scopes:      []string{"results:write", "results:read", "schedule:write", "unregistered,with,commas"},
		CreatedAt:   baseTime(),
		UpdatedAt:   baseTime().Add(time.Hour),
	}
	minimal := &storage.Role{Name: "student", Scopes: []string{}}
	noErr(t, s.CreateRole(ctx, full), "CreateRole(full)")
	noErr(t, s.CreateRole(ctx, minimal), "CreateRole(minimal)")
	check(t, "GetRole(full)", full, mustGetRole(t, ctx, s, full.Name))
	check(t, "GetRole(minimal)", minimal, mustGetRole(t, ctx, s, minimal.Name))

	dup := *minimal
	dup.Description = "overwritten?"
	errIs(t, s.CreateRole(ctx, &dup), storage.ErrConflict, "CreateRole with an existing name")
	check(t, "GetRole after a rejected duplicate", minimal, mustGetRole(t, ctx, s, minimal.Name))
	_, err = s.GetRole(ctx, "no-such-role")
	errIs(t, err, storage.ErrNotFound, "GetRole(unknown)")

	// ListRoles orders by name in byte order.
	for _, n := range []string{"b", "B", "a", "_x", "Z9", "a-1"} {
		noErr(t, s.CreateRole(ctx, &storage.Role{Name: n, Scopes: []string{"s-" + n}}), "CreateRole("+n+")")
	}
	rs, err = s.ListRoles(ctx)
	noErr(t, err, "ListRoles")
	wantNames := []string{"b", "B", "a", "_x", "Z9", "a-1", full.Name, minimal.Name}
	slices.Sort(wantNames)
	if names := roleNames(rs); !slices.Equal(names, wantNames) {
		t.Fatalf("ListRoles names: got %q, want %q", names, wantNames)
	}
	for i := range rs {
		switch rs[i].Name {
		case full.Name:
			check(t, "ListRoles[full]", full, &rs[i])
		case minimal.Name:
			check(t, "ListRoles[minimal]", minimal, &rs[i])
		case "B":
			check(t, "ListRoles[B]", &storage.Role{Name: "B", Scopes: []string{"s-B"}}, &rs[i])
		}
	}

	// UpdateRole replaces Description, Scopes and (when given) UpdatedAt,
	// never CreatedAt.
	upd := &storage.Role{
		Name:        full.Name,
		Description: "",
		Scopes:      []string{"results:read"},
		CreatedAt:   baseTime().Add(-24 * time.Hour), // must be ignored
		UpdatedAt:   baseTime().Add(48 * time.Hour),
	}
	noErr(t, s.UpdateRole(ctx, upd), "UpdateRole")
	want := *upd
	want.CreatedAt = full.CreatedAt
	check(t, "GetRole after UpdateRole", &want, mustGetRole(t, ctx, s, full.Name))
	// A zero UpdatedAt keeps the stored one.
	upd2 := &storage.Role{Name: full.Name, Description: "again", Scopes: nil}
	noErr(t, s.UpdateRole(ctx, upd2), "UpdateRole without UpdatedAt")
	want.Description, want.Scopes = upd2.Description, nil
	check(t, "GetRole after UpdateRole without UpdatedAt", &want, mustGetRole(t, ctx, s, full.Name))

	errIs(t, s.UpdateRole(ctx, &storage.Role{Name: "no-such-role", Description: "d"}), storage.ErrNotFound, "UpdateRole(unknown)")
	_, err = s.GetRole(ctx, "no-such-role")
	errIs(t, err, storage.ErrNotFound, "GetRole after UpdateRole(unknown)")

	// DeleteRole takes the role from every user who held it, and nothing
	// else.
	mustCreateUser(t, ctx, s, "u-both", "teacher", "student")
	mustCreateUser(t, ctx, s, "u-teacher", "teacher")
	mustCreateUser(t, ctx, s, "u-student", "student")
	// RoleHolders names them in byte order, at most limit of them, and
	// counts them all.
	for _, tc := range []struct {
		role  string
		limit int
		want  []string
		total int
	}{
		{"teacher", 10, []string{"name-u-both", "name-u-teacher"}, 2},
		{"teacher", 1, []string{"name-u-both"}, 2},
		{"teacher", 0, []string{}, 2},
		{"B", 10, []string{}, 0},
	} {
		what := fmt.Sprintf("RoleHolders(%s, %d)", tc.role, tc.limit)
		names, total, err := s.RoleHolders(ctx, tc.role, tc.limit)
		noErr(t, err, what)
		if !slices.Equal(names, tc.want) || names == nil || total != tc.total {
			t.Errorf("%s = %q (nil %v), %d; want %q, %d", what, names, names == nil, total, tc.want, tc.total)
		}
	}
	_, _, err = s.RoleHolders(ctx, "no-such-role", 10)
	errIs(t, err, storage.ErrNotFound, "RoleHolders(unknown)")
	noErr(t, s.DeleteRole(ctx, "teacher"), "DeleteRole(teacher)")
	_, err = s.GetRole(ctx, "teacher")
	errIs(t, err, storage.ErrNotFound, "GetRole after DeleteRole")
	errIs(t, s.DeleteRole(ctx, "teacher"), storage.ErrNotFound, "DeleteRole twice")
	errIs(t, s.DeleteRole(ctx, "no-such-role"), storage.ErrNotFound, "DeleteRole(unknown)")
	check(t, "GetUser(u-both) after DeleteRole", &storage.User{ID: "u-both", Username: "name-u-both", Roles: []string{"student"}},
		mustGetUser(t, ctx, s, "u-both"))
	check(t, "GetUser(u-teacher) after DeleteRole", &storage.User{ID: "u-teacher", Username: "name-u-teacher"},
		mustGetUser(t, ctx, s, "u-teacher"))
	check(t, "GetUser(u-student) after DeleteRole", &storage.User{ID: "u-student", Username: "name-u-student", Roles: []string{"student"}},
		mustGetUser(t, ctx, s, "u-student"))
	for _, u := range mustListUsers(t, ctx, s) {
		if slices.Contains(u.Roles, "teacher") {
			t.Errorf("ListUsers after DeleteRole: %s still holds teacher", u.ID)
		}
	}
	rs, err = s.ListRoles(ctx)
	noErr(t, err, "ListRoles after DeleteRole")
	if names := roleNames(rs); slices.Contains(names, "teacher") || len(names) != len(wantNames)-1 {
		t.Fatalf("ListRoles after DeleteRole: got %q", names)
	}
	// A role created again under the same name is not given back.
	noErr(t, s.CreateRole(ctx, &storage.Role{Name: "teacher"}), "CreateRole(teacher) again")
	check(t, "GetUser(u-teacher) after re-creating the role", &storage.User{ID: "u-teacher", Username: "name-u-teacher"},
		mustGetUser(t, ctx, s, "u-teacher"))
	// Once deleted, the role is unknown to CreateUser.
	noErr(t, s.DeleteRole(ctx, "a-1"), "DeleteRole(a-1)")
	errIs(t, s.CreateUser(ctx, &storage.User{ID: "u-late", Username: "late", Roles: []string{"a-1"}}),
		storage.ErrInvalidReference, "CreateUser with a deleted role")
}

func testScopeCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()

	ss, err := s.ListScopes(ctx)
	noErr(t, err, "ListScopes on an empty store")
	if len(ss) != 0 {
		t.Fatalf("ListScopes on an empty store: got %q", scopeNames(ss))
	}

	full := &storage.Scope{
		Name:        "results:read",
		Description: "Deine Noten lesen ✓ \"results\"",
		Audience:    "https://school.example/api",
		CreatedAt:   baseTime(),
		UpdatedAt:   baseTime().Add(time.Hour),
	}
	minimal := &storage.Scope{Name: "openid"}
	noErr(t, s.CreateScope(ctx, full), "CreateScope(full)")
	noErr(t, s.CreateScope(ctx, minimal), "CreateScope(minimal)")
	check(t, "GetScope(full)", full, mustGetScope(t, ctx, s, full.Name))
	check(t, "GetScope(minimal)", minimal, mustGetScope(t, ctx, s, minimal.Name))

	dup := *minimal
	dup.Description = "overwritten?"
	errIs(t, s.CreateScope(ctx, &dup), storage.ErrConflict, "CreateScope with an existing name")
	check(t, "GetScope after a rejected duplicate", minimal, mustGetScope(t, ctx, s, minimal.Name))
	_, err = s.GetScope(ctx, "no-such-scope")
	errIs(t, err, storage.ErrNotFound, "GetScope(unknown)")

	// ListScopes orders by name in byte order.
	for _, n := range []string{"b", "B", "a", "_x", "Z9", "a-1", "results:write"} {
		noErr(t, s.CreateScope(ctx, &storage.Scope{Name: n, Audience: "aud-" + n}), "CreateScope("+n+")")
	}
	ss, err = s.ListScopes(ctx)
	noErr(t, err, "ListScopes")
	wantNames := []string{"b", "B", "a", "_x", "Z9", "a-1", "results:write", full.Name, minimal.Name}
	slices.Sort(wantNames)
	if names := scopeNames(ss); !slices.Equal(names, wantNames) {
		t.Fatalf("ListScopes names: got %q, want %q", names, wantNames)
	}
	for i := range ss {
		switch ss[i].Name {
		case full.Name:
			check(t, "ListScopes[full]", full, &ss[i])
		case minimal.Name:
			check(t, "ListScopes[minimal]", minimal, &ss[i])
		}
	}

	// UpdateScope replaces Description, Audience and (when given)
	// UpdatedAt, never CreatedAt.
	upd := &storage.Scope{
		Name:        full.Name,
		Description: "Read results",
		Audience:    "",
		CreatedAt:   baseTime().Add(-24 * time.Hour), // must be ignored
		UpdatedAt:   baseTime().Add(48 * time.Hour),
	}
	noErr(t, s.UpdateScope(ctx, upd), "UpdateScope")
	want := *upd
	want.CreatedAt = full.CreatedAt
	check(t, "GetScope after UpdateScope", &want, mustGetScope(t, ctx, s, full.Name))
	upd2 := &storage.Scope{Name: full.Name, Description: "again", Audience: "https://other.example"}
	noErr(t, s.UpdateScope(ctx, upd2), "UpdateScope without UpdatedAt")
	want.Description, want.Audience = upd2.Description, upd2.Audience
	check(t, "GetScope after UpdateScope without UpdatedAt", &want, mustGetScope(t, ctx, s, full.Name))

	errIs(t, s.UpdateScope(ctx, &storage.Scope{Name: "no-such-scope"}), storage.ErrNotFound, "UpdateScope(unknown)")
	_, err = s.GetScope(ctx, "no-such-scope")
	errIs(t, err, storage.ErrNotFound, "GetScope after UpdateScope(unknown)")

	// DeleteScope unregisters the scope; roles keep naming it.
	role := &storage.Role{Name: "teacher", Scopes: []string{"results:write", full.Name}}
	noErr(t, s.CreateRole(ctx, role), "CreateRole")
	noErr(t, s.DeleteScope(ctx, full.Name), "DeleteScope")
	_, err = s.GetScope(ctx, full.Name)
	errIs(t, err, storage.ErrNotFound, "GetScope after DeleteScope")
	errIs(t, s.DeleteScope(ctx, full.Name), storage.ErrNotFound, "DeleteScope twice")
	errIs(t, s.DeleteScope(ctx, "no-such-scope"), storage.ErrNotFound, "DeleteScope(unknown)")
	check(t, "GetRole after DeleteScope", role, mustGetRole(t, ctx, s, role.Name))
	ss, err = s.ListScopes(ctx)
	noErr(t, err, "ListScopes after DeleteScope")
	if names := scopeNames(ss); slices.Contains(names, full.Name) || len(names) != len(wantNames)-1 {
		t.Fatalf("ListScopes after DeleteScope: got %q", names)
	}
	// A deleted scope can be registered again.
	noErr(t, s.CreateScope(ctx, full), "CreateScope after DeleteScope")
	check(t, "GetScope after re-registering", full, mustGetScope(t, ctx, s, full.Name))
}
