package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// revokeRows creates token rows of every kind for two clients ("app",
// "other-app") and two subjects ("alice", "bob"), one active and one
// inactive row of each combination, plus rows whose subject is "app" or
// whose client is "alice", so that a revocation matching the wrong column
// shows. It returns the rows as created.
func revokeRows(t *testing.T, ctx context.Context, s storage.Store) []*storage.Token {
	t.Helper()
	var rows []*storage.Token
	for _, client := range []string{"app", "other-app"} {
		for _, subject := range []string{"alice", "bob"} {
			for _, kind := range allKinds() {
				for i, active := range []bool{true, false} {
					tok := fullToken(kind, fmt.Sprintf("%s-%s-%d", client, subject, i), "req-"+client+"-"+subject, client)
					tok.Subject = subject
					tok.Active = active
					rows = append(rows, tok)
				}
			}
		}
	}
	for _, kind := range []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken} {
		confused := fullToken(kind, "subject-is-app", "req-confused-1", "other-app")
		confused.Subject = "app"
		rows = append(rows, confused)
		confused = fullToken(kind, "client-is-alice", "req-confused-2", "alice")
		confused.Subject = "bob"
		rows = append(rows, confused)
	}
	for _, tok := range rows {
		noErr(t, s.CreateToken(ctx, tok), fmt.Sprintf("CreateToken(%s, %s)", tok.Kind, tok.Signature))
	}
	return rows
}

// checkRevoked checks every row of rows after a revocation of the rows that
// revoked reports: their access-token rows and unspent (active) codes are
// gone, so that a code of an ended grant is never taken for a replay;
// their refresh tokens are inactive and otherwise unchanged, their spent
// codes and their OIDC and PKCE rows unchanged; every other row is
// unchanged.
func checkRevoked(t *testing.T, ctx context.Context, s storage.Store, what string, rows []*storage.Token, revoked func(*storage.Token) bool) {
	t.Helper()
	for _, tok := range rows {
		got, err := s.GetToken(ctx, tok.Kind, tok.Signature)
		row := fmt.Sprintf("%s: %s row %q (client %q, subject %q)", what, tok.Kind, tok.Signature, tok.ClientID, tok.Subject)
		if !revoked(tok) {
			noErr(t, err, row+" of another grant")
			check(t, row+" of another grant", tok, got)
			continue
		}
		switch {
		case tok.Kind == storage.KindAccessToken:
			errIs(t, err, storage.ErrNotFound, row)
		case tok.Kind == storage.KindAuthorizeCode && tok.Active:
			errIs(t, err, storage.ErrNotFound, row+" (unspent code of an ended grant)")
		case tok.Kind == storage.KindRefreshToken:
			noErr(t, err, row+" (kept, inactive)")
			want := *tok
			want.Active = false
			check(t, row, &want, got)
		default:
			noErr(t, err, row+" (left as it was)")
			check(t, row, tok, got)
		}
	}
}

// testRevoke checks a revocation method: revoke(ctx, key) must revoke the
// rows for which field(row) == key, in the caller's transaction if there
// is one, and nothing else.
func testRevoke(t *testing.T, s storage.Store, name, key string,
	revoke func(ctx context.Context, key string) error, field func(*storage.Token) string) {
	ctx := t.Context()
	rows := revokeRows(t, ctx, s)
	matches := func(tok *storage.Token) bool { return field(tok) == key }
	unchanged := func(*storage.Token) bool { return false }

	// Inside a transaction: visible there, undone by Rollback.
	tx := beginTX(t, ctx, s)
	noErr(t, revoke(tx, key), name+" in a transaction")
	checkRevoked(t, tx, s, name+" inside the transaction", rows, matches)
	noErr(t, s.Rollback(tx), "Rollback")
	checkRevoked(t, ctx, s, "after a rolled-back "+name, rows, unchanged)

	noErr(t, revoke(ctx, key), name)
	checkRevoked(t, ctx, s, "after "+name, rows, matches)
	noErr(t, revoke(ctx, key), name+" twice")
	checkRevoked(t, ctx, s, "after a second "+name, rows, matches)
	noErr(t, revoke(ctx, "nobody-"+key), name+" of a key without tokens")
	checkRevoked(t, ctx, s, "after "+name+" of a key without tokens", rows, matches)

	// Revocation is no tombstone: a grant made afterwards lives.
	later := fullToken(storage.KindAccessToken, "issued-later", "req-later", key)
	later.Subject = key
	noErr(t, s.CreateToken(ctx, later), "CreateToken after "+name)
	check(t, "GetToken of a token issued after "+name, later, mustGetToken(t, ctx, s, later.Kind, later.Signature))
}

