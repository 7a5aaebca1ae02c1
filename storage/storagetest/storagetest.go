package storagetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// Run runs the conformance suite against a backend. Each named subtest calls
// newStore(t) once and expects a fresh, empty, migrated store; newStore
// should register the store's cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Store)
	}{
		{"ClientCRUD", testClientCRUD},
		{"ClientDeleteCascadesTokens", testClientDeleteCascadesTokens},
		{"TokenCRUD", testTokenCRUD},
		{"TokenDeactivate", testTokenDeactivate},
		{"TokenDeactivateAtEpoch", testTokenDeactivateAtEpoch},
		{"TokensTogether", testTokensTogether},
		{"TokensTouching", testTokensTouching},
		{"TokensByRequest", testTokensByRequest},
		{"TokenAfter", testTokenAfter},
		{"KeysCRUD", testKeysCRUD},
		{"Settings", testSettings},
		{"ClientAssertionJTI", testClientAssertionJTI},
		{"Transactions", testTransactions},
		{"InTransaction", testInTransaction},
		{"AfterCommit", testAfterCommit},
		{"TimeZones", testTimeZones},
		{"Migrate", testMigrate},
		{"UserCRUD", testUserCRUD},
		{"UserDeleteCascades", testUserDeleteCascades},
		{"UsernameFold", testUsernameFold},
		{"LockUsernames", testLockUsernames},
		{"NameFold", testNameFold},
		{"LockNames", testLockNames},
		{"LockingReads", testLockingReads},
		{"RoleCRUD", testRoleCRUD},
		{"ScopeCRUD", testScopeCRUD},
		{"BrowserSessions", testBrowserSessions},
		{"Consents", testConsents},
		{"SignedIn", testSignedIn},
		{"AuthRequests", testAuthRequests},
		{"DirectoryTransactions", testDirectoryTransactions},
		{"RevokeByClient", testRevokeByClient},
		{"RevokeBySubject", testRevokeBySubject},
		{"DeleteExpired", testDeleteExpired},
		{"LockKeys", testLockKeys},
		{"PutSetting", testPutSetting},
		{"SetKeyPrivate", testSetKeyPrivate},
		{"FailuresMarked", testFailuresMarked},
		{"ConfirmUserCredential", testConfirmUserCredential},
		{"Throttle", testThrottle},
		{"AuditStore", testAuditStore},
		{"UserBrowserSessions", testUserBrowserSessions},
		{"UserConsents", testUserConsents},
		{"RevokeByClientSubject", testRevokeByClientSubject},
		{"SessionClients", testSessionClients},
		{"PutLiveSessionClient", testPutLiveSessionClient},
		{"LogoutNotices", testLogoutNotices},
		{"AccessRevocations", testAccessRevocations},
		{"MFA", testMFA},
		{"Passkeys", testPasskeys},
		{"UnstorableInput", testUnstorableInput},
		{"FailedStatementAborts", testFailedStatementAborts},
		{"UnknownTimesOrder", testUnknownTimesOrder},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

func testClientCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()

	cs, err := s.ListClients(ctx)
	noErr(t, err, "ListClients on an empty store")
	if len(cs) != 0 {
		t.Fatalf("ListClients on an empty store: got %v", clientIDs(cs))
	}

	full := &storage.Client{
		ID:                      "client-full",
		SecretHash:              []byte{0x00, 0x01, 0xfe, 0xff, 0x00, 'a', 0x80, 0x7f},
		Name:                    "Schülerportal ✓ \"quoted\"",
		RedirectURIs:            []string{"https://app.example/cb", "http://127.0.0.1:8080/cb?x=1&y=%22"},
		PostLogoutRedirectURIs:  []string{"https://app.example/bye"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"openid", "profile", "results:read", "results,with,commas"},
		Audience:                []string{"https://school.example/api"},
		TokenEndpointAuthMethod: "client_secret_basic",
		SkipConsent:             true,
		ResourceServers:         []string{"https://school.example/api", "urn:school:library"},
		PKCEOptional:            true,
		CreatedAt:               baseTime(),
		UpdatedAt:               baseTime().Add(90 * time.Minute),

		JWKS:                             `{"keys":[{"kty":"EC","crv":"P-256","x":"ü\u0000","y":"\"q\"","use":"sig"}]}`,
		TokenEndpointAuthSigningAlg:      "ES256",
		RequirePAR:                       true,
		BackchannelLogoutURI:             "https://app.example/backchannel?x=1&y=%22",
		BackchannelLogoutSessionRequired: true,
	}
	// A public client with zero times, no secret and empty lists: zero must
	// come back zero, and empty as nil or empty.
	public := &storage.Client{
		ID:                      "client-public",
		RedirectURIs:            []string{"https://spa.example/cb"},
		GrantTypes:              []string{},
		TokenEndpointAuthMethod: "none",
	}
	noErr(t, s.CreateClient(ctx, full), "CreateClient(full)")
	noErr(t, s.CreateClient(ctx, public), "CreateClient(public)")

	dup := *public
	dup.Name = "overwritten?"
	errIs(t, s.CreateClient(ctx, &dup), storage.ErrConflict, "CreateClient with an existing id")

	got, err := s.GetClient(ctx, full.ID)
	noErr(t, err, "GetClient(full)")
	check(t, "GetClient(full)", full, got)
	got, err = s.GetClient(ctx, public.ID)
	noErr(t, err, "GetClient(public)")
	check(t, "GetClient(public) after a rejected duplicate", public, got)

	_, err = s.GetClient(ctx, "no-such-client")
	errIs(t, err, storage.ErrNotFound, "GetClient(unknown)")

	// ListClients orders by id in byte order.
	for _, id := range []string{"b", "B", "a", "_x", "Z9", "a-1"} {
		noErr(t, s.CreateClient(ctx, &storage.Client{ID: id, Name: "n-" + id}), "CreateClient("+id+")")
	}
	cs, err = s.ListClients(ctx)
	noErr(t, err, "ListClients")
	wantIDs := []string{"b", "B", "a", "_x", "Z9", "a-1", full.ID, public.ID}
	slices.Sort(wantIDs)
	if ids := clientIDs(cs); !slices.Equal(ids, wantIDs) {
		t.Fatalf("ListClients ids: got %q, want %q", ids, wantIDs)
	}
	for i := range cs {
		switch cs[i].ID {
		case full.ID:
			check(t, "ListClients[full]", full, &cs[i])
		case public.ID:
			check(t, "ListClients[public]", public, &cs[i])
		}
	}

	// UpdateClient replaces every field but ID and CreatedAt.
	upd := &storage.Client{
		ID:                          full.ID,
		SecretHash:                  bytes.Repeat([]byte{0xab}, 32),
		Name:                        "renamed",
		RedirectURIs:                []string{"https://new.example/cb"},
		PostLogoutRedirectURIs:      nil,
		GrantTypes:                  []string{"client_credentials"},
		ResponseTypes:               []string{},
		Scopes:                      []string{"results:write"},
		Audience:                    []string{"https://a.example", "https://b.example"},
		TokenEndpointAuthMethod:     "client_secret_post",
		SkipConsent:                 false,
		ResourceServers:             []string{"https://payroll.example"},
		PKCEOptional:                false,
		JWKSURI:                     "https://new.example/jwks.json",
		TokenEndpointAuthSigningAlg: "PS256",
		CreatedAt:                   baseTime().Add(-24 * time.Hour), // must be ignored
		UpdatedAt:                   baseTime().Add(48 * time.Hour),
	}
	noErr(t, s.UpdateClient(ctx, upd), "UpdateClient")
	want := *upd
	want.CreatedAt = full.CreatedAt
	got, err = s.GetClient(ctx, full.ID)
	noErr(t, err, "GetClient after UpdateClient")
	check(t, "GetClient after UpdateClient", &want, got)

	// An update that clears the secret.
	upd2 := want
	upd2.SecretHash = nil
	noErr(t, s.UpdateClient(ctx, &upd2), "UpdateClient clearing the secret")
	got, err = s.GetClient(ctx, full.ID)
	noErr(t, err, "GetClient after clearing the secret")
	check(t, "GetClient after clearing the secret", &upd2, got)

	errIs(t, s.UpdateClient(ctx, &storage.Client{ID: "no-such-client"}), storage.ErrNotFound, "UpdateClient(unknown)")
	_, err = s.GetClient(ctx, "no-such-client")
	errIs(t, err, storage.ErrNotFound, "GetClient after UpdateClient(unknown)")

	noErr(t, s.DeleteClient(ctx, full.ID), "DeleteClient")
	_, err = s.GetClient(ctx, full.ID)
	errIs(t, err, storage.ErrNotFound, "GetClient after DeleteClient")
	errIs(t, s.DeleteClient(ctx, full.ID), storage.ErrNotFound, "DeleteClient twice")
	errIs(t, s.DeleteClient(ctx, "no-such-client"), storage.ErrNotFound, "DeleteClient(unknown)")
	cs, err = s.ListClients(ctx)
	noErr(t, err, "ListClients after DeleteClient")
	if slices.Contains(clientIDs(cs), full.ID) {
		t.Fatalf("ListClients after DeleteClient still lists %q", full.ID)
	}
	if len(cs) != len(wantIDs)-1 {
		t.Fatalf("ListClients after DeleteClient: got %q", clientIDs(cs))
	}
}

func testClientDeleteCascadesTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "doomed"}), "CreateClient(doomed)")
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "survivor"}), "CreateClient(survivor)")
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "tokenless"}), "CreateClient(tokenless)")
	for _, kind := range allKinds() {
		for _, c := range []string{"doomed", "survivor"} {
			for i := range 2 {
				tok := fullToken(kind, fmt.Sprintf("%s-%d", c, i), "req-"+c, c)
				if i == 1 {
					tok.Active = false
				}
				noErr(t, s.CreateToken(ctx, tok), fmt.Sprintf("CreateToken(%s, %s)", kind, tok.Signature))
			}
		}
	}

	noErr(t, s.DeleteClient(ctx, "doomed"), "DeleteClient(doomed)")
	noErr(t, s.DeleteClient(ctx, "tokenless"), "DeleteClient(tokenless)")
	for _, kind := range allKinds() {
		for i := range 2 {
			_, err := s.GetToken(ctx, kind, fmt.Sprintf("doomed-%d", i))
			errIs(t, err, storage.ErrNotFound, fmt.Sprintf("GetToken(%s) of a deleted client", kind))
			tok, err := s.GetToken(ctx, kind, fmt.Sprintf("survivor-%d", i))
			noErr(t, err, fmt.Sprintf("GetToken(%s) of another client", kind))
			want := fullToken(kind, fmt.Sprintf("survivor-%d", i), "req-survivor", "survivor")
			want.Active = i == 0
			check(t, "token of another client", want, tok)
		}
	}
	_, err := s.GetClient(ctx, "survivor")
	noErr(t, err, "GetClient(survivor)")
}

func testTokenCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const sig = "c2lnbmF0dXJlLWRpZ2VzdA"

	// The same signature under every kind: independent rows.
	for _, kind := range allKinds() {
		tok := fullToken(kind, sig, "req-"+string(kind), "client-"+string(kind))
		noErr(t, s.CreateToken(ctx, tok), fmt.Sprintf("CreateToken(%s)", kind))
	}
	for _, kind := range allKinds() {
		got := mustGetToken(t, ctx, s, kind, sig)
		check(t, fmt.Sprintf("GetToken(%s)", kind), fullToken(kind, sig, "req-"+string(kind), "client-"+string(kind)), got)
	}

	for _, kind := range allKinds() {
		dup := fullToken(kind, sig, "other-request", "other-client")
		errIs(t, s.CreateToken(ctx, dup), storage.ErrConflict, fmt.Sprintf("CreateToken(%s) with an existing signature", kind))
	}
	got := mustGetToken(t, ctx, s, storage.KindAccessToken, sig)
	check(t, "GetToken after a rejected duplicate",
		fullToken(storage.KindAccessToken, sig, "req-"+string(storage.KindAccessToken), "client-"+string(storage.KindAccessToken)), got)

	// A minimal, inactive row: zero times and empty fields round-trip.
	minimal := &storage.Token{Kind: storage.KindRefreshToken, Signature: "minimal"}
	noErr(t, s.CreateToken(ctx, minimal), "CreateToken(minimal)")
	check(t, "GetToken(minimal)", minimal, mustGetToken(t, ctx, s, storage.KindRefreshToken, "minimal"))
	_, err := s.GetToken(ctx, storage.KindAccessToken, "minimal")
	errIs(t, err, storage.ErrNotFound, "GetToken under a kind the signature was not stored with")

	// A long signature (an unhashed RS256 signature is about 342 characters).
	long := fullToken(storage.KindAccessToken, string(bytes.Repeat([]byte("Zz-_9"), 80)), "req-long", "client")
	noErr(t, s.CreateToken(ctx, long), "CreateToken(long signature)")
	check(t, "GetToken(long signature)", long, mustGetToken(t, ctx, s, long.Kind, long.Signature))

	_, err = s.GetToken(ctx, storage.KindAccessToken, "no-such-signature")
	errIs(t, err, storage.ErrNotFound, "GetToken(unknown)")

	noErr(t, s.DeleteToken(ctx, storage.KindAccessToken, sig), "DeleteToken(access)")
	_, err = s.GetToken(ctx, storage.KindAccessToken, sig)
	errIs(t, err, storage.ErrNotFound, "GetToken after DeleteToken")
	errIs(t, s.DeleteToken(ctx, storage.KindAccessToken, sig), storage.ErrNotFound, "DeleteToken twice")
	errIs(t, s.DeleteToken(ctx, storage.KindPKCE, "no-such-signature"), storage.ErrNotFound, "DeleteToken(unknown)")
	for _, kind := range allKinds() {
		if kind == storage.KindAccessToken {
			continue
		}
		check(t, fmt.Sprintf("GetToken(%s) after deleting the access row", kind),
			fullToken(kind, sig, "req-"+string(kind), "client-"+string(kind)), mustGetToken(t, ctx, s, kind, sig))
	}
}

// testTokensTogether checks CreateTokens and GetTokens: rows written in
// one statement (all or none) and read in one.
func testTokensTogether(t *testing.T, s storage.Store) {
	ctx := t.Context()
	code := fullToken(storage.KindAuthorizeCode, "code-sig", "req-1", "client")
	pkce := fullToken(storage.KindPKCE, "code-sig", "req-1", "client")
	oidc := fullToken(storage.KindOpenIDConnect, "raw-code-digest", "req-1", "client")
	oidc.Active = false
	noErr(t, s.CreateTokens(ctx, []*storage.Token{code, pkce, oidc}), "CreateTokens")
	noErr(t, s.CreateTokens(ctx, nil), "CreateTokens(none)")
	for _, tok := range []*storage.Token{code, pkce, oidc} {
		check(t, fmt.Sprintf("GetToken(%s) of a row CreateTokens wrote", tok.Kind), tok, mustGetToken(t, ctx, s, tok.Kind, tok.Signature))
	}

	// One conflicting row: none is written.
	fresh := fullToken(storage.KindRefreshToken, "fresh", "req-2", "client")
	errIs(t, s.CreateTokens(ctx, []*storage.Token{fresh, fullToken(storage.KindPKCE, "code-sig", "req-2", "client")}),
		storage.ErrConflict, "CreateTokens with an existing (kind, signature)")
	_, err := s.GetToken(ctx, storage.KindRefreshToken, "fresh")
	errIs(t, err, storage.ErrNotFound, "GetToken of a row written with a conflicting one")

	got, err := s.GetTokens(ctx, []storage.TokenKey{
		{Kind: storage.KindAuthorizeCode, Signature: "code-sig"},
		{Kind: storage.KindPKCE, Signature: "code-sig"},
		{Kind: storage.KindOpenIDConnect, Signature: "code-sig"}, // another kind's signature
		{Kind: storage.KindOpenIDConnect, Signature: "raw-code-digest"},
		{Kind: storage.KindRefreshToken, Signature: "fresh"},
		{Kind: storage.KindAuthorizeCode, Signature: "code-sig"}, // a key given twice: its row once
	})
	noErr(t, err, "GetTokens")
	byKind := map[storage.TokenKind]*storage.Token{}
	for i := range got {
		byKind[got[i].Kind] = &got[i]
	}
	if len(got) != 3 || len(byKind) != 3 {
		t.Fatalf("GetTokens returned %d rows of %d kinds, want the 3 that exist", len(got), len(byKind))
	}
	for _, tok := range []*storage.Token{code, pkce, oidc} {
		check(t, fmt.Sprintf("GetTokens: the %s row", tok.Kind), tok, byKind[tok.Kind])
	}
	none, err := s.GetTokens(ctx, []storage.TokenKey{{Kind: storage.KindAuthorizeCode, Signature: "nothing"}})
	noErr(t, err, "GetTokens(unknown)")
	if len(none) != 0 {
		t.Fatalf("GetTokens(unknown) returned %d rows", len(none))
	}
}

