package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// allKinds lists every token kind of the contract.
func allKinds() []storage.TokenKind {
	return []storage.TokenKind{
		storage.KindAuthorizeCode,
		storage.KindAccessToken,
		storage.KindRefreshToken,
		storage.KindOpenIDConnect,
		storage.KindPKCE,
	}
}

// baseTime is the suite's reference time. It has nanoseconds, so the suite
// also checks truncation to the microsecond.
func baseTime() time.Time {
	return time.Date(2031, time.April, 5, 6, 7, 8, 123456789, time.UTC)
}

// stored is what a backend must return for a time it was given: UTC,
// truncated to the microsecond, zero for zero.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// noErr fails the test now if err is not nil.
func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// errIs fails the test now unless errors.Is(err, want).
func errIs(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want one matching %v", what, err, want)
	}
}

// anyErr fails the test now if err is nil.
func anyErr(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want one", what)
	}
}

func keyIDs(ks []storage.Key) []string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.ID
	}
	return ids
}

func clientIDs(cs []storage.Client) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// fullToken returns a token of kind with every field set, derived from sig.
func fullToken(kind storage.TokenKind, sig, requestID, clientID string) *storage.Token {
	return &storage.Token{
		Kind:              kind,
		Signature:         sig,
		RequestID:         requestID,
		RequestedAt:       baseTime(),
		ClientID:          clientID,
		Subject:           "user-" + string(kind),
		RequestedScopes:   []string{"openid", "offline_access", "results:read"},
		GrantedScopes:     []string{"openid", "results:read"},
		RequestedAudience: []string{"https://school.example/api", "https://other.example"},
		GrantedAudience:   []string{"https://school.example/api"},
		Form:              "client_id=" + clientID + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid+results%3Aread",
		Session:           []byte(`{"kind":"` + string(kind) + `","claims":{"sub":"alice","nonce":"n\u00e9"}}`),
		Active:            true,
		ExpiresAt:         baseTime().Add(time.Hour),
		AccessSignature:   "access-of-" + sig,
	}
}

// mustGetToken returns the token or fails the test now.
func mustGetToken(t *testing.T, ctx context.Context, s storage.Store, kind storage.TokenKind, sig string) *storage.Token {
	t.Helper()
	tok, err := s.GetToken(ctx, kind, sig)
	noErr(t, err, fmt.Sprintf("GetToken(%s, %q)", kind, sig))
	return tok
}

// mustGetClient returns the client or fails the test now.
func mustGetClient(t *testing.T, ctx context.Context, s storage.Store, id string) *storage.Client {
	t.Helper()
	c, err := s.GetClient(ctx, id)
	noErr(t, err, fmt.Sprintf("GetClient(%q)", id))
	return c
}

// mustGetJTI returns the expiry of jti or fails the test now.
func mustGetJTI(t *testing.T, ctx context.Context, s storage.Store, jti string) time.Time {
	t.Helper()
	exp, err := s.GetClientAssertionJTI(ctx, jti)
	noErr(t, err, fmt.Sprintf("GetClientAssertionJTI(%q)", jti))
	return exp
}

// beginTX starts a transaction that is rolled back when the test ends unless
// it was committed or rolled back before, so that a failing check never
// leaves a transaction (and its locks and connection) open.
func beginTX(t *testing.T, ctx context.Context, s storage.Store) context.Context {
	t.Helper()
	tx, err := s.BeginTX(ctx)
	noErr(t, err, "BeginTX")
	t.Cleanup(func() { _ = s.Rollback(tx) }) // an error once the tx has ended
	return tx
}

func userIDs(us []storage.User) []string {
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

func usernames(us []storage.User) []string {
	names := make([]string, len(us))
	for i, u := range us {
		names[i] = u.Username
	}
	return names
}

func roleNames(rs []storage.Role) []string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	return names
}

func scopeNames(ss []storage.Scope) []string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Name
	}
	return names
}

// mustGetUser returns the user or fails the test now.
func mustGetUser(t *testing.T, ctx context.Context, s storage.Store, id string) *storage.User {
	t.Helper()
	u, err := s.GetUser(ctx, id)
	noErr(t, err, fmt.Sprintf("GetUser(%q)", id))
	return u
}

// mustGetRole returns the role or fails the test now.
func mustGetRole(t *testing.T, ctx context.Context, s storage.Store, name string) *storage.Role {
	t.Helper()
	r, err := s.GetRole(ctx, name)
	noErr(t, err, fmt.Sprintf("GetRole(%q)", name))
	return r
}

// mustGetScope returns the scope or fails the test now.
func mustGetScope(t *testing.T, ctx context.Context, s storage.Store, name string) *storage.Scope {
	t.Helper()
	sc, err := s.GetScope(ctx, name)
	noErr(t, err, fmt.Sprintf("GetScope(%q)", name))
	return sc
}

// mustGetBrowserSessionBySID returns the session or fails the test now.
func mustGetBrowserSessionBySID(t *testing.T, ctx context.Context, s storage.Store, sid string) *storage.BrowserSession {
	t.Helper()
	bs, err := s.GetBrowserSessionBySID(ctx, sid)
	noErr(t, err, fmt.Sprintf("GetBrowserSessionBySID(%q)", sid))
	return bs
}

// mustGetBrowserSession returns the session or fails the test now.
func mustGetBrowserSession(t *testing.T, ctx context.Context, s storage.Store, id string) *storage.BrowserSession {
	t.Helper()
	bs, err := s.GetBrowserSession(ctx, id)
	noErr(t, err, fmt.Sprintf("GetBrowserSession(%q)", id))
	return bs
}

// mustGetConsent returns the consent or fails the test now.
func mustGetConsent(t *testing.T, ctx context.Context, s storage.Store, userID, clientID string) *storage.Consent {
	t.Helper()
	c, err := s.GetConsent(ctx, userID, clientID)
	noErr(t, err, fmt.Sprintf("GetConsent(%q, %q)", userID, clientID))
	return c
}

// mustGetAuthRequest returns the request or fails the test now.
func mustGetAuthRequest(t *testing.T, ctx context.Context, s storage.Store, id string) *storage.AuthRequest {
	t.Helper()
	r, err := s.GetAuthRequest(ctx, id)
	noErr(t, err, fmt.Sprintf("GetAuthRequest(%q)", id))
	return r
}

// mustListUsers returns every user or fails the test now.
func mustListUsers(t *testing.T, ctx context.Context, s storage.Store) []storage.User {
	t.Helper()
	us, err := s.ListUsers(ctx)
	noErr(t, err, "ListUsers")
	return us
}

// mustCreateRoles creates roles with only a name, or fails the test now.
func mustCreateRoles(t *testing.T, ctx context.Context, s storage.Store, names ...string) {
	t.Helper()
	for _, n := range names {
		noErr(t, s.CreateRole(ctx, &storage.Role{Name: n}), fmt.Sprintf("CreateRole(%q)", n))
	}
}

// mustCreateUser creates a user with id, username "name-"+id and roles, or
// fails the test now.
func mustCreateUser(t *testing.T, ctx context.Context, s storage.Store, id string, roles ...string) *storage.User {
	t.Helper()
	u := &storage.User{ID: id, Username: "name-" + id, Roles: roles}
	noErr(t, s.CreateUser(ctx, u), fmt.Sprintf("CreateUser(%q)", id))
	return u
}

// notFound fails the test (and goes on) unless err matches
// storage.ErrNotFound.
func notFound(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("%s: got error %v, want one matching %v", what, err, storage.ErrNotFound)
	}
}
