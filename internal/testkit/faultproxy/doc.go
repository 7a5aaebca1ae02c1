// Package faultproxy is a TCP proxy for tests that can cut the line: put it
// between hallpass and its database, cut it mid-run to see how hallpass
// answers while the database is unreachable, restore it to see hallpass
// recover without a restart.
package faultproxy