// testTokensTouching checks CreateTokensTouching: the rows and the
// session's last-seen time written together, all or nothing; a session
// that is gone does not keep the rows out.
func testTokensTouching(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, "user-1")
	bs := &storage.BrowserSession{ID: "session-1", UserID: "user-1", SID: "sid-1", AuthTime: baseTime(),
		LastSeenAt: baseTime(), ExpiresAt: baseTime().Add(8 * time.Hour), CreatedAt: baseTime()}
	other := &storage.BrowserSession{ID: "session-2", UserID: "user-1", AuthTime: baseTime(), LastSeenAt: baseTime()}
	noErr(t, s.CreateBrowserSession(ctx, bs), "CreateBrowserSession")
	noErr(t, s.CreateBrowserSession(ctx, other), "CreateBrowserSession(other)")

	code := fullToken(storage.KindAuthorizeCode, "code-sig", "req-1", "client")
	seen := baseTime().Add(3 * time.Minute)
	noErr(t, s.CreateTokensTouching(ctx, []*storage.Token{code}, bs.ID, seen), "CreateTokensTouching")
	check(t, "GetToken of a row CreateTokensTouching wrote", code, mustGetToken(t, ctx, s, code.Kind, code.Signature))
	want := *bs
	want.LastSeenAt = seen
	check(t, "GetBrowserSession after CreateTokensTouching", &want, mustGetBrowserSession(t, ctx, s, bs.ID))
	check(t, "GetBrowserSession of another session after CreateTokensTouching", other, mustGetBrowserSession(t, ctx, s, other.ID))

	// Several rows, as CreateTokens.
	a := fullToken(storage.KindAuthorizeCode, "code-a", "req-2", "client")
	b := fullToken(storage.KindPKCE, "code-a", "req-2", "client")
	noErr(t, s.CreateTokensTouching(ctx, []*storage.Token{a, b}, bs.ID, seen.Add(time.Minute)), "CreateTokensTouching(two rows)")
	for _, tok := range []*storage.Token{a, b} {
		check(t, fmt.Sprintf("GetToken(%s) of two rows CreateTokensTouching wrote", tok.Kind), tok, mustGetToken(t, ctx, s, tok.Kind, tok.Signature))
	}
	want.LastSeenAt = seen.Add(time.Minute)
	check(t, "GetBrowserSession after CreateTokensTouching(two rows)", &want, mustGetBrowserSession(t, ctx, s, bs.ID))

	// A session that is gone: the rows are stored all the same.
	gone := fullToken(storage.KindAuthorizeCode, "code-gone", "req-3", "client")
	noErr(t, s.CreateTokensTouching(ctx, []*storage.Token{gone}, "no-such-session", seen), "CreateTokensTouching(unknown session)")
	check(t, "GetToken of a row written touching an unknown session", gone, mustGetToken(t, ctx, s, gone.Kind, gone.Signature))

	// A conflicting row: no row written, and the session not touched.
	fresh := fullToken(storage.KindRefreshToken, "fresh", "req-4", "client")
	errIs(t, s.CreateTokensTouching(ctx, []*storage.Token{fresh, fullToken(storage.KindAuthorizeCode, "code-sig", "req-4", "client")}, bs.ID, seen.Add(time.Hour)),
		storage.ErrConflict, "CreateTokensTouching with an existing (kind, signature)")
	_, err := s.GetToken(ctx, storage.KindRefreshToken, "fresh")
	errIs(t, err, storage.ErrNotFound, "GetToken of a row written with a conflicting one")
	check(t, "GetBrowserSession after a refused CreateTokensTouching", &want, mustGetBrowserSession(t, ctx, s, bs.ID))

	// No rows: the session is touched.
	noErr(t, s.CreateTokensTouching(ctx, nil, bs.ID, seen.Add(2*time.Hour)), "CreateTokensTouching(no rows)")
	want.LastSeenAt = seen.Add(2 * time.Hour)
	check(t, "GetBrowserSession after CreateTokensTouching(no rows)", &want, mustGetBrowserSession(t, ctx, s, bs.ID))

	// In a transaction, with it: rolled back, nothing of it stays.
	tx, err := s.BeginTX(ctx)
	noErr(t, err, "BeginTX")
	undone := fullToken(storage.KindAuthorizeCode, "code-undone", "req-5", "client")
	noErr(t, s.CreateTokensTouching(tx, []*storage.Token{undone}, bs.ID, seen.Add(3*time.Hour)), "CreateTokensTouching in tx")
	noErr(t, s.Rollback(tx), "Rollback")
	_, err = s.GetToken(ctx, undone.Kind, undone.Signature)
	errIs(t, err, storage.ErrNotFound, "GetToken of a row written in a rolled-back transaction")
	check(t, "GetBrowserSession after a rolled-back CreateTokensTouching", &want, mustGetBrowserSession(t, ctx, s, bs.ID))
}

func testTokenDeactivate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, kind := range allKinds() {
		tok := fullToken(kind, "sig", "req", "client")
		noErr(t, s.CreateToken(ctx, tok), fmt.Sprintf("CreateToken(%s)", kind))
	}
	kind := storage.KindAuthorizeCode
	noErr(t, s.DeactivateToken(ctx, kind, "sig"), "DeactivateToken")
	want := fullToken(kind, "sig", "req", "client")
	want.Active = false
	check(t, "GetToken after DeactivateToken", want, mustGetToken(t, ctx, s, kind, "sig"))

	errIs(t, s.DeactivateToken(ctx, kind, "sig"), storage.ErrConflict, "DeactivateToken twice")
	errIs(t, s.DeactivateToken(ctx, kind, "no-such-signature"), storage.ErrNotFound, "DeactivateToken(unknown)")
	check(t, "GetToken after a second DeactivateToken", want, mustGetToken(t, ctx, s, kind, "sig"))

	for _, other := range allKinds() {
		if other == kind {
			continue
		}
		if got := mustGetToken(t, ctx, s, other, "sig"); !got.Active {
			t.Errorf("DeactivateToken(%s) deactivated the %s row with the same signature", kind, other)
		}
	}

	inactive := fullToken(storage.KindRefreshToken, "born-inactive", "req", "client")
	inactive.Active = false
	noErr(t, s.CreateToken(ctx, inactive), "CreateToken(inactive)")
	errIs(t, s.DeactivateToken(ctx, inactive.Kind, inactive.Signature), storage.ErrConflict, "DeactivateToken on a row created inactive")

	noErr(t, s.DeleteToken(ctx, kind, "sig"), "DeleteToken of an inactive row")
	errIs(t, s.DeactivateToken(ctx, kind, "sig"), storage.ErrNotFound, "DeactivateToken after DeleteToken")
}

