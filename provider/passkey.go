package provider

// Passkeys (WebAuthn, with github.com/go-webauthn/webauthn): hallpass as
// the relying party, the ceremonies' state, and the checks of what a
// browser posts. The relying-party id is the issuer's host and the one
// origin the issuer's scheme://host[:port]; WebAuthn accepts no IP
// address as a relying-party id, so an issuer on an IP address has no
// passkeys. The flow's steps and the account page's forms that use these
// are in passkey_steps.go.
//
// A ceremony's state (its challenge) travels with the page, sealed with
// the key-encryption secret as the TOTP enrolment's secret does: bound to
// the ceremony's kind and to the sign-in request or the user it serves,
// and valid for passkeyCeremonyLifetime. Any replica can open it, so no
// row is written for a challenge that may never be answered. A challenge
// that is answered is recorded then (spendCeremony), once: the same
// answer posted again with the same state is refused while that state is
// valid, which the signature counter cannot do for a synced passkey (it
// always counts 0).

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// Authentication methods of a passkey (RFC 8176): "hwk" for a key bound
// to one device, "swk" for one that may be synced to others (backup
// eligible), and "user" for the user verification (PIN, biometrics) a
// passwordless sign-in demands.
const (
	amrHardwareKey = "hwk"
	amrSoftwareKey = "swk"
	amrUser        = "user"
)

const (
	// passkeyCeremonyLifetime bounds how long a page's passkey button
	// works: the pending sign-in request it belongs to lives 15 minutes.
	passkeyCeremonyLifetime = 15 * time.Minute
	// maxPasskeyCredentialLen bounds a posted credential (the browser's
	// answer as JSON) before it is parsed: an answer without attestation
	// is well under 2 KiB, one with a certificate chain a few KiB.
	maxPasskeyCredentialLen = 16 << 10
	// maxPasskeyStateLen bounds a posted ceremony state before it is
	// opened.
	maxPasskeyStateLen = 4 << 10
	// maxPasskeyNameLen bounds the name a user gives a passkey, in
	// characters.
	maxPasskeyNameLen = 64
	// passkeyTimeout is what the browser is told to wait for the user.
	passkeyTimeout = 5 * time.Minute
)

// Ceremony kinds, each bound into the state it seals.
const (
	ceremonyLogin   = "login"   // passwordless sign-in at the login page
	ceremonyFactor  = "factor"  // a passkey as the second factor
	ceremonyEnrol   = "enrol"   // a passkey set up at the enrolment step
	ceremonyAccount = "account" // a passkey added on the account page
)

// newRelyingParty makes hallpass's WebAuthn relying party for the issuer,
// or nil, having logged why, when passkeys cannot work there.
func newRelyingParty(iss *url.URL, log *slog.Logger) *webauthn.WebAuthn {
	host := strings.ToLower(iss.Hostname())
	if _, err := netip.ParseAddr(host); err == nil {
		log.Info("passkeys are off: the issuer's host is an IP address, which WebAuthn does not accept as a relying-party id; use a host name (such as localhost) in the issuer to offer passkeys", "issuer", iss.String())
		return nil
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: host,
		RPOrigins:     []string{strings.ToLower(iss.Scheme + "://" + iss.Host)},
		// No attestation: hallpass trusts no authenticator model over
		// another, and asks for nothing that identifies the device.
		AttestationPreference: protocol.PreferNoAttestation,
		// Discoverable credentials with user verification: a passkey
		// alone signs in, without a username.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: passkeyTimeout, TimeoutUVD: passkeyTimeout},
			Registration: webauthn.TimeoutConfig{Timeout: passkeyTimeout, TimeoutUVD: passkeyTimeout},
		},
	})
	if err != nil {
		log.Warn("passkeys are off: the issuer's host is not a valid WebAuthn relying-party id", "issuer", iss.String(), "err", err)
		return nil
	}
	return wa
}

