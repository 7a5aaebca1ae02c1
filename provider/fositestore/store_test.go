package fositestore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider/fositestore"
	"github.com/hallpass/hallpass/storage"
)

// TestStore checks, on every backend, the fosite semantics the adapter
// builds on storage.Store: the ones that break silently (replay
// detection, reuse detection, nil sessions, form round-trip, keys stored
// as digests), and how it hands fosite a client. Each case gets a fresh,
// empty, migrated database.
func TestStore(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Store, f *fositestore.Store)
	}{
		{"AuthorizeCodeReplay", testAuthorizeCodeReplay},
		{"RequestRoundTrip", testRequestRoundTrip},
		{"UnknownIsNotFound", testUnknownIsNotFound},
		{"RefreshRotationAndReuse", testRefreshRotation},
		{"RevokeByRequestID", testRevokeByRequestID},
		{"NilSession", testNilSession},
		{"DeletedClientKillsTokens", testDeletedClient},
		{"SignaturesStoredAsDigests", testDigests},
		{"TransactionRollback", testFositeRollback},
		{"ClientAssertionJWT", testClientAssertionJWT},
		{"ClientAssertionJWTRecordedLate", testClientAssertionJWTRecordedLate},
		{"ClientAssertionJWTReusedAfterExpiry", testClientAssertionJWTReusedAfterExpiry},
		{"ClientAssertionJWTPerClient", testClientAssertionJWTPerClient},
		{"ClientAssertionJWTLegacyRecord", testClientAssertionJWTLegacyRecord},
		{"ClientAssertionJWTStoreFailure", testClientAssertionJWTStoreFailure},
		{"GetClient", testGetClient},
		{"CodeWrittenAndReadOnce", testCodeOnce},
		{"CodeSpentAtUserEpoch", testCodeSpentAtUserEpoch},
		{"CodeEndedWithItsGrant", testCodeEndedWithItsGrant},
	}
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := testdb.Open(t, b.DSN(t))
					tc.run(t, s, fositestore.New(s, newSession, time.Now, nil))
				})
			}
		})
	}
}

func newSession() fosite.Session { return newTestSession() }

func newTestSession() *openid.DefaultSession {
	return &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}
}

func mustCreateClient(t *testing.T, s storage.Store, id string) *storage.Client {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	c := &storage.Client{
		ID: id, SecretHash: []byte("0123456789abcdef0123456789abcdef"), Name: "test " + id,
		RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid", "offline_access", "results:read"},
		TokenEndpointAuthMethod: "client_secret_basic", CreatedAt: now, UpdatedAt: now,
	}
	if err := s.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("create client: %v", err)
	}
	return c
}

// newRequest builds a request as fosite would hand it to the store.
func newRequest(t *testing.T, s storage.Store, requestID string) *fosite.Request {
	t.Helper()
	c, err := s.GetClient(context.Background(), "client-1")
	if errors.Is(err, storage.ErrNotFound) {
		c = mustCreateClient(t, s, "client-1")
	} else if err != nil {
		t.Fatal(err)
	}
	sess := newTestSession()
	sess.Subject = "user-42"
	sess.Username = "alice"
	sess.Claims.Subject = "user-42"
	sess.Claims.Nonce = "n-0S6_WzA2Mj"
	sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(10*time.Minute).UTC().Truncate(time.Second))
	sess.SetExpiresAt(fosite.RefreshToken, time.Now().Add(24*time.Hour).UTC().Truncate(time.Second))
	sess.SetExpiresAt(fosite.AuthorizeCode, time.Now().Add(2*time.Minute).UTC().Truncate(time.Second))
	return &fosite.Request{
		ID:                requestID,
		RequestedAt:       time.Now().UTC().Truncate(time.Second),
		Client:            fositestore.Client{Client: c},
		RequestedScope:    fosite.Arguments{"openid", "offline_access", "results:read"},
		GrantedScope:      fosite.Arguments{"openid", "offline_access"},
		RequestedAudience: fosite.Arguments{"https://api.example"},
		GrantedAudience:   fosite.Arguments{"https://api.example"},
		Form: url.Values{
			"redirect_uri":  {"https://app.example/cb"},
			"nonce":         {"n-0S6_WzA2Mj"},
			"response_type": {"code"},
		},
		Session: sess,
	}
}

func testAuthorizeCodeReplay(t *testing.T, s storage.Store, f *fositestore.Store) {
	ctx := context.Background()
	req := newRequest(t, s, "req-1")
	if err := f.CreateAuthorizeCodeSession(ctx, "code-sig", req); err != nil {
		t.Fatal(err)
	}
	got, err := f.GetAuthorizeCodeSession(ctx, "code-sig", newTestSession())
	if err != nil || got.GetID() != "req-1" {
		t.Fatalf("get fresh code = %v, %v; want request req-1", got, err)
	}
	if err := f.InvalidateAuthorizeCodeSession(ctx, "code-sig"); err != nil {
		t.Fatalf("invalidate: %v", err)
	}
	got, err = f.GetAuthorizeCodeSession(ctx, "code-sig", newTestSession())
	if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("get redeemed code: err = %v, want ErrInvalidatedAuthorizeCode", err)
	}
	// fosite revokes by this request's ID; a nil requester would be a server_error.
	if got == nil || got.GetID() != "req-1" {
		t.Fatalf("redeemed code must come back with its request, got %v", got)
	}
	if err := f.InvalidateAuthorizeCodeSession(ctx, "code-sig"); !errors.Is(err, fosite.ErrSerializationFailure) || errors.Is(err, fositestore.ErrCodeEnded) {
		t.Fatalf("second invalidation: err = %v, want ErrSerializationFailure (a lost race, not an ended grant); two concurrent redemptions could both mint tokens", err)
	}
	// In an exchange's context, the spent code found is a replay.
	ex := f.ReadCodeOnce(ctx, "code", "code-sig")
	if _, err := f.GetAuthorizeCodeSession(ex, "code-sig", newTestSession()); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("get redeemed code read once: err = %v, want ErrInvalidatedAuthorizeCode", err)
	}
	if grant, ok := f.CodeReplayed(ex); !ok || grant != "req-1" {
		t.Fatalf("CodeReplayed = %q, %v; want req-1, true", grant, ok)
	}
}

