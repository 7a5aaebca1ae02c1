// Command demoapp is the example third-party web app of the hallpass school
// demo: it signs its users in with hallpass (OpenID Connect, authorization
// code with PKCE) and calls the school API (cmd/schoolapi) on their behalf
// with their access token.
//
// It is server-rendered (html/template, no JavaScript); tokens never reach
// the browser, which holds only a random session id in an HttpOnly,
// SameSite=Lax cookie.
//
// Every flag has a variable: --addr is DEMOAPP_ADDR, and so on (see -h).
package main