// passkeysOn reports whether passkeys are offered: the issuer's host is a
// name and a key-encryption secret seals the ceremonies' state.
func (p *Provider) passkeysOn() bool { return p.webauthn != nil && p.cfg.Sealer != nil }

// passkeyUser is a user as go-webauthn sees one: the user handle is the
// user's id, which the ID token's sub already tells.
type passkeyUser struct {
	u     *storage.User
	creds []webauthn.Credential
}

// WebAuthnID is the user handle: the user's id.
func (u passkeyUser) WebAuthnID() []byte { return []byte(u.u.ID) }

// WebAuthnName is the username, which the authenticator shows.
func (u passkeyUser) WebAuthnName() string { return u.u.Username }

// WebAuthnCredentials are the user's passkeys.
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// WebAuthnDisplayName is the user's name, or the username without one.
func (u passkeyUser) WebAuthnDisplayName() string {
	if u.u.Name != "" {
		return u.u.Name
	}
	return u.u.Username
}

// credentialOf is a stored passkey as go-webauthn verifies it.
func credentialOf(pk *storage.Passkey) (webauthn.Credential, error) {
	id, err := base64.RawURLEncoding.DecodeString(pk.ID)
	if err != nil {
		return webauthn.Credential{}, fmt.Errorf("passkey id %q: %w", pk.ID, err)
	}
	transports := make([]protocol.AuthenticatorTransport, len(pk.Transports))
	for i, t := range pk.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{ID: id, PublicKey: pk.PublicKey, AttestationFormat: pk.AttestationFormat, Transport: transports,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: pk.UserVerified,
			BackupEligible: pk.BackupEligible, BackupState: pk.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: pk.AAGUID, SignCount: pk.SignCount}}, nil
}

// passkeyUserOf is u with its passkeys.
func passkeyUserOf(u *storage.User, pks []storage.Passkey) (passkeyUser, error) {
	pu := passkeyUser{u: u}
	for i := range pks {
		c, err := credentialOf(&pks[i])
		if err != nil {
			return pu, err
		}
		pu.creds = append(pu.creds, c)
	}
	return pu, nil
}

// passkeyMethod is the amr method a passkey proves: "swk" for one that
// may be synced (backup eligible), "hwk" for one bound to its device.
func passkeyMethod(pk *storage.Passkey) string {
	if pk.BackupEligible {
		return amrSoftwareKey
	}
	return amrHardwareKey
}

// passwordlessAMR is what a passwordless sign-in with pk proves: the key
// and the user verification the authenticator did, two factors.
func passwordlessAMR(pk *storage.Passkey) []string {
	return []string{passkeyMethod(pk), amrUser, amrMFA}
}

// errPasskeyInput: what was posted is not a passkey answer hallpass can
// read, or its ceremony is not one hallpass began for this page (or it
// expired, or was answered already). The user's doing, or a forger's:
// answered 400.
var errPasskeyInput = errors.New("passkey answer unreadable or expired")

// errPasskeyRefused: the answer was read but does not prove the passkey
// (wrong challenge or origin, bad signature, unknown credential, no user
// verification, a counter that went back). Answered 400.
var errPasskeyRefused = errors.New("passkey refused")

// ceremonyState is a ceremony's state as sealed into its page.
type ceremonyState struct {
	Session webauthn.SessionData `json:"s"`
	Expires int64                `json:"e"`
}

// ceremonyAD binds a sealed ceremony to its kind and to what it serves.
func ceremonyAD(kind, binding string) []byte {
	return []byte("hallpass passkey ceremony " + kind + " " + binding)
}

