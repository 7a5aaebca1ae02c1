// Package testkit holds hallpass's test harnesses, apart from the runtime
// helpers in internal/: testdb (a fresh database per test on every
// backend), hallpasstest (a real hallpass in process, wired as serve wires
// it), oauthtest (the client for the token, introspection and revocation
// endpoints), browsertest (headless Chromium) and faultproxy (a TCP proxy
// that cuts a database off mid-test). Only _test.go files import them.
package testkit
