package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// Second factors: a user's TOTP authenticator (replay refused through
// LastStep), recovery codes (each used once), the amr of sessions and
// pending requests, and require_mfa on roles.

func testMFA(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, "user-1")
	mustCreateUser(t, ctx, s, "user-2")

	_, err := s.GetTOTP(ctx, "user-1")
	notFound(t, err, "GetTOTP without an authenticator")
	notFound(t, s.UseTOTPStep(ctx, "user-1", 5), "UseTOTPStep without an authenticator")
	errIs(t, s.PutTOTP(ctx, &storage.TOTP{UserID: "nobody", Secret: []byte("x")}), storage.ErrInvalidReference, "PutTOTP of an unknown user")

	totp := &storage.TOTP{UserID: "user-1", Secret: []byte{0, 1, 2, 0xff}, LastStep: 100, CreatedAt: baseTime()}
	noErr(t, s.PutTOTP(ctx, totp), "PutTOTP")
	check(t, "GetTOTP", totp, mustGet(t, func() (*storage.TOTP, error) { return s.GetTOTP(ctx, "user-1") }))
	errIs(t, s.UseTOTPStep(ctx, "user-1", 100), storage.ErrConflict, "UseTOTPStep of the last step (replay)")
	errIs(t, s.UseTOTPStep(ctx, "user-1", 99), storage.ErrConflict, "UseTOTPStep of an earlier step")
	noErr(t, s.UseTOTPStep(ctx, "user-1", 101), "UseTOTPStep of a later step")
	errIs(t, s.UseTOTPStep(ctx, "user-1", 101), storage.ErrConflict, "UseTOTPStep of the same step twice")
	totp.LastStep = 101
	check(t, "GetTOTP after use", totp, mustGet(t, func() (*storage.TOTP, error) { return s.GetTOTP(ctx, "user-1") }))
	// A new key-encryption secret re-seals the secret, keeping the step.
	noErr(t, s.SetTOTPSecret(ctx, "user-1", []byte("resealed")), "SetTOTPSecret")
	notFound(t, s.SetTOTPSecret(ctx, "user-2", []byte("x")), "SetTOTPSecret without an authenticator")
	totp.Secret = []byte("resealed")
	list, err := s.ListTOTP(ctx)
	noErr(t, err, "ListTOTP")
	check(t, "ListTOTP", []storage.TOTP{*totp}, list)
	// Re-enrolment replaces the secret and its steps.
	repl := &storage.TOTP{UserID: "user-1", Secret: []byte("new"), LastStep: 7, CreatedAt: baseTime().Add(time.Hour)}
	noErr(t, s.PutTOTP(ctx, repl), "PutTOTP again")
	check(t, "GetTOTP after re-enrolment", repl, mustGet(t, func() (*storage.TOTP, error) { return s.GetTOTP(ctx, "user-1") }))

	// Recovery codes: replaced as a set, each used once.
	noErr(t, s.PutRecoveryCodes(ctx, "user-1", []string{"d1", "d2", "d3"}), "PutRecoveryCodes")
	noErr(t, s.PutRecoveryCodes(ctx, "user-2", []string{"d1"}), "PutRecoveryCodes of user-2")
	countIs(t, ctx, s, "user-1", 3)
	noErr(t, s.UseRecoveryCode(ctx, "user-1", "d2"), "UseRecoveryCode")
	notFound(t, s.UseRecoveryCode(ctx, "user-1", "d2"), "UseRecoveryCode twice")
	notFound(t, s.UseRecoveryCode(ctx, "user-1", "unknown"), "UseRecoveryCode of an unknown code")
	countIs(t, ctx, s, "user-1", 2)
	countIs(t, ctx, s, "user-2", 1)
	noErr(t, s.PutRecoveryCodes(ctx, "user-1", []string{"e1"}), "PutRecoveryCodes again")
	notFound(t, s.UseRecoveryCode(ctx, "user-1", "d1"), "UseRecoveryCode of a replaced code")
	countIs(t, ctx, s, "user-1", 1)

	// First codes: stored only while the user has none left.
	put, err := s.PutRecoveryCodesIfNone(ctx, "user-1", []string{"f1", "f2"})
	noErr(t, err, "PutRecoveryCodesIfNone with a code left")
	if put {
		t.Error("PutRecoveryCodesIfNone with a code left = true, want false")
	}
	countIs(t, ctx, s, "user-1", 1)
	notFound(t, s.UseRecoveryCode(ctx, "user-1", "f1"), "UseRecoveryCode of a code not stored")
	noErr(t, s.UseRecoveryCode(ctx, "user-1", "e1"), "UseRecoveryCode of the last code")
	put, err = s.PutRecoveryCodesIfNone(ctx, "user-1", []string{"f1", "f2"})
	noErr(t, err, "PutRecoveryCodesIfNone with none left")
	if !put {
		t.Error("PutRecoveryCodesIfNone with none left = false, want true")
	}
	countIs(t, ctx, s, "user-1", 2)
	noErr(t, s.UseRecoveryCode(ctx, "user-1", "f2"), "UseRecoveryCode of a first code")
	put, err = s.PutRecoveryCodesIfNone(ctx, "nobody", []string{"g1"})
	errIs(t, err, storage.ErrInvalidReference, "PutRecoveryCodesIfNone of an unknown user")
	if put {
		t.Error("PutRecoveryCodesIfNone of an unknown user = true, want false")
	}
	countIs(t, ctx, s, "nobody", 0)

	// Resetting factors leaves other users' alone.
	noErr(t, s.DeleteUserFactors(ctx, "user-1"), "DeleteUserFactors")
	noErr(t, s.DeleteUserFactors(ctx, "user-1"), "DeleteUserFactors again")
	_, err = s.GetTOTP(ctx, "user-1")
	notFound(t, err, "GetTOTP after reset")
	countIs(t, ctx, s, "user-1", 0)
	countIs(t, ctx, s, "user-2", 1)

	// Deleting the user deletes their factors.
	noErr(t, s.PutTOTP(ctx, &storage.TOTP{UserID: "user-2", Secret: []byte("s")}), "PutTOTP of user-2")
	noErr(t, s.DeleteUser(ctx, "user-2"), "DeleteUser")
	_, err = s.GetTOTP(ctx, "user-2")
	notFound(t, err, "GetTOTP of a deleted user")
	countIs(t, ctx, s, "user-2", 0)

	// amr of sessions and pending requests.
	bs := &storage.BrowserSession{ID: "s-1", UserID: "user-1", SID: "sid-1", AuthTime: baseTime(), LastSeenAt: baseTime(),
		ExpiresAt: baseTime().Add(time.Hour), CreatedAt: baseTime(), AMR: []string{"pwd"}}
	noErr(t, s.CreateBrowserSession(ctx, bs), "CreateBrowserSession with amr")
	check(t, "GetBrowserSession with amr", bs, mustGetBrowserSession(t, ctx, s, "s-1"))
	noErr(t, s.SetBrowserSessionAMR(ctx, "s-1", []string{"pwd", "otp", "mfa"}), "SetBrowserSessionAMR")
	bs.AMR = []string{"pwd", "otp", "mfa"}
	check(t, "GetBrowserSession after SetBrowserSessionAMR", bs, mustGetBrowserSession(t, ctx, s, "s-1"))
	notFound(t, s.SetBrowserSessionAMR(ctx, "nope", []string{"pwd"}), "SetBrowserSessionAMR of an unknown session")

	ar := &storage.AuthRequest{ID: "ar-1", Query: "a=b", RequestedAt: baseTime(), ExpiresAt: baseTime().Add(time.Hour)}
	noErr(t, s.CreateAuthRequest(ctx, ar), "CreateAuthRequest")
	check(t, "GetAuthRequest without amr", ar, mustGetAuthRequest(t, ctx, s, "ar-1"))
	// A request nobody signed in for yet takes no factor.
	notFound(t, s.SetAuthRequestAMR(ctx, "ar-1", "user-1", []string{"pwd", "otp", "mfa"}), "SetAuthRequestAMR of a request without a login")
	check(t, "GetAuthRequest after SetAuthRequestAMR without a login", ar, mustGetAuthRequest(t, ctx, s, "ar-1"))
	noErr(t, s.SetAuthRequestLogin(ctx, "ar-1", "user-1", baseTime(), []string{"pwd"}), "SetAuthRequestLogin")
	noErr(t, s.SetAuthRequestAMR(ctx, "ar-1", "user-1", []string{"pwd", "otp", "mfa"}), "SetAuthRequestAMR")
	ar.UserID, ar.AuthTime, ar.AMR = "user-1", baseTime(), []string{"pwd", "otp", "mfa"}
	check(t, "GetAuthRequest with amr", ar, mustGetAuthRequest(t, ctx, s, "ar-1"))
	// Another user's login replaced user-1's: user-1's factor is not
	// recorded on it.
	mustCreateUser(t, ctx, s, "user-3")
	noErr(t, s.SetAuthRequestLogin(ctx, "ar-1", "user-3", baseTime(), []string{"pwd"}), "SetAuthRequestLogin of another user")
	notFound(t, s.SetAuthRequestAMR(ctx, "ar-1", "user-1", []string{"pwd", "otp", "mfa"}), "SetAuthRequestAMR for a login replaced by another user's")
	ar.UserID, ar.AMR = "user-3", []string{"pwd"}
	check(t, "GetAuthRequest after a refused SetAuthRequestAMR", ar, mustGetAuthRequest(t, ctx, s, "ar-1"))
	notFound(t, s.SetAuthRequestAMR(ctx, "nope", "user-1", nil), "SetAuthRequestAMR of an unknown request")

	// require_mfa on roles.
	r := &storage.Role{Name: "teacher", Scopes: []string{"a"}, RequireMFA: true, CreatedAt: baseTime(), UpdatedAt: baseTime()}
	noErr(t, s.CreateRole(ctx, r), "CreateRole with RequireMFA")
	check(t, "GetRole with RequireMFA", r, mustGetRole(t, ctx, s, "teacher"))
	r.RequireMFA = false
	noErr(t, s.UpdateRole(ctx, r), "UpdateRole clearing RequireMFA")
	check(t, "GetRole after UpdateRole", r, mustGetRole(t, ctx, s, "teacher"))
}

func countIs(t *testing.T, ctx context.Context, s storage.Store, userID string, want int) {
	t.Helper()
	n, err := s.CountRecoveryCodes(ctx, userID)
	noErr(t, err, "CountRecoveryCodes")
	if n != want {
		t.Errorf("CountRecoveryCodes(%s) = %d, want %d", userID, n, want)
	}
}
