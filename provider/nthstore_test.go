package provider_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// nthStore is the store that fails where a database would, for the
// tests of what hallpass does then. It fails calls in one of two ways:
//
//   - by position (arm): the Nth call made for an HTTP request (one whose
//     context carries a request id) fails, while armed; with sticky, every
//     call from the Nth on, as a database that went away and stays away
//     does. Arming it for N = 1, 2, … walks one request through a failure
//     at each store call it makes in turn, without a test having to know
//     which calls those are (the failure sweeps). Calls of the server's
//     own loops (housekeeping, the key manager, the caches) carry no
//     request id and are neither counted nor failed.
//   - by name: the calls of the methods named in failOn fail while fail
//     is above zero (each failing call counts it down), whoever makes
//     them, for a test that knows the one call to fail; with cut set,
//     cut is called instead and the call goes on to the database cut off.
//
// A failing call answers as a database that went away does
// (storage.ErrUnavailable, "injected connection reset"), or with err when
// set; with hangs it first waits for its context to end, as a database
// that stopped answering (the request runs out of its time); with panics
// it panics with its error instead, as a bug would.
type nthStore struct {
	storage.Store

	failOn []string
	fail   atomic.Int32
	err    error
	hangs  atomic.Bool
	panics atomic.Bool

	mu     sync.Mutex
	failAt int // 0: disarmed
	sticky bool
	// cut, when set, is called at the failing call instead of failing
	// it, which then goes on to the database: cut makes the database
	// itself go away (a proxy cut), so the call meets a real outage.
	cut    func()
	calls  []string // the calls counted since arming
	failed string   // the first call that failed
}

// arm makes the nth call from now fail (and, with sticky, every later
// one).
func (s *nthStore) arm(n int, sticky bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAt, s.sticky, s.calls, s.failed = n, sticky, nil, ""
}

// disarm stops failing calls and returns the calls counted since arm and
// the one that failed first ("" when the request made fewer than n).
func (s *nthStore) disarm() (calls []string, failed string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAt = 0
	return s.calls, s.failed
}

// call is the error the method op answers with now, nil when it is to
// reach the store.
func (s *nthStore) call(ctx context.Context, op string) error {
	if slices.Contains(s.failOn, op) && s.fail.Add(-1) >= 0 {
		if s.cut != nil {
			s.cut()
			return nil
		}
		return s.failure(ctx, op)
	}
	if !s.nth(op, provider.RequestID(ctx) != "") {
		return nil
	}
	return s.failure(ctx, op)
}

