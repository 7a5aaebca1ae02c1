package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

func testBrowserSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, "user-1")
	mustCreateUser(t, ctx, s, "user-2")

	east := time.FixedZone("east", 5*3600+30*60)
	full := &storage.BrowserSession{
		ID:         "c2Vzc2lvbi1kaWdlc3Qtb2YtdGhlLWNvb2tpZQ",
		UserID:     "user-1",
		SID:        "c2lkLW9mLXRoZS1mdWxsLXNlc3Npb24",
		AuthTime:   baseTime(),
		LastSeenAt: baseTime().Add(time.Minute).In(east),
		ExpiresAt:  baseTime().Add(8 * time.Hour),
		CreatedAt:  baseTime().Add(-time.Second),
	}
	// Zero times come back zero.
	minimal := &storage.BrowserSession{ID: "session-minimal", UserID: "user-1"}
	// An expired session is still returned; the caller checks the timeouts.
	expired := &storage.BrowserSession{
		ID: "session-expired", UserID: "user-2", SID: "sid-expired",
		AuthTime: baseTime().AddDate(-10, 0, 0), LastSeenAt: baseTime().AddDate(-10, 0, 0),
		ExpiresAt: time.Date(2001, time.February, 3, 4, 5, 6, 7000, time.UTC), CreatedAt: baseTime().AddDate(-10, 0, 0),
	}
	for _, bs := range []*storage.BrowserSession{full, minimal, expired} {
		noErr(t, s.CreateBrowserSession(ctx, bs), "CreateBrowserSession("+bs.ID+")")
	}
	for _, bs := range []*storage.BrowserSession{full, minimal, expired} {
		check(t, "GetBrowserSession("+bs.ID+")", bs, mustGetBrowserSession(t, ctx, s, bs.ID))
	}

	dup := *minimal
	dup.UserID = "user-2"
	dup.AuthTime = baseTime()
	errIs(t, s.CreateBrowserSession(ctx, &dup), storage.ErrConflict, "CreateBrowserSession with an existing id")
	check(t, "GetBrowserSession after a rejected duplicate", minimal, mustGetBrowserSession(t, ctx, s, minimal.ID))
	errIs(t, s.CreateBrowserSession(ctx, &storage.BrowserSession{ID: "session-nobody", UserID: "no-such-user"}),
		storage.ErrInvalidReference, "CreateBrowserSession for an unknown user")
	_, err := s.GetBrowserSession(ctx, "session-nobody")
	errIs(t, err, storage.ErrNotFound, "GetBrowserSession after CreateBrowserSession for an unknown user")
	_, err = s.GetBrowserSession(ctx, "no-such-session")
	errIs(t, err, storage.ErrNotFound, "GetBrowserSession(unknown)")

	// GetBrowserSessionBySID finds a session by its public id, expired or
	// not; no sid, an unknown one, or the session's id find nothing.
	for _, bs := range []*storage.BrowserSession{full, expired} {
		got, err := s.GetBrowserSessionBySID(ctx, bs.SID)
		noErr(t, err, "GetBrowserSessionBySID("+bs.SID+")")
		check(t, "GetBrowserSessionBySID("+bs.SID+")", bs, got)
	}
	for _, sid := range []string{"", "no-such-sid", full.ID, strings.ToUpper(full.SID)} {
		_, err = s.GetBrowserSessionBySID(ctx, sid)
		errIs(t, err, storage.ErrNotFound, fmt.Sprintf("GetBrowserSessionBySID(%q)", sid))
	}
	// A sid names one session: a second session with it is refused and
	// not stored. Sessions without a sid are not in each other's way.
	twin := &storage.BrowserSession{ID: "session-twin", UserID: "user-2", SID: full.SID}
	errIs(t, s.CreateBrowserSession(ctx, twin), storage.ErrConflict, "CreateBrowserSession with an existing sid")
	_, err = s.GetBrowserSession(ctx, twin.ID)
	errIs(t, err, storage.ErrNotFound, "GetBrowserSession after CreateBrowserSession with an existing sid")
	check(t, "GetBrowserSessionBySID after a rejected duplicate sid", full, mustGetBrowserSessionBySID(t, ctx, s, full.SID))
	noSID := &storage.BrowserSession{ID: "session-no-sid", UserID: "user-2"}
	noErr(t, s.CreateBrowserSession(ctx, noSID), "CreateBrowserSession of a second session without sid")
	noErr(t, s.DeleteBrowserSession(ctx, noSID.ID), "DeleteBrowserSession(session-no-sid)")

	// TouchBrowserSession sets LastSeenAt and nothing else.
	seen := baseTime().Add(3 * time.Hour).In(east)
	noErr(t, s.TouchBrowserSession(ctx, full.ID, seen), "TouchBrowserSession")
	want := *full
	want.LastSeenAt = seen
	check(t, "GetBrowserSession after TouchBrowserSession", &want, mustGetBrowserSession(t, ctx, s, full.ID))
	noErr(t, s.TouchBrowserSession(ctx, minimal.ID, seen), "TouchBrowserSession(minimal)")
	wantMinimal := *minimal
	wantMinimal.LastSeenAt = seen
	check(t, "GetBrowserSession(minimal) after TouchBrowserSession", &wantMinimal, mustGetBrowserSession(t, ctx, s, minimal.ID))
	check(t, "GetBrowserSession of another session after TouchBrowserSession", expired, mustGetBrowserSession(t, ctx, s, expired.ID))
	errIs(t, s.TouchBrowserSession(ctx, "no-such-session", seen), storage.ErrNotFound, "TouchBrowserSession(unknown)")
	_, err = s.GetBrowserSession(ctx, "no-such-session")
	errIs(t, err, storage.ErrNotFound, "GetBrowserSession after TouchBrowserSession(unknown)")

	// DeleteBrowserSession.
	noErr(t, s.DeleteBrowserSession(ctx, full.ID), "DeleteBrowserSession")
	_, err = s.GetBrowserSession(ctx, full.ID)
	errIs(t, err, storage.ErrNotFound, "GetBrowserSession after DeleteBrowserSession")
	_, err = s.GetBrowserSessionBySID(ctx, full.SID)
	errIs(t, err, storage.ErrNotFound, "GetBrowserSessionBySID after DeleteBrowserSession")
	check(t, "GetBrowserSessionBySID of another session after DeleteBrowserSession", expired, mustGetBrowserSessionBySID(t, ctx, s, expired.SID))
	errIs(t, s.DeleteBrowserSession(ctx, full.ID), storage.ErrNotFound, "DeleteBrowserSession twice")
	errIs(t, s.DeleteBrowserSession(ctx, "no-such-session"), storage.ErrNotFound, "DeleteBrowserSession(unknown)")
	check(t, "GetBrowserSession of the user's other session", &wantMinimal, mustGetBrowserSession(t, ctx, s, minimal.ID))

	// DeleteUserBrowserSessions deletes every session of one user only.
	more := &storage.BrowserSession{ID: "session-more", UserID: "user-1", CreatedAt: baseTime()}
	noErr(t, s.CreateBrowserSession(ctx, more), "CreateBrowserSession(more)")
	noErr(t, s.DeleteUserBrowserSessions(ctx, "user-1", ""), "DeleteUserBrowserSessions(user-1)")
	for _, id := range []string{minimal.ID, more.ID} {
		_, err = s.GetBrowserSession(ctx, id)
		errIs(t, err, storage.ErrNotFound, "GetBrowserSession("+id+") after DeleteUserBrowserSessions")
	}
	check(t, "GetBrowserSession of another user after DeleteUserBrowserSessions", expired, mustGetBrowserSession(t, ctx, s, expired.ID))
	noErr(t, s.DeleteUserBrowserSessions(ctx, "user-1", ""), "DeleteUserBrowserSessions twice")
	noErr(t, s.DeleteUserBrowserSessions(ctx, "no-such-user", ""), "DeleteUserBrowserSessions(unknown user)")
	mustGetUser(t, ctx, s, "user-1")

	// A deleted session's id and sid can be used again.
	noErr(t, s.CreateBrowserSession(ctx, full), "CreateBrowserSession after DeleteBrowserSession")
	check(t, "GetBrowserSession of a re-created session", full, mustGetBrowserSession(t, ctx, s, full.ID))
	check(t, "GetBrowserSessionBySID of a re-created session", full, mustGetBrowserSessionBySID(t, ctx, s, full.SID))

	// DeleteUserBrowserSessions takes the sid with the session.
	noErr(t, s.DeleteUserBrowserSessions(ctx, "user-1", ""), "DeleteUserBrowserSessions(user-1) with a sid")
	_, err = s.GetBrowserSessionBySID(ctx, full.SID)
	errIs(t, err, storage.ErrNotFound, "GetBrowserSessionBySID after DeleteUserBrowserSessions")

	// DeleteUserBrowserSessions keeps the session it is told to keep; a
	// session of another user keeps none of this user's.
	keepA := &storage.BrowserSession{ID: "session-keep-a", SID: "sid-keep-a", UserID: "user-1", CreatedAt: baseTime()}
	keepB := &storage.BrowserSession{ID: "session-keep-b", UserID: "user-1", CreatedAt: baseTime()}
	for _, bs := range []*storage.BrowserSession{keepA, keepB} {
		noErr(t, s.CreateBrowserSession(ctx, bs), "CreateBrowserSession("+bs.ID+")")
	}
	noErr(t, s.DeleteUserBrowserSessions(ctx, "user-1", keepA.ID), "DeleteUserBrowserSessions(user-1, keep one)")
	check(t, "GetBrowserSession of the kept session", keepA, mustGetBrowserSession(t, ctx, s, keepA.ID))
	_, err = s.GetBrowserSession(ctx, keepB.ID)
	errIs(t, err, storage.ErrNotFound, "GetBrowserSession of a session not kept")
	noErr(t, s.CreateBrowserSession(ctx, keepB), "CreateBrowserSession("+keepB.ID+") again")
	noErr(t, s.DeleteUserBrowserSessions(ctx, "user-1", expired.ID), "DeleteUserBrowserSessions(user-1, keep another user's)")
	for _, id := range []string{keepA.ID, keepB.ID} {
		_, err = s.GetBrowserSession(ctx, id)
		errIs(t, err, storage.ErrNotFound, "GetBrowserSession("+id+") after keeping another user's session")
	}
	check(t, "GetBrowserSession of the other user's session named to keep", expired, mustGetBrowserSession(t, ctx, s, expired.ID))
}

