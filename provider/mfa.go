package provider

// Second factors: TOTP authenticators (RFC 6238) and recovery codes, the
// policy that requires them (a role's require_mfa, an enrolled user, a
// client's acr_values), and what a sign-in proved (amr, RFC 8176, and
// the acr derived from it). The flow's steps that ask for a code or
// enrol an authenticator are in mfa_steps.go; the account page's
// enrolment in account_mfa.go.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// Authentication methods (RFC 8176) in the amr claim.
const (
	amrPassword = "pwd"
	amrOTP      = "otp"
	amrMFA      = "mfa"
)

// Authentication context classes in the acr claim and acr_values:
// ACRPassword for a sign-in with a password alone, ACRMFA for one with a
// second factor too. A client that sends acr_values=ACRMFA gets a second
// factor asked for when the session lacks one.
const (
	ACRPassword = "urn:hallpass:acr:pwd"
	ACRMFA      = "urn:hallpass:acr:mfa"
)

// TOTP parameters: the ones every authenticator app supports.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpSkew is how many steps before and after now a code may be for.
	totpSkew = 1
	// enrolmentLifetime bounds how long an enrolment page's secret can be
	// confirmed.
	enrolmentLifetime = 15 * time.Minute
	// recoveryCodeCount codes are issued at the first enrolment.
	recoveryCodeCount = 10
	// maxCodeLen bounds a submitted code before any work is done on it.
	maxCodeLen = 64
)

// sessionAMR is what a session or pending request proved: a row from
// before amr was recorded proved a password.
func sessionAMR(amr []string) []string {
	if len(amr) == 0 {
		return []string{amrPassword}
	}
	return amr
}

// hasSecondFactor reports whether amr includes a factor besides the
// password.
func hasSecondFactor(amr []string) bool {
	return slices.ContainsFunc(amr, func(m string) bool { return m == amrOTP || m == "hwk" || m == "swk" })
}

// withFactor adds method to amr, and "mfa" once two factors are present.
func withFactor(amr []string, method string) []string {
	out := slices.Clone(sessionAMR(amr))
	if !slices.Contains(out, method) {
		out = append(out, method)
	}
	if hasSecondFactor(out) && slices.Contains(out, amrPassword) && !slices.Contains(out, amrMFA) {
		out = append(out, amrMFA)
	}
	return out
}

// acrOf is the acr a sign-in with amr reaches.
func acrOf(amr []string) string {
	if hasSecondFactor(amr) {
		return ACRMFA
	}
	return ACRPassword
}

// acrRequested reports whether the authorization request's acr_values
// ask for a second factor. Values hallpass does not know are ignored, as
// OIDC Core §3.1.2.1 lets a voluntary request be.
func acrRequested(acrValues string) bool {
	return slices.Contains(strings.Fields(acrValues), ACRMFA)
}

// hasTOTP reports whether the user has an authenticator.
func (p *Provider) hasTOTP(ctx context.Context, userID string) (bool, error) {
	_, err := p.cfg.Store.GetTOTP(ctx, userID)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("load authenticator: %w", err)
}

// hasFactor reports whether the user has a second factor: an
// authenticator app or a passkey.
func (p *Provider) hasFactor(ctx context.Context, userID string) (bool, error) {
	totp, err := p.hasTOTP(ctx, userID)
	if err != nil || totp {
		return totp, err
	}
	pks, err := p.cfg.Store.ListPasskeys(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("list passkeys: %w", err)
	}
	return len(pks) > 0, nil
}

// roleRequiresMFA reports whether one of the user's roles requires a
// second factor.
func (p *Provider) roleRequiresMFA(ctx context.Context, u *storage.User) (bool, error) {
	for _, name := range u.Roles {
		r, err := p.cfg.Store.GetRole(ctx, name)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("load role %q: %w", name, err)
		}
		if r.RequireMFA {
			return true, nil
		}
	}
	return false, nil
}

// factorStep decides whether a signed-in user must still prove a second
// factor for this request, and how: satisfied is true when nothing more
// is needed; otherwise st is the step (the code prompt for an enrolled
// user, enrolment for one who has no second factor yet). A second factor
// is needed when the user has one, an authenticator app or a passkey
// (having enrolled, a password alone no longer signs them in), when one
// of their roles requires it, or when the client asked for it with
// acr_values. A passwordless sign-in with a passkey proved two factors.
func (p *Provider) factorStep(ctx context.Context, f *flow) (st step, satisfied bool, err error) {
	var known *bool
	if si := f.signedIn; si != nil && si.User.ID == f.user.ID {
		// Read with the session (flowUser).
		enrolled := si.HasTOTP || si.HasPasskey
		known = &enrolled
	}
	enrolled, must, err := p.missingFactor(ctx, f.user, f.amr, known, acrRequested(f.ar.GetRequestForm().Get("acr_values")))
	switch {
	case err != nil:
		return stepFail, false, err
	case enrolled:
		return stepSecondFactor, false, nil
	case must && !p.recentlySignedIn(f.authTime):
		// Setting up a factor needs a recent sign-in, as on the account
		// page: a session left open long ago (stepped up by an app's
		// acr_values, or by a role made to require a factor since)
		// signs in again first, so that its holder cannot put in an
		// authenticator or a passkey of their own.
		return stepLogin, false, nil
	case must:
		return stepEnrol, false, nil
	}
	return 0, true, nil
}

