// Package web holds what hallpass shows to a browser and what it keeps in
// one: the HTML pages (login, consent, logout, error and a development-only
// callback page), their stylesheet, the one script of the passkey forms
// (static/passkey.js, which runs the WebAuthn ceremony in the browser), the
// browser-state cookies, the
// random tokens those cookies carry, and the CSRF tokens forms carry.
//
// It has no protocol logic. The provider decides what to show and passes
// the data in; web renders it with html/template from embedded templates,
// sets the security headers every page needs, and reads and writes cookies
// whose values are opaque to it. Tokens are stored by their Digest and
// compared with SameToken.
//
// It imports nothing of hallpass: provider and cmd import web, never the
// other way round.
package web