// testCodeEndedWithItsGrant checks that a code whose grant ended before
// it was redeemed is never taken for a replay: read after the end, it is
// not found (not ErrInvalidatedAuthorizeCode, which makes fosite revoke
// the grant and hallpass raise the alarm); read before the end and spent
// after it, the spend fails with ErrCodeEnded, not the
// ErrSerializationFailure of a race lost to another redemption.
func testCodeEndedWithItsGrant(t *testing.T, s storage.Store, f *fositestore.Store) {
	bg := context.Background()
	for _, sig := range []string{"read-before-sig", "read-after-sig"} {
		if err := f.CreateAuthorizeCodeSession(bg, sig, newRequest(t, s, "req-"+sig)); err != nil {
			t.Fatal(err)
		}
	}
	before := f.ReadCodeOnce(bg, "read-before", "read-before-sig")
	if _, err := f.GetAuthorizeCodeSession(before, "read-before-sig", newTestSession()); err != nil {
		t.Fatal(err)
	}
	// The user's password is reset (or consent withdrawn, ...).
	if err := s.RevokeTokensBySubject(bg, "user-42"); err != nil {
		t.Fatal(err)
	}
	if err := f.InvalidateAuthorizeCodeSession(before, "read-before-sig"); !errors.Is(err, fositestore.ErrCodeEnded) || errors.Is(err, fosite.ErrSerializationFailure) {
		t.Fatalf("spend a code read before its grant ended: err = %v, want ErrCodeEnded", err)
	}
	if _, ok := f.CodeReplayed(before); ok {
		t.Fatal("a code read before its grant ended is taken for a replay")
	}
	after := f.ReadCodeOnce(bg, "read-after", "read-after-sig")
	if _, err := f.GetAuthorizeCodeSession(after, "read-after-sig", newTestSession()); !errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("get a code after its grant ended: err = %v, want ErrNotFound", err)
	}
	if _, ok := f.CodeReplayed(after); ok {
		t.Fatal("a code read after its grant ended is taken for a replay")
	}
}

func testRequestRoundTrip(t *testing.T, s storage.Store, f *fositestore.Store) {
	ctx := context.Background()
	want := newRequest(t, s, "req-rt")
	if err := f.CreateAccessTokenSession(ctx, "at-sig", want); err != nil {
		t.Fatal(err)
	}
	sess := newTestSession()
	got, err := f.GetAccessTokenSession(ctx, "at-sig", sess)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetID() != want.ID || !got.GetRequestedAt().Equal(want.RequestedAt) {
		t.Errorf("id/requested_at = %s %v, want %s %v", got.GetID(), got.GetRequestedAt(), want.ID, want.RequestedAt)
	}
	if got.GetClient().GetID() != "client-1" {
		t.Errorf("client = %q", got.GetClient().GetID())
	}
	for name, pair := range map[string][2]fosite.Arguments{
		"requested scope":    {got.GetRequestedScopes(), want.RequestedScope},
		"granted scope":      {got.GetGrantedScopes(), want.GrantedScope},
		"requested audience": {got.GetRequestedAudience(), want.RequestedAudience},
		"granted audience":   {got.GetGrantedAudience(), want.GrantedAudience},
	} {
		if !pair[0].Matches(pair[1]...) || len(pair[0]) != len(pair[1]) {
			t.Errorf("%s = %v, want %v", name, pair[0], pair[1])
		}
	}
	// Dropping the form would silently drop the redirect_uri binding and the nonce.
	if got.GetRequestForm().Get("redirect_uri") != "https://app.example/cb" || got.GetRequestForm().Get("nonce") != "n-0S6_WzA2Mj" {
		t.Errorf("form = %v", got.GetRequestForm())
	}
	if got.GetSession() != sess {
		t.Error("session was not decoded into the session the caller passed")
	}
	if sess.GetSubject() != "user-42" || sess.GetUsername() != "alice" || sess.Claims.Nonce != "n-0S6_WzA2Mj" {
		t.Errorf("session = %+v", sess)
	}
	if !sess.GetExpiresAt(fosite.AccessToken).Equal(want.Session.GetExpiresAt(fosite.AccessToken)) {
		t.Errorf("access expiry = %v, want %v", sess.GetExpiresAt(fosite.AccessToken), want.Session.GetExpiresAt(fosite.AccessToken))
	}
}