func testConsents(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, "user-1")
	mustCreateUser(t, ctx, s, "user-2")
	for _, c := range []string{"client-1", "client-2"} {
		noErr(t, s.CreateClient(ctx, &storage.Client{ID: c}), "CreateClient("+c+")")
	}

	_, err := s.GetConsent(ctx, "user-1", "client-1")
	errIs(t, err, storage.ErrNotFound, "GetConsent before any PutConsent")

	// PutConsent creates.
	first := &storage.Consent{UserID: "user-1", ClientID: "client-1",
		Scopes: []string{"openid", "results:read", "offline_access"}, GrantedAt: baseTime()}
	noErr(t, s.PutConsent(ctx, first), "PutConsent (create)")
	check(t, "GetConsent after PutConsent", first, mustGetConsent(t, ctx, s, "user-1", "client-1"))

	// PutConsent replaces, scopes and time.
	second := &storage.Consent{UserID: "user-1", ClientID: "client-1",
		Scopes: []string{"openid"}, GrantedAt: baseTime().Add(time.Hour).In(time.FixedZone("w", -3600))}
	noErr(t, s.PutConsent(ctx, second), "PutConsent (replace)")
	check(t, "GetConsent after a replacing PutConsent", second, mustGetConsent(t, ctx, s, "user-1", "client-1"))
	empty := &storage.Consent{UserID: "user-1", ClientID: "client-1"}
	noErr(t, s.PutConsent(ctx, empty), "PutConsent (replace with nothing)")
	check(t, "GetConsent after PutConsent with no scopes", empty, mustGetConsent(t, ctx, s, "user-1", "client-1"))
	noErr(t, s.PutConsent(ctx, second), "PutConsent (replace again)")

	// ConfirmConsent, alone and in a transaction: the consent exists and
	// covers the scopes asked about.
	for _, c := range []struct {
		user, client string
		scopes       []string
		ok           bool
	}{
		{"user-1", "client-1", []string{"openid"}, true},
		{"user-1", "client-1", nil, true},
		{"user-1", "client-1", []string{"openid", "results:read"}, false},
		{"user-1", "client-2", nil, false},
		{"user-2", "client-1", nil, false},
	} {
		alone := s.ConfirmConsent(ctx, c.user, c.client, c.scopes)
		inTx := s.InTransaction(ctx, func(tx context.Context) error { return s.ConfirmConsent(tx, c.user, c.client, c.scopes) })
		for how, err := range map[string]error{"alone": alone, "in a transaction": inTx} {
			what := fmt.Sprintf("ConfirmConsent(%s, %s, %v) %s", c.user, c.client, c.scopes, how)
			if c.ok {
				noErr(t, err, what)
			} else {
				errIs(t, err, storage.ErrNotFound, what)
			}
		}
	}

	// Consents are per (user, client).
	other := []*storage.Consent{
		{UserID: "user-1", ClientID: "client-2", Scopes: []string{"profile"}, GrantedAt: baseTime()},
		{UserID: "user-2", ClientID: "client-1", Scopes: []string{"email"}, GrantedAt: baseTime()},
	}
	for _, c := range other {
		noErr(t, s.PutConsent(ctx, c), "PutConsent("+c.UserID+", "+c.ClientID+")")
	}
	_, err = s.GetConsent(ctx, "user-2", "client-2")
	errIs(t, err, storage.ErrNotFound, "GetConsent of a pair that never consented")
	_, err = s.GetConsent(ctx, "no-such-user", "client-1")
	errIs(t, err, storage.ErrNotFound, "GetConsent(unknown user)")
	_, err = s.GetConsent(ctx, "user-1", "no-such-client")
	errIs(t, err, storage.ErrNotFound, "GetConsent(unknown client)")
	check(t, "GetConsent(user-1, client-1) after other consents", second, mustGetConsent(t, ctx, s, "user-1", "client-1"))
	for _, c := range other {
		check(t, "GetConsent("+c.UserID+", "+c.ClientID+")", c, mustGetConsent(t, ctx, s, c.UserID, c.ClientID))
	}

	// A consent names an existing user and client.
	errIs(t, s.PutConsent(ctx, &storage.Consent{UserID: "no-such-user", ClientID: "client-1"}),
		storage.ErrInvalidReference, "PutConsent for an unknown user")
	errIs(t, s.PutConsent(ctx, &storage.Consent{UserID: "user-2", ClientID: "no-such-client"}),
		storage.ErrInvalidReference, "PutConsent to an unknown client")
	_, err = s.GetConsent(ctx, "user-2", "no-such-client")
	errIs(t, err, storage.ErrNotFound, "GetConsent after PutConsent to an unknown client")

	// DeleteClient deletes the consents given to it, and no other.
	noErr(t, s.DeleteClient(ctx, "client-1"), "DeleteClient(client-1)")
	for _, u := range []string{"user-1", "user-2"} {
		_, err = s.GetConsent(ctx, u, "client-1")
		errIs(t, err, storage.ErrNotFound, "GetConsent("+u+") to a deleted client")
	}
	check(t, "GetConsent to another client after DeleteClient", other[0], mustGetConsent(t, ctx, s, "user-1", "client-2"))
	mustGetUser(t, ctx, s, "user-1")
	mustGetUser(t, ctx, s, "user-2")
	// A client registered again under the same id starts without consents.
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "client-1"}), "CreateClient(client-1) again")
	_, err = s.GetConsent(ctx, "user-1", "client-1")
	errIs(t, err, storage.ErrNotFound, "GetConsent to a re-created client")
}

