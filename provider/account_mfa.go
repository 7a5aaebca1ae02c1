package provider

// The account page's two-step sign-in: setting up (or replacing) an
// authenticator app, with the recovery codes of a first enrolment shown
// once. The account is signed in to through the browser flow, which asked
// an enrolled user for their code (requireSelf asks again for one set up
// since), so replacing it needs no code again; it needs a recent sign-in
// (requireRecentSignIn).

import (
	"net/http"

	"github.com/hallpass/hallpass/web"
)

// PathAccountSecurity is the account page's second-factor page.
const PathAccountSecurity = PathAccount + "/security"

// accountSecurity shows the enrolment form with a new secret.
func (p *Provider) accountSecurity(w http.ResponseWriter, r *http.Request) {
	p.accountEnrolPage(w, r, http.StatusOK, "", "")
}

// accountEnrolPage renders the enrolment form: a new secret, or the one
// posted when its code was wrong.
func (p *Provider) accountEnrolPage(w http.ResponseWriter, r *http.Request, status int, errMsg, posted string) {
	s := signedIn(r)
	e, err := p.enrolmentFor(s.user, posted)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	p.pages.MFA(w, status, web.MFAData{Title: "Set up an authenticator app",
		Lead:  "Once set up, signing in asks for a code from the app after your password. Setting up a new app replaces the old one.",
		Error: errMsg, Action: PathAccountSecurity + "/totp", CSRF: p.selfCSRF(s), CodeLabel: "Code from the app",
		QRPNG: e.qr, Secret: e.secret, Enrolment: e.sealed, Back: PathAccount})
}

// accountEnrol confirms an enrolment and shows the recovery codes of a
// first one.
func (p *Provider) accountEnrol(w http.ResponseWriter, r *http.Request) {
	s := signedIn(r)
	posted := r.PostForm.Get("enrolment")
	secret, err := p.openEnrolment(s.user, posted)
	if err != nil {
		p.accountEnrolPage(w, r, http.StatusOK, "This set-up expired. Scan the new code and enter the code it shows.", "")
		return
	}
	code := r.PostForm.Get("code")
	if len(code) > maxCodeLen {
		code = ""
	}
	ok, codes, replaced, err := p.saveTOTP(r.Context(), s.user, secret, code, s.session.ID)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	if !ok {
		p.accountEnrolPage(w, r, http.StatusOK, codeWrong+" Check the time on your phone and try the next code.", posted)
		return
	}
	p.selfProved(r.Context(), s, amrOTP)
	if len(codes) > 0 {
		p.pages.MFA(w, http.StatusOK, web.MFAData{Title: "Two-step sign-in is set up", RecoveryCodes: codes, Back: PathAccount})
		return
	}
	if replaced {
		http.Redirect(w, r, PathAccount+"?done=totp-replaced", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, PathAccount+"?done=totp", http.StatusSeeOther)
}