func testRevokeByClient(t *testing.T, s storage.Store) {
	testRevoke(t, s, "RevokeTokensByClient", "app", s.RevokeTokensByClient,
		func(tok *storage.Token) string { return tok.ClientID })
}

func testRevokeBySubject(t *testing.T, s storage.Store) {
	testRevoke(t, s, "RevokeTokensBySubject", "alice", s.RevokeTokensBySubject,
		func(tok *storage.Token) string { return tok.Subject })
}

// expiringRows are rows of every table DeleteExpired cleans, some of them
// expired before a cut-off and some not.
type expiringRows struct {
	expiredTokens, liveTokens     []*storage.Token
	expiredJTIs, liveJTIs         map[string]time.Time
	expiredSessions, liveSessions []*storage.BrowserSession
	expiredRequests, liveRequests []*storage.AuthRequest
	expiredThrottle, liveThrottle []storage.ThrottleEntry
}

// expired is how many of the rows expired.
func (r *expiringRows) expired() int {
	return len(r.expiredTokens) + len(r.expiredJTIs) + len(r.expiredSessions) + len(r.expiredRequests) + len(r.expiredThrottle)
}

// cutoff returns a DeleteExpired cut-off two days from now, truncated to
// the microsecond. The backends purge client-assertion JTIs that expired by
// their own clock whenever one is set, so the JTIs that are expired with
// respect to the cut-off must still be in the future.
func cutoff() time.Time {
	return time.Now().Add(48 * time.Hour).UTC().Truncate(time.Microsecond)
}

