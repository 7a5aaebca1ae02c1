package web

import "strings"

// PasskeyForm is a form whose button runs a WebAuthn ceremony in the
// browser (static/passkey.js): the script reads Options, asks the browser
// for a passkey (navigator.credentials.get, or .create when Create is
// set), and posts the result as "credential", with "state", "csrf",
// "request" (when RequestID is set) and, with NameField, "name". The form
// is hidden until the script finds the browser supports passkeys, so a
// page without script shows nothing of it.
type PasskeyForm struct {
	// Create registers a new passkey; otherwise one signs in.
	Create bool
	// Options are the ceremony's options (publicKey) as JSON, binary
	// members in base64url.
	Options string
	// State is the sealed ceremony state, posted back as "state".
	State     string
	Action    string
	RequestID string
	CSRF      string
	// Button labels the submit button.
	Button string
	// NameField asks for a name for the new passkey.
	NameField bool
}

// PasskeyRow is one of the user's passkeys on the account page.
type PasskeyRow struct {
	Name, Created, LastUsed string
	// Kind says whether it is synced ("synced passkey") or bound to one
	// device ("device-bound passkey").
	Kind string
	// Remove is where the form that removes it posts.
	Remove string
}

// passkeyCSP lets a page load hallpass's own scripts: the passkey form's.
func passkeyCSP(csp string) string {
	return strings.Replace(csp, "default-src 'none';", "default-src 'none'; script-src 'self';", 1)
}