func testUnknownIsNotFound(t *testing.T, s storage.Store, f *fositestore.Store) {
	ctx := context.Background()
	req := newRequest(t, s, "req-x")
	// A plain OAuth2 code flow still asks for the OIDC and PKCE sessions;
	// only ErrNotFound lets fosite skip them quietly.
	checks := map[string]error{}
	_, checks["code"] = f.GetAuthorizeCodeSession(ctx, "nope", newTestSession())
	_, checks["access"] = f.GetAccessTokenSession(ctx, "nope", newTestSession())
	_, checks["refresh"] = f.GetRefreshTokenSession(ctx, "nope", newTestSession())
	_, checks["oidc"] = f.GetOpenIDConnectSession(ctx, "nope", req)
	_, checks["pkce"] = f.GetPKCERequestSession(ctx, "nope", newTestSession())
	_, checks["client"] = f.GetClient(ctx, "nope")
	checks["delete access"] = f.DeleteAccessTokenSession(ctx, "nope")
	for name, err := range checks {
		if !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("%s: err = %v, want fosite.ErrNotFound", name, err)
		}
	}
}

func testRefreshRotation(t *testing.T, s storage.Store, f *fositestore.Store) {
	ctx := context.Background()
	req := newRequest(t, s, "req-rf")
	if err := f.CreateAccessTokenSession(ctx, "at-1", req); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateRefreshTokenSession(ctx, "rt-1", "at-1", req); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetRefreshTokenSession(ctx, "rt-1", newTestSession()); err != nil {
		t.Fatalf("fresh refresh token: %v", err)
	}
	if err := f.RotateRefreshToken(ctx, "req-rf", "rt-1"); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	// fosite stores the new refresh token in the rotation's transaction.
	if err := f.CreateRefreshTokenSession(ctx, "rt-2", "at-2", req); err != nil {
		t.Fatal(err)
	}
	got, err := f.GetRefreshTokenSession(ctx, "rt-1", newTestSession())
	if !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("spent refresh token: err = %v, want ErrInactiveToken", err)
	}
	// fosite's reuse detection calls GetID on this; nil would panic.
	if got == nil || got.GetID() != "req-rf" {
		t.Fatalf("spent refresh token must come back with its request, got %v", got)
	}
	if _, err := f.GetAccessTokenSession(ctx, "at-1", newTestSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("access token of a rotated grant: err = %v, want ErrNotFound", err)
	}
	if err := f.RotateRefreshToken(ctx, "req-rf", "rt-1"); !errors.Is(err, fosite.ErrSerializationFailure) {
		t.Errorf("rotating a spent token: err = %v, want ErrSerializationFailure", err)
	}
}

func testRevokeByRequestID(t *testing.T, s storage.Store, f *fositestore.Store) {
	ctx := context.Background()
	a := newRequest(t, s, "req-a")
	b := newRequest(t, s, "req-b")
	for _, st := range []struct {
		sig string
		req *fosite.Request
	}{{"a1", a}, {"a2", a}, {"b1", b}} {
		if err := f.CreateAccessTokenSession(ctx, st.sig, st.req); err != nil {
			t.Fatal(err)
		}
		if err := f.CreateRefreshTokenSession(ctx, st.sig, st.sig, st.req); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.RevokeRefreshToken(ctx, "req-a"); err != nil {
		t.Fatal(err)
	}
	if err := f.RevokeAccessToken(ctx, "req-a"); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []string{"a1", "a2"} {
		if _, err := f.GetAccessTokenSession(ctx, sig, newTestSession()); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("access %s after revoke: err = %v, want ErrNotFound", sig, err)
		}
		// The grant has ended: no replay to detect, so fosite must not
		// run its reuse detection (ErrGrantEnded is a not-found).
		if r, err := f.GetRefreshTokenSession(ctx, sig, newTestSession()); !errors.Is(err, fositestore.ErrGrantEnded) || !errors.Is(err, fosite.ErrNotFound) || r != nil {
			t.Errorf("refresh %s after revoke: %v, %v; want ErrGrantEnded", sig, r, err)
		}
		// Kept, inactive, until it expires.
		sum := sha256.Sum256([]byte(sig))
		if row, err := s.GetToken(ctx, storage.KindRefreshToken, hex.EncodeToString(sum[:])); err != nil || row.Active {
			t.Errorf("refresh %s row after revoke: %+v, %v; want kept, inactive", sig, row, err)
		}
	}
	if _, err := f.GetAccessTokenSession(ctx, "b1", newTestSession()); err != nil {
		t.Errorf("other grant's access token: %v", err)
	}
	if _, err := f.GetRefreshTokenSession(ctx, "b1", newTestSession()); err != nil {
		t.Errorf("other grant's refresh token: %v", err)
	}
}

