package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// diff collects field differences between a wanted and a got value.
type diff []string

func (d *diff) str(field, want, got string) {
	if want != got {
		*d = append(*d, fmt.Sprintf("%s: got %q, want %q", field, got, want))
	}
}

func (d *diff) boolean(field string, want, got bool) {
	if want != got {
		*d = append(*d, fmt.Sprintf("%s: got %v, want %v", field, got, want))
	}
}

// strs compares lists, treating nil and empty as equal.
func (d *diff) strs(field string, want, got []string) {
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !slices.Equal(want, got) {
		*d = append(*d, fmt.Sprintf("%s: got %q, want %q", field, got, want))
	}
}

// bytes compares byte slices, treating nil and empty as equal.
func (d *diff) bytes(field string, want, got []byte) {
	if !bytes.Equal(want, got) {
		*d = append(*d, fmt.Sprintf("%s: got %x, want %x", field, got, want))
	}
}

// time checks that got is what a backend must return for want: the same
// instant truncated to the microsecond, in UTC.
func (d *diff) time(field string, want, got time.Time) {
	w := stored(want)
	if !got.Equal(w) || got.IsZero() != w.IsZero() {
		*d = append(*d, fmt.Sprintf("%s: got %v, want %v", field, got, w))
	}
	if got.Location() != time.UTC {
		*d = append(*d, fmt.Sprintf("%s: got location %v, want UTC", field, got.Location()))
	}
}

// report fails the test (and goes on) for every collected difference.
func (d diff) report(t *testing.T, what string) {
	t.Helper()
	if len(d) > 0 {
		t.Errorf("%s differs:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

func checkClient(t *testing.T, what string, want, got *storage.Client) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil client", what)
	}
	var d diff
	d.str("ID", want.ID, got.ID)
	d.bytes("SecretHash", want.SecretHash, got.SecretHash)
	d.str("Name", want.Name, got.Name)
	d.strs("RedirectURIs", want.RedirectURIs, got.RedirectURIs)
	d.strs("PostLogoutRedirectURIs", want.PostLogoutRedirectURIs, got.PostLogoutRedirectURIs)
	d.strs("GrantTypes", want.GrantTypes, got.GrantTypes)
	d.strs("ResponseTypes", want.ResponseTypes, got.ResponseTypes)
	d.strs("Scopes", want.Scopes, got.Scopes)
	d.strs("Audience", want.Audience, got.Audience)
	d.str("TokenEndpointAuthMethod", want.TokenEndpointAuthMethod, got.TokenEndpointAuthMethod)
	d.boolean("SkipConsent", want.SkipConsent, got.SkipConsent)
	d.strs("ResourceServers", want.ResourceServers, got.ResourceServers)
	d.boolean("PKCEOptional", want.PKCEOptional, got.PKCEOptional)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.time("UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	d.report(t, what)
}

func checkToken(t *testing.T, what string, want, got *storage.Token) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil token", what)
	}
	var d diff
	d.str("Kind", string(want.Kind), string(got.Kind))
	d.str("Signature", want.Signature, got.Signature)
	d.str("RequestID", want.RequestID, got.RequestID)
	d.time("RequestedAt", want.RequestedAt, got.RequestedAt)
	d.str("ClientID", want.ClientID, got.ClientID)
	d.str("Subject", want.Subject, got.Subject)
	d.strs("RequestedScopes", want.RequestedScopes, got.RequestedScopes)
	d.strs("GrantedScopes", want.GrantedScopes, got.GrantedScopes)
	d.strs("RequestedAudience", want.RequestedAudience, got.RequestedAudience)
	d.strs("GrantedAudience", want.GrantedAudience, got.GrantedAudience)
	d.str("Form", want.Form, got.Form)
	d.bytes("Session", want.Session, got.Session)
	d.boolean("Active", want.Active, got.Active)
	d.time("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	d.str("AccessSignature", want.AccessSignature, got.AccessSignature)
	d.report(t, what)
}

func checkKey(t *testing.T, what string, want, got *storage.Key) {
	t.Helper()
	var d diff
	d.str("ID", want.ID, got.ID)
	d.str("Algorithm", want.Algorithm, got.Algorithm)
	d.str("State", string(want.State), string(got.State))
	d.bytes("PublicJWK", want.PublicJWK, got.PublicJWK)
	d.bytes("PrivateEncrypted", want.PrivateEncrypted, got.PrivateEncrypted)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.time("ActivatesAt", want.ActivatesAt, got.ActivatesAt)
	d.time("RetiresAt", want.RetiresAt, got.RetiresAt)
	d.time("RemovesAt", want.RemovesAt, got.RemovesAt)
	d.report(t, what)
}

// checkKeys compares a ListKeys result with want, in order.
func checkKeys(t *testing.T, what string, want []storage.Key, got []storage.Key) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d keys %v, want %d %v", what, len(got), keyIDs(got), len(want), keyIDs(want))
	}
	for i := range want {
		checkKey(t, fmt.Sprintf("%s[%d]", what, i), &want[i], &got[i])
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

func checkUser(t *testing.T, what string, want, got *storage.User) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil user", what)
	}
	var d diff
	d.str("ID", want.ID, got.ID)
	d.str("Username", want.Username, got.Username)
	d.str("PasswordHash", want.PasswordHash, got.PasswordHash)
	d.str("Email", want.Email, got.Email)
	d.boolean("EmailVerified", want.EmailVerified, got.EmailVerified)
	d.str("Name", want.Name, got.Name)
	d.strs("Roles", want.Roles, got.Roles)
	d.boolean("Disabled", want.Disabled, got.Disabled)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.time("UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	d.report(t, what)
}