// nth counts a call of a request's and reports whether it is one that
// arm made fail; a call the cut is made at goes on to the database.
func (s *nthStore) nth(op string, ofRequest bool) bool {
	if !ofRequest {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAt == 0 {
		return false
	}
	s.calls = append(s.calls, op)
	n := len(s.calls)
	if n < s.failAt || (n > s.failAt && !s.sticky) {
		return false
	}
	if s.failed == "" {
		s.failed = op
	}
	if s.cut != nil {
		if n == s.failAt {
			s.cut()
		}
		return false
	}
	return true
}

// failure fails the call of op as the store is set to.
func (s *nthStore) failure(ctx context.Context, op string) error {
	err := fmt.Errorf("%s: %w: injected connection reset", op, storage.ErrUnavailable)
	if s.err != nil {
		err = fmt.Errorf("%s: %w", op, s.err)
	}
	if s.hangs.Load() {
		<-ctx.Done()
		err = fmt.Errorf("%s: %w: %w", op, storage.ErrUnavailable, ctx.Err())
	}
	if s.panics.Load() {
		panic(err)
	}
	return err
}

// What follows wraps every method of storage.Store but Close and
// AfterCommit, which cannot fail.

func (s *nthStore) AccessTokenState(ctx context.Context, a1 []string, a2 string) (storage.AccessTokenState, error) {
	if err := s.call(ctx, "AccessTokenState"); err != nil {
		return storage.AccessTokenState{}, err
	}
	return s.Store.AccessTokenState(ctx, a1, a2)
}

func (s *nthStore) AppendAudit(ctx context.Context, a1 *storage.AuditEntry, a2 func(*storage.AuditEntry) string) error {
	if err := s.call(ctx, "AppendAudit"); err != nil {
		return err
	}
	return s.Store.AppendAudit(ctx, a1, a2)
}

func (s *nthStore) AuditHead(ctx context.Context) (int64, string, error) {
	if err := s.call(ctx, "AuditHead"); err != nil {
		return 0, "", err
	}
	return s.Store.AuditHead(ctx)
}

func (s *nthStore) BeginTX(ctx context.Context) (context.Context, error) {
	if err := s.call(ctx, "BeginTX"); err != nil {
		return nil, err
	}
	return s.Store.BeginTX(ctx)
}

func (s *nthStore) ClaimLogoutNotices(ctx context.Context, a1 time.Time, a2 time.Duration, a3 int) ([]storage.LogoutNotice, error) {
	if err := s.call(ctx, "ClaimLogoutNotices"); err != nil {
		return nil, err
	}
	return s.Store.ClaimLogoutNotices(ctx, a1, a2, a3)
}

func (s *nthStore) Commit(ctx context.Context) error {
	if err := s.call(ctx, "Commit"); err != nil {
		return err
	}
	return s.Store.Commit(ctx)
}

func (s *nthStore) ConfirmUserCredential(ctx context.Context, a1 string, a2 string) error {
	if err := s.call(ctx, "ConfirmUserCredential"); err != nil {
		return err
	}
	return s.Store.ConfirmUserCredential(ctx, a1, a2)
}

func (s *nthStore) CountRecoveryCodes(ctx context.Context, a1 string) (int, error) {
	if err := s.call(ctx, "CountRecoveryCodes"); err != nil {
		return 0, err
	}
	return s.Store.CountRecoveryCodes(ctx, a1)
}

func (s *nthStore) CreateAuditCheckpoint(ctx context.Context, a1 *storage.AuditCheckpoint) error {
	if err := s.call(ctx, "CreateAuditCheckpoint"); err != nil {
		return err
	}
	return s.Store.CreateAuditCheckpoint(ctx, a1)
}

func (s *nthStore) CreateAuthRequest(ctx context.Context, a1 *storage.AuthRequest) error {
	if err := s.call(ctx, "CreateAuthRequest"); err != nil {
		return err
	}
	return s.Store.CreateAuthRequest(ctx, a1)
}

func (s *nthStore) CreateBrowserSession(ctx context.Context, a1 *storage.BrowserSession) error {
	if err := s.call(ctx, "CreateBrowserSession"); err != nil {
		return err
	}
	return s.Store.CreateBrowserSession(ctx, a1)
}

func (s *nthStore) CreateClient(ctx context.Context, a1 *storage.Client) error {
	if err := s.call(ctx, "CreateClient"); err != nil {
		return err
	}
	return s.Store.CreateClient(ctx, a1)
}

func (s *nthStore) CreateKey(ctx context.Context, a1 *storage.Key) error {
	if err := s.call(ctx, "CreateKey"); err != nil {
		return err
	}
	return s.Store.CreateKey(ctx, a1)
}

func (s *nthStore) CreatePasskey(ctx context.Context, a1 *storage.Passkey) error {
	if err := s.call(ctx, "CreatePasskey"); err != nil {
		return err
	}
	return s.Store.CreatePasskey(ctx, a1)
}

func (s *nthStore) CreateRole(ctx context.Context, a1 *storage.Role) error {
	if err := s.call(ctx, "CreateRole"); err != nil {
		return err
	}
	return s.Store.CreateRole(ctx, a1)
}

func (s *nthStore) CreateScope(ctx context.Context, a1 *storage.Scope) error {
	if err := s.call(ctx, "CreateScope"); err != nil {
		return err
	}
	return s.Store.CreateScope(ctx, a1)
}

func (s *nthStore) CreateSetting(ctx context.Context, a1 string, a2 []uint8) error {
	if err := s.call(ctx, "CreateSetting"); err != nil {
		return err
	}
	return s.Store.CreateSetting(ctx, a1, a2)
}

func (s *nthStore) CreateToken(ctx context.Context, a1 *storage.Token) error {
	if err := s.call(ctx, "CreateToken"); err != nil {
		return err
	}
	return s.Store.CreateToken(ctx, a1)
}

func (s *nthStore) CreateTokens(ctx context.Context, a1 []*storage.Token) error {
	if err := s.call(ctx, "CreateTokens"); err != nil {
		return err
	}
	return s.Store.CreateTokens(ctx, a1)
}

func (s *nthStore) CreateTokensTouching(ctx context.Context, a1 []*storage.Token, a2 string, a3 time.Time) error {
	if err := s.call(ctx, "CreateTokensTouching"); err != nil {
		return err
	}
	return s.Store.CreateTokensTouching(ctx, a1, a2, a3)
}

func (s *nthStore) CreateUser(ctx context.Context, a1 *storage.User) error {
	if err := s.call(ctx, "CreateUser"); err != nil {
		return err
	}
	return s.Store.CreateUser(ctx, a1)
}

func (s *nthStore) DeactivateToken(ctx context.Context, a1 storage.TokenKind, a2 string) error {
	if err := s.call(ctx, "DeactivateToken"); err != nil {
		return err
	}
	return s.Store.DeactivateToken(ctx, a1, a2)
}

func (s *nthStore) DeactivateTokenAtEpoch(ctx context.Context, a1 storage.TokenKind, a2 string, a3 int64) error {
	if err := s.call(ctx, "DeactivateTokenAtEpoch"); err != nil {
		return err
	}
	return s.Store.DeactivateTokenAtEpoch(ctx, a1, a2, a3)
}

func (s *nthStore) DeactivateTokensByRequest(ctx context.Context, a1 storage.TokenKind, a2 string) error {
	if err := s.call(ctx, "DeactivateTokensByRequest"); err != nil {
		return err
	}
	return s.Store.DeactivateTokensByRequest(ctx, a1, a2)
}

func (s *nthStore) HasActiveToken(ctx context.Context, a1 storage.TokenKind, a2 string) (bool, error) {
	if err := s.call(ctx, "HasActiveToken"); err != nil {
		return false, err
	}
	return s.Store.HasActiveToken(ctx, a1, a2)
}

func (s *nthStore) ConfirmConsent(ctx context.Context, a1, a2 string, a3 []string) error {
	if err := s.call(ctx, "ConfirmConsent"); err != nil {
		return err
	}
	return s.Store.ConfirmConsent(ctx, a1, a2, a3)
}

func (s *nthStore) HasTokenAfter(ctx context.Context, a1 storage.TokenKind, a2 string, a3 time.Time) (bool, error) {
	if err := s.call(ctx, "HasTokenAfter"); err != nil {
		return false, err
	}
	return s.Store.HasTokenAfter(ctx, a1, a2, a3)
}

func (s *nthStore) DeleteAuthRequest(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "DeleteAuthRequest"); err != nil {
		return err
	}
	return s.Store.DeleteAuthRequest(ctx, a1)
}