func testNilSession(t *testing.T, s storage.Store, f *fositestore.Store) {
	ctx := context.Background()
	if err := f.CreateRefreshTokenSession(ctx, "rt", "at", newRequest(t, s, "req-n")); err != nil {
		t.Fatal(err)
	}
	// The revocation handler passes a nil session (hydra#311).
	got, err := f.GetRefreshTokenSession(ctx, "rt", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetSession() == nil || got.GetSession().GetSubject() != "user-42" {
		t.Fatalf("session = %#v, want decoded subject user-42", got.GetSession())
	}
}

func testDeletedClient(t *testing.T, s storage.Store, f *fositestore.Store) {
	ctx := context.Background()
	if err := f.CreateAccessTokenSession(ctx, "at", newRequest(t, s, "req-d")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, "client-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetAccessTokenSession(ctx, "at", newTestSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("token of a deleted client: err = %v, want ErrNotFound", err)
	}
}

func testDigests(t *testing.T, s storage.Store, f *fositestore.Store) {
	ctx := context.Background()
	if err := f.CreateOpenIDConnectSession(ctx, "raw-code-value", newRequest(t, s, "req-h")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetToken(ctx, storage.KindOpenIDConnect, "raw-code-value"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("raw code usable as a stored key: err = %v", err)
	}
	if _, err := f.GetOpenIDConnectSession(ctx, "raw-code-value", newRequest(t, s, "req-h2")); err != nil {
		t.Fatalf("lookup by raw code: %v", err)
	}
	// Kept, like the PKCE challenge: it is read only after an active code.
	if err := f.DeleteOpenIDConnectSession(ctx, "raw-code-value"); err != nil {
		t.Fatal(err)
	}
}

func testFositeRollback(t *testing.T, s storage.Store, f *fositestore.Store) {
	req := newRequest(t, s, "req-tx")
	ctx, err := f.BeginTX(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CreatePKCERequestSession(ctx, "pk", req); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetPKCERequestSession(ctx, "pk", newTestSession()); err != nil {
		t.Fatalf("read inside tx: %v", err)
	}
	if err := f.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetPKCERequestSession(context.Background(), "pk", newTestSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("after rollback: err = %v, want ErrNotFound", err)
	}
}

func testClientAssertionJWT(t *testing.T, s storage.Store, f *fositestore.Store) {
	ctx := fositestore.WithAssertionClient(context.Background(), "client-a")
	if err := f.ClientAssertionJWTValid(ctx, "jti-1"); err != nil {
		t.Fatalf("unknown jti: %v", err)
	}
	if err := f.SetClientAssertionJWT(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.ClientAssertionJWTValid(ctx, "jti-1"); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("used jti: err = %v, want ErrJTIKnown", err)
	}
	// Two uses of one assertion racing its exp: the later records the
	// jti just after exp, and must find the earlier's record still there
	// rather than sweep it away as expired.
	exp := time.Now().Add(-time.Second)
	if err := f.SetClientAssertionJWT(ctx, "jti-3", exp); err != nil {
		t.Fatal(err)
	}
	if err := f.SetClientAssertionJWT(ctx, "jti-3", exp); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("jti recorded again a second past its exp: err = %v, want ErrJTIKnown", err)
	}
	if err := f.ClientAssertionJWTValid(ctx, "jti-3"); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("jti a second past its exp: err = %v, want ErrJTIKnown", err)
	}
}

// testClientAssertionJWTRecordedLate checks, on a fake clock, that a jti
// is never recorded once its record (exp and the grace) would already be
// past: such a record may have been swept by the set of another jti, and
// recording the jti then would take a second use of the assertion for
// the first. The storage sweeps by the real clock, so the fake one reads
// times around the real now.
func testClientAssertionJWTRecordedLate(t *testing.T, s storage.Store, _ *fositestore.Store) {
	ctx := fositestore.WithAssertionClient(context.Background(), "client-a")
	const grace = 30 * time.Second // fositestore's jtiGrace
	base := time.Now()
	var now time.Time
	f := fositestore.New(s, newSession, func() time.Time { return now }, nil)

	for _, tc := range []struct {
		name    string
		exp     time.Duration // exp, from the fake now
		wantErr error
	}{
		{"an hour before the grace ends", time.Hour, nil},
		{"a second before the grace ends", -grace + time.Second, nil},
		{"as the grace ends", -grace, fosite.ErrJTIKnown},
		{"a second after the grace ended", -grace - time.Second, fosite.ErrJTIKnown},
		{"a day after", -24 * time.Hour, fosite.ErrJTIKnown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = base
			jti := "late-" + tc.name
			err := f.SetClientAssertionJWT(ctx, jti, now.Add(tc.exp))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("SetClientAssertionJWT: err = %v, want %v", err, tc.wantErr)
			}
			key, err := fositestore.AssertionKey(ctx, jti)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.GetClientAssertionJTI(ctx, key)
			if tc.wantErr != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a refused jti was recorded: GetClientAssertionJTI err = %v, want ErrNotFound", err)
			}
		})
	}

	// The reviewer's case: a first use records the jti in time, the set
	// of another jti sweeps that record once it is past, and a stalled
	// second use, which found the jti unknown, records it after that.
	exp := base.Add(-time.Hour)
	now = exp.Add(-time.Second)
	if err := f.SetClientAssertionJWT(ctx, "stalled", exp); err != nil {
		t.Fatalf("first use: %v", err)
	}
	now = base
	if err := f.SetClientAssertionJWT(ctx, "another", base.Add(time.Hour)); err != nil {
		t.Fatalf("another jti: %v", err)
	}
	if err := f.ClientAssertionJWTValid(ctx, "stalled"); err != nil {
		t.Fatalf("swept jti: ClientAssertionJWTValid = %v, want nil (its record is gone)", err)
	}
	if err := f.SetClientAssertionJWT(ctx, "stalled", exp); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("second use recorded past its grace: err = %v, want ErrJTIKnown", err)
	}
}

