// Package oauthtest is the tests' client for hallpass's OAuth endpoints:
// token requests, introspection and revocation, authenticated as a client
// or with the admin token, with the checks the tests make on the answers.
package oauthtest