func testAuthRequests(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, "user-1")
	mustCreateUser(t, ctx, s, "user-2")

	binding := []byte{0x00, 0x01, 0xfe, 0xff, 0x00, 'b', 0x80, 0x7f}
	full := &storage.AuthRequest{
		ID: "cmVxdWVzdC1oYW5kbGUtZGlnZXN0",
		Query: "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1" +
			"&scope=openid+results%3Aread&state=%22s%C3%A9%22&nonce=n-0S6_WzA2Mj" +
			"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&prompt=login&max_age=0",
		RequestedAt:    baseTime(),
		BrowserBinding: binding,
		ExpiresAt:      baseTime().Add(10 * time.Minute),
	}
	// Created already logged in.
	loggedIn := &storage.AuthRequest{
		ID: "request-logged-in", Query: "client_id=app", RequestedAt: baseTime(),
		BrowserBinding: bytes.Repeat([]byte{0xab}, 32),
		UserID:         "user-2", AuthTime: baseTime().Add(-time.Hour), ExpiresAt: baseTime().Add(time.Minute),
	}
	// Zero times and no binding come back zero and empty.
	minimal := &storage.AuthRequest{ID: "request-minimal"}
	for _, r := range []*storage.AuthRequest{full, loggedIn, minimal} {
		noErr(t, s.CreateAuthRequest(ctx, r), "CreateAuthRequest("+r.ID+")")
	}
	for _, r := range []*storage.AuthRequest{full, loggedIn, minimal} {
		check(t, "GetAuthRequest("+r.ID+")", r, mustGetAuthRequest(t, ctx, s, r.ID))
	}

	dup := *minimal
	dup.Query = "overwritten?"
	errIs(t, s.CreateAuthRequest(ctx, &dup), storage.ErrConflict, "CreateAuthRequest with an existing id")
	check(t, "GetAuthRequest after a rejected duplicate", minimal, mustGetAuthRequest(t, ctx, s, minimal.ID))
	errIs(t, s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "request-nobody", UserID: "no-such-user"}),
		storage.ErrInvalidReference, "CreateAuthRequest logged in by an unknown user")
	_, err := s.GetAuthRequest(ctx, "request-nobody")
	errIs(t, err, storage.ErrNotFound, "GetAuthRequest after CreateAuthRequest by an unknown user")
	_, err = s.GetAuthRequest(ctx, "no-such-request")
	errIs(t, err, storage.ErrNotFound, "GetAuthRequest(unknown)")

	// SetAuthRequestLogin sets UserID, AuthTime and AMR, nothing else.
	authTime := baseTime().Add(2 * time.Minute).In(time.FixedZone("e", 9*3600))
	noErr(t, s.SetAuthRequestLogin(ctx, full.ID, "user-1", authTime, []string{"pwd"}), "SetAuthRequestLogin")
	want := *full
	want.UserID, want.AuthTime, want.AMR = "user-1", authTime, []string{"pwd"}
	check(t, "GetAuthRequest after SetAuthRequestLogin", &want, mustGetAuthRequest(t, ctx, s, full.ID))
	// Logging in again (e.g. prompt=login) replaces all three.
	authTime2 := authTime.Add(time.Minute)
	noErr(t, s.SetAuthRequestLogin(ctx, full.ID, "user-2", authTime2, []string{"hwk", "user"}), "SetAuthRequestLogin again")
	want.UserID, want.AuthTime, want.AMR = "user-2", authTime2, []string{"hwk", "user"}
	check(t, "GetAuthRequest after a second SetAuthRequestLogin", &want, mustGetAuthRequest(t, ctx, s, full.ID))
	check(t, "GetAuthRequest of another request", minimal, mustGetAuthRequest(t, ctx, s, minimal.ID))
	errIs(t, s.SetAuthRequestLogin(ctx, "no-such-request", "user-1", authTime, nil), storage.ErrNotFound, "SetAuthRequestLogin(unknown)")
	_, err = s.GetAuthRequest(ctx, "no-such-request")
	errIs(t, err, storage.ErrNotFound, "GetAuthRequest after SetAuthRequestLogin(unknown)")
	errIs(t, s.SetAuthRequestLogin(ctx, minimal.ID, "no-such-user", authTime, []string{"pwd"}), storage.ErrInvalidReference,
		"SetAuthRequestLogin with an unknown user")
	check(t, "GetAuthRequest after SetAuthRequestLogin with an unknown user", minimal, mustGetAuthRequest(t, ctx, s, minimal.ID))

	// DeleteAuthRequest: the second delete of the same request fails.
	noErr(t, s.DeleteAuthRequest(ctx, full.ID), "DeleteAuthRequest")
	_, err = s.GetAuthRequest(ctx, full.ID)
	errIs(t, err, storage.ErrNotFound, "GetAuthRequest after DeleteAuthRequest")
	errIs(t, s.DeleteAuthRequest(ctx, full.ID), storage.ErrNotFound, "DeleteAuthRequest twice")
	errIs(t, s.DeleteAuthRequest(ctx, "no-such-request"), storage.ErrNotFound, "DeleteAuthRequest(unknown)")
	errIs(t, s.SetAuthRequestLogin(ctx, full.ID, "user-1", authTime, nil), storage.ErrNotFound, "SetAuthRequestLogin after DeleteAuthRequest")
	check(t, "GetAuthRequest of another request after DeleteAuthRequest", loggedIn, mustGetAuthRequest(t, ctx, s, loggedIn.ID))
	mustGetUser(t, ctx, s, "user-2")
}

