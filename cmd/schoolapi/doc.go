// Command schoolapi is the example resource server of the hallpass school
// demo: the school's API, which accepts hallpass access tokens.
//
// Anyone may read GET /school. GET /results and GET /schedule need the
// results:read scope (a student sees only their own results, a teacher
// every result); POST /results needs results:write and PUT /schedule needs
// schedule:write. Tokens are verified offline against hallpass's JWKS; with
// SCHOOLAPI_CLIENT_ID and SCHOOLAPI_CLIENT_SECRET set, the two write routes
// introspect every token at hallpass instead, so that a revoked token stops
// working at once. hallpass answers only a client registered (through its
// admin API) with resource_servers naming this API's audience.
//
// Every flag has a variable: --addr is SCHOOLAPI_ADDR, and so on (see -h).
package main