func (s *nthStore) DeleteBrowserSession(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "DeleteBrowserSession"); err != nil {
		return err
	}
	return s.Store.DeleteBrowserSession(ctx, a1)
}

func (s *nthStore) DeleteClient(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "DeleteClient"); err != nil {
		return err
	}
	return s.Store.DeleteClient(ctx, a1)
}

func (s *nthStore) DeleteConsent(ctx context.Context, a1 string, a2 string) error {
	if err := s.call(ctx, "DeleteConsent"); err != nil {
		return err
	}
	return s.Store.DeleteConsent(ctx, a1, a2)
}

func (s *nthStore) DeleteExpired(ctx context.Context, a1 time.Time, a2 int) (int, error) {
	if err := s.call(ctx, "DeleteExpired"); err != nil {
		return 0, err
	}
	return s.Store.DeleteExpired(ctx, a1, a2)
}

func (s *nthStore) DeleteKey(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "DeleteKey"); err != nil {
		return err
	}
	return s.Store.DeleteKey(ctx, a1)
}

func (s *nthStore) DeletePasskey(ctx context.Context, a1 string, a2 string) error {
	if err := s.call(ctx, "DeletePasskey"); err != nil {
		return err
	}
	return s.Store.DeletePasskey(ctx, a1, a2)
}