// testDirectoryTransactions checks that the user, role, scope, session,
// consent and auth-request methods run in the transaction carried by ctx,
// the multi-statement ones (CreateUser, UpdateUser, DeleteUser) included.
func testDirectoryTransactions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "client"}), "CreateClient")

	u := &storage.User{ID: "tx-user", Username: "tx", Roles: []string{"tx-role"}, CreatedAt: baseTime()}
	bs := &storage.BrowserSession{ID: "tx-session", UserID: u.ID, AuthTime: baseTime()}
	consent := &storage.Consent{UserID: u.ID, ClientID: "client", Scopes: []string{"openid"}, GrantedAt: baseTime()}
	req := &storage.AuthRequest{ID: "tx-request", Query: "q", UserID: u.ID, AuthTime: baseTime()}
	tok := fullToken(storage.KindAccessToken, "tx-token", "tx-req", "client")
	tok.Subject = u.ID
	writeAll := func(tx context.Context) {
		t.Helper()
		noErr(t, s.CreateRole(tx, &storage.Role{Name: "tx-role"}), "CreateRole in tx")
		noErr(t, s.CreateScope(tx, &storage.Scope{Name: "tx-scope"}), "CreateScope in tx")
		noErr(t, s.CreateUser(tx, u), "CreateUser in tx")
		noErr(t, s.CreateBrowserSession(tx, bs), "CreateBrowserSession in tx")
		noErr(t, s.PutConsent(tx, consent), "PutConsent in tx")
		noErr(t, s.CreateAuthRequest(tx, req), "CreateAuthRequest in tx")
		noErr(t, s.CreateToken(tx, tok), "CreateToken in tx")
	}
	// checkAll checks that every row is there (present) or absent.
	checkAll := func(c context.Context, present bool, what string) {
		t.Helper()
		check := func(err error, name string) {
			t.Helper()
			if present {
				noErr(t, err, name+" "+what)
			} else {
				errIs(t, err, storage.ErrNotFound, name+" "+what)
			}
		}
		_, err := s.GetRole(c, "tx-role")
		check(err, "GetRole")
		_, err = s.GetScope(c, "tx-scope")
		check(err, "GetScope")
		_, err = s.GetUser(c, u.ID)
		check(err, "GetUser")
		_, err = s.GetUserByUsername(c, u.Username)
		check(err, "GetUserByUsername")
		_, err = s.GetBrowserSession(c, bs.ID)
		check(err, "GetBrowserSession")
		_, err = s.GetConsent(c, u.ID, "client")
		check(err, "GetConsent")
		_, err = s.GetAuthRequest(c, req.ID)
		check(err, "GetAuthRequest")
		_, err = s.GetToken(c, tok.Kind, tok.Signature)
		check(err, "GetToken")
		users, err := s.ListUsers(c)
		noErr(t, err, "ListUsers "+what)
		roles, err := s.ListRoles(c)
		noErr(t, err, "ListRoles "+what)
		scopes, err := s.ListScopes(c)
		noErr(t, err, "ListScopes "+what)
		if n := len(users) + len(roles) + len(scopes); present && n != 3 || !present && n != 0 {
			t.Fatalf("%s: listed %d users, %d roles, %d scopes", what, len(users), len(roles), len(scopes))
		}
	}

	// Rolled back: nothing stays; the transaction sees its own writes.
	tx := beginTX(t, ctx, s)
	writeAll(tx)
	checkAll(tx, true, "in the tx that wrote it")
	check(t, "GetUser in tx", u, mustGetUser(t, tx, s, u.ID))
	checkAll(ctx, false, "outside an uncommitted tx")
	noErr(t, s.Rollback(tx), "Rollback")
	checkAll(ctx, false, "after Rollback")

	// Committed: everything stays.
	tx = beginTX(t, ctx, s)
	writeAll(tx)
	noErr(t, s.Commit(tx), "Commit")
	checkAll(ctx, true, "after Commit")
	check(t, "GetUser after Commit", u, mustGetUser(t, ctx, s, u.ID))

	// Updates and deletes are undone by Rollback, DeleteUser's cascade and
	// UpdateUser's new roles included.
	tx = beginTX(t, ctx, s)
	noErr(t, s.CreateRole(tx, &storage.Role{Name: "tx-role-2"}), "CreateRole(tx-role-2) in tx")
	upd := *u
	upd.Username, upd.Roles = "tx-renamed", []string{"tx-role-2"}
	noErr(t, s.UpdateUser(tx, &upd), "UpdateUser in tx")
	check(t, "GetUser in the tx that updated it", &upd, mustGetUser(t, tx, s, u.ID))
	noErr(t, s.UpdateRole(tx, &storage.Role{Name: "tx-role", Description: "changed"}), "UpdateRole in tx")
	noErr(t, s.UpdateScope(tx, &storage.Scope{Name: "tx-scope", Description: "changed"}), "UpdateScope in tx")
	noErr(t, s.TouchBrowserSession(tx, bs.ID, baseTime().Add(time.Hour)), "TouchBrowserSession in tx")
	noErr(t, s.SetAuthRequestLogin(tx, req.ID, u.ID, baseTime().Add(time.Hour), []string{"pwd"}), "SetAuthRequestLogin in tx")
	noErr(t, s.PutConsent(tx, &storage.Consent{UserID: u.ID, ClientID: "client"}), "PutConsent (replace) in tx")
	noErr(t, s.DeleteUser(tx, u.ID), "DeleteUser in tx")
	noErr(t, s.DeleteRole(tx, "tx-role"), "DeleteRole in tx")
	noErr(t, s.DeleteScope(tx, "tx-scope"), "DeleteScope in tx")
	_, err := s.GetToken(tx, tok.Kind, tok.Signature)
	errIs(t, err, storage.ErrNotFound, "GetToken in the tx that deleted its subject")
	_, err = s.GetBrowserSession(tx, bs.ID)
	errIs(t, err, storage.ErrNotFound, "GetBrowserSession in the tx that deleted its user")
	noErr(t, s.Rollback(tx), "Rollback (undo)")
	checkAll(ctx, true, "after a rolled-back DeleteUser")
	check(t, "GetUser after a rolled-back UpdateUser", u, mustGetUser(t, ctx, s, u.ID))
	check(t, "GetBrowserSession after rollback", bs, mustGetBrowserSession(t, ctx, s, bs.ID))
	check(t, "GetConsent after rollback", consent, mustGetConsent(t, ctx, s, u.ID, "client"))
	check(t, "GetAuthRequest after rollback", req, mustGetAuthRequest(t, ctx, s, req.ID))
	check(t, "GetRole after rollback", &storage.Role{Name: "tx-role"}, mustGetRole(t, ctx, s, "tx-role"))
	check(t, "GetScope after rollback", &storage.Scope{Name: "tx-scope"}, mustGetScope(t, ctx, s, "tx-scope"))
	_, err = s.GetRole(ctx, "tx-role-2")
	errIs(t, err, storage.ErrNotFound, "GetRole(tx-role-2) after rollback")

	// Deletes that run in a transaction and commit.
	tx = beginTX(t, ctx, s)
	noErr(t, s.DeleteAuthRequest(tx, req.ID), "DeleteAuthRequest in tx")
	noErr(t, s.DeleteBrowserSession(tx, bs.ID), "DeleteBrowserSession in tx")
	noErr(t, s.DeleteUserBrowserSessions(tx, u.ID, ""), "DeleteUserBrowserSessions in tx")
	noErr(t, s.Commit(tx), "Commit (deletes)")
	_, err = s.GetAuthRequest(ctx, req.ID)
	errIs(t, err, storage.ErrNotFound, "GetAuthRequest after a committed delete")
	_, err = s.GetBrowserSession(ctx, bs.ID)
	errIs(t, err, storage.ErrNotFound, "GetBrowserSession after a committed delete")
}