// testTokenAfter checks HasTokenAfter: any row of the kind and request,
// active or not, requested strictly later (by a microsecond, the finest
// time every backend keeps), and no other kind's or request's.
func testTokenAfter(t *testing.T, s storage.Store) {
	ctx := t.Context()
	at := func(kind storage.TokenKind, sig, req string, d time.Duration, active bool) {
		t.Helper()
		tok := fullToken(kind, sig, req, "client")
		tok.RequestedAt = baseTime().Add(d)
		tok.Active = active
		noErr(t, s.CreateToken(ctx, tok), "CreateToken("+sig+")")
	}
	at(storage.KindRefreshToken, "rt-a", "req-a", 0, false)
	at(storage.KindRefreshToken, "rt-a2", "req-a", time.Microsecond, false) // rotated, then revoked
	at(storage.KindRefreshToken, "rt-b", "req-b", 0, false)
	at(storage.KindAccessToken, "at-b", "req-b", time.Hour, true)  // another kind
	at(storage.KindRefreshToken, "rt-c", "req-c", time.Hour, true) // another request
	for _, c := range []struct {
		req  string
		d    time.Duration
		want bool
	}{
		{"req-a", 0, true},
		{"req-a", time.Microsecond, false},
		{"req-a", -time.Hour, true},
		{"req-b", 0, false},
		{"no-such-request", 0, false},
	} {
		got, err := s.HasTokenAfter(ctx, storage.KindRefreshToken, c.req, baseTime().Add(c.d))
		noErr(t, err, "HasTokenAfter")
		if got != c.want {
			t.Errorf("HasTokenAfter(refresh, %s, base%+v) = %v, want %v", c.req, c.d, got, c.want)
		}
	}
}

func testTokensByRequest(t *testing.T, s storage.Store) {
	ctx := t.Context()
	type row struct {
		kind storage.TokenKind
		sig  string
		req  string
	}
	rows := []row{
		{storage.KindAccessToken, "at-1a", "req-1"},
		{storage.KindAccessToken, "at-1b", "req-1"},
		{storage.KindAccessToken, "at-2", "req-2"},
		{storage.KindRefreshToken, "rt-1a", "req-1"},
		{storage.KindRefreshToken, "rt-1b", "req-1"},
		{storage.KindRefreshToken, "rt-2", "req-2"},
		{storage.KindAuthorizeCode, "ac-1", "req-1"},
		{storage.KindOpenIDConnect, "oidc-1", "req-1"},
		{storage.KindPKCE, "pkce-1", "req-1"},
	}
	for _, r := range rows {
		noErr(t, s.CreateToken(ctx, fullToken(r.kind, r.sig, r.req, "client")), "CreateToken("+r.sig+")")
	}
	// One refresh row of req-1 is already inactive: deactivating by request
	// must not fail on it.
	noErr(t, s.DeactivateToken(ctx, storage.KindRefreshToken, "rt-1b"), "DeactivateToken(rt-1b)")

	for _, c := range []struct {
		kind storage.TokenKind
		req  string
		want bool
	}{
		{storage.KindRefreshToken, "req-1", true}, // rt-1a
		{storage.KindRefreshToken, "req-2", true},
		{storage.KindRefreshToken, "no-such-request", false},
		{storage.KindAuthorizeCode, "req-2", false},
	} {
		got, err := s.HasActiveToken(ctx, c.kind, c.req)
		noErr(t, err, "HasActiveToken")
		if got != c.want {
			t.Errorf("before DeactivateTokensByRequest: HasActiveToken(%s, %s) = %v, want %v", c.kind, c.req, got, c.want)
		}
	}
	noErr(t, s.DeactivateTokensByRequest(ctx, storage.KindRefreshToken, "req-1"), "DeactivateTokensByRequest(refresh, req-1)")
	for req, want := range map[string]bool{"req-1": false, "req-2": true} {
		got, err := s.HasActiveToken(ctx, storage.KindRefreshToken, req)
		noErr(t, err, "HasActiveToken")
		if got != want {
			t.Errorf("after DeactivateTokensByRequest(refresh, req-1): HasActiveToken(refresh, %s) = %v, want %v", req, got, want)
		}
	}
	for _, r := range rows {
		got := mustGetToken(t, ctx, s, r.kind, r.sig)
		wantActive := !(r.kind == storage.KindRefreshToken && r.req == "req-1")
		if got.Active != wantActive {
			t.Errorf("after DeactivateTokensByRequest(refresh, req-1): %s Active = %v, want %v", r.sig, got.Active, wantActive)
		}
	}
	noErr(t, s.DeactivateTokensByRequest(ctx, storage.KindRefreshToken, "req-1"), "DeactivateTokensByRequest twice")
	noErr(t, s.DeactivateTokensByRequest(ctx, storage.KindRefreshToken, "no-such-request"), "DeactivateTokensByRequest(unknown request)")

	noErr(t, s.DeleteTokensByRequest(ctx, storage.KindAccessToken, "req-1"), "DeleteTokensByRequest(access, req-1)")
	for _, r := range rows {
		_, err := s.GetToken(ctx, r.kind, r.sig)
		if r.kind == storage.KindAccessToken && r.req == "req-1" {
			errIs(t, err, storage.ErrNotFound, "GetToken("+r.sig+") after DeleteTokensByRequest")
		} else {
			noErr(t, err, "GetToken("+r.sig+") after DeleteTokensByRequest of another kind or request")
		}
	}
	noErr(t, s.DeleteTokensByRequest(ctx, storage.KindAccessToken, "req-1"), "DeleteTokensByRequest twice")
	noErr(t, s.DeleteTokensByRequest(ctx, storage.KindPKCE, "no-such-request"), "DeleteTokensByRequest(unknown request)")
}

func testKeysCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ks, err := s.ListKeys(ctx)
	noErr(t, err, "ListKeys on an empty store")
	if len(ks) != 0 {
		t.Fatalf("ListKeys on an empty store: got %v", keyIDs(ks))
	}

	jwk := func(kid string) []byte { return []byte(`{"kty":"RSA","kid":"` + kid + `","n":"0vx7","e":"AQAB"}`) }
	sealed := func(b byte) []byte { return append(bytes.Repeat([]byte{b}, 40), 0x00, 0xff) }
	active := storage.Key{
		ID: "kid-active", Algorithm: "RS256", State: storage.KeyActive,
		PublicJWK: jwk("kid-active"), PrivateEncrypted: sealed(1),
		CreatedAt: baseTime(), ActivatesAt: baseTime(), RetiresAt: baseTime().Add(30 * 24 * time.Hour),
	}
	next := storage.Key{
		ID: "kid-next", Algorithm: "RS256", State: storage.KeyNext,
		PublicJWK: jwk("kid-next"), PrivateEncrypted: sealed(2),
		CreatedAt: baseTime().Add(2 * time.Hour), ActivatesAt: baseTime().Add(26 * time.Hour),
	}
	next2 := storage.Key{
		ID: "kid-next-2", Algorithm: "ES256", State: storage.KeyNext,
		PublicJWK: jwk("kid-next-2"), PrivateEncrypted: sealed(3),
		CreatedAt: baseTime().Add(3 * time.Hour),
	}
	retired := storage.Key{
		ID: "kid-retired", Algorithm: "RS256", State: storage.KeyRetired,
		PublicJWK: jwk("kid-retired"), PrivateEncrypted: sealed(4),
		CreatedAt: baseTime().Add(-time.Hour), ActivatesAt: baseTime().Add(-time.Hour),
		RetiresAt: baseTime(), RemovesAt: baseTime().Add(2 * time.Hour),
	}
	retired2 := storage.Key{
		ID: "kid-retired-2", Algorithm: "EdDSA", State: storage.KeyRetired,
		PublicJWK: jwk("kid-retired-2"), PrivateEncrypted: sealed(5),
		CreatedAt: baseTime().Add(-2 * time.Hour), RemovesAt: baseTime().Add(time.Hour),
	}
	// Created out of CreatedAt order, so ListKeys has to sort.
	for _, k := range []storage.Key{next, active, retired, next2, retired2} {
		noErr(t, s.CreateKey(ctx, &k), "CreateKey("+k.ID+")")
	}
	check(t, "ListKeys", []storage.Key{retired2, retired, active, next, next2}, mustListKeys(t, s))

	second := storage.Key{ID: "kid-second-active", Algorithm: "RS256", State: storage.KeyActive, CreatedAt: baseTime()}
	errIs(t, s.CreateKey(ctx, &second), storage.ErrConflict, "CreateKey of a second active key")
	dupID := next
	dupID.State = storage.KeyRetired
	errIs(t, s.CreateKey(ctx, &dupID), storage.ErrConflict, "CreateKey with an existing kid")
	check(t, "ListKeys after rejected creates", []storage.Key{retired2, retired, active, next, next2}, mustListKeys(t, s))

	// Promoting next while active is still active: conflict, nothing changes.
	promote := next
	promote.State = storage.KeyActive
	errIs(t, s.UpdateKey(ctx, &promote), storage.ErrConflict, "UpdateKey making a second active key")
	check(t, "ListKeys after a rejected promotion", []storage.Key{retired2, retired, active, next, next2}, mustListKeys(t, s))

	// Retire active, then promote next. UpdateKey changes only State and the
	// planned times.
	retire := active
	retire.State = storage.KeyRetired
	retire.RetiresAt = baseTime().Add(5 * time.Hour)
	retire.RemovesAt = baseTime().Add(6 * time.Hour)
	retire.Algorithm = "HS256"               // must be ignored
	retire.PublicJWK = []byte("ignored")     // must be ignored
	retire.PrivateEncrypted = []byte("nope") // must be ignored
	retire.CreatedAt = baseTime().Add(-99 * time.Hour)
	noErr(t, s.UpdateKey(ctx, &retire), "UpdateKey(active → retired)")
	wantRetired := active
	wantRetired.State = storage.KeyRetired
	wantRetired.RetiresAt = retire.RetiresAt
	wantRetired.RemovesAt = retire.RemovesAt

	promote.ActivatesAt = baseTime().Add(5 * time.Hour)
	noErr(t, s.UpdateKey(ctx, &promote), "UpdateKey(next → active)")
	check(t, "ListKeys after rotation", []storage.Key{retired2, retired, wantRetired, promote, next2}, mustListKeys(t, s))

	// Clearing a planned time.
	unplan := next2
	unplan.ActivatesAt = time.Time{}
	noErr(t, s.UpdateKey(ctx, &unplan), "UpdateKey clearing times")

	errIs(t, s.UpdateKey(ctx, &storage.Key{ID: "no-such-kid", State: storage.KeyRetired}), storage.ErrNotFound, "UpdateKey(unknown)")

	noErr(t, s.DeleteKey(ctx, retired2.ID), "DeleteKey")
	errIs(t, s.DeleteKey(ctx, retired2.ID), storage.ErrNotFound, "DeleteKey twice")
	errIs(t, s.DeleteKey(ctx, "no-such-kid"), storage.ErrNotFound, "DeleteKey(unknown)")
	check(t, "ListKeys after DeleteKey", []storage.Key{retired, wantRetired, promote, unplan}, mustListKeys(t, s))

	// Deleting the active key frees the slot.
	noErr(t, s.DeleteKey(ctx, promote.ID), "DeleteKey(active)")
	noErr(t, s.CreateKey(ctx, &second), "CreateKey(active) after deleting the active key")
}

func mustListKeys(t *testing.T, s storage.Store) []storage.Key {
	t.Helper()
	ks, err := s.ListKeys(t.Context())
	noErr(t, err, "ListKeys")
	return ks
}

func testSettings(t *testing.T, s storage.Store) {
	ctx := t.Context()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	noErr(t, s.CreateSetting(ctx, "token_hmac_secret", all), "CreateSetting")
	got, err := s.GetSetting(ctx, "token_hmac_secret")
	noErr(t, err, "GetSetting")
	if !bytes.Equal(got, all) {
		t.Fatalf("GetSetting: got %x, want %x", got, all)
	}
	errIs(t, s.CreateSetting(ctx, "token_hmac_secret", []byte("other")), storage.ErrConflict, "CreateSetting twice")
	got, err = s.GetSetting(ctx, "token_hmac_secret")
	noErr(t, err, "GetSetting after a rejected CreateSetting")
	if !bytes.Equal(got, all) {
		t.Fatalf("GetSetting after a rejected CreateSetting: got %x, want %x", got, all)
	}
	_, err = s.GetSetting(ctx, "no-such-setting")
	errIs(t, err, storage.ErrNotFound, "GetSetting(unknown)")

	noErr(t, s.CreateSetting(ctx, "admin_token_digest", []byte("digest")), "CreateSetting(second name)")
	got, err = s.GetSetting(ctx, "admin_token_digest")
	noErr(t, err, "GetSetting(second name)")
	if string(got) != "digest" {
		t.Fatalf("GetSetting(second name): got %q", got)
	}
}