// sealCeremony seals sd for a page, with its expiry.
func (p *Provider) sealCeremony(kind, binding string, sd *webauthn.SessionData) (string, error) {
	b, err := json.Marshal(ceremonyState{Session: *sd, Expires: p.cfg.Now().Add(passkeyCeremonyLifetime).Unix()})
	if err != nil {
		return "", fmt.Errorf("seal passkey ceremony: %w", err)
	}
	raw, err := p.cfg.Sealer.Seal(b, ceremonyAD(kind, binding))
	if err != nil {
		return "", fmt.Errorf("seal passkey ceremony: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// ceremony is an opened ceremony state: go-webauthn's session data and
// the first instant its sealed state is no longer accepted.
type ceremony struct {
	sd      *webauthn.SessionData
	expires time.Time
}

// openCeremony opens a posted ceremony state; errPasskeyInput if it is
// not one sealed for this kind and binding, or expired.
func (p *Provider) openCeremony(kind, binding, posted string) (*ceremony, error) {
	if !p.passkeysOn() || posted == "" || len(posted) > maxPasskeyStateLen {
		return nil, errPasskeyInput
	}
	raw, err := base64.RawURLEncoding.DecodeString(posted)
	if err != nil {
		return nil, errPasskeyInput
	}
	pt, err := p.cfg.Sealer.Open(raw, ceremonyAD(kind, binding))
	if err != nil {
		return nil, errPasskeyInput
	}
	var st ceremonyState
	if err := json.Unmarshal(pt, &st); err != nil || p.cfg.Now().Unix() > st.Expires {
		return nil, errPasskeyInput
	}
	// Accepted through the second st.Expires, as the check above reads it.
	return &ceremony{sd: &st.Session, expires: time.Unix(st.Expires+1, 0).UTC()}, nil
}

// spentCeremonyPrefix namespaces an answered ceremony's record in the
// replay store it shares with client-assertion JTIs, which fositestore
// records under "jti:" and a digest (releases before, as bare hex
// digests), so none can collide. A replay of an answer brings the very
// expiry its record holds: once that has passed, storage (which
// replaces an expired record only with one not yet expired) refuses it,
// as spendCeremony does before asking.
const spentCeremonyPrefix = "passkey:"

// spentCeremonyMargin is how much longer than its state an answered
// ceremony's record is kept. The record is pruned by the clock of
// whichever replica writes to the replay store next, and the state is
// accepted by the clock of the replica it is posted to: without the
// margin, a replica whose clock lags would take the answer again once a
// replica whose clock is right had pruned its record.
const spentCeremonyMargin = passkeyCeremonyLifetime

// spendCeremony records c's challenge as answered, atomically, until its
// state expires (and spentCeremonyMargin after); errPasskeyInput
// (wrapped) if it was answered already or that time is already past.
// Called once an answer verifies,
// so posts that prove nothing cannot use up someone's ceremony, and
// before what it proves is granted. Any other error is a failure of ours.
func (p *Provider) spendCeremony(ctx context.Context, c *ceremony) error {
	until := c.expires.Add(spentCeremonyMargin)
	if !until.After(p.cfg.Now()) {
		// Its record may have been swept already (as client-assertion
		// JTIs in fositestore): an answer this late cannot be told
		// from a replay, so it is refused, never recorded.
		return fmt.Errorf("%w: ceremony answered too late to tell from a replay", errPasskeyInput)
	}
	sum := sha256.Sum256([]byte(c.sd.Challenge))
	err := p.cfg.Store.SetClientAssertionJTI(ctx, spentCeremonyPrefix+hex.EncodeToString(sum[:]), until)
	if errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("%w: ceremony answered already", errPasskeyInput)
	}
	if err != nil {
		return fmt.Errorf("record passkey ceremony as answered: %w", err)
	}
	return nil
}

// plainCredentialJSON reports whether a posted answer is one JSON object
// under the rules of every JSON hallpass reads (jsoninput.go): bounded,
// valid UTF-8, no duplicate member names (two parsers must never
// disagree about what was sent), no NUL character.
func plainCredentialJSON(posted string) bool {
	if posted == "" || len(posted) > maxPasskeyCredentialLen || !utf8.ValidString(posted) ||
		strings.Contains(posted, `\u0000`) || !strings.HasPrefix(strings.TrimLeft(posted, " \t\r\n"), "{") {
		return false
	}
	return jsontext.Value(posted).IsValid()
}

// parseAssertion reads a posted sign-in answer; errPasskeyInput if it is
// not one.
func parseAssertion(posted string) (*protocol.ParsedCredentialAssertionData, error) {
	if !plainCredentialJSON(posted) {
		return nil, errPasskeyInput
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(posted))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPasskeyInput, err)
	}
	return parsed, nil
}

