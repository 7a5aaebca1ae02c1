// Package testkit holds hallpass's test harnesses, apart from the runtime
// helpers in internal/: testdb (a fresh database per test on every
// backend), hallpasstest (a real hallpass in process, wired as serve wires
// it), oauthtest (the client for the token, introspection and revocation
// endpoints), browsertest (headless Chromium), faultproxy (a TCP proxy
// that cuts a database off mid-test) and hashwatch (whether a password
// was hashed while a transaction was open). Only _test.go files import them.
package testkit