func testClientAssertionJTI(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// The backends purge by their own clock, so this test uses real time.
	now := time.Now()
	exp := now.Add(time.Hour)

	noErr(t, s.SetClientAssertionJTI(ctx, "jti-1", exp), "SetClientAssertionJTI")
	got, err := s.GetClientAssertionJTI(ctx, "jti-1")
	noErr(t, err, "GetClientAssertionJTI")
	check(t, "GetClientAssertionJTI expiry", exp, got)

	errIs(t, s.SetClientAssertionJTI(ctx, "jti-1", now.Add(2*time.Hour)), storage.ErrConflict, "SetClientAssertionJTI of an unexpired jti")
	got, err = s.GetClientAssertionJTI(ctx, "jti-1")
	noErr(t, err, "GetClientAssertionJTI after a rejected set")
	check(t, "GetClientAssertionJTI expiry after a rejected set", exp, got)

	_, err = s.GetClientAssertionJTI(ctx, "no-such-jti")
	errIs(t, err, storage.ErrNotFound, "GetClientAssertionJTI(unknown)")

	// A jti whose record has expired but is still there: a set with the
	// same, past, expiry (a late second use of the use recorded) is
	// refused and leaves the record as it was; a set with an expiry after
	// now (a later use of the jti, once the earlier one can no longer be
	// replayed) replaces it, without waiting for a sweep; and the record
	// it leaves refuses as any unexpired one does.
	gone := now.Add(-time.Hour)
	noErr(t, s.SetClientAssertionJTI(ctx, "jti-2", gone), "SetClientAssertionJTI(expired)")
	errIs(t, s.SetClientAssertionJTI(ctx, "jti-2", gone), storage.ErrConflict, "SetClientAssertionJTI over its own expired record, with its expiry")
	got, err = s.GetClientAssertionJTI(ctx, "jti-2")
	noErr(t, err, "GetClientAssertionJTI(jti-2) after a refused set over its expired record")
	check(t, "GetClientAssertionJTI(jti-2) expiry after a refused set", gone, got)
	reused := now.Add(3 * time.Hour)
	noErr(t, s.SetClientAssertionJTI(ctx, "jti-2", reused), "SetClientAssertionJTI over its own expired record, with an expiry after now")
	got, err = s.GetClientAssertionJTI(ctx, "jti-2")
	noErr(t, err, "GetClientAssertionJTI(jti-2) after its expired record was replaced")
	check(t, "GetClientAssertionJTI(jti-2) expiry after its expired record was replaced", reused, got)
	errIs(t, s.SetClientAssertionJTI(ctx, "jti-2", now.Add(4*time.Hour)), storage.ErrConflict, "SetClientAssertionJTI over the unexpired record that replaced an expired one")

	// Setting any other jti purges the expired ones.
	noErr(t, s.SetClientAssertionJTI(ctx, "jti-3", now.Add(-time.Minute)), "SetClientAssertionJTI(jti-3, expired)")
	noErr(t, s.SetClientAssertionJTI(ctx, "jti-4", exp), "SetClientAssertionJTI(jti-4)")
	_, err = s.GetClientAssertionJTI(ctx, "jti-3")
	errIs(t, err, storage.ErrNotFound, "GetClientAssertionJTI(jti-3) of an expired jti after another set")
	for _, jti := range []string{"jti-1", "jti-2", "jti-4"} {
		_, err = s.GetClientAssertionJTI(ctx, jti)
		noErr(t, err, "GetClientAssertionJTI("+jti+") of an unexpired jti after another set")
	}
}