// testClientAssertionJWTReusedAfterExpiry checks, on a fake clock, that a
// jti used again once the record of its earlier use expired (exp and the
// grace) is accepted at once, not only after housekeeping or the set of
// another jti swept the record; and that its new record refuses as the
// first did. The storage compares expiries by the real clock, so the
// fake one reads times around the real now.
func testClientAssertionJWTReusedAfterExpiry(t *testing.T, s storage.Store, _ *fositestore.Store) {
	ctx := fositestore.WithAssertionClient(context.Background(), "client-a")
	base := time.Now()
	now := base.Add(-time.Hour)
	f := fositestore.New(s, newSession, func() time.Time { return now }, nil)

	if err := f.SetClientAssertionJWT(ctx, "counter-1", now.Add(time.Minute)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	now = base
	if err := f.ClientAssertionJWTValid(ctx, "counter-1"); err != nil {
		t.Fatalf("jti whose record expired: ClientAssertionJWTValid = %v, want nil", err)
	}
	if err := f.SetClientAssertionJWT(ctx, "counter-1", now.Add(time.Minute)); err != nil {
		t.Fatalf("jti used again after its record expired, before any sweep: SetClientAssertionJWT = %v, want nil", err)
	}
	if err := f.ClientAssertionJWTValid(ctx, "counter-1"); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("the second use replayed: ClientAssertionJWTValid = %v, want ErrJTIKnown", err)
	}
	if err := f.SetClientAssertionJWT(ctx, "counter-1", now.Add(time.Minute)); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("the second use replayed: SetClientAssertionJWT = %v, want ErrJTIKnown", err)
	}
}

// testClientAssertionJWTPerClient checks that a jti is spent for the
// client that used it only (RFC 7523 §3: unique per issuer): another
// client may use the same jti, predictable ones (counters) included,
// while each client's own reuse is refused; that no two (client, jti)
// pairs share a record; and that without a client the store refuses to
// look, rather than record the jti for every client.
func testClientAssertionJWTPerClient(t *testing.T, _ storage.Store, f *fositestore.Store) {
	as := func(client string) context.Context {
		return fositestore.WithAssertionClient(context.Background(), client)
	}
	exp := time.Now().Add(time.Minute)
	steps := []struct {
		name, client, jti string
		wantErr           error // of both ClientAssertionJWTValid and SetClientAssertionJWT
	}{
		{"first client's jti", "client-a", "42", nil},
		{"the same jti for another client", "client-b", "42", nil},
		{"replay for the first client", "client-a", "42", fosite.ErrJTIKnown},
		{"replay for the other client", "client-b", "42", fosite.ErrJTIKnown},
		{"a third client", "client-c", "42", nil},
		{"client ab, jti c", "ab", "c", nil},
		{"client a, jti bc", "a", "bc", nil},
		{"client a, jti bc again", "a", "bc", fosite.ErrJTIKnown},
	}
	for _, st := range steps {
		if err := f.ClientAssertionJWTValid(as(st.client), st.jti); !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: ClientAssertionJWTValid = %v, want %v", st.name, err, st.wantErr)
		}
		if err := f.SetClientAssertionJWT(as(st.client), st.jti, exp); !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: SetClientAssertionJWT = %v, want %v", st.name, err, st.wantErr)
		}
	}
	if err := f.ClientAssertionJWTValid(context.Background(), "43"); err == nil {
		t.Fatal("ClientAssertionJWTValid without a client: nil, want an error")
	}
	if err := f.SetClientAssertionJWT(context.Background(), "43", exp); err == nil {
		t.Fatal("SetClientAssertionJWT without a client: nil, want an error")
	}
}

// testClientAssertionJWTLegacyRecord checks a rolling upgrade: a jti
// recorded by the previous release (the bare digest of the jti, for all
// clients) still refuses that jti for every client until the record
// expires, and not after, whether or not it has been swept. The fake
// clock reads times around the real now, by which the storage sweeps.
func testClientAssertionJWTLegacyRecord(t *testing.T, s storage.Store, _ *fositestore.Store) {
	base := time.Now()
	now := base
	f := fositestore.New(s, newSession, func() time.Time { return now }, nil)
	sum := sha256.Sum256([]byte("7"))
	if err := s.SetClientAssertionJTI(context.Background(), hex.EncodeToString(sum[:]), base.Add(time.Minute)); err != nil {
		t.Fatalf("record as the previous release did: %v", err)
	}
	for _, client := range []string{"client-a", "client-b"} {
		ctx := fositestore.WithAssertionClient(context.Background(), client)
		if err := f.ClientAssertionJWTValid(ctx, "7"); !errors.Is(err, fosite.ErrJTIKnown) {
			t.Fatalf("%s, jti recorded by the previous release: ClientAssertionJWTValid = %v, want ErrJTIKnown", client, err)
		}
	}
	now = base.Add(time.Minute)
	ctx := fositestore.WithAssertionClient(context.Background(), "client-a")
	if err := f.ClientAssertionJWTValid(ctx, "7"); err != nil {
		t.Fatalf("jti whose record by the previous release expired: ClientAssertionJWTValid = %v, want nil", err)
	}
	if err := f.SetClientAssertionJWT(ctx, "7", now.Add(time.Minute)); err != nil {
		t.Fatalf("jti whose record by the previous release expired: SetClientAssertionJWT = %v, want nil", err)
	}
}