// parseAttestation reads a posted registration answer; errPasskeyInput
// if it is not one.
func parseAttestation(posted string) (*protocol.ParsedCredentialCreationData, error) {
	if !plainCredentialJSON(posted) {
		return nil, errPasskeyInput
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(posted))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPasskeyInput, err)
	}
	return parsed, nil
}

// passkeyName is the name a user typed for a passkey, trimmed, with runs
// of spaces folded; "" if there is none or it is too long or not text
// people can read as it is (directory.DisplaySafe: no control, direction
// or invisible characters, which would make the name show as another in
// the account page and the console's audit log).
func passkeyName(s string) string {
	if len(s) > 4*maxPasskeyNameLen || !utf8.ValidString(s) {
		return ""
	}
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxPasskeyNameLen || !directory.DisplaySafe(s) {
		return ""
	}
	return s
}

// passkeyForm is a page's passkey form: the options a ceremony begun with
// begin shows the browser, and its state sealed. nil, logged, if the
// ceremony could not begin: the rest of the page works without it.
func (p *Provider) passkeyForm(ctx context.Context, kind, binding string, options any, sd *webauthn.SessionData, err error) *web.PasskeyForm {
	if err != nil {
		p.logFailure(ctx, "begin passkey ceremony", err)
		return nil
	}
	opts, err := json.Marshal(options)
	if err != nil {
		p.logFailure(ctx, "begin passkey ceremony", err)
		return nil
	}
	state, err := p.sealCeremony(kind, binding, sd)
	if err != nil {
		p.logFailure(ctx, "begin passkey ceremony", err)
		return nil
	}
	return &web.PasskeyForm{Create: kind == ceremonyEnrol || kind == ceremonyAccount, Options: string(opts), State: state}
}

// loginPasskeyForm begins a passwordless sign-in for the login page of
// the request handle: no username, any of the user's passkeys, user
// verification required.
func (p *Provider) loginPasskeyForm(ctx context.Context, handle string) *web.PasskeyForm {
	if !p.passkeysOn() {
		return nil
	}
	a, sd, err := p.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return p.passkeyForm(ctx, ceremonyLogin, handle, nil, nil, err)
	}
	return p.passkeyForm(ctx, ceremonyLogin, handle, a.Response, sd, nil)
}

// factorPasskeyForm begins a sign-in with one of u's passkeys as the
// second factor of the request handle; nil when u has none.
func (p *Provider) factorPasskeyForm(ctx context.Context, handle string, u *storage.User, pks []storage.Passkey) *web.PasskeyForm {
	if !p.passkeysOn() || len(pks) == 0 {
		return nil
	}
	pu, err := passkeyUserOf(u, pks)
	if err != nil {
		return p.passkeyForm(ctx, ceremonyFactor, "", nil, nil, err)
	}
	// After the password, the passkey is the second factor: possession
	// is what it must prove, user verification is welcome.
	a, sd, err := p.webauthn.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return p.passkeyForm(ctx, ceremonyFactor, "", nil, nil, err)
	}
	return p.passkeyForm(ctx, ceremonyFactor, handle+" "+u.ID, a.Response, sd, nil)
}