func (s *nthStore) DeleteRole(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "DeleteRole"); err != nil {
		return err
	}
	return s.Store.DeleteRole(ctx, a1)
}

func (s *nthStore) RoleHolders(ctx context.Context, a1 string, a2 int) ([]string, int, error) {
	if err := s.call(ctx, "RoleHolders"); err != nil {
		return nil, 0, err
	}
	return s.Store.RoleHolders(ctx, a1, a2)
}

func (s *nthStore) DeleteScope(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "DeleteScope"); err != nil {
		return err
	}
	return s.Store.DeleteScope(ctx, a1)
}

func (s *nthStore) DeleteToken(ctx context.Context, a1 storage.TokenKind, a2 string) error {
	if err := s.call(ctx, "DeleteToken"); err != nil {
		return err
	}
	return s.Store.DeleteToken(ctx, a1, a2)
}

func (s *nthStore) DeleteTokensByRequest(ctx context.Context, a1 storage.TokenKind, a2 string) error {
	if err := s.call(ctx, "DeleteTokensByRequest"); err != nil {
		return err
	}
	return s.Store.DeleteTokensByRequest(ctx, a1, a2)
}

func (s *nthStore) DeleteUser(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "DeleteUser"); err != nil {
		return err
	}
	return s.Store.DeleteUser(ctx, a1)
}

func (s *nthStore) DeleteUserBrowserSessions(ctx context.Context, a1 string, a2 string) error {
	if err := s.call(ctx, "DeleteUserBrowserSessions"); err != nil {
		return err
	}
	return s.Store.DeleteUserBrowserSessions(ctx, a1, a2)
}

func (s *nthStore) DeleteUserFactors(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "DeleteUserFactors"); err != nil {
		return err
	}
	return s.Store.DeleteUserFactors(ctx, a1)
}

func (s *nthStore) FindUsersByUsernameFold(ctx context.Context, a1 string) ([]storage.User, error) {
	if err := s.call(ctx, "FindUsersByUsernameFold"); err != nil {
		return nil, err
	}
	return s.Store.FindUsersByUsernameFold(ctx, a1)
}

func (s *nthStore) FinishLogoutNotice(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "FinishLogoutNotice"); err != nil {
		return err
	}
	return s.Store.FinishLogoutNotice(ctx, a1)
}

func (s *nthStore) GetAuthRequest(ctx context.Context, a1 string) (*storage.AuthRequest, error) {
	if err := s.call(ctx, "GetAuthRequest"); err != nil {
		return nil, err
	}
	return s.Store.GetAuthRequest(ctx, a1)
}

func (s *nthStore) GetBrowserSession(ctx context.Context, a1 string) (*storage.BrowserSession, error) {
	if err := s.call(ctx, "GetBrowserSession"); err != nil {
		return nil, err
	}
	return s.Store.GetBrowserSession(ctx, a1)
}

func (s *nthStore) GetBrowserSessionBySID(ctx context.Context, a1 string) (*storage.BrowserSession, error) {
	if err := s.call(ctx, "GetBrowserSessionBySID"); err != nil {
		return nil, err
	}
	return s.Store.GetBrowserSessionBySID(ctx, a1)
}

func (s *nthStore) GetClient(ctx context.Context, a1 string) (*storage.Client, error) {
	if err := s.call(ctx, "GetClient"); err != nil {
		return nil, err
	}
	return s.Store.GetClient(ctx, a1)
}

func (s *nthStore) GetClientAssertionJTI(ctx context.Context, a1 string) (time.Time, error) {
	if err := s.call(ctx, "GetClientAssertionJTI"); err != nil {
		return time.Time{}, err
	}
	return s.Store.GetClientAssertionJTI(ctx, a1)
}

func (s *nthStore) GetConsent(ctx context.Context, a1 string, a2 string) (*storage.Consent, error) {
	if err := s.call(ctx, "GetConsent"); err != nil {
		return nil, err
	}
	return s.Store.GetConsent(ctx, a1, a2)
}