func checkRole(t *testing.T, what string, want, got *storage.Role) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil role", what)
	}
	var d diff
	d.str("Name", want.Name, got.Name)
	d.str("Description", want.Description, got.Description)
	d.strs("Scopes", want.Scopes, got.Scopes)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.time("UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	d.report(t, what)
}

func checkScope(t *testing.T, what string, want, got *storage.Scope) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil scope", what)
	}
	var d diff
	d.str("Name", want.Name, got.Name)
	d.str("Description", want.Description, got.Description)
	d.str("Audience", want.Audience, got.Audience)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.time("UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	d.report(t, what)
}

func checkBrowserSession(t *testing.T, what string, want, got *storage.BrowserSession) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil browser session", what)
	}
	var d diff
	d.str("ID", want.ID, got.ID)
	d.str("UserID", want.UserID, got.UserID)
	d.str("SID", want.SID, got.SID)
	d.time("AuthTime", want.AuthTime, got.AuthTime)
	d.time("LastSeenAt", want.LastSeenAt, got.LastSeenAt)
	d.time("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.report(t, what)
}

func checkConsent(t *testing.T, what string, want, got *storage.Consent) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil consent", what)
	}
	var d diff
	d.str("UserID", want.UserID, got.UserID)
	d.str("ClientID", want.ClientID, got.ClientID)
	d.strs("Scopes", want.Scopes, got.Scopes)
	d.time("GrantedAt", want.GrantedAt, got.GrantedAt)
	d.report(t, what)
}

func checkAuthRequest(t *testing.T, what string, want, got *storage.AuthRequest) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil auth request", what)
	}
	var d diff
	d.str("ID", want.ID, got.ID)
	d.str("Query", want.Query, got.Query)
	d.time("RequestedAt", want.RequestedAt, got.RequestedAt)
	d.bytes("BrowserBinding", want.BrowserBinding, got.BrowserBinding)
	d.str("UserID", want.UserID, got.UserID)
	d.time("AuthTime", want.AuthTime, got.AuthTime)
	d.time("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	d.report(t, what)
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
