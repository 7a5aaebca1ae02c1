// Package envflag defines command-line flags that fall back to environment
// variables, for the example binaries (cmd/schoolapi, cmd/demoapp): the flag
// --some-flag of a program with prefix SCHOOLAPI is also SCHOOLAPI_SOME_FLAG,
// and a flag given on the command line wins over the variable. Secrets are
// environment-only, as in hallpass: command lines are visible to every user
// of the machine.
//
// The usage text names every variable, so the variables a binary reads can
// be listed from its -h output (the deployment tests do).
package envflag