// missingFactor is the one decision of whether a sign-in of user u that
// proved amr lacks a second factor, at the authorization endpoint
// (factorStep) and on the console and account page (selfFactorMissing):
// enrolled when u has one to prove, else must when u must set one up
// (acr, the client asked for it, or one of u's roles requires it);
// neither when amr holds one already. known is whether u has a factor,
// when the caller read it already; nil reads it.
func (p *Provider) missingFactor(ctx context.Context, u *storage.User, amr []string, known *bool, acr bool) (enrolled, must bool, err error) {
	if hasSecondFactor(amr) {
		return false, false, nil
	}
	if known != nil {
		enrolled = *known
	} else if enrolled, err = p.hasFactor(ctx, u.ID); err != nil {
		return false, false, err
	}
	if enrolled || acr {
		return enrolled, !enrolled, nil
	}
	must, err = p.roleRequiresMFA(ctx, u)
	return false, must, err
}

// totpSealAD binds a sealed TOTP secret to its user, so a secret copied
// to another user's row does not open.
func totpSealAD(userID string) []byte { return []byte("hallpass totp secret " + userID) }

// enrolmentSealAD binds an enrolment page's sealed secret to its user.
func enrolmentSealAD(userID string) []byte { return []byte("hallpass totp enrolment " + userID) }

// enrolment is a new authenticator's secret, not yet confirmed: shown on
// the page as a QR code and in base32, and carried in the form sealed.
type enrolment struct {
	secret string // base32, as authenticator apps take it
	sealed string // posted back as "enrolment"
	qr     []byte // PNG
}

// newEnrolment generates a secret for u and seals it for the form, with
// its expiry inside the seal.
func (p *Provider) newEnrolment(u *storage.User) (*enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: p.issuer.Host, AccountName: u.Username,
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("new authenticator: %w", err)
	}
	return p.enrolmentOf(u, key.Secret(), "")
}

// enrolmentOf is the enrolment of secret for u: its QR code, and sealed,
// or sealed anew when empty.
func (p *Provider) enrolmentOf(u *storage.User, secret, sealed string) (*enrolment, error) {
	if p.cfg.Sealer == nil {
		return nil, errors.New("new authenticator: no key-encryption secret configured")
	}
	v := url.Values{"secret": {secret}, "issuer": {p.issuer.Host}, "period": {strconv.Itoa(totpPeriod)},
		"digits": {totpDigits.String()}, "algorithm": {"SHA1"}}
	key, err := otp.NewKeyFromURL((&url.URL{Scheme: "otpauth", Host: "totp",
		Path: "/" + p.issuer.Host + ":" + u.Username, RawQuery: v.Encode()}).String())
	if err != nil {
		return nil, fmt.Errorf("new authenticator: %w", err)
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return nil, fmt.Errorf("new authenticator: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("new authenticator: QR code: %w", err)
	}
	if sealed == "" {
		exp := p.cfg.Now().Add(enrolmentLifetime).Unix()
		raw, err := p.cfg.Sealer.Seal([]byte(strconv.FormatInt(exp, 10)+"|"+secret), enrolmentSealAD(u.ID))
		if err != nil {
			return nil, fmt.Errorf("new authenticator: %w", err)
		}
		sealed = base64.RawURLEncoding.EncodeToString(raw)
	}
	return &enrolment{secret: secret, sealed: sealed, qr: buf.Bytes()}, nil
}

// errEnrolmentInvalid: the posted enrolment is not one hallpass sealed
// for this user, or it expired.
var errEnrolmentInvalid = errors.New("enrolment invalid or expired")

// openEnrolment returns the secret of a posted enrolment.
func (p *Provider) openEnrolment(u *storage.User, posted string) (string, error) {
	if p.cfg.Sealer == nil || posted == "" || len(posted) > 512 {
		return "", errEnrolmentInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(posted)
	if err != nil {
		return "", errEnrolmentInvalid
	}
	pt, err := p.cfg.Sealer.Open(raw, enrolmentSealAD(u.ID))
	if err != nil {
		return "", errEnrolmentInvalid
	}
	expS, secret, ok := strings.Cut(string(pt), "|")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil || p.cfg.Now().Unix() > exp {
		return "", errEnrolmentInvalid
	}
	return secret, nil
}

// matchTOTP returns the time step within the skew for which code is
// secret's code, or false. Every candidate is computed and compared in
// constant time.
func (p *Provider) matchTOTP(secret, code string) (int64, bool) {
	if len(code) != int(totpDigits) {
		return 0, false
	}
	now := p.cfg.Now().Unix() / totpPeriod
	var found int64
	ok := false
	for s := now - totpSkew; s <= now+totpSkew; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0).UTC(),
			totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = s, true
		}
	}
	return found, ok
}