// jtiFailingStore is a store whose replay-store calls fail as a database
// that went away does, while fail is set.
type jtiFailingStore struct {
	storage.Store
	fail bool
}

func (s *jtiFailingStore) GetClientAssertionJTI(ctx context.Context, jti string) (time.Time, error) {
	if s.fail {
		return time.Time{}, fmt.Errorf("get client assertion jti: %w: injected connection reset", storage.ErrUnavailable)
	}
	return s.Store.GetClientAssertionJTI(ctx, jti)
}

func (s *jtiFailingStore) SetClientAssertionJTI(ctx context.Context, jti string, exp time.Time) error {
	if s.fail {
		return fmt.Errorf("set client assertion jti: %w: injected connection reset", storage.ErrUnavailable)
	}
	return s.Store.SetClientAssertionJTI(ctx, jti, exp)
}

// testClientAssertionJWTStoreFailure checks that the database's failure
// to look a jti up or record it is kept for AssertionFailure, which fosite
// cannot tell from a replay (it answers any error of the look-up "jti
// already used"), and that a replay, which is the client's, is not.
func testClientAssertionJWTStoreFailure(t *testing.T, s storage.Store, _ *fositestore.Store) {
	fs := &jtiFailingStore{Store: s}
	f := fositestore.New(fs, newSession, nil, nil)
	exp := time.Now().Add(time.Minute)
	as := func() context.Context { return fositestore.WithAssertionClient(context.Background(), "client-a") }

	ctx := as()
	if err := f.SetClientAssertionJWT(ctx, "used", exp); err != nil {
		t.Fatalf("first use: %v", err)
	}
	ctx = as()
	if err := f.ClientAssertionJWTValid(ctx, "used"); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("replay: ClientAssertionJWTValid = %v, want ErrJTIKnown", err)
	}
	if err := f.SetClientAssertionJWT(ctx, "used", exp); !errors.Is(err, fosite.ErrJTIKnown) {
		t.Fatalf("replay: SetClientAssertionJWT = %v, want ErrJTIKnown", err)
	}
	if err := fositestore.AssertionFailure(ctx); err != nil {
		t.Fatalf("replay: AssertionFailure = %v, want nil (the client's, not ours)", err)
	}

	fs.fail = true
	for name, call := range map[string]func(context.Context) error{
		"ClientAssertionJWTValid": func(ctx context.Context) error { return f.ClientAssertionJWTValid(ctx, "new") },
		"SetClientAssertionJWT":   func(ctx context.Context) error { return f.SetClientAssertionJWT(ctx, "new", exp) },
	} {
		ctx := as()
		err := call(ctx)
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s with the database gone: %v, want storage.ErrUnavailable", name, err)
		}
		if got := fositestore.AssertionFailure(ctx); !errors.Is(got, storage.ErrUnavailable) {
			t.Errorf("%s with the database gone: AssertionFailure = %v, want storage.ErrUnavailable", name, got)
		}
	}
	if err := fositestore.AssertionFailure(context.Background()); err != nil {
		t.Errorf("AssertionFailure without WithAssertionClient = %v, want nil", err)
	}
}

func testGetClient(t *testing.T, s storage.Store, f *fositestore.Store) {
	mustCreateClient(t, s, "c-public")
	c, err := f.GetClient(context.Background(), "c-public")
	if err != nil {
		t.Fatal(err)
	}
	oc, ok := c.(fosite.OpenIDConnectClient)
	if !ok || oc.GetTokenEndpointAuthMethod() != "client_secret_basic" || c.IsPublic() {
		t.Fatalf("client = %#v", c)
	}
	if !c.GetScopes().Has("results:read") || c.GetRedirectURIs()[0] != "https://app.example/cb" {
		t.Fatalf("client fields lost: %#v", c)
	}
}

// TestStoreClientAudience checks how a client's audience reaches fosite:
// the AudienceFunc's answer for the client GetClient loads, asked once per
// load and never for the client of a stored token, whose reading must not
// cost a policy lookup; a failing AudienceFunc is an outage, not an
// unknown client.
func TestStoreClientAudience(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s := testdb.Open(t, b.DSN(t))
			c := mustCreateClient(t, s, "client-1")
			c.Audience = []string{"https://registered.example"}
			if err := s.UpdateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			var asked []string
			var fail error
			f := fositestore.New(s, newSession, time.Now, func(_ context.Context, c *storage.Client) ([]string, error) {
				asked = append(asked, c.ID)
				return append(slices.Clone(c.Audience), "https://issuer.example"), fail
			})

			got, err := f.GetClient(ctx, "client-1")
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"https://registered.example", "https://issuer.example"}; !slices.Equal(got.GetAudience(), want) {
				t.Errorf("GetClient audience = %q, want the AudienceFunc's %q", got.GetAudience(), want)
			}
			if !slices.Equal(asked, []string{"client-1"}) {
				t.Errorf("AudienceFunc asked for %q, want once for client-1", asked)
			}

			if err := f.CreateAccessTokenSession(ctx, "at", newRequest(t, s, "req-a")); err != nil {
				t.Fatal(err)
			}
			asked = nil
			req, err := f.GetAccessTokenSession(ctx, "at", newTestSession())
			if err != nil {
				t.Fatal(err)
			}
			if len(asked) != 0 {
				t.Errorf("reading a token asked the AudienceFunc for %q", asked)
			}
			if got := req.GetClient().GetAudience(); !slices.Equal(got, c.Audience) {
				t.Errorf("stored request's client audience = %q, want the registered %q", got, c.Audience)
			}
			if sc, ok := req.GetClient().(fositestore.Client); !ok || sc.Name != c.Name {
				t.Errorf("stored request's client = %#v, want the registration of client-1", req.GetClient())
			}

			fail = errors.New("scopes unreadable")
			_, err = f.GetClient(ctx, "client-1")
			if !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("GetClient with a failing AudienceFunc: err = %v, want storage.ErrUnavailable, not fosite.ErrNotFound", err)
			}

			plain, err := fositestore.New(s, newSession, time.Now, nil).GetClient(ctx, "client-1")
			if err != nil {
				t.Fatal(err)
			}
			if got := plain.GetAudience(); !slices.Equal(got, c.Audience) {
				t.Errorf("without an AudienceFunc, audience = %q, want the registered %q", got, c.Audience)
			}
		})
	}
}