// seedExpiring creates, with ids that start with prefix, copies sets of
// expired rows in every table (expiring a microsecond, an hour and a day
// before `before`), and one set of rows that are not: expiring at `before`
// exactly, a microsecond or a year after it, or never (NULL; throttle
// entries always expire). Browser sessions belong to user, who must exist.
func seedExpiring(t *testing.T, ctx context.Context, s storage.Store, prefix, user string, before time.Time, copies int) *expiringRows {
	t.Helper()
	r := &expiringRows{expiredJTIs: map[string]time.Time{}, liveJTIs: map[string]time.Time{}}
	past := []time.Duration{time.Microsecond, time.Hour, 24 * time.Hour}
	future := []time.Duration{0, time.Microsecond, 365 * 24 * time.Hour}

	token := func(kind storage.TokenKind, sig string, exp time.Time, active bool) *storage.Token {
		tok := fullToken(kind, prefix+sig, prefix+"req", prefix+"client")
		tok.ExpiresAt = exp
		tok.Active = active
		noErr(t, s.CreateToken(ctx, tok), fmt.Sprintf("CreateToken(%s, %s)", kind, tok.Signature))
		return tok
	}
	jti := func(id string, exp time.Time, into map[string]time.Time) {
		noErr(t, s.SetClientAssertionJTI(ctx, prefix+id, exp), "SetClientAssertionJTI("+prefix+id+")")
		into[prefix+id] = exp
	}
	session := func(id string, exp time.Time) *storage.BrowserSession {
		bs := &storage.BrowserSession{ID: prefix + id, UserID: user, AuthTime: baseTime(),
			LastSeenAt: baseTime(), ExpiresAt: exp, CreatedAt: baseTime()}
		noErr(t, s.CreateBrowserSession(ctx, bs), "CreateBrowserSession("+bs.ID+")")
		return bs
	}
	request := func(id string, exp time.Time) *storage.AuthRequest {
		ar := &storage.AuthRequest{ID: prefix + id, Query: "client_id=app", RequestedAt: baseTime(),
			BrowserBinding: []byte{1, 2, 3}, ExpiresAt: exp}
		noErr(t, s.CreateAuthRequest(ctx, ar), "CreateAuthRequest("+ar.ID+")")
		return ar
	}
	throttle := func(id string, exp time.Time) storage.ThrottleEntry {
		e := storage.ThrottleEntry{ID: prefix + id, Attempts: 3, LockedUntil: exp.Add(-time.Minute), ExpiresAt: exp}
		put(t, ctx, s, e)
		e.LockedUntil, e.ExpiresAt = stored(e.LockedUntil), stored(e.ExpiresAt)
		return e
	}

	for c := range copies {
		for i, kind := range allKinds() {
			exp := before.Add(-past[i%len(past)])
			r.expiredTokens = append(r.expiredTokens, token(kind, fmt.Sprintf("expired-%d", c), exp, true))
		}
		// Spent rows expire like any other.
		r.expiredTokens = append(r.expiredTokens,
			token(storage.KindRefreshToken, fmt.Sprintf("expired-spent-%d", c), before.Add(-time.Hour), false),
			token(storage.KindAuthorizeCode, fmt.Sprintf("expired-spent-%d", c), before.Add(-time.Minute), false))
		for i, d := range past {
			jti(fmt.Sprintf("jti-expired-%d-%d", c, i), before.Add(-d), r.expiredJTIs)
			r.expiredSessions = append(r.expiredSessions, session(fmt.Sprintf("session-expired-%d-%d", c, i), before.Add(-d)))
			r.expiredRequests = append(r.expiredRequests, request(fmt.Sprintf("request-expired-%d-%d", c, i), before.Add(-d)))
			r.expiredThrottle = append(r.expiredThrottle, throttle(fmt.Sprintf("throttle-expired-%d-%d", c, i), before.Add(-d)))
		}
	}
	for i, d := range future {
		for _, kind := range allKinds() {
			r.liveTokens = append(r.liveTokens, token(kind, fmt.Sprintf("live-%d", i), before.Add(d), true))
		}
		jti(fmt.Sprintf("jti-live-%d", i), before.Add(d), r.liveJTIs)
		r.liveSessions = append(r.liveSessions, session(fmt.Sprintf("session-live-%d", i), before.Add(d)))
		r.liveRequests = append(r.liveRequests, request(fmt.Sprintf("request-live-%d", i), before.Add(d)))
		r.liveThrottle = append(r.liveThrottle, throttle(fmt.Sprintf("throttle-live-%d", i), before.Add(d)))
	}
	for _, kind := range allKinds() {
		r.liveTokens = append(r.liveTokens, token(kind, "never-expires", time.Time{}, true))
	}
	r.liveSessions = append(r.liveSessions, session("session-never-expires", time.Time{}))
	r.liveRequests = append(r.liveRequests, request("request-never-expires", time.Time{}))
	return r
}

// checkGone checks that every expired row is gone.
func (r *expiringRows) checkGone(t *testing.T, ctx context.Context, s storage.Store, what string) {
	t.Helper()
	for _, tok := range r.expiredTokens {
		_, err := s.GetToken(ctx, tok.Kind, tok.Signature)
		notFound(t, err, fmt.Sprintf("%s: GetToken(%s, %s) of an expired row", what, tok.Kind, tok.Signature))
	}
	for id := range r.expiredJTIs {
		_, err := s.GetClientAssertionJTI(ctx, id)
		notFound(t, err, fmt.Sprintf("%s: GetClientAssertionJTI(%s) of an expired jti", what, id))
	}
	for _, bs := range r.expiredSessions {
		_, err := s.GetBrowserSession(ctx, bs.ID)
		notFound(t, err, fmt.Sprintf("%s: GetBrowserSession(%s) of an expired session", what, bs.ID))
	}
	for _, ar := range r.expiredRequests {
		_, err := s.GetAuthRequest(ctx, ar.ID)
		notFound(t, err, fmt.Sprintf("%s: GetAuthRequest(%s) of an expired request", what, ar.ID))
	}
	for _, e := range r.expiredThrottle {
		check(t, fmt.Sprintf("%s: GetThrottle(%s) of an expired entry", what, e.ID), storage.ThrottleEntry{ID: e.ID}, mustGetThrottle(t, ctx, s, e.ID))
	}
}

