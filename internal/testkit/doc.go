// Package testkit holds hallpass's test harnesses, apart from the runtime
// helpers in internal/: testdb (a fresh database per test on every
// backend), browsertest (headless Chromium) and faultproxy (a TCP proxy
// that cuts a database off mid-test). Only _test.go files import them.
package testkit
