package web

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
)

const pageMFA = "mfa.html"

// MFAData is what the second-factor pages show: the code prompt of a
// sign-in, the enrolment of an authenticator app (QR code, secret typed
// by hand, confirmation code), and the recovery codes shown once. Each
// part shows when its fields are set. Forms post "csrf", "request" (when
// RequestID is set), "code", and for an enrolment "enrolment".
type MFAData struct {
	Title string
	// Lead is one sentence under the title; Notice a message above the
	// form; Error a refusal in a role="alert" element.
	Lead, Notice, Error string
	// Action is where the code form posts; empty shows no code form.
	Action    string
	RequestID string
	CSRF      string
	// CodeLabel labels the code input.
	CodeLabel string
	// QRPNG is the enrolment's QR code as a PNG; shown as a data: image,
	// which this page's CSP alone allows.
	QRPNG []byte
	// Secret is the enrolment's secret in base32, for typing by hand;
	// Enrolment is posted back as the hidden input "enrolment".
	Secret, Enrolment string
	// RecoveryCodes are shown once, after the first enrolment.
	RecoveryCodes []string
	// ContinueAction, when set, is a second form with one button,
	// ContinueLabel, posting "csrf" and "request" only.
	ContinueAction, ContinueLabel string
	// Back links back, e.g. to the account page.
	Back string
	// FormActionOrigins are added to the CSP form-action directive: a
	// sign-in step's post may end in a redirect to the client.
	FormActionOrigins []string
	// Passkey, when set, offers a passkey: to sign in with in place of a
	// code, or to set up in place of an authenticator app.
	Passkey *PasskeyForm
}

// QRImage is the QR code as a data: URL, for the template.
func (d MFAData) QRImage() template.URL {
	if len(d.QRPNG) == 0 {
		return ""
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(d.QRPNG))
}

// MFA renders a second-factor page. A page with a QR code allows data:
// images; no other page does.
func (p *Pages) MFA(w http.ResponseWriter, status int, d MFAData) {
	csp := p.contentSecurityPolicy(d.FormActionOrigins)
	if len(d.QRPNG) > 0 {
		csp = strings.Replace(csp, "img-src 'self';", "img-src 'self' data:;", 1)
	}
	if d.Passkey != nil {
		p.renderScript(w, status, pageMFA, d, passkeyCSP(csp), p.passkeyScriptURL)
		return
	}
	p.renderCSP(w, status, pageMFA, d, csp)
}