// countingStore counts the token and client reads that reach the store.
type countingStore struct {
	storage.Store
	gets, multiGets, clients int
}

func (c *countingStore) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	c.clients++
	return c.Store.GetClient(ctx, id)
}

func (c *countingStore) GetToken(ctx context.Context, kind storage.TokenKind, sig string) (*storage.Token, error) {
	c.gets++
	return c.Store.GetToken(ctx, kind, sig)
}

func (c *countingStore) GetTokens(ctx context.Context, keys []storage.TokenKey) ([]storage.Token, error) {
	c.multiGets++
	return c.Store.GetTokens(ctx, keys)
}

// rowKey is the key a token, code or signature is stored under.
func rowKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// codeRequest is newRequest with the form fosite's sanitising leaves to
// a code's request of kind: "code", "pkce" or "oidc".
func codeRequest(t *testing.T, s storage.Store, requestID, kind string, scopes ...string) *fosite.Request {
	r := newRequest(t, s, requestID)
	r.GrantedScope = scopes
	r.Form = url.Values{"response_type": {"code"}, "client_id": {"client-1"}}
	switch kind {
	case "code":
		r.Form.Set("redirect_uri", "https://app.example/cb")
	case "pkce":
		r.Form.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
		r.Form.Set("code_challenge_method", "S256")
	case "oidc":
		r.Form.Set("nonce", "n-0S6_WzA2Mj")
	}
	return r
}