// checkKept checks that every row that has not expired is still there,
// unchanged; with expired set, the expired rows too.
func (r *expiringRows) checkKept(t *testing.T, ctx context.Context, s storage.Store, what string, expired bool) {
	t.Helper()
	toks, jtis, sessions, requests, throttle := r.liveTokens, r.liveJTIs, r.liveSessions, r.liveRequests, r.liveThrottle
	if expired {
		toks = append(append([]*storage.Token(nil), toks...), r.expiredTokens...)
		jtis = map[string]time.Time{}
		for _, m := range []map[string]time.Time{r.liveJTIs, r.expiredJTIs} {
			for id, exp := range m {
				jtis[id] = exp
			}
		}
		sessions = append(append([]*storage.BrowserSession(nil), sessions...), r.expiredSessions...)
		requests = append(append([]*storage.AuthRequest(nil), requests...), r.expiredRequests...)
		throttle = append(append([]storage.ThrottleEntry(nil), throttle...), r.expiredThrottle...)
	}
	for _, tok := range toks {
		got, err := s.GetToken(ctx, tok.Kind, tok.Signature)
		noErr(t, err, fmt.Sprintf("%s: GetToken(%s, %s)", what, tok.Kind, tok.Signature))
		check(t, fmt.Sprintf("%s: GetToken(%s, %s)", what, tok.Kind, tok.Signature), tok, got)
	}
	for id, exp := range jtis {
		got, err := s.GetClientAssertionJTI(ctx, id)
		noErr(t, err, fmt.Sprintf("%s: GetClientAssertionJTI(%s)", what, id))
		check(t, fmt.Sprintf("%s: GetClientAssertionJTI(%s) expiry", what, id), exp, got)
	}
	for _, bs := range sessions {
		got, err := s.GetBrowserSession(ctx, bs.ID)
		noErr(t, err, fmt.Sprintf("%s: GetBrowserSession(%s)", what, bs.ID))
		check(t, fmt.Sprintf("%s: GetBrowserSession(%s)", what, bs.ID), bs, got)
	}
	for _, ar := range requests {
		got, err := s.GetAuthRequest(ctx, ar.ID)
		noErr(t, err, fmt.Sprintf("%s: GetAuthRequest(%s)", what, ar.ID))
		check(t, fmt.Sprintf("%s: GetAuthRequest(%s)", what, ar.ID), ar, got)
	}
	for _, e := range throttle {
		check(t, fmt.Sprintf("%s: GetThrottle(%s)", what, e.ID), e, mustGetThrottle(t, ctx, s, e.ID))
	}
}

func testDeleteExpired(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, "user")
	before := cutoff()
	rows := seedExpiring(t, ctx, s, "", "user", before, 1)
	total := rows.expired() // 7 token rows, 3 of every other table

	n, err := s.DeleteExpired(ctx, time.Time{}, 100)
	noErr(t, err, "DeleteExpired(zero time)")
	if n != 0 {
		t.Fatalf("DeleteExpired(zero time) deleted %d rows, want 0", n)
	}
	for _, bad := range []int{0, -1} {
		n, err := s.DeleteExpired(ctx, before, bad)
		anyErr(t, err, fmt.Sprintf("DeleteExpired with limit %d", bad))
		if n != 0 {
			t.Fatalf("DeleteExpired with limit %d deleted %d rows", bad, n)
		}
	}
	rows.checkKept(t, ctx, s, "after DeleteExpired that must delete nothing", true)

	// Inside a transaction: visible there, undone by Rollback.
	tx := beginTX(t, ctx, s)
	n, err = s.DeleteExpired(tx, before, 1000)
	noErr(t, err, "DeleteExpired in a transaction")
	if n != total {
		t.Fatalf("DeleteExpired in a transaction deleted %d rows, want %d", n, total)
	}
	rows.checkGone(t, tx, s, "inside the transaction")
	noErr(t, s.Rollback(tx), "Rollback")
	rows.checkKept(t, ctx, s, "after a rolled-back DeleteExpired", true)

	// A small limit: every call fills its budget, across tables, until
	// fewer rows than the limit are left.
	const limit = 3
	left, calls := total, 0
	for {
		n, err := s.DeleteExpired(ctx, before, limit)
		noErr(t, err, fmt.Sprintf("DeleteExpired(limit %d), call %d", limit, calls+1))
		calls++
		if want := min(limit, left); n != want {
			t.Fatalf("DeleteExpired(limit %d), call %d, with %d expired rows left: deleted %d, want %d", limit, calls, left, n, want)
		}
		left -= n
		if n == 0 {
			break
		}
	}
	if want := (total+limit-1)/limit + 1; calls != want {
		t.Errorf("DeleteExpired(limit %d) took %d calls for %d rows, want %d", limit, calls, total, want)
	}
	rows.checkGone(t, ctx, s, "after DeleteExpired")
	rows.checkKept(t, ctx, s, "after DeleteExpired", false)
	n, err = s.DeleteExpired(ctx, before, limit)
	noErr(t, err, "DeleteExpired once more")
	if n != 0 {
		t.Fatalf("DeleteExpired once more deleted %d rows, want 0", n)
	}

	// A later cut-off catches what was live, but not what never expires.
	n, err = s.DeleteExpired(ctx, before.AddDate(2, 0, 0), 1000)
	noErr(t, err, "DeleteExpired with a later cut-off")
	wantLater := len(rows.liveTokens) - len(allKinds()) + len(rows.liveJTIs) + len(rows.liveSessions) - 1 + len(rows.liveRequests) - 1 + len(rows.liveThrottle)
	if n != wantLater {
		t.Fatalf("DeleteExpired with a later cut-off deleted %d rows, want %d", n, wantLater)
	}
	for _, kind := range allKinds() {
		mustGetToken(t, ctx, s, kind, "never-expires")
	}
	mustGetBrowserSession(t, ctx, s, "session-never-expires")
	mustGetAuthRequest(t, ctx, s, "request-never-expires")
}