// normaliseCode strips what people type around a code: spaces and, for a
// TOTP code, nothing else; recovery codes are compared without case, and
// one typed with its groups apart by spaces, or with no separators, or
// with dashes missing, is put back in its printed form (four groups of
// four joined by dashes, newRecoveryCodes): it is recognised
// (isRecoveryCode) and spent like the printed form, instead of being
// taken for a wrong TOTP code that counts against the user's limit.
func normaliseCode(code string) string {
	c := strings.ToLower(strings.Join(strings.Fields(code), ""))
	if bare := strings.ReplaceAll(c, "-", ""); len(bare) == 16 && strings.Trim(bare, "abcdefghijklmnopqrstuvwxyz234567") == "" {
		return bare[0:4] + "-" + bare[4:8] + "-" + bare[8:12] + "-" + bare[12:16]
	}
	return c
}

// errCodeReplayed: the code was right but its time step was already used.
var errCodeReplayed = errors.New("code already used")

// checkTOTP checks a code against the user's authenticator and spends its
// time step. ok is false for a wrong code; err is errCodeReplayed for a
// right code used before, and otherwise a failure of ours.
func (p *Provider) checkTOTP(ctx context.Context, userID, code string) (ok bool, err error) {
	t, err := p.cfg.Store.GetTOTP(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load authenticator: %w", err)
	}
	if p.cfg.Sealer == nil {
		return false, errors.New("check authenticator code: no key-encryption secret configured")
	}
	secret, err := p.cfg.Sealer.Open(t.Secret, totpSealAD(userID))
	if err != nil {
		return false, fmt.Errorf("open authenticator secret of user %s: %w", userID, err)
	}
	step, match := p.matchTOTP(string(secret), code)
	if !match {
		return false, nil
	}
	if err := p.cfg.Store.UseTOTPStep(ctx, userID, step); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return false, errCodeReplayed
		}
		return false, fmt.Errorf("spend authenticator code: %w", err)
	}
	return true, nil
}

// checkRecoveryCode spends one of the user's recovery codes; false if the
// code is not one of them (or was used).
func (p *Provider) checkRecoveryCode(ctx context.Context, userID, code string) (bool, error) {
	err := p.cfg.Store.UseRecoveryCode(ctx, userID, p.recoveryDigest(userID, code))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("spend recovery code: %w", err)
}

// recoveryDigest is how a recovery code is stored: a keyed digest, so a
// copy of the table cannot be searched for codes offline.
func (p *Provider) recoveryDigest(userID, code string) string {
	return web.CSRFToken(p.cfg.TokenSecret, "recovery-code", userID, normaliseCode(code))
}

// saveTOTP confirms an enrolment: code must be the secret's current code.
// It stores the secret sealed, with the code's step spent, and on the
// first enrolment (no recovery codes left) issues recovery codes, which
// it returns for showing once. An authenticator that replaces another
// (replaced) ends every session of the user but keep, the enrolling
// browser's, and every grant of the user (directory's PutTOTP).
func (p *Provider) saveTOTP(ctx context.Context, u *storage.User, secret, code, keep string) (ok bool, codes []string, replaced bool, err error) {
	step, match := p.matchTOTP(secret, normaliseCode(code))
	if !match {
		return false, nil, false, nil
	}
	sealed, err := p.cfg.Sealer.Seal([]byte(secret), totpSealAD(u.ID))
	if err != nil {
		return false, nil, false, fmt.Errorf("seal authenticator secret: %w", err)
	}
	codes, err = p.addFactor(ctx, u.ID, func(ctx context.Context) (err error) {
		replaced, err = p.dir.Users().PutTOTP(ctx, &storage.TOTP{UserID: u.ID, Secret: sealed, LastStep: step, CreatedAt: p.cfg.Now().UTC()}, keep)
		return err
	})
	if err != nil {
		return false, nil, false, fmt.Errorf("save authenticator: %w", err)
	}
	// The kind of factor, as signin.success names a passkey's sign-in
	// ("method"); never the secret. The request's address and user
	// agent are the entry's, from ctx, as for every entry.
	p.mfaEvent(ctx, "enrolled", u.ID, "method", "totp", "recovery_codes_issued", len(codes), "replaced", replaced)
	return true, codes, replaced, nil
}