// testSignedIn: GetSignedIn reads what GetBrowserSession, GetUser,
// GetTOTP, ListPasskeys and GetConsent read, of one session, its user and
// one client, at once.
func testSignedIn(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateRoles(t, ctx, s, "teacher", "admin")
	mustCreateUser(t, ctx, s, "user-1", "teacher", "admin")
	mustCreateUser(t, ctx, s, "user-2")
	for _, c := range []string{"client-1", "client-2"} {
		noErr(t, s.CreateClient(ctx, &storage.Client{ID: c}), "CreateClient("+c+")")
	}
	sess := &storage.BrowserSession{ID: "session-1", UserID: "user-1", SID: "sid-1", AuthTime: baseTime(),
		LastSeenAt: baseTime().Add(time.Minute), ExpiresAt: baseTime().Add(time.Hour), CreatedAt: baseTime(),
		UserAgent: "agent", Address: "192.0.2.1", AMR: []string{"pwd"}}
	// Expired sessions come back too; the caller checks the timeouts.
	expired := &storage.BrowserSession{ID: "session-2", UserID: "user-2", ExpiresAt: time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)}
	for _, bs := range []*storage.BrowserSession{sess, expired} {
		noErr(t, s.CreateBrowserSession(ctx, bs), "CreateBrowserSession("+bs.ID+")")
	}
	want := func(id, client string) *storage.SignedIn {
		t.Helper()
		bs := mustGetBrowserSession(t, ctx, s, id)
		w := &storage.SignedIn{Session: *bs, User: *mustGetUser(t, ctx, s, bs.UserID)}
		_, err := s.GetTOTP(ctx, bs.UserID)
		w.HasTOTP = err == nil
		pks, err := s.ListPasskeys(ctx, bs.UserID)
		noErr(t, err, "ListPasskeys")
		w.HasPasskey = len(pks) > 0
		if c, err := s.GetConsent(ctx, bs.UserID, client); err == nil {
			w.Consent = c
		}
		return w
	}
	got := func(id, client string) *storage.SignedIn {
		t.Helper()
		si, err := s.GetSignedIn(ctx, id, client)
		noErr(t, err, fmt.Sprintf("GetSignedIn(%q, %q)", id, client))
		return si
	}
	checkBoth := func(what string) {
		t.Helper()
		for _, id := range []string{sess.ID, expired.ID} {
			for _, c := range []string{"client-1", "client-2", "no-such-client"} {
				what := fmt.Sprintf("%s: GetSignedIn(%q, %q)", what, id, c)
				w, g := want(id, c), got(id, c)
				if (w.Consent == nil) != (g.Consent == nil) {
					t.Fatalf("%s: consent %+v, want %+v", what, g.Consent, w.Consent)
				}
				if w.Consent != nil {
					check(t, what+": consent", w.Consent, g.Consent)
				}
				w.Consent, g.Consent = nil, nil
				check(t, what, w, g)
			}
		}
	}
	checkBoth("no factor, no consent")
	if si := got(sess.ID, "client-1"); si.HasTOTP || si.HasPasskey || si.Consent != nil || len(si.User.Roles) != 2 {
		t.Fatalf("GetSignedIn of a user with roles, without factors or consent: %+v", si)
	}

	noErr(t, s.PutConsent(ctx, &storage.Consent{UserID: "user-1", ClientID: "client-1", Scopes: []string{"openid", "a:b"}, GrantedAt: baseTime()}), "PutConsent")
	noErr(t, s.PutConsent(ctx, &storage.Consent{UserID: "user-2", ClientID: "client-2", GrantedAt: baseTime()}), "PutConsent (no scopes)")
	checkBoth("consents")
	if si := got(sess.ID, "client-1"); si.Consent == nil || len(si.Consent.Scopes) != 2 {
		t.Fatalf("GetSignedIn with a consent: %+v", si)
	}
	if si := got(sess.ID, "client-2"); si.Consent != nil {
		t.Fatalf("GetSignedIn: another user's consent to client-2 counted: %+v", si.Consent)
	}

	// A factor counts for its own user only.
	noErr(t, s.PutTOTP(ctx, &storage.TOTP{UserID: "user-2", Secret: []byte("s")}), "PutTOTP of user-2")
	checkBoth("user-2's authenticator")
	if si := got(sess.ID, "client-1"); si.HasTOTP {
		t.Fatal("GetSignedIn: another user's authenticator counted")
	}
	noErr(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "cred-1", UserID: "user-1", PublicKey: []byte{1}, Name: "key", CreatedAt: baseTime()}), "CreatePasskey")
	noErr(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "cred-2", UserID: "user-1", PublicKey: []byte{1}, Name: "key 2", CreatedAt: baseTime()}), "CreatePasskey (a second)")
	checkBoth("user-1's passkeys")
	if si := got(sess.ID, "client-1"); !si.HasPasskey || si.HasTOTP {
		t.Fatalf("GetSignedIn of a user with two passkeys: %+v", si)
	}

	// A disabled user comes back disabled; the caller decides.
	u := mustGetUser(t, ctx, s, "user-1")
	u.Disabled = true
	noErr(t, s.UpdateUser(ctx, u), "UpdateUser (disable)")
	checkBoth("disabled user")

	_, err := s.GetSignedIn(ctx, "no-such-session", "client-1")
	errIs(t, err, storage.ErrNotFound, "GetSignedIn(unknown session)")
	noErr(t, s.DeleteUser(ctx, "user-2"), "DeleteUser(user-2)")
	_, err = s.GetSignedIn(ctx, expired.ID, "client-2")
	errIs(t, err, storage.ErrNotFound, "GetSignedIn of a deleted user's session")
}
