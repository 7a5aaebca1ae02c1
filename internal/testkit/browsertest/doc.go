// Package browsertest drives a headless Chromium in tests: it finds Debian's
// chromium (skipping the test when it is missing, failing it under CI),
// starts it with a fresh profile and one tab, records the problems the
// browser reports on its pages (console errors, uncaught exceptions, CSP
// violations), and fails the test with where the browser is when a step
// does not work.
package browsertest
