// Command hallpass is the hallpass identity provider: `hallpass serve`
// runs it; the other commands manage its database.
package main