func (s *nthStore) GetPasskey(ctx context.Context, a1 string) (*storage.Passkey, error) {
	if err := s.call(ctx, "GetPasskey"); err != nil {
		return nil, err
	}
	return s.Store.GetPasskey(ctx, a1)
}

func (s *nthStore) GetRole(ctx context.Context, a1 string) (*storage.Role, error) {
	if err := s.call(ctx, "GetRole"); err != nil {
		return nil, err
	}
	return s.Store.GetRole(ctx, a1)
}

func (s *nthStore) GetScope(ctx context.Context, a1 string) (*storage.Scope, error) {
	if err := s.call(ctx, "GetScope"); err != nil {
		return nil, err
	}
	return s.Store.GetScope(ctx, a1)
}

func (s *nthStore) GetSetting(ctx context.Context, a1 string) ([]uint8, error) {
	if err := s.call(ctx, "GetSetting"); err != nil {
		return nil, err
	}
	return s.Store.GetSetting(ctx, a1)
}

func (s *nthStore) GetSignedIn(ctx context.Context, a1 string, a2 string) (*storage.SignedIn, error) {
	if err := s.call(ctx, "GetSignedIn"); err != nil {
		return nil, err
	}
	return s.Store.GetSignedIn(ctx, a1, a2)
}

func (s *nthStore) GetTOTP(ctx context.Context, a1 string) (*storage.TOTP, error) {
	if err := s.call(ctx, "GetTOTP"); err != nil {
		return nil, err
	}
	return s.Store.GetTOTP(ctx, a1)
}

func (s *nthStore) GetThrottle(ctx context.Context, a1 []string) ([]storage.ThrottleEntry, error) {
	if err := s.call(ctx, "GetThrottle"); err != nil {
		return nil, err
	}
	return s.Store.GetThrottle(ctx, a1)
}

func (s *nthStore) GetToken(ctx context.Context, a1 storage.TokenKind, a2 string) (*storage.Token, error) {
	if err := s.call(ctx, "GetToken"); err != nil {
		return nil, err
	}
	return s.Store.GetToken(ctx, a1, a2)
}

func (s *nthStore) GetTokens(ctx context.Context, a1 []storage.TokenKey) ([]storage.Token, error) {
	if err := s.call(ctx, "GetTokens"); err != nil {
		return nil, err
	}
	return s.Store.GetTokens(ctx, a1)
}

func (s *nthStore) GetUser(ctx context.Context, a1 string) (*storage.User, error) {
	if err := s.call(ctx, "GetUser"); err != nil {
		return nil, err
	}
	return s.Store.GetUser(ctx, a1)
}

func (s *nthStore) GetUserByUsername(ctx context.Context, a1 string) (*storage.User, error) {
	if err := s.call(ctx, "GetUserByUsername"); err != nil {
		return nil, err
	}
	return s.Store.GetUserByUsername(ctx, a1)
}

func (s *nthStore) GetUserPasskey(ctx context.Context, a1 string, a2 string) (*storage.Passkey, error) {
	if err := s.call(ctx, "GetUserPasskey"); err != nil {
		return nil, err
	}
	return s.Store.GetUserPasskey(ctx, a1, a2)
}

func (s *nthStore) InTransaction(ctx context.Context, a1 func(context.Context) error) error {
	if err := s.call(ctx, "InTransaction"); err != nil {
		return err
	}
	return s.Store.InTransaction(ctx, a1)
}

func (s *nthStore) ListAudit(ctx context.Context, a1 storage.AuditQuery) ([]storage.AuditEntry, error) {
	if err := s.call(ctx, "ListAudit"); err != nil {
		return nil, err
	}
	return s.Store.ListAudit(ctx, a1)
}

func (s *nthStore) ListAuditCheckpoints(ctx context.Context) ([]storage.AuditCheckpoint, error) {
	if err := s.call(ctx, "ListAuditCheckpoints"); err != nil {
		return nil, err
	}
	return s.Store.ListAuditCheckpoints(ctx)
}

func (s *nthStore) ListClients(ctx context.Context) ([]storage.Client, error) {
	if err := s.call(ctx, "ListClients"); err != nil {
		return nil, err
	}
	return s.Store.ListClients(ctx)
}