func testLockKeys(t *testing.T, s storage.Store) {
	k := &storage.Key{ID: "kid-locked", Algorithm: "RS256", State: storage.KeyNext, CreatedAt: baseTime()}
	testRowLock(t, s, "LockKeys", s.LockKeys, func(tx context.Context) error { return s.CreateKey(tx, k) },
		func(ctx context.Context) { check(t, "ListKeys after Commit", []storage.Key{*k}, mustListKeys(t, s)) })
}

// testRowLock checks a one-row lock (LockKeys, LockUsernames): it needs a
// transaction, may be taken twice in one, lets write commit under it
// (committed is then checked), and ends with its transaction however it
// ends: a later transaction, on whichever connection, takes it without
// waiting.
func testRowLock(t *testing.T, s storage.Store, name string, lock func(context.Context) error,
	write func(tx context.Context) error, committed func(ctx context.Context)) {
	ctx := t.Context()
	anyErr(t, lock(ctx), name+" without a transaction")

	tx := beginTX(t, ctx, s)
	noErr(t, lock(tx), name+" in a transaction")
	noErr(t, lock(tx), name+" twice in one transaction")
	noErr(t, write(tx), "a write under "+name)
	noErr(t, s.Commit(tx), "Commit")
	committed(ctx)
	anyErr(t, lock(ctx), name+" without a transaction, after one")

	lctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	tx = beginTX(t, lctx, s)
	noErr(t, lock(tx), name+" after a committed lock")
	noErr(t, s.Rollback(tx), "Rollback")
	tx = beginTX(t, lctx, s)
	noErr(t, lock(tx), name+" after a rolled-back lock")
	noErr(t, s.Commit(tx), "Commit")
}

func testPutSetting(t *testing.T, s storage.Store) {
	ctx := t.Context()
	noErr(t, s.PutSetting(ctx, "put", []byte{0x00, 0x01, 0xff}), "PutSetting(new)")
	got, err := s.GetSetting(ctx, "put")
	noErr(t, err, "GetSetting after PutSetting(new)")
	check(t, "GetSetting after PutSetting(new)", []byte{0x00, 0x01, 0xff}, got)
	noErr(t, s.PutSetting(ctx, "put", []byte("replaced")), "PutSetting(existing)")
	got, err = s.GetSetting(ctx, "put")
	noErr(t, err, "GetSetting after PutSetting(existing)")
	check(t, "GetSetting after PutSetting(existing)", []byte("replaced"), got)
	noErr(t, s.PutSetting(ctx, "put", nil), "PutSetting(empty)")
	got, err = s.GetSetting(ctx, "put")
	noErr(t, err, "GetSetting after PutSetting(empty)")
	check(t, "GetSetting after PutSetting(empty)", nil, got)
	errIs(t, s.CreateSetting(ctx, "put", []byte("x")), storage.ErrConflict, "CreateSetting over a put setting")

	noErr(t, s.CreateSetting(ctx, "other", []byte("kept")), "CreateSetting(other)")
	tx := beginTX(t, ctx, s)
	noErr(t, s.PutSetting(tx, "other", []byte("rolled back")), "PutSetting in a transaction")
	noErr(t, s.Rollback(tx), "Rollback")
	got, err = s.GetSetting(ctx, "other")
	noErr(t, err, "GetSetting after a rolled-back PutSetting")
	check(t, "GetSetting after a rolled-back PutSetting", []byte("kept"), got)
}