// testCodeOnce checks a code stored with BatchCreates: one row, written
// only by WriteBatch, that carries its PKCE and OIDC requests, read once
// in one statement in a ReadCodeOnce context (and in one per read
// without); a code stored as three rows (as before) read the same way;
// and that a code read once is still spent only once.
func testCodeOnce(t *testing.T, s storage.Store, _ *fositestore.Store) {
	cs := &countingStore{Store: s}
	f := fositestore.New(cs, newSession, time.Now, nil)
	sigOf := func(_ context.Context, code string) string { return code + "-sig" }
	f.CodeSignatures(sigOf)
	bg := context.Background()
	ctx := f.BatchCreates(bg)
	if err := f.CreateAuthorizeCodeSession(ctx, "c1-sig", codeRequest(t, s, "req-1", "code", "openid")); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateOpenIDConnectSession(ctx, "c1", codeRequest(t, s, "req-1", "oidc", "openid")); err != nil {
		t.Fatal(err)
	}
	if err := f.CreatePKCERequestSession(ctx, "c1-sig", codeRequest(t, s, "req-1", "pkce", "openid")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetToken(bg, storage.KindAuthorizeCode, rowKey("c1-sig")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("code row before WriteBatch: err = %v, want ErrNotFound", err)
	}
	if err := f.WriteBatch(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetToken(bg, storage.KindAuthorizeCode, rowKey("c1-sig")); err != nil {
		t.Fatalf("code row: %v", err)
	}
	for kind, key := range map[storage.TokenKind]string{storage.KindPKCE: rowKey("c1-sig"), storage.KindOpenIDConnect: rowKey("c1")} {
		if _, err := s.GetToken(bg, kind, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s row of a code stored in a batch: err = %v, want none (in the code's row)", kind, err)
		}
	}

	// A code stored as three rows, as before.
	for _, err := range []error{
		f.CreateAuthorizeCodeSession(bg, "c3-sig", codeRequest(t, s, "req-3", "code", "openid")),
		f.CreateOpenIDConnectSession(bg, "c3", codeRequest(t, s, "req-3", "oidc", "openid")),
		f.CreatePKCERequestSession(bg, "c3-sig", codeRequest(t, s, "req-3", "pkce", "openid")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetToken(bg, storage.KindPKCE, rowKey("c3-sig")); err != nil {
		t.Fatalf("PKCE row of a code stored without a batch: %v", err)
	}

	for _, c := range []struct{ code, req string }{{"c1", "req-1"}, {"c3", "req-3"}} {
		for _, once := range []bool{true, false} {
			ex := bg
			if once {
				ex = f.ReadCodeOnce(bg, c.code, c.code+"-sig")
			}
			cs.gets, cs.multiGets, cs.clients = 0, 0, 0
			sess := newTestSession()
			for range 2 {
				got, err := f.GetAuthorizeCodeSession(ex, c.code+"-sig", sess)
				if err != nil || got.GetID() != c.req || got.GetRequestForm().Get("redirect_uri") != "https://app.example/cb" {
					t.Fatalf("%s: code = %v, %v; want request %s with its redirect_uri", c.code, got, err, c.req)
				}
				// A request's form is its own: the row's one parse is not
				// what the next request of the exchange gets.
				got.GetRequestForm().Set("redirect_uri", "https://changed.example/cb")
			}
			pk, err := f.GetPKCERequestSession(ex, c.code+"-sig", sess)
			if err != nil || pk.GetID() != c.req || pk.GetRequestForm().Get("code_challenge_method") != "S256" {
				t.Fatalf("%s: PKCE = %v, %v; want request %s with its challenge", c.code, pk, err, c.req)
			}
			oidc, err := f.GetOpenIDConnectSession(ex, c.code, &fosite.Request{Session: sess})
			if err != nil || oidc.GetID() != c.req || oidc.GetRequestForm().Get("nonce") != "n-0S6_WzA2Mj" ||
				oidc.GetSession().(*openid.DefaultSession).Claims.Subject != "user-42" {
				t.Fatalf("%s: OIDC = %v, %v; want request %s with its nonce and session", c.code, oidc, err, c.req)
			}
			if once && (cs.gets != 0 || cs.multiGets != 1) {
				t.Fatalf("%s: an exchange read the store %d times one row and %d times several, want once, all rows together", c.code, cs.gets, cs.multiGets)
			}
			if once && cs.clients != 1 {
				t.Fatalf("%s: an exchange read the code's client %d times, want once", c.code, cs.clients)
			}
		}
	}

	// Another exchange of the same code read it active too; one spends it.
	ex := f.ReadCodeOnce(bg, "c1", "c1-sig")
	other := f.ReadCodeOnce(bg, "c1", "c1-sig")
	for _, c := range []context.Context{ex, other} {
		if _, err := f.GetAuthorizeCodeSession(c, "c1-sig", newTestSession()); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.InvalidateAuthorizeCodeSession(ex, "c1-sig"); err != nil {
		t.Fatalf("spend: %v", err)
	}
	if err := f.InvalidateAuthorizeCodeSession(other, "c1-sig"); !errors.Is(err, fosite.ErrSerializationFailure) {
		t.Fatalf("second exchange spending a code read active: err = %v, want ErrSerializationFailure", err)
	}
	if got, err := f.GetAuthorizeCodeSession(ex, "c1-sig", newTestSession()); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || got == nil {
		t.Fatalf("code after it was spent in the same exchange: %v, %v; want its request and ErrInvalidatedAuthorizeCode", got, err)
	}

	// A code without PKCE or openid: neither is found.
	ctx = f.BatchCreates(bg)
	if err := f.CreateAuthorizeCodeSession(ctx, "c2-sig", codeRequest(t, s, "req-2", "code", "results:read")); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteBatch(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ex := range []context.Context{bg, f.ReadCodeOnce(bg, "c2", "c2-sig")} {
		if _, err := f.GetPKCERequestSession(ex, "c2-sig", newTestSession()); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("PKCE of a code without: err = %v, want ErrNotFound", err)
		}
		if _, err := f.GetOpenIDConnectSession(ex, "c2", &fosite.Request{Session: newTestSession()}); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("OIDC of a code without openid: err = %v, want ErrNotFound", err)
		}
	}
}

// testCodeSpentAtUserEpoch checks SpendAtUserEpoch: a code whose user's
// token epoch moved on after the code's issue read it (a disable or a new
// password that committed before the code was written) is not spent, so
// its exchange yields no tokens; with the current epoch it is.
func testCodeSpentAtUserEpoch(t *testing.T, s storage.Store, f *fositestore.Store) {
	bg := context.Background()
	if err := s.CreateUser(bg, &storage.User{ID: "user-42", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUser(bg, "user-42")
	if err != nil {
		t.Fatal(err)
	}
	issuedAt := u.TokenEpoch
	// The change commits, then the code read before it is written.
	if err := s.RevokeTokensBySubject(bg, "user-42"); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateAuthorizeCodeSession(bg, "e-sig", newRequest(t, s, "req-e")); err != nil {
		t.Fatal(err)
	}
	ex := f.ReadCodeOnce(bg, "e", "e-sig")
	if _, err := f.GetAuthorizeCodeSession(ex, "e-sig", newTestSession()); err != nil {
		t.Fatal(err)
	}
	f.SpendAtUserEpoch(ex, issuedAt)
	if err := f.InvalidateAuthorizeCodeSession(ex, "e-sig"); !errors.Is(err, fositestore.ErrCodeEnded) {
		t.Fatalf("spend a code issued at the user's epoch before a change: err = %v, want ErrCodeEnded (spent: no; a replay: no)", err)
	}
	if _, err := f.GetAuthorizeCodeSession(bg, "e-sig", newTestSession()); err != nil {
		t.Fatalf("the refused spend changed the code: %v", err)
	}
	ex = f.ReadCodeOnce(bg, "e", "e-sig")
	if _, err := f.GetAuthorizeCodeSession(ex, "e-sig", newTestSession()); err != nil {
		t.Fatal(err)
	}
	f.SpendAtUserEpoch(ex, issuedAt+1)
	if err := f.InvalidateAuthorizeCodeSession(ex, "e-sig"); err != nil {
		t.Fatalf("spend at the current epoch: %v", err)
	}
}
