// Package provider is hallpass's OAuth 2.0 / OpenID Connect server: the
// fosite composition and its configuration, the protocol endpoints
// (discovery, token, registration), the admin API and the operational
// endpoints (health, metrics). Every route is listed in routes.go. The
// admin API's handlers call the directory service, whose refusals
// errors.go maps to statuses and error codes. Policy is decided here, the
// scope → audience rule included (audience.go); the adapter that lets
// fosite keep its requests in storage.Store is provider/fositestore.
//
// The browser flow, from the authorization endpoint through login and
// consent to the code, has one dispatcher (authflow.go); its steps are in
// login.go and consent.go.
//
// It depends on directory, provider/fositestore, storage, keys and web,
// never on cmd.
package provider