func testTransactions(t *testing.T, s storage.Store) {
	ctx := t.Context()

	anyErr(t, s.Commit(ctx), "Commit without a transaction")
	anyErr(t, s.Rollback(ctx), "Rollback without a transaction")

	// Rollback discards writes; the transaction sees its own writes; others
	// don't see them before commit.
	tx := beginTX(t, ctx, s)
	c := &storage.Client{ID: "tx-client", Name: "in tx", CreatedAt: baseTime()}
	noErr(t, s.CreateClient(tx, c), "CreateClient in tx")
	tok := fullToken(storage.KindAuthorizeCode, "tx-code", "tx-req", c.ID)
	noErr(t, s.CreateToken(tx, tok), "CreateToken in tx")
	got, err := s.GetClient(tx, c.ID)
	noErr(t, err, "GetClient in the same tx")
	check(t, "GetClient in the same tx", c, got)
	check(t, "GetToken in the same tx", tok, mustGetToken(t, tx, s, tok.Kind, tok.Signature))
	_, err = s.GetClient(ctx, c.ID)
	errIs(t, err, storage.ErrNotFound, "GetClient outside an uncommitted tx")
	noErr(t, s.Rollback(tx), "Rollback")
	_, err = s.GetClient(ctx, c.ID)
	errIs(t, err, storage.ErrNotFound, "GetClient after Rollback")
	_, err = s.GetToken(ctx, tok.Kind, tok.Signature)
	errIs(t, err, storage.ErrNotFound, "GetToken after Rollback")

	// Commit keeps every kind of write.
	tx = beginTX(t, ctx, s)
	noErr(t, s.CreateClient(tx, c), "CreateClient in tx")
	noErr(t, s.CreateToken(tx, tok), "CreateToken in tx")
	noErr(t, s.DeactivateToken(tx, tok.Kind, tok.Signature), "DeactivateToken in tx")
	key := &storage.Key{ID: "tx-kid", Algorithm: "RS256", State: storage.KeyActive, CreatedAt: baseTime()}
	noErr(t, s.CreateKey(tx, key), "CreateKey in tx")
	noErr(t, s.CreateSetting(tx, "tx-setting", []byte("v")), "CreateSetting in tx")
	noErr(t, s.SetClientAssertionJTI(tx, "tx-jti", time.Now().Add(time.Hour)), "SetClientAssertionJTI in tx")
	noErr(t, s.Commit(tx), "Commit")
	got, err = s.GetClient(ctx, c.ID)
	noErr(t, err, "GetClient after Commit")
	check(t, "GetClient after Commit", c, got)
	wantTok := *tok
	wantTok.Active = false
	check(t, "GetToken after Commit", &wantTok, mustGetToken(t, ctx, s, tok.Kind, tok.Signature))
	check(t, "ListKeys after Commit", []storage.Key{*key}, mustListKeys(t, s))
	_, err = s.GetSetting(ctx, "tx-setting")
	noErr(t, err, "GetSetting after Commit")
	_, err = s.GetClientAssertionJTI(ctx, "tx-jti")
	noErr(t, err, "GetClientAssertionJTI after Commit")

	// Rollback undoes updates and deletes too, including DeleteClient's
	// cascade, which must run in the caller's transaction.
	live := fullToken(storage.KindRefreshToken, "tx-refresh", "tx-req", c.ID)
	noErr(t, s.CreateToken(ctx, live), "CreateToken(live)")
	tx = beginTX(t, ctx, s)
	noErr(t, s.DeactivateToken(tx, live.Kind, live.Signature), "DeactivateToken in tx")
	noErr(t, s.UpdateKey(tx, &storage.Key{ID: key.ID, State: storage.KeyRetired}), "UpdateKey in tx")
	noErr(t, s.DeleteClient(tx, c.ID), "DeleteClient in tx")
	_, err = s.GetToken(tx, live.Kind, live.Signature)
	errIs(t, err, storage.ErrNotFound, "GetToken in the tx that deleted its client")
	noErr(t, s.Rollback(tx), "Rollback (undo)")
	check(t, "GetClient after rolled-back DeleteClient", c, mustGetClient(t, ctx, s, c.ID))
	check(t, "GetToken after rolled-back DeleteClient", live, mustGetToken(t, ctx, s, live.Kind, live.Signature))
	check(t, "GetToken(code) after rolled-back DeleteClient", &wantTok, mustGetToken(t, ctx, s, tok.Kind, tok.Signature))
	check(t, "ListKeys after rolled-back UpdateKey", []storage.Key{*key}, mustListKeys(t, s))

	// A failed write inside a transaction leaves the earlier writes to the
	// caller's Rollback.
	tx = beginTX(t, ctx, s)
	noErr(t, s.CreateSetting(tx, "tx-setting-2", []byte("v")), "CreateSetting in tx")
	errIs(t, s.CreateSetting(tx, "tx-setting", []byte("dup")), storage.ErrConflict, "CreateSetting of an existing name in tx")
	noErr(t, s.Rollback(tx), "Rollback (failed write)")
	_, err = s.GetSetting(ctx, "tx-setting-2")
	errIs(t, err, storage.ErrNotFound, "GetSetting after Rollback")
}

func testTimeZones(t *testing.T, s storage.Store) {
	ctx := t.Context()
	east := time.FixedZone("x", 5*3600)
	west := time.FixedZone("y", -(7*3600 + 30*60))
	tm := time.Date(2030, time.January, 2, 3, 4, 5, 678901234, east)
	tw := time.Date(2030, time.January, 1, 20, 0, 0, 999, west)

	c := &storage.Client{ID: "tz", CreatedAt: tm, UpdatedAt: tw}
	noErr(t, s.CreateClient(ctx, c), "CreateClient")
	check(t, "GetClient", c, mustGetClient(t, ctx, s, c.ID))

	tok := fullToken(storage.KindAccessToken, "tz", "req", "tz")
	tok.RequestedAt, tok.ExpiresAt = tm, tw
	noErr(t, s.CreateToken(ctx, tok), "CreateToken")
	check(t, "GetToken", tok, mustGetToken(t, ctx, s, tok.Kind, tok.Signature))

	k := &storage.Key{ID: "tz", Algorithm: "RS256", State: storage.KeyNext,
		CreatedAt: tm, ActivatesAt: tw, RetiresAt: tm.In(west), RemovesAt: tw.In(east)}
	noErr(t, s.CreateKey(ctx, k), "CreateKey")
	check(t, "ListKeys", []storage.Key{*k}, mustListKeys(t, s))

	exp := time.Now().Add(time.Hour).In(east)
	noErr(t, s.SetClientAssertionJTI(ctx, "tz", exp), "SetClientAssertionJTI")
	check(t, "GetClientAssertionJTI expiry", exp, mustGetJTI(t, ctx, s, "tz"))

	// The same instants written in UTC read back identical.
	tok2 := *tok
	tok2.Signature = "tz-utc"
	tok2.RequestedAt, tok2.ExpiresAt = tm.UTC(), tw.UTC()
	noErr(t, s.CreateToken(ctx, &tok2), "CreateToken(utc)")
	a := mustGetToken(t, ctx, s, tok.Kind, tok.Signature)
	b := mustGetToken(t, ctx, s, tok2.Kind, tok2.Signature)
	if a.RequestedAt != b.RequestedAt || a.ExpiresAt != b.ExpiresAt {
		t.Errorf("the same instant in two zones reads back differently: %v/%v vs %v/%v",
			a.RequestedAt, a.ExpiresAt, b.RequestedAt, b.ExpiresAt)
	}
}

func testMigrate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	noErr(t, s.Ping(ctx), "Ping")
	c := &storage.Client{ID: "before-migrate", Name: "kept"}
	noErr(t, s.CreateClient(ctx, c), "CreateClient")
	noErr(t, s.Migrate(ctx), "Migrate on a migrated store")
	noErr(t, s.Migrate(ctx), "Migrate a third time")
	pending, err := s.PendingMigrations(ctx)
	noErr(t, err, "PendingMigrations")
	if len(pending) != 0 {
		t.Errorf("PendingMigrations on a migrated store = %v, want none", pending)
	}
	check(t, "GetClient after Migrate", c, mustGetClient(t, ctx, s, c.ID))
	noErr(t, s.CreateClient(ctx, &storage.Client{ID: "after-migrate"}), "CreateClient after Migrate")
}