func (s *nthStore) ListKeys(ctx context.Context) ([]storage.Key, error) {
	if err := s.call(ctx, "ListKeys"); err != nil {
		return nil, err
	}
	return s.Store.ListKeys(ctx)
}

func (s *nthStore) ListPasskeys(ctx context.Context, a1 string) ([]storage.Passkey, error) {
	if err := s.call(ctx, "ListPasskeys"); err != nil {
		return nil, err
	}
	return s.Store.ListPasskeys(ctx, a1)
}

func (s *nthStore) ListRoles(ctx context.Context) ([]storage.Role, error) {
	if err := s.call(ctx, "ListRoles"); err != nil {
		return nil, err
	}
	return s.Store.ListRoles(ctx)
}

func (s *nthStore) ListScopes(ctx context.Context) ([]storage.Scope, error) {
	if err := s.call(ctx, "ListScopes"); err != nil {
		return nil, err
	}
	return s.Store.ListScopes(ctx)
}

func (s *nthStore) ListTOTP(ctx context.Context) ([]storage.TOTP, error) {
	if err := s.call(ctx, "ListTOTP"); err != nil {
		return nil, err
	}
	return s.Store.ListTOTP(ctx)
}

func (s *nthStore) ListUserBrowserSessions(ctx context.Context, a1 string) ([]storage.BrowserSession, error) {
	if err := s.call(ctx, "ListUserBrowserSessions"); err != nil {
		return nil, err
	}
	return s.Store.ListUserBrowserSessions(ctx, a1)
}

func (s *nthStore) ListUserConsents(ctx context.Context, a1 string) ([]storage.Consent, error) {
	if err := s.call(ctx, "ListUserConsents"); err != nil {
		return nil, err
	}
	return s.Store.ListUserConsents(ctx, a1)
}

func (s *nthStore) ListUsers(ctx context.Context) ([]storage.User, error) {
	if err := s.call(ctx, "ListUsers"); err != nil {
		return nil, err
	}
	return s.Store.ListUsers(ctx)
}

func (s *nthStore) LockKeys(ctx context.Context) error {
	if err := s.call(ctx, "LockKeys"); err != nil {
		return err
	}
	return s.Store.LockKeys(ctx)
}

func (s *nthStore) FindRoleNamesFold(ctx context.Context, a1 string) ([]string, error) {
	if err := s.call(ctx, "FindRoleNamesFold"); err != nil {
		return nil, err
	}
	return s.Store.FindRoleNamesFold(ctx, a1)
}

func (s *nthStore) FindScopeNamesFold(ctx context.Context, a1 string) ([]string, error) {
	if err := s.call(ctx, "FindScopeNamesFold"); err != nil {
		return nil, err
	}
	return s.Store.FindScopeNamesFold(ctx, a1)
}

func (s *nthStore) FindClientIDsFold(ctx context.Context, a1 string) ([]string, error) {
	if err := s.call(ctx, "FindClientIDsFold"); err != nil {
		return nil, err
	}
	return s.Store.FindClientIDsFold(ctx, a1)
}

func (s *nthStore) LockNames(ctx context.Context) error {
	if err := s.call(ctx, "LockNames"); err != nil {
		return err
	}
	return s.Store.LockNames(ctx)
}

func (s *nthStore) LockUsernames(ctx context.Context) error {
	if err := s.call(ctx, "LockUsernames"); err != nil {
		return err
	}
	return s.Store.LockUsernames(ctx)
}

func (s *nthStore) Migrate(ctx context.Context) error {
	if err := s.call(ctx, "Migrate"); err != nil {
		return err
	}
	return s.Store.Migrate(ctx)
}