// registerPasskeyForm begins the registration of a new passkey for u, on
// the enrolment step (kind ceremonyEnrol) or the account page; binding
// ties it to the request or the account page's sign-in.
func (p *Provider) registerPasskeyForm(ctx context.Context, kind, binding string, u *storage.User, pks []storage.Passkey) *web.PasskeyForm {
	if !p.passkeysOn() {
		return nil
	}
	pu, err := passkeyUserOf(u, pks)
	if err != nil {
		return p.passkeyForm(ctx, kind, "", nil, nil, err)
	}
	c, sd, err := p.webauthn.BeginRegistration(pu, webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	if err != nil {
		return p.passkeyForm(ctx, kind, "", nil, nil, err)
	}
	f := p.passkeyForm(ctx, kind, binding, c.Response, sd, nil)
	if f != nil {
		f.NameField = true
	}
	return f
}

// passkeyIDOf is the stored id of the credential an answer names.
func passkeyIDOf(rawID []byte) string { return base64.RawURLEncoding.EncodeToString(rawID) }

// verifyPasskey checks a sign-in answer against its ceremony: for the
// second factor of user (with their passkeys), or, user nil, a
// passwordless sign-in by whoever's passkey it is. It returns the user
// and the passkey, its counter advanced, the ceremony spent.
// errPasskeyRefused (wrapped, with the reason) when the answer does not
// prove the passkey, errPasskeyInput when the ceremony was answered
// already; any other error is a failure of ours. A counter that did not
// advance is recorded as mfa.passkey_clone_warning.
func (p *Provider) verifyPasskey(ctx context.Context, c *ceremony, parsed *protocol.ParsedCredentialAssertionData,
	user *storage.User, pks []storage.Passkey) (*storage.User, *storage.Passkey, error) {
	sd := c.sd
	var (
		pk      *storage.Passkey
		ours    error // a failure of ours inside the lookup
		checked webauthn.User
	)
	if user == nil {
		handler := func(rawID, userHandle []byte) (webauthn.User, error) {
			if !directory.CleanText(string(userHandle)) {
				// No user id is: the answer's to refuse, before the
				// database refuses the parameter as a failure of ours.
				return nil, errors.New("the user handle is not a user id")
			}
			got, err := p.cfg.Store.GetUserPasskey(ctx, string(userHandle), passkeyIDOf(rawID))
			if errors.Is(err, storage.ErrNotFound) {
				return nil, errors.New("unknown credential, or the user handle does not name its user")
			}
			if err != nil {
				ours = fmt.Errorf("load passkey: %w", err)
				return nil, ours
			}
			u, err := p.activeUser(ctx, got.UserID)
			if err != nil {
				ours = err
				return nil, err
			}
			if u == nil {
				return nil, errors.New("user deleted or disabled")
			}
			pu, err := passkeyUserOf(u, []storage.Passkey{*got})
			if err != nil {
				ours = err
				return nil, err
			}
			pk, user = got, u
			return pu, nil
		}
		var err error
		if checked, _, err = p.webauthn.ValidatePasskeyLogin(handler, *sd, parsed); err != nil {
			if ours != nil {
				return nil, nil, ours
			}
			return nil, pk, fmt.Errorf("%w: %v", errPasskeyRefused, protocolReason(err))
		}
	} else {
		pu, err := passkeyUserOf(user, pks)
		if err != nil {
			return nil, nil, err
		}
		if _, err := p.webauthn.ValidateLogin(pu, *sd, parsed); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errPasskeyRefused, protocolReason(err))
		}
		id := passkeyIDOf(parsed.RawID)
		for i := range pks {
			if pks[i].ID == id {
				pk = &pks[i]
			}
		}
		checked = pu
	}
	if checked == nil || pk == nil || user == nil {
		return nil, nil, fmt.Errorf("%w: no passkey matched", errPasskeyRefused)
	}
	if err := p.spendCeremony(ctx, c); err != nil {
		return nil, nil, err
	}
	flags := parsed.Response.AuthenticatorData.Flags
	count := parsed.Response.AuthenticatorData.Counter
	err := p.cfg.Store.UsePasskey(ctx, pk.ID, count, flags.HasBackupState(), p.cfg.Now().UTC())
	switch {
	case errors.Is(err, storage.ErrConflict):
		p.mfaEvent(ctx, "passkey_clone_warning", user.ID, "passkey", pk.Name, "stored_count", pk.SignCount, "count", count)
		return nil, pk, fmt.Errorf("%w: signature counter %d not after %d (a cloned authenticator?)", errPasskeyRefused, count, pk.SignCount)
	case errors.Is(err, storage.ErrNotFound):
		return nil, pk, fmt.Errorf("%w: passkey removed meanwhile", errPasskeyRefused)
	case err != nil:
		return nil, nil, fmt.Errorf("record passkey use: %w", err)
	}
	pk.SignCount, pk.BackupState = count, flags.HasBackupState()
	return user, pk, nil
}