func testSetKeyPrivate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a := storage.Key{ID: "kid-a", Algorithm: "RS256", State: storage.KeyActive,
		PublicJWK: []byte(`{"kid":"kid-a"}`), PrivateEncrypted: []byte("sealed-a"), CreatedAt: baseTime(),
		RetiresAt: baseTime().Add(time.Hour)}
	b := storage.Key{ID: "kid-b", Algorithm: "RS256", State: storage.KeyNext,
		PublicJWK: []byte(`{"kid":"kid-b"}`), PrivateEncrypted: []byte("sealed-b"), CreatedAt: baseTime().Add(time.Second)}
	noErr(t, s.CreateKey(ctx, &a), "CreateKey(a)")
	noErr(t, s.CreateKey(ctx, &b), "CreateKey(b)")

	noErr(t, s.SetKeyPrivate(ctx, a.ID, []byte{0x00, 0xff, 's'}), "SetKeyPrivate(a)")
	wantA := a
	wantA.PrivateEncrypted = []byte{0x00, 0xff, 's'}
	check(t, "ListKeys after SetKeyPrivate", []storage.Key{wantA, b}, mustListKeys(t, s))

	tx := beginTX(t, ctx, s)
	noErr(t, s.SetKeyPrivate(tx, b.ID, []byte("rolled back")), "SetKeyPrivate in a transaction")
	noErr(t, s.Rollback(tx), "Rollback")
	check(t, "ListKeys after a rolled-back SetKeyPrivate", []storage.Key{wantA, b}, mustListKeys(t, s))

	errIs(t, s.SetKeyPrivate(ctx, "no-such-kid", []byte("x")), storage.ErrNotFound, "SetKeyPrivate(unknown)")
	check(t, "ListKeys after SetKeyPrivate(unknown)", []storage.Key{wantA, b}, mustListKeys(t, s))
}

// RunReplicas runs the races of RunConcurrency that matter between
// replicas — several hallpass processes sharing one database — with the
// contenders spread over separate stores: signing-key changes serialized by
// LockKeys, DeleteExpired run by every replica at once, and sign-in
// throttle counts shared by every replica. newReplicas
// returns n stores on one fresh, empty, migrated database and registers
// their cleanup with t.Cleanup.
func RunReplicas(t *testing.T, newReplicas func(t *testing.T, n int) []storage.Store) {
	t.Run("LockKeysRace", func(t *testing.T) {
		testLockKeysRace(t, newReplicas(t, 2))
	})
	t.Run("DeleteExpiredRace", func(t *testing.T) {
		testDeleteExpiredRace(t, newReplicas(t, 4))
	})
	t.Run("ThrottleRace", func(t *testing.T) {
		testThrottleRace(t, newReplicas(t, 2))
	})
	t.Run("ClaimLogoutNoticesRace", func(t *testing.T) {
		testClaimLogoutNoticesRace(t, newReplicas(t, 2))
	})
}

// lockedWindow is how long a key-rotation contender waits between reading
// the keys and creating one, so that without a working lock two of them
// would both see no next key.
const lockedWindow = 5 * time.Millisecond