func (s *nthStore) Ping(ctx context.Context) error {
	if err := s.call(ctx, "Ping"); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

func (s *nthStore) PruneAudit(ctx context.Context, a1 int64) (int, error) {
	if err := s.call(ctx, "PruneAudit"); err != nil {
		return 0, err
	}
	return s.Store.PruneAudit(ctx, a1)
}

func (s *nthStore) PutConsent(ctx context.Context, a1 *storage.Consent) error {
	if err := s.call(ctx, "PutConsent"); err != nil {
		return err
	}
	return s.Store.PutConsent(ctx, a1)
}

func (s *nthStore) PutRecoveryCodes(ctx context.Context, a1 string, a2 []string) error {
	if err := s.call(ctx, "PutRecoveryCodes"); err != nil {
		return err
	}
	return s.Store.PutRecoveryCodes(ctx, a1, a2)
}

func (s *nthStore) PutRecoveryCodesIfNone(ctx context.Context, a1 string, a2 []string) (bool, error) {
	if err := s.call(ctx, "PutRecoveryCodesIfNone"); err != nil {
		return false, err
	}
	return s.Store.PutRecoveryCodesIfNone(ctx, a1, a2)
}

func (s *nthStore) PutSessionClient(ctx context.Context, a1 *storage.SessionClient) error {
	if err := s.call(ctx, "PutSessionClient"); err != nil {
		return err
	}
	return s.Store.PutSessionClient(ctx, a1)
}

func (s *nthStore) PutLiveSessionClient(ctx context.Context, a1 *storage.SessionClient, a2 time.Time, a3 time.Time) error {
	if err := s.call(ctx, "PutLiveSessionClient"); err != nil {
		return err
	}
	return s.Store.PutLiveSessionClient(ctx, a1, a2, a3)
}

func (s *nthStore) PutSetting(ctx context.Context, a1 string, a2 []uint8) error {
	if err := s.call(ctx, "PutSetting"); err != nil {
		return err
	}
	return s.Store.PutSetting(ctx, a1, a2)
}

func (s *nthStore) PutTOTP(ctx context.Context, a1 *storage.TOTP) error {
	if err := s.call(ctx, "PutTOTP"); err != nil {
		return err
	}
	return s.Store.PutTOTP(ctx, a1)
}

func (s *nthStore) PendingMigrations(ctx context.Context) ([]int, error) {
	if err := s.call(ctx, "PendingMigrations"); err != nil {
		return nil, err
	}
	return s.Store.PendingMigrations(ctx)
}

func (s *nthStore) RetryLogoutNotice(ctx context.Context, a1 string, a2 int, a3 bool, a4 time.Time) error {
	if err := s.call(ctx, "RetryLogoutNotice"); err != nil {
		return err
	}
	return s.Store.RetryLogoutNotice(ctx, a1, a2, a3, a4)
}

func (s *nthStore) RevokeAccess(ctx context.Context, a1 []string, a2 time.Time) error {
	if err := s.call(ctx, "RevokeAccess"); err != nil {
		return err
	}
	return s.Store.RevokeAccess(ctx, a1, a2)
}

func (s *nthStore) RevokeTokensByClient(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "RevokeTokensByClient"); err != nil {
		return err
	}
	return s.Store.RevokeTokensByClient(ctx, a1)
}

func (s *nthStore) RevokeTokensByClientSubject(ctx context.Context, a1 string, a2 string, a3 time.Time) error {
	if err := s.call(ctx, "RevokeTokensByClientSubject"); err != nil {
		return err
	}
	return s.Store.RevokeTokensByClientSubject(ctx, a1, a2, a3)
}

func (s *nthStore) RevokeTokensBySubject(ctx context.Context, a1 string) error {
	if err := s.call(ctx, "RevokeTokensBySubject"); err != nil {
		return err
	}
	return s.Store.RevokeTokensBySubject(ctx, a1)
}

func (s *nthStore) Rollback(ctx context.Context) error {
	if err := s.call(ctx, "Rollback"); err != nil {
		return err
	}
	return s.Store.Rollback(ctx)
}

func (s *nthStore) SetAuthRequestAMR(ctx context.Context, a1 string, a2 string, a3 []string) error {
	if err := s.call(ctx, "SetAuthRequestAMR"); err != nil {
		return err
	}
	return s.Store.SetAuthRequestAMR(ctx, a1, a2, a3)
}

func (s *nthStore) SetAuthRequestLogin(ctx context.Context, a1 string, a2 string, a3 time.Time, a4 []string) error {
	if err := s.call(ctx, "SetAuthRequestLogin"); err != nil {
		return err
	}
	return s.Store.SetAuthRequestLogin(ctx, a1, a2, a3, a4)
}