// addFactor stores a second factor of user userID with put and, when it
// is their first (no recovery codes left), issues recovery codes in the
// same transaction; it returns those codes, for showing once. Every kind
// of factor (authenticator app, passkey) is added through it. Whether the
// codes are issued is decided by the store (PutRecoveryCodesIfNone), not
// by a count read beforehand: of two factors enrolled at once (two tabs),
// both would read none and each would replace the other's codes while
// both were shown; now exactly one enrolment issues codes, and the other
// shows none.
func (p *Provider) addFactor(ctx context.Context, userID string, put func(ctx context.Context) error) (codes []string, err error) {
	fresh := newRecoveryCodes()
	digests := make([]string, len(fresh))
	for i, c := range fresh {
		digests[i] = p.recoveryDigest(userID, c)
	}
	// At REPEATABLE READ or SERIALIZABLE the enrolment that waited for
	// the other's codes fails with storage.ErrTransient (see
	// PutRecoveryCodesIfNone), as may put or the commit: InTransaction
	// then runs fn again, whole, and it finds the winner's codes. A
	// conflict of put itself (a passkey registered already) is put's
	// answer and is returned as it is.
	err = p.cfg.Store.InTransaction(ctx, func(ctx context.Context) error {
		codes = nil
		if err := put(ctx); err != nil {
			return err
		}
		issued, err := p.cfg.Store.PutRecoveryCodesIfNone(ctx, userID, digests)
		if err != nil {
			return fmt.Errorf("issue recovery codes: %w", err)
		}
		if issued {
			codes = fresh
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// newRecoveryCodes returns recoveryCodeCount random codes of 80 bits,
// as four groups of four base32 characters.
func newRecoveryCodes() []string {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	codes := make([]string, recoveryCodeCount)
	for i := range codes {
		b := make([]byte, 10)
		rand.Read(b)
		s := strings.ToLower(enc.EncodeToString(b))
		codes[i] = s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
	}
	return codes
}

// isRecoveryCode reports whether a normalised code has a recovery code's
// shape (as opposed to a TOTP code's six digits).
func isRecoveryCode(code string) bool {
	return len(code) == 19 && strings.Count(code, "-") == 3
}

// mfaEvent records a security event about a user's second factors:
// "recovery_code_used", "factors_reset", the passkey events
// (passkey_enrolled, passkey_removed, passkey_failed,
// passkey_clone_warning). It is the one place such
// events are emitted, for the audit log to hook into. The actor is whoever
// ctx names (the signed-in user on /account, an admin); at the sign-in
// steps nobody is signed in yet, so it is the user the step is about, as
// for signin.* entries: an entry filtered by actor=user:<id> must not
// miss that user's wrong or replayed codes.
func (p *Provider) mfaEvent(ctx context.Context, event, userID string, attrs ...any) {
	args := append([]any{"event", event, "request_id", RequestID(ctx), "user_id", userID}, attrs...)
	p.log.InfoContext(ctx, "mfa event", args...)
	details := map[string]any{}
	for i := 0; i+1 < len(attrs); i += 2 {
		if k, ok := attrs[i].(string); ok {
			details[k] = attrs[i+1]
		}
	}
	ev := audit.Event{Action: "mfa." + event, Object: "user:" + userID, Details: details}
	if audit.Actor(ctx) == "" && userID != "" {
		ev.Actor = "user:" + userID
	}
	p.audit.Record(ctx, ev)
	if event == "code_wrong" || event == "code_replayed" || event == "passkey_failed" || event == "passkey_clone_warning" {
		p.metrics.signins.WithLabelValues("mfa_failed").Inc()
	}
}

// ResetFactors deletes a user's authenticator app, passkeys and recovery
// codes, so their next sign-in enrols anew if a role requires it, and ends
// every session and grant of the user whatever the factors were (the
// directory service does both in one transaction and records it; the
// audit log takes the actor from ctx). actor names who did it, for the log
// line.
func (p *Provider) ResetFactors(ctx context.Context, userID, actor string) error {
	if err := p.dir.Users().ResetFactors(ctx, userID); err != nil {
		return err
	}
	p.log.InfoContext(ctx, "mfa event", "event", "factors_reset", "request_id", RequestID(ctx), "user_id", userID, "actor", actor)
	return nil
}

// adminResetFactors is DELETE /admin/users/{id}/factors: the user's
// second factors go (ResetFactors); 204, or 404 for an unknown user.
func (p *Provider) adminResetFactors(w http.ResponseWriter, r *http.Request) {
	u, err := p.dir.Users().Get(r.Context(), pathParam(r, "id"))
	if err == nil {
		err = p.ResetFactors(r.Context(), u.ID, "admin-api")
	}
	p.answer(w, r, http.StatusNoContent, nil, err)
}