// testLockKeysRace has contenders (spread over stores) each run, in a
// transaction, LockKeys, ListKeys and, if there is no next key, CreateKey
// of one, as replicas preparing a key rotation do. Exactly one must create
// it each round, and none may fail.
func testLockKeysRace(t *testing.T, stores []storage.Store) {
	ctx := t.Context()
	const contenders = 4
	for round := range concurrencyRounds {
		created := make([]bool, contenders)
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(i int) error {
			s := stores[i%len(stores)]
			tx, err := s.BeginTX(rctx)
			if err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			create, err := func() (bool, error) {
				if err := s.LockKeys(tx); err != nil {
					return false, err
				}
				ks, err := s.ListKeys(tx)
				if err != nil {
					return false, err
				}
				for _, k := range ks {
					if k.State == storage.KeyNext {
						return false, nil
					}
				}
				time.Sleep(lockedWindow)
				return true, s.CreateKey(tx, &storage.Key{
					ID:        fmt.Sprintf("kid-next-%d-%d", round, i),
					Algorithm: "RS256",
					State:     storage.KeyNext,
					CreatedAt: baseTime(),
				})
			}()
			if err != nil {
				if rbErr := s.Rollback(tx); rbErr != nil {
					return fmt.Errorf("rollback after %v: %v", err, rbErr)
				}
				return err
			}
			if err := s.Commit(tx); err != nil {
				return fmt.Errorf("commit: %w", err)
			}
			created[i] = create
			return nil
		})
		cancel()
		var creators []int
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: contender %d: %v", round, i, err)
			}
			if created[i] {
				creators = append(creators, i)
			}
		}
		var next []string
		for _, k := range mustListKeys(t, stores[0]) {
			if k.State == storage.KeyNext {
				next = append(next, k.ID)
			}
		}
		if len(creators) != 1 || len(next) != 1 || next[0] != fmt.Sprintf("kid-next-%d-%d", round, creators[0]) {
			t.Fatalf("round %d: contenders %v created a next key, next keys are %q; want exactly one of each", round, creators, next)
		}
		// Retire it so that the next round starts without a next key.
		noErr(t, stores[0].UpdateKey(ctx, &storage.Key{ID: next[0], State: storage.KeyRetired}), "UpdateKey(retire)")
	}
	if ks := mustListKeys(t, stores[0]); len(ks) != concurrencyRounds {
		t.Fatalf("after %d rounds: %d keys %q, want one a round", concurrencyRounds, len(ks), keyIDs(ks))
	}
}

// testDeleteExpiredRace has contenders (spread over stores) call
// DeleteExpired with a small limit at once until it returns 0, on the same
// expired rows. None may fail, together they must delete exactly the
// expired rows, and every row that has not expired must stay.
func testDeleteExpiredRace(t *testing.T, stores []storage.Store) {
	ctx := t.Context()
	const (
		contenders = 4
		limit      = 5
		maxCalls   = 1000
	)
	s0 := stores[0]
	mustCreateUser(t, ctx, s0, "user")
	before := cutoff()
	var seeded []*expiringRows
	for round := range concurrencyRounds {
		rows := seedExpiring(t, ctx, s0, fmt.Sprintf("r%d-", round), "user", before, 2)
		seeded = append(seeded, rows)
		counts := make([]int, contenders)
		rctx, cancel := context.WithTimeout(ctx, roundTimeout)
		errs := race(contenders, func(i int) error {
			s := stores[i%len(stores)]
			for range maxCalls {
				n, err := s.DeleteExpired(rctx, before, limit)
				counts[i] += n
				if err != nil {
					return err
				}
				if n > limit {
					return fmt.Errorf("deleted %d rows with limit %d", n, limit)
				}
				if n == 0 {
					return nil
				}
			}
			return fmt.Errorf("still deleting after %d calls", maxCalls)
		})
		cancel()
		sum := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: contender %d: DeleteExpired: %v", round, i, err)
			}
			sum += counts[i]
		}
		if sum != rows.expired() {
			t.Fatalf("round %d: contenders deleted %d rows together (%v), want %d", round, sum, counts, rows.expired())
		}
		n, err := s0.DeleteExpired(ctx, before, limit)
		noErr(t, err, fmt.Sprintf("round %d: DeleteExpired after the race", round))
		if n != 0 {
			t.Fatalf("round %d: DeleteExpired after the race deleted %d rows, want 0", round, n)
		}
		rows.checkGone(t, ctx, s0, fmt.Sprintf("round %d: after the race", round))
	}
	for round, rows := range seeded {
		rows.checkKept(t, ctx, s0, fmt.Sprintf("after round %d", round), false)
	}
}