func (s *nthStore) SetBrowserSessionAMR(ctx context.Context, a1 string, a2 []string) error {
	if err := s.call(ctx, "SetBrowserSessionAMR"); err != nil {
		return err
	}
	return s.Store.SetBrowserSessionAMR(ctx, a1, a2)
}

func (s *nthStore) SetClientAssertionJTI(ctx context.Context, a1 string, a2 time.Time) error {
	if err := s.call(ctx, "SetClientAssertionJTI"); err != nil {
		return err
	}
	return s.Store.SetClientAssertionJTI(ctx, a1, a2)
}

func (s *nthStore) SetKeyPrivate(ctx context.Context, a1 string, a2 []uint8) error {
	if err := s.call(ctx, "SetKeyPrivate"); err != nil {
		return err
	}
	return s.Store.SetKeyPrivate(ctx, a1, a2)
}

func (s *nthStore) SetTOTPSecret(ctx context.Context, a1 string, a2 []uint8) error {
	if err := s.call(ctx, "SetTOTPSecret"); err != nil {
		return err
	}
	return s.Store.SetTOTPSecret(ctx, a1, a2)
}

func (s *nthStore) TakeSessionClients(ctx context.Context, a1 string, a2 string, a3 string) ([]storage.SessionClient, error) {
	if err := s.call(ctx, "TakeSessionClients"); err != nil {
		return nil, err
	}
	return s.Store.TakeSessionClients(ctx, a1, a2, a3)
}

func (s *nthStore) TouchBrowserSession(ctx context.Context, a1 string, a2 time.Time) error {
	if err := s.call(ctx, "TouchBrowserSession"); err != nil {
		return err
	}
	return s.Store.TouchBrowserSession(ctx, a1, a2)
}

func (s *nthStore) UpdateClient(ctx context.Context, a1 *storage.Client) error {
	if err := s.call(ctx, "UpdateClient"); err != nil {
		return err
	}
	return s.Store.UpdateClient(ctx, a1)
}

func (s *nthStore) UpdateKey(ctx context.Context, a1 *storage.Key) error {
	if err := s.call(ctx, "UpdateKey"); err != nil {
		return err
	}
	return s.Store.UpdateKey(ctx, a1)
}

func (s *nthStore) UpdateRole(ctx context.Context, a1 *storage.Role) error {
	if err := s.call(ctx, "UpdateRole"); err != nil {
		return err
	}
	return s.Store.UpdateRole(ctx, a1)
}

func (s *nthStore) UpdateScope(ctx context.Context, a1 *storage.Scope) error {
	if err := s.call(ctx, "UpdateScope"); err != nil {
		return err
	}
	return s.Store.UpdateScope(ctx, a1)
}

func (s *nthStore) UpdateThrottle(ctx context.Context, a1 []string, a2 func([]storage.ThrottleEntry) []storage.ThrottleEntry) error {
	if err := s.call(ctx, "UpdateThrottle"); err != nil {
		return err
	}
	return s.Store.UpdateThrottle(ctx, a1, a2)
}

func (s *nthStore) UpdateUser(ctx context.Context, a1 *storage.User) error {
	if err := s.call(ctx, "UpdateUser"); err != nil {
		return err
	}
	return s.Store.UpdateUser(ctx, a1)
}

func (s *nthStore) UsePasskey(ctx context.Context, a1 string, a2 uint32, a3 bool, a4 time.Time) error {
	if err := s.call(ctx, "UsePasskey"); err != nil {
		return err
	}
	return s.Store.UsePasskey(ctx, a1, a2, a3, a4)
}

func (s *nthStore) UseRecoveryCode(ctx context.Context, a1 string, a2 string) error {
	if err := s.call(ctx, "UseRecoveryCode"); err != nil {
		return err
	}
	return s.Store.UseRecoveryCode(ctx, a1, a2)
}

func (s *nthStore) UseTOTPStep(ctx context.Context, a1 string, a2 int64) error {
	if err := s.call(ctx, "UseTOTPStep"); err != nil {
		return err
	}
	return s.Store.UseTOTPStep(ctx, a1, a2)
}