// protocolReason is what go-webauthn says went wrong, for the log line
// and the audit event (never shown to the user).
func protocolReason(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return pe.Details
	}
	return err.Error()
}

// registerPasskey checks a registration answer against its ceremony and
// stores the new passkey as name. On the first second factor (no recovery
// codes left) it issues recovery codes, returned for showing once.
// errPasskeyRefused when the answer does not register a passkey (or it
// is registered already), errPasskeyInput when the ceremony was answered
// already.
func (p *Provider) registerPasskey(ctx context.Context, c *ceremony, parsed *protocol.ParsedCredentialCreationData,
	u *storage.User, name string) (*storage.Passkey, []string, error) {
	pks, err := p.cfg.Store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("list passkeys: %w", err)
	}
	pu, err := passkeyUserOf(u, pks)
	if err != nil {
		return nil, nil, err
	}
	cred, err := p.webauthn.CreateCredential(pu, *c.sd, parsed)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errPasskeyRefused, protocolReason(err))
	}
	if err := p.spendCeremony(ctx, c); err != nil {
		return nil, nil, err
	}
	transports := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		if s := string(t); s != "" && len(s) <= 32 && !strings.ContainsAny(s, " \t\n") {
			transports = append(transports, s)
		}
	}
	now := p.cfg.Now().UTC()
	pk := &storage.Passkey{ID: passkeyIDOf(cred.ID), UserID: u.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		Transports: transports, AAGUID: cred.Authenticator.AAGUID, BackupEligible: cred.Flags.BackupEligible,
		BackupState: cred.Flags.BackupState, UserVerified: cred.Flags.UserVerified, AttestationFormat: cred.AttestationFormat,
		Name: name, CreatedAt: now}
	if len(pk.AAGUID) == 16 && allZero(pk.AAGUID) {
		pk.AAGUID = nil
	}
	codes, err := p.addFactor(ctx, u.ID, func(ctx context.Context) error { return p.cfg.Store.CreatePasskey(ctx, pk) })
	if errors.Is(err, storage.ErrConflict) {
		return nil, nil, fmt.Errorf("%w: this passkey is registered already", errPasskeyRefused)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("save passkey: %w", err)
	}
	p.mfaEvent(ctx, "passkey_enrolled", u.ID, "passkey", name, "method", passkeyMethod(pk), "recovery_codes_issued", len(codes))
	return pk, codes, nil
}

// allZero reports whether b holds only zero bytes (an AAGUID of none).
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// passkeyRows are u's passkeys as the account page lists them.
func passkeyRows(pks []storage.Passkey, remove func(id string) string) []web.PasskeyRow {
	rows := make([]web.PasskeyRow, 0, len(pks))
	for _, pk := range pks {
		row := web.PasskeyRow{Name: pk.Name, Created: when(pk.CreatedAt), Remove: remove(pk.ID), Kind: "device-bound passkey"}
		if pk.BackupEligible {
			row.Kind = "synced passkey"
		}
		if !pk.LastUsedAt.IsZero() {
			row.LastUsed = when(pk.LastUsedAt)
		}
		rows = append(rows, row)
	}
	return rows
}

// passkeyCount says how many passkeys, for the console.
func passkeyCount(n int) string {
	switch n {
	case 0:
		return "no passkey"
	case 1:
		return "1 passkey"
	}
	return strconv.Itoa(n) + " passkeys"
}
